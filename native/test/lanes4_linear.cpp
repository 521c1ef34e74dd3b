// The linear body with 4-lane test primitives (simd_lanes.h): see lanes_kernels.cpp.
#include "../cpu/linear_kernel.h"
#define TEST_LANES 4
#define TEST_ISA lanes4
#include "simd_lanes.h"

namespace attnflow {
namespace cpu {
namespace lanes4 {

#include "../cpu/linear_body.h"

}  // namespace lanes4
}  // namespace cpu
}  // namespace attnflow
