// The linear body with 16-lane test primitives (simd_lanes.h): see lanes_kernels.cpp.
#include "../cpu/linear_kernel.h"
#define TEST_LANES 16
#define TEST_ISA lanes16
#include "simd_lanes.h"

namespace attnflow {
namespace cpu {
namespace lanes16 {

#include "../cpu/linear_body.h"

}  // namespace lanes16
}  // namespace cpu
}  // namespace attnflow
