// Test-only CPU kernels of 4 and 16 lanes: the attention and linear bodies compiled against the
// generic primitives of simd_lanes.h. They are not in the product registry (isa.cpp); the native
// tests run them beside the registry's kernels (harness.cpp: testKernels), so the bodies are known
// to work at the widths NEON / WebAssembly (4) and AVX-512 (16) kernels will use.
#include "harness.h"

namespace attnflow {
namespace cpu {
namespace lanes4 {
extern const AttentionKernel kAttentionKernel;
extern const linear::LinearKernel kLinearKernel;
}  // namespace lanes4
namespace lanes16 {
extern const AttentionKernel kAttentionKernel;
extern const linear::LinearKernel kLinearKernel;
}  // namespace lanes16
}  // namespace cpu
}  // namespace attnflow

namespace nativetest {

namespace {
bool always() { return true; }
const cpu::CpuKernel kLaneKernels[] = {
    {"test-4-lanes", "nothing (test only)", &always, nullptr, &cpu::lanes4::kAttentionKernel,
     &cpu::lanes4::kLinearKernel, &cpu::questScoresPortable},
    {"test-16-lanes", "nothing (test only)", &always, nullptr, &cpu::lanes16::kAttentionKernel,
     &cpu::lanes16::kLinearKernel, &cpu::questScoresPortable},
};
}  // namespace

Kernels laneTestKernels() { return {&kLaneKernels[0], &kLaneKernels[1]}; }

}  // namespace nativetest
