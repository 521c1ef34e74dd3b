// The kernel tables the WebAssembly build runs: attention from kernel_simd128.cpp (the CPU kernel
// body over SIMD128 primitives), the linear scan from native/cpu/linear_portable.cpp (its body's
// 8-lane vector types, lowered to SIMD128 by the compiler).
#pragma once

#include "kernel.h"
#include "linear_kernel.h"

namespace attnflow {
namespace cpu {

const KernelTable& simd128Kernels();

namespace simd128 {
// The vector width of both kernels (kernel_body.h's V8, linear_body.h's 8-float vectors): head
// dimensions and feature counts are padded to it.
constexpr int kKernelLanes = 8;
inline int paddedHeadDim(int D) { return (D + kKernelLanes - 1) / kKernelLanes * kKernelLanes; }
}  // namespace simd128

}  // namespace cpu
}  // namespace attnflow
