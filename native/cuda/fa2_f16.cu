// The tensor-core kernel for float16 (head dims 64 and 128); see fa2_kernel.cuh.
#include "fa2_launch.cuh"

namespace attnflow {
namespace cudaimpl {

Status launchFa2F16(const KernelParams& p, const DeviceContext& ctx) { return fa2::launchForType<__half>(p, ctx); }

}  // namespace cudaimpl
}  // namespace attnflow
