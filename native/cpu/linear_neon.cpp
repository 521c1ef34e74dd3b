// The linear-attention kernel for aarch64: linear_body.h on the primitives of simd_neon.h.
#if defined(__aarch64__)

#include "linear_kernel.h"
#include "simd_neon.h"

namespace attnflow {
namespace cpu {
namespace neon {

#include "linear_body.h"

}  // namespace neon
}  // namespace cpu
}  // namespace attnflow

#endif
