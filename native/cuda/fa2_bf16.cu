// The tensor-core kernel for bfloat16 (head dims 64 and 128); see fa2_kernel.cuh.
#include "fa2_launch.cuh"

namespace attnflow {
namespace cudaimpl {

Status launchFa2BF16(const KernelParams& p, const DeviceContext& ctx) {
  return fa2::launchForType<__nv_bfloat16>(p, ctx);
}

}  // namespace cudaimpl
}  // namespace attnflow
