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
  constexpr int kIters = 2000, kAcc = 12, kRounds = 5;
  double bestDot = 1e30, bestFma = 1e30;
  for (int round = 0; round < kRounds; ++round) {
    {
      __m512 acc[kAcc];
      for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_setzero_ps();
      __m512i x = _mm512_set1_epi16(0x3f80);
      const auto t0 = clock::now();
      for (int it = 0; it < kIters; ++it) {
        for (int i = 0; i < kAcc; ++i)
          acc[i] = _mm512_dpbf16_ps(acc[i], reinterpret_cast<__m512bh>(x), reinterpret_cast<__m512bh>(x));
        __asm__ volatile("" : "+v"(x));
      }
      for (int i = 0; i < kAcc; ++i) __asm__ volatile("" : : "v"(acc[i]));
      bestDot = std::min(bestDot, std::chrono::duration<double>(clock::now() - t0).count());
    }
    {
      __m512 acc[kAcc];
      for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_setzero_ps();
      __m512 x = _mm512_set1_ps(1.f);
      const auto t0 = clock::now();
      for (int it = 0; it < kIters; ++it) {
        for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, x);
        __asm__ volatile("" : "+v"(x));
      }
      for (int i = 0; i < kAcc; ++i) __asm__ volatile("" : : "v"(acc[i]));
      bestFma = std::min(bestFma, std::chrono::duration<double>(clock::now() - t0).count());
    }
  }
  return 2.0 * bestFma / bestDot;  // a dot product does 32 multiply-adds, an FMA 16
}


}  // namespace cpu
}  // namespace attnflow

#endif
