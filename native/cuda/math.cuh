// Device math that must stay accurate under --use_fast_math (which turns tanhf into the
// tanh.approx instruction, about 5e-4 relative error: too coarse for the float32 bar).
#pragma once

#include <cuda_runtime.h>

namespace attnflow {
namespace cudaimpl {

// tanh to a few ulp: u / (u + 2) with u = expm1(2|x|) (expm1f has no fast-math substitute);
// +-1 from |x| >= 9, where tanh rounds to 1 in float32.
__device__ __forceinline__ float accurateTanh(float x) {
  const float a = fabsf(x);
  if (a >= 9.f) return copysignf(1.f, x);
  const float u = expm1f(2.f * a);
  return copysignf(u / (u + 2.f), x);
}

}  // namespace cudaimpl
}  // namespace attnflow
