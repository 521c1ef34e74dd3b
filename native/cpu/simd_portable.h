// The vector primitives of the portable CPU kernel: 8 floats as two GCC/Clang 4-lane vectors
// (two SSE registers on baseline x86-64, two NEON registers on aarch64), for any CPU.
//
// This file is also the reference for every simd_<isa>.h: the kernel bodies (kernel_body.h,
// kernel_micro.h, linear_body.h) are written once against exactly what is defined below, and
// an instruction set is added by supplying the same names (see isa.h for the other steps).
// Everything goes in `namespace attnflow::cpu::<isa> { namespace { ... } }`.
//
//   V                       a vector of kLanes floats, passed by value
//   kLanes                  4, 8 or 16 (must divide 64: tiles are 64 x 64)
//   kStR kStC               register block of S^T = K Q^T: kStR keys x kStC vectors of queries
//   kPvR kPvC               register block of O += P V: kPvR queries x kPvC vectors of headDim
//   kGemmR kGemmNV          register block of linear attention's GEMM: kGemmR rows x kGemmNV vectors
//   vzero() vset1(x)        all lanes 0 / x
//   vload(p) vstore(p, v)   kLanes floats, unaligned
//   vbcast(p)               all lanes *p
//   vadd vsub vmul          lane-wise
//   vmax(a, b)              lane-wise; may return either operand where one is NaN
//   vfma(a, b, c)           a * b + c (fused where the ISA has it)
//   vfnma(a, b, c)          c - a * b
//   vabs(a)                 |a|
//   vmsafe(m)               m == -inf ? 0 : m
//   vexp2(x)                2^x for x <= 0 (relative error ~1e-7); -inf -> 0, NaN -> NaN,
//                           results below 2^-126 may flush to 0
//   vexp(x)                 e^x for any x to ~2 ulp (clamped to finite results); NaN -> NaN
//   vtanh(x)                tanh to a few ulp; NaN -> NaN, ±inf -> ±1
//   vkeep(s, bits)          lane l keeps s where bit l of bits is set, else -inf
//   vwherePos(x, a, b)      lane-wise x > 0 ? a : b (NaN x gives b)
//   vtranspose(src, ss, dst, ds)   dst[c * ds + r] = src[r * ss + c] for a kLanes x kLanes block
//   loadF16(src, dst, n) loadBF16(src, dst, n)     n contiguous 16-bit values -> float32
//   storeF16(src, dst, n) storeBF16(src, dst, n)   float32 -> 16-bit, round to nearest even
// The conversions must agree bit for bit with half.h (halfToFloat, floatToHalf, ...).
#pragma once

#include <cstdint>
#include <cstring>

#include "half.h"

