// The vector primitives of the NEON CPU kernel, for aarch64 (where NEON, FMA and half-precision
// conversion are baseline, so every aarch64 CPU runs it): 8 floats as two float32x4_t, with fused
// multiply-add, vector f16 conversion, a NEON 8 x 8 transpose and the AVX2 file's exp2/tanh
// polynomials. The interface is listed in simd_portable.h.
#pragma once

#if !defined(__aarch64__)
#error "simd_neon.h is for aarch64"
#endif

#include <arm_neon.h>

#include <cstdint>

#include "half.h"

namespace attnflow {
namespace cpu {
namespace neon {
namespace {

#include "simd_gnu.h"

using F4 = float32x4_t;
struct V {
  F4 a, b;
};
constexpr int kLanes = 8;

constexpr int kStR = 6, kStC = 2;  // S^T: 6 keys x 16 queries = 24 of the 32 registers
constexpr int kPvR = 6, kPvC = 2;  // O:   6 queries x 16 columns
constexpr int kGemmR = 4, kGemmNV = 2;  // linear attention's GEMM: 4 rows x 16 columns

static inline V both(F4 x) { return V{x, x}; }
static inline V vzero() { return both(vdupq_n_f32(0.f)); }
static inline V vset1(float x) { return both(vdupq_n_f32(x)); }
static inline V vload(const float* p) { return V{vld1q_f32(p), vld1q_f32(p + 4)}; }
static inline void vstore(float* p, V v) {
  vst1q_f32(p, v.a);
  vst1q_f32(p + 4, v.b);
}
static inline V vbcast(const float* p) { return both(vld1q_dup_f32(p)); }
static inline V vadd(V x, V y) { return V{vaddq_f32(x.a, y.a), vaddq_f32(x.b, y.b)}; }
static inline V vsub(V x, V y) { return V{vsubq_f32(x.a, y.a), vsubq_f32(x.b, y.b)}; }
static inline V vmul(V x, V y) { return V{vmulq_f32(x.a, y.a), vmulq_f32(x.b, y.b)}; }
// FMAX returns NaN when either operand is NaN: one of the operands, as the body allows
static inline V vmax(V x, V y) { return V{vmaxq_f32(x.a, y.a), vmaxq_f32(x.b, y.b)}; }
static inline V vfma(V x, V y, V z) { return V{vfmaq_f32(z.a, x.a, y.a), vfmaq_f32(z.b, x.b, y.b)}; }
static inline V vfnma(V x, V y, V z) { return V{vfmsq_f32(z.a, x.a, y.a), vfmsq_f32(z.b, x.b, y.b)}; }
static inline V vabs(V x) { return V{vabsq_f32(x.a), vabsq_f32(x.b)}; }
static inline F4 msafe4(F4 m) { return vbslq_f32(vceqq_f32(m, vdupq_n_f32(-__builtin_inff())), vdupq_n_f32(0.f), m); }
static inline V vmsafe(V m) { return V{msafe4(m.a), msafe4(m.b)}; }
// s in the lanes whose bit is set in `bits` (bit l for lane l), -inf elsewhere
static inline V vkeep(V s, uint32_t bits) {
  static const uint32_t sel[8] = {1, 2, 4, 8, 16, 32, 64, 128};
  const uint32x4_t b = vdupq_n_u32(bits);
  const F4 ninf = vdupq_n_f32(-__builtin_inff());
  return V{vbslq_f32(vtstq_u32(b, vld1q_u32(sel)), s.a, ninf), vbslq_f32(vtstq_u32(b, vld1q_u32(sel + 4)), s.b, ninf)};
}

// The 4 x 4 transpose of rows r0..r3, in place.
static inline void transpose4(F4& r0, F4& r1, F4& r2, F4& r3) {
  const float32x4x2_t t01 = vtrnq_f32(r0, r1);  // r0[0] r1[0] r0[2] r1[2] | r0[1] r1[1] r0[3] r1[3]
  const float32x4x2_t t23 = vtrnq_f32(r2, r3);
  r0 = vcombine_f32(vget_low_f32(t01.val[0]), vget_low_f32(t23.val[0]));
  r1 = vcombine_f32(vget_low_f32(t01.val[1]), vget_low_f32(t23.val[1]));
  r2 = vcombine_f32(vget_high_f32(t01.val[0]), vget_high_f32(t23.val[0]));
  r3 = vcombine_f32(vget_high_f32(t01.val[1]), vget_high_f32(t23.val[1]));
}

// dst[c * ds + r] = src[r * ss + c] for an 8 x 8 block, as four 4 x 4 transposes
static inline void vtranspose(const float* src, int64_t ss, float* dst, int64_t ds) {
  for (int rb = 0; rb < 8; rb += 4) {
    for (int cb = 0; cb < 8; cb += 4) {
      F4 r0 = vld1q_f32(src + (rb + 0) * ss + cb), r1 = vld1q_f32(src + (rb + 1) * ss + cb);
      F4 r2 = vld1q_f32(src + (rb + 2) * ss + cb), r3 = vld1q_f32(src + (rb + 3) * ss + cb);
      transpose4(r0, r1, r2, r3);
      vst1q_f32(dst + (cb + 0) * ds + rb, r0);
      vst1q_f32(dst + (cb + 1) * ds + rb, r1);
      vst1q_f32(dst + (cb + 2) * ds + rb, r2);
      vst1q_f32(dst + (cb + 3) * ds + rb, r3);
    }
  }
}

// 2^r for r in [-1/2, 1/2] (degree-6 polynomial, Cephes exp2f) times 2^n, n = round(x); x must
// be >= -127 or NaN (a NaN converts to n = 0 and stays NaN through the polynomial).
static inline F4 exp2Poly(F4 x) {
  const F4 n = vrndnq_f32(x);
  const F4 r = vsubq_f32(x, n);
  F4 p = vdupq_n_f32(1.535336188319500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.339887440266574e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(9.618437357674640e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.550332471162809e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(2.402264791363012e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(6.931472028550421e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.f), p, r);
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

// 2^x for x <= 0 (x = -inf gives 0; results below 2^-126 flush to 0; NaN stays NaN: FMAX keeps it)
static inline F4 exp2Neg4(F4 x) { return exp2Poly(vmaxq_f32(x, vdupq_n_f32(-127.f))); }
static inline V vexp2(V x) { return V{exp2Neg4(x.a), exp2Neg4(x.b)}; }

// tanh: Cephes tanhf (odd polynomial for |x| < 0.625, else 1 - 2 / (e^{2|x|} + 1)); tanh(NaN) is
// NaN (|x| >= 0.625 is false for NaN: the polynomial branch), tanh(±inf) = ±1.
static inline F4 tanh4(F4 x) {
  const uint32x4_t signBit = vdupq_n_u32(0x80000000u);
  const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(x), signBit);
  const F4 ax = vabsq_f32(x);
  const F4 t = vminq_f32(vmulq_f32(ax, vdupq_n_f32(2.885390081777927f)), vdupq_n_f32(126.f));
  const F4 one = vdupq_n_f32(1.f);
  const F4 ex = exp2Poly(t);
  const F4 big = vsubq_f32(one, vdivq_f32(vdupq_n_f32(2.f), vaddq_f32(ex, one)));
  const F4 z = vmulq_f32(x, x);
  F4 q = vdupq_n_f32(-5.70498872745e-3f);
  q = vfmaq_f32(vdupq_n_f32(2.06390887954e-2f), q, z);
  q = vfmaq_f32(vdupq_n_f32(-5.37397155531e-2f), q, z);
  q = vfmaq_f32(vdupq_n_f32(1.33314422036e-1f), q, z);
  q = vfmaq_f32(vdupq_n_f32(-3.33332819422e-1f), q, z);
  const F4 small = vfmaq_f32(x, vmulq_f32(q, z), x);
  const F4 signedBig = vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(big), sign));
  return vbslq_f32(vcgeq_f32(ax, vdupq_n_f32(0.625f)), signedBig, small);
}
static inline V vtanh(V x) { return V{tanh4(x.a), tanh4(x.b)}; }

// float32x4_t is a GCC/Clang vector type: the linear kernel's exp and select of simd_gnu.h.
static inline V vexp(V x) { return V{gnuExp<F4, int32x4_t>(x.a), gnuExp<F4, int32x4_t>(x.b)}; }
static inline V vwherePos(V x, V a, V b) {
  return V{gnuWherePositive<F4>(x.a, a.a, b.a), gnuWherePositive<F4>(x.b, a.b, b.b)};
}

// Half precision: FCVT converts exactly (widening) and rounds to nearest even (narrowing), as
// half.h does.
static inline void loadF16(const uint16_t* src, float* dst, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(src + i))));
  for (; i < n; ++i) dst[i] = halfToFloat(src[i]);
}
static inline void loadBF16(const uint16_t* src, float* dst, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(src + i), 16)));
  for (; i < n; ++i) dst[i] = bf16ToFloat(src[i]);
}
static inline void storeF16(const float* src, uint16_t* dst, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
  for (; i < n; ++i) dst[i] = floatToHalf(src[i]);
}
static inline void storeBF16(const float* src, uint16_t* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = floatToBf16(src[i]);
}

}  // namespace
}  // namespace neon
}  // namespace cpu
}  // namespace attnflow
