// The linear-attention kernel for any CPU: linear_body.h on the primitives of simd_portable.h.
#include "linear_kernel.h"
#include "simd_portable.h"

namespace attnflow {
namespace cpu {
namespace portable {

#include "linear_body.h"

}  // namespace portable
}  // namespace cpu
}  // namespace attnflow
