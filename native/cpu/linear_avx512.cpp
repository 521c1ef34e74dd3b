// The linear-attention kernel for AVX-512 (F, BW, DQ, VL) + FMA + F16C: linear_body.h on the
// primitives of simd_avx512.h (16 lanes, a 6 x 4-vector GEMM block). Built with -mavx512f
// -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c on x86-64 only and run only after run-time
// detection (isa.cpp).
#if defined(__x86_64__) || defined(_M_X64)

#define ATTNFLOW_SIMD_AVX512_NS avx512
#include "linear_kernel.h"
#include "simd_avx512.h"

namespace attnflow {
namespace cpu {
namespace avx512 {

#include "linear_body.h"

}  // namespace avx512
}  // namespace cpu
}  // namespace attnflow

#endif
