// The registry of CPU kernels, one per instruction set: each entry pairs the attention and the
// linear-attention kernel compiled for that instruction set with the check that this CPU can run
// them. Calls use the best supported kernel, or the one ATTNFLOW_CPU_ISA names (an unknown name,
// or a kernel this CPU cannot run, is an error of every call, not a silent fallback).
//
// x86-64 has avx512bf16 (AVX-512 with bf16 dot products, preferred only where a short timing finds
// them faster than the FMA), avx512, avx2; every build has portable.
//
// Adding an instruction set (see simd_portable.h for the primitives its file must supply):
//   simd_<isa>.h        the vector primitives (the only code that is specific to the ISA)
//   kernel_<isa>.cpp    #include "simd_<isa>.h", then kernel_body.h inside namespace <isa>
//   linear_<isa>.cpp    #include "simd_<isa>.h", then linear_body.h inside namespace <isa>
//   questScores         select_body.h is GCC vector code (8 fixed lanes, so that the TypeScript
//                       side reproduces its sums bit for bit): the portable compilation serves any
//                       ISA whose baseline the compiler vectorises it for (NEON on AArch64), the
//                       AVX2 one (select_avx2.cpp) every x86 row with AVX2 (avx512 and avx512bf16
//                       too: 8 lanes are one AVX2 vector, and one compilation keeps the sums equal)
//   isa.cpp             one row of kKernels (name, requirement, supported()), best first
//   CMakeLists.txt      the compiler flags of *_<isa>.cpp
#pragma once

#include <cstddef>

#include "attnflow.h"
#include "kernel.h"
#include "linear_kernel.h"
#include "select.h"

namespace attnflow {
namespace cpu {

struct CpuKernel {
  const char* name;      // "avx2", "portable", ...: the value of ATTNFLOW_CPU_ISA that selects it
  const char* needs;     // what the CPU must have, for messages ("AVX2, FMA and F16C")
  bool (*supported)();   // whether this CPU (and operating system) can run it
  // Whether a supported kernel should also be chosen by default (null: always). A kernel that
  // only pays on some CPUs with the instructions it needs says no elsewhere, so that it runs
  // there only when ATTNFLOW_CPU_ISA (or a test) names it.
  bool (*preferred)();
  const AttentionKernel* attention;
  const linear::LinearKernel* linear;
  QuestScoresFn questScores;  // the Quest block scores of option `select` (select_body.h)
  int lanes() const { return attention->lanes; }
};

// The kernels compiled into this build, best first; the last one (portable) runs anywhere.
const CpuKernel* cpuKernels(size_t* count);

// The kernel calls use now: forceKernel's choice, else ATTNFLOW_CPU_ISA's (read once), else the
// first supported and preferred one. An unknown name, or a kernel this CPU does not support, is an error that
// says which kernels there are.
Status activeKernel(const CpuKernel** out);

// For tests: run calls on `k` (must be supported), or nullptr to go back to the choice above.
void forceKernel(const CpuKernel* k);

#if defined(__x86_64__) || defined(_M_X64)
// vdpbf16ps multiply-adds per second over vfmadd231ps's on this core (kernel_avx512bf16.cpp; only
// on CPUs with AVX512-BF16).
double bf16DotMacRatio();
#endif

}  // namespace cpu
}  // namespace attnflow
