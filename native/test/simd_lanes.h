// Test-only vector primitives of any width, for checking that the kernel bodies are generic over
// kLanes: TEST_LANES floats as one GCC/Clang vector (compiled for the baseline instruction set,
// where the compiler splits it), in namespace attnflow::cpu::TEST_ISA. The bodies run with 4 and
// 16 lanes in the native tests (lanes_kernels.cpp), as NEON / WebAssembly and AVX-512 kernels
// will. Written from the definitions in simd_portable.h, not tuned: the point is coverage.
#pragma once
// 64-byte vectors passed by value without AVX-512: a different ABI, irrelevant here (internal linkage).
#pragma GCC diagnostic ignored "-Wpsabi"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../cpu/half.h"

#if !defined(TEST_LANES) || !defined(TEST_ISA)
#error "define TEST_LANES and TEST_ISA before including simd_lanes.h"
#endif

namespace attnflow {
namespace cpu {
namespace TEST_ISA {
namespace {

#include "../cpu/simd_gnu.h"

constexpr int kLanes = TEST_LANES;
typedef float V __attribute__((vector_size(4 * TEST_LANES)));
typedef int32_t VI __attribute__((vector_size(4 * TEST_LANES)));

constexpr int kStR = 3, kStC = 1;
constexpr int kPvR = 3, kPvC = 1;
constexpr int kGemmR = 4, kGemmNV = 2;

static inline V vzero() { return V{}; }
static inline V vset1(float x) { return V{} + x; }
static inline V vload(const float* p) {
  V r;
  std::memcpy(&r, p, sizeof r);
  return r;
}
static inline void vstore(float* p, V v) { std::memcpy(p, &v, sizeof v); }
static inline V vbcast(const float* p) { return vset1(*p); }
static inline V vadd(V a, V b) { return a + b; }
static inline V vsub(V a, V b) { return a - b; }
static inline V vmul(V a, V b) { return a * b; }
static inline V vmax(V a, V b) { return a > b ? a : b; }
static inline V vfma(V a, V b, V c) { return a * b + c; }
static inline V vfnma(V a, V b, V c) { return c - a * b; }
static inline V vabs(V a) { return (V)((VI)a & 0x7fffffff); }
static inline V vmsafe(V m) { return m == vset1(-INFINITY) ? V{} : m; }
static inline V vwherePos(V x, V a, V b) { return gnuWherePositive<V>(x, a, b); }
static inline V vexp(V x) { return gnuExp<V, VI>(x); }

// Lane by lane through the scalar library: exact enough for the bars, NaN and infinity as
// specified in simd_portable.h.
static inline V vexp2(V x) {
  V r;
  for (int l = 0; l < kLanes; ++l) r[l] = x[l] < -126.f ? 0.f : std::exp2(x[l]);  // flush below 2^-126
  return r;
}
static inline V vtanh(V x) {
  V r;
  for (int l = 0; l < kLanes; ++l) r[l] = std::tanh(x[l]);
  return r;
}
static inline V vkeep(V s, uint32_t bits) {
  V r;
  for (int l = 0; l < kLanes; ++l) r[l] = (bits >> l & 1u) ? s[l] : -INFINITY;
  return r;
}
static inline void vtranspose(const float* src, int64_t ss, float* dst, int64_t ds) {
  for (int r = 0; r < kLanes; ++r)
    for (int c = 0; c < kLanes; ++c) dst[c * ds + r] = src[r * ss + c];
}
static inline void loadF16(const uint16_t* src, float* dst, int n) { halfsToFloats(src, dst, n); }
static inline void loadBF16(const uint16_t* src, float* dst, int n) { bf16sToFloats(src, dst, n); }
static inline void storeF16(const float* src, uint16_t* dst, int n) { floatsToHalfs(src, dst, n); }
static inline void storeBF16(const float* src, uint16_t* dst, int n) { floatsToBf16s(src, dst, n); }

}  // namespace
}  // namespace TEST_ISA
}  // namespace cpu
}  // namespace attnflow
