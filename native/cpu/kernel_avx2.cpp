// The attention kernel for AVX2 + FMA + F16C: kernel_body.h on the primitives of simd_avx2.h.
// Built with -mavx2 -mfma -mf16c on x86-64 only and run only after run-time detection (isa.cpp).
#if defined(__x86_64__) || defined(_M_X64)

#include "kernel.h"
#include "simd_avx2.h"

namespace attnflow {
namespace cpu {
namespace avx2 {

#include "kernel_body.h"

}  // namespace avx2
}  // namespace cpu
}  // namespace attnflow

#endif
