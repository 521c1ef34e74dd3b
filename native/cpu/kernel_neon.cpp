// The attention kernel for aarch64: kernel_body.h on the primitives of simd_neon.h.
#if defined(__aarch64__)

#include "kernel.h"
#include "simd_neon.h"

namespace attnflow {
namespace cpu {
namespace neon {

#include "kernel_body.h"

}  // namespace neon
}  // namespace cpu
}  // namespace attnflow

#endif
