// The attention kernel for any CPU: kernel_body.h on the primitives of simd_portable.h
// (GCC/Clang vector types for the baseline instruction set: SSE2 on x86-64, NEON on aarch64).
#include "kernel.h"
#include "simd_portable.h"

namespace attnflow {
namespace cpu {
namespace portable {

#include "kernel_body.h"

}  // namespace portable
}  // namespace cpu
}  // namespace attnflow
