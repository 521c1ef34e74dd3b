// The AVX2 + FMA instantiation of the CPU linear-attention kernel. Built with -mavx2 -mfma -mf16c
// on x86-64 only and called only after run-time detection (linear.cpp asks the attention
// backend's selector, so ATTNFLOW_CPU_SIMD=scalar forces the portable kernel here too).
#if defined(__x86_64__) || defined(_M_X64)

#include <cmath>
#include <cstdint>
#include <cstring>

#include "half.h"
#include "linear_kernel.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "linear_avx2.cpp must be compiled with -mavx2 -mfma"
#endif

namespace attnflow {
namespace cpu {
namespace linear {
namespace avx2 {

#include "linear_body.h"

}  // namespace avx2

const LinKernels& linAvx2Kernels() {
  static const LinKernels table{"avx2", &avx2::runHead};
  return table;
}

}  // namespace linear
}  // namespace cpu
}  // namespace attnflow

#endif