namespace attnflow {
namespace cpu {
namespace portable {
namespace {

#include "simd_gnu.h"

typedef float V4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));
struct V {
  V4 a, b;
};
constexpr int kLanes = 8;

#if defined(__aarch64__)
constexpr int kStR = 6, kStC = 2;  // 32 NEON registers
constexpr int kPvR = 6, kPvC = 2;
#else
constexpr int kStR = 3, kStC = 2;  // 16 SSE registers: 12 accumulators
constexpr int kPvR = 3, kPvC = 2;
#endif
constexpr int kGemmR = 4, kGemmNV = 2;

static inline V4 s4(float x) { return V4{x, x, x, x}; }
static inline V vzero() { return V{V4{}, V4{}}; }
static inline V vset1(float x) { return V{s4(x), s4(x)}; }
static inline V vload(const float* p) {
  V r;
  std::memcpy(&r.a, p, 16);
  std::memcpy(&r.b, p + 4, 16);
  return r;
}
static inline void vstore(float* p, V v) {
  std::memcpy(p, &v.a, 16);
  std::memcpy(p + 4, &v.b, 16);
}
static inline V vbcast(const float* p) { return vset1(*p); }
static inline V vadd(V x, V y) { return V{x.a + y.a, x.b + y.b}; }
static inline V vsub(V x, V y) { return V{x.a - y.a, x.b - y.b}; }
static inline V vmul(V x, V y) { return V{x.a * y.a, x.b * y.b}; }
static inline V4 max4(V4 x, V4 y) { return x > y ? x : y; }
static inline V vmax(V x, V y) { return V{max4(x.a, y.a), max4(x.b, y.b)}; }
static inline V vfma(V x, V y, V z) { return V{x.a * y.a + z.a, x.b * y.b + z.b}; }
static inline V vfnma(V x, V y, V z) { return V{z.a - x.a * y.a, z.b - x.b * y.b}; }
static inline V4 abs4(V4 x) { return reinterpret_cast<V4>(reinterpret_cast<I4>(x) & 0x7fffffff); }
static inline V vabs(V x) { return V{abs4(x.a), abs4(x.b)}; }
static inline V4 msafe4(V4 m) { return m == s4(-__builtin_inff()) ? V4{} : m; }
static inline V vmsafe(V m) { return V{msafe4(m.a), msafe4(m.b)}; }
static inline V vkeep(V s, uint32_t bits) {
  const I4 lo = {1, 2, 4, 8}, hi = {16, 32, 64, 128};
  const I4 bb = I4{} + static_cast<int32_t>(bits);
  const V4 ninf = s4(-__builtin_inff());
  return V{(bb & lo) == lo ? s.a : ninf, (bb & hi) == hi ? s.b : ninf};
}
static inline V vwherePos(V x, V a, V b) {
  return V{gnuWherePositive<V4>(x.a, a.a, b.a), gnuWherePositive<V4>(x.b, a.b, b.b)};
}
static inline void vtranspose(const float* src, int64_t ss, float* dst, int64_t ds) {
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) dst[c * ds + r] = src[r * ss + c];
}

// 2^(n + r) = 2^r (degree-6 polynomial, r in [-1/2, 1/2]) * 2^n: the Cephes exp2f scheme of the
// AVX2 file.
static inline V4 exp2Poly(V4 x) {
  const V4 shifted = x + 12582912.f;  // 1.5 * 2^23: the low mantissa bits now hold round(x)
  const V4 n = shifted - 12582912.f;
  const V4 r = x - n;
  V4 p = s4(1.535336188319500e-4f);
  p = p * r + 1.339887440266574e-3f;
  p = p * r + 9.618437357674640e-3f;
  p = p * r + 5.550332471162809e-2f;
  p = p * r + 2.402264791363012e-1f;
  p = p * r + 6.931472028550421e-1f;
  p = p * r + 1.f;
  const I4 e = (reinterpret_cast<I4>(shifted) - 0x4B400000 + 127) << 23;
  return p * reinterpret_cast<V4>(e);
}

// 2^x for x <= 0 (x = -inf gives 0; results below 2^-126 flush to 0; NaN stays NaN: the clamp
// keeps x unless x < -127, which is false for NaN)
static inline V4 clampLo(V4 x, V4 lo) { return x < lo ? lo : x; }
static inline V vexp2(V x) {
  const V4 lo = s4(-127.f);
  return V{exp2Poly(clampLo(x.a, lo)), exp2Poly(clampLo(x.b, lo))};
}

static inline V vexp(V x) { return V{gnuExp<V4, I4>(x.a), gnuExp<V4, I4>(x.b)}; }

// tanh: Cephes tanhf (odd polynomial for |x| < 0.625, else 1 - 2 / (e^{2|x|} + 1)); tanh(NaN) is
// NaN (the polynomial branch unless |x| >= 0.625, false for NaN), tanh(±inf) = ±1.
static inline V4 tanh4(V4 x) {
  const V4 ax = abs4(x);
  V4 t = ax * 2.885390081777927f;
  t = t < 126.f ? t : s4(126.f);
  const V4 ex = exp2Poly(t);
  V4 big = 1.f - 2.f / (ex + 1.f);
  big = x < 0.f ? -big : big;
  const V4 z = x * x;
  V4 q = s4(-5.70498872745e-3f);
  q = q * z + 2.06390887954e-2f;
  q = q * z - 5.37397155531e-2f;
  q = q * z + 1.33314422036e-1f;
  q = q * z - 3.33332819422e-1f;
  const V4 small = q * z * x + x;
  return ax >= 0.625f ? big : small;
}
static inline V vtanh(V x) { return V{tanh4(x.a), tanh4(x.b)}; }

static inline void loadF16(const uint16_t* src, float* dst, int n) { halfsToFloats(src, dst, n); }
static inline void loadBF16(const uint16_t* src, float* dst, int n) { bf16sToFloats(src, dst, n); }
static inline void storeF16(const float* src, uint16_t* dst, int n) { floatsToHalfs(src, dst, n); }
static inline void storeBF16(const float* src, uint16_t* dst, int n) { floatsToBf16s(src, dst, n); }

}  // namespace
}  // namespace portable
}  // namespace cpu
}  // namespace attnflow
