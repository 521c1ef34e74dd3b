// The kernels of the WebAssembly build (kernel_wasm.cpp, linear_wasm.cpp): the CPU backend's
// kernel bodies on the SIMD128 primitives of native/cpu/simd_wasm.h.
#pragma once

#include "kernel.h"
#include "linear_kernel.h"

namespace attnflow {
namespace cpu {
namespace wasm {

extern const AttentionKernel kAttentionKernel;
extern const linear::LinearKernel kLinearKernel;

// Head dimension D padded to the kernel's lanes (Plan::Dp: the row stride of O and packed V).
inline int paddedHeadDim(int D) { return (D + kAttentionKernel.lanes - 1) / kAttentionKernel.lanes * kAttentionKernel.lanes; }

}  // namespace wasm
}  // namespace cpu
}  // namespace attnflow
