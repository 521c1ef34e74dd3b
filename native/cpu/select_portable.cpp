// Quest block scores for any CPU (see select_body.h).
#include "attnflow.h"
#include "select.h"

namespace attnflow {
namespace cpu {
namespace portable_select {
#include "select_body.h"
}  // namespace portable_select

void questScoresPortable(const QuestSelectParams& p, float* score) { portable_select::scoreBlocks(p, score); }

}  // namespace cpu
}  // namespace attnflow
