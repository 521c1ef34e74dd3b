// The attention kernel for AVX-512 with AVX512-BF16: kernel_body.h on the primitives of
// simd_avx512.h plus bf16 dot products for bfloat16 inputs (kernel_bf16dot.h); every other call
// runs exactly as the avx512 kernel. Built with -mavx512bf16 besides the AVX-512 flags, on x86-64
// only, and run only after run-time detection (isa.cpp), which also asks bf16DotMacRatio() before
// preferring it to the avx512 kernel.
#if defined(__x86_64__) || defined(_M_X64)

#if !defined(__AVX512BF16__)
#error "kernel_avx512bf16.cpp must be compiled with -mavx512bf16"
#endif

#include <algorithm>
#include <chrono>

#define ATTNFLOW_SIMD_AVX512_NS avx512bf16
#define ATTNFLOW_KERNEL_BF16DOT 1
#include "isa.h"
#include "kernel.h"
#include "simd_avx512.h"

namespace attnflow {
namespace cpu {
namespace avx512bf16 {

#include "kernel_body.h"

}  // namespace avx512bf16

// vdpbf16ps multiply-adds per second over vfmadd231ps's on this core: 12 independent accumulators
// each (so throughput, not latency, is timed), best of 5 rounds of 2000 iterations, about 0.1 ms
// in all. A core that issues the dot product as fast as the FMA gets 2 (it does twice the
// multiply-adds); the Sapphire Rapids-class Xeon this was written on issues one per ~2 cycles
// against two FMAs per cycle: about 0.47, so there the f32 body (bf16 converted per tile) is faster.
double bf16DotMacRatio() {
  using clock = std::chrono::steady_clock;
  constexpr int kIters = 2000, kRounds = 5;
  // The timed loops are written in assembly (12 independent accumulators in zmm0..zmm11, operands
  // in zmm12/zmm13), so the measure does not depend on how the compiler treats the intrinsics (an
  // unoptimised or sanitised build would time its own loads and stores instead).
#define ATTNFLOW_TWELVE(OP)                                                                                         \
  OP " %%zmm12, %%zmm13, %%zmm0\n\t" OP " %%zmm12, %%zmm13, %%zmm1\n\t" OP " %%zmm12, %%zmm13, %%zmm2\n\t" OP \
     " %%zmm12, %%zmm13, %%zmm3\n\t" OP " %%zmm12, %%zmm13, %%zmm4\n\t" OP " %%zmm12, %%zmm13, %%zmm5\n\t" OP   \
     " %%zmm12, %%zmm13, %%zmm6\n\t" OP " %%zmm12, %%zmm13, %%zmm7\n\t" OP " %%zmm12, %%zmm13, %%zmm8\n\t" OP   \
     " %%zmm12, %%zmm13, %%zmm9\n\t" OP " %%zmm12, %%zmm13, %%zmm10\n\t" OP " %%zmm12, %%zmm13, %%zmm11\n\t"
  auto timeLoop = [](bool dot) {
    const auto t0 = clock::now();
    __asm__ volatile("vpxord %%zmm12, %%zmm12, %%zmm12\n\tvpxord %%zmm13, %%zmm13, %%zmm13" : : : "xmm12", "xmm13");
    for (int it = 0; it < kIters; ++it) {
      if (dot)
        __asm__ volatile(ATTNFLOW_TWELVE("vdpbf16ps")
                         :
                         :
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                           "xmm11");
      else
        __asm__ volatile(ATTNFLOW_TWELVE("vfmadd231ps")
                         :
                         :
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                           "xmm11");
    }
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
#undef ATTNFLOW_TWELVE
  double bestDot = 1e30, bestFma = 1e30;
  for (int round = 0; round < kRounds; ++round) {
    bestDot = std::min(bestDot, timeLoop(true));
    bestFma = std::min(bestFma, timeLoop(false));
  }
  return 2.0 * bestFma / bestDot;  // a dot product does 32 multiply-adds, an FMA 16
}


}  // namespace cpu
}  // namespace attnflow

#endif
