// The portable instantiation of the CPU linear-attention kernel (baseline instruction set: the
// compiler splits the body's 8-lane vectors into SSE2 or NEON operations). Used on CPUs without
// AVX2/FMA/F16C, on other architectures, and when ATTNFLOW_CPU_SIMD=scalar (or "portable").
// The body returns 8-lane vectors from (always-inlined) helpers; without AVX their ABI would
// differ from an AVX build's, which does not matter here (internal linkage, nothing crosses units).
#pragma GCC diagnostic ignored "-Wpsabi"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "half.h"
#include "linear_kernel.h"

namespace attnflow {
namespace cpu {
namespace linear {
namespace portable {

#include "linear_body.h"

}  // namespace portable

const LinKernels& linPortableKernels() {
  static const LinKernels table{"portable", &portable::runHead};
  return table;
}

}  // namespace linear
}  // namespace cpu
}  // namespace attnflow
