// Internal: the compilations of the Quest block scores (select_body.h), one per row of the CPU
// kernel registry (isa.h: CpuKernel::questScores).
#pragma once

#include "attnflow.h"

namespace attnflow {
namespace cpu {

// score[kb] for the blocks flagged 1 (see QuestSelectParams); one function per compilation.
using QuestScoresFn = void (*)(const QuestSelectParams& p, float* score);

void questScoresPortable(const QuestSelectParams& p, float* score);
#if defined(__x86_64__) || defined(_M_X64)
void questScoresAvx2(const QuestSelectParams& p, float* score);
#endif

}  // namespace cpu
}  // namespace attnflow
