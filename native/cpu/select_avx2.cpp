// Quest block scores with AVX2 (see select_body.h); called only after run-time detection.
#if defined(__x86_64__) || defined(_M_X64)
#include "attnflow.h"
#include "select.h"

namespace attnflow {
namespace cpu {
namespace avx2_select {
#include "select_body.h"
}  // namespace avx2_select

void questScoresAvx2(const QuestSelectParams& p, float* score) { avx2_select::scoreBlocks(p, score); }

}  // namespace cpu
}  // namespace attnflow
#endif
