// Internal: the two compilations of the Quest block scores (select_body.h).
#pragma once

#include "attnflow.h"

namespace attnflow {
namespace cpu {

void questScoresPortable(const QuestSelectParams& p, float* score);
#if defined(__x86_64__) || defined(_M_X64)
void questScoresAvx2(const QuestSelectParams& p, float* score);
#endif

}  // namespace cpu
}  // namespace attnflow
