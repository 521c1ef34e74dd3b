// The vector primitives of the WebAssembly kernel (the names simd_portable.h lists): 8 floats as
// two SIMD128 registers, with WebAssembly's own instructions where generic vector code would be
// lowered to slower sequences (pseudo-min/max, nearest, load-and-splat, widening loads, the exact
// half-to-float conversion in integer lanes). SIMD128 has no fused multiply-add (relaxed SIMD's
// is not on by default), so vfma rounds twice.
// Compiled only by scripts/build-wasm.sh (clang --target=wasm32-wasi -msimd128).
#pragma once

#include <wasm_simd128.h>

#include <cstdint>
#include <cstring>

#include "half.h"

namespace attnflow {
namespace cpu {
namespace wasm {
namespace {

struct V {
  v128_t a, b;
};
// 8 lanes, not 4: one 8-lane vector is two independent v128 operations, which engines schedule
// in parallel; measured faster than 4 lanes with the same register blocks.
constexpr int kLanes = 8;

// Engines compile v128 to x86-64's 16 SSE/AVX registers (32 NEON registers on arm64), and V8
// keeps one for itself: 8 accumulators + 4 loaded vectors + 1 broadcast fit; 12 accumulators (the
// AVX2 blocks) spill, measured 30 % slower.
constexpr int kStR = 2, kStC = 2;  // S^T: 2 keys x 16 queries = 8 accumulators (two v128 per V)
constexpr int kPvR = 2, kPvC = 2;  // O:   2 queries x 16 columns = 8 accumulators
constexpr int kGemmR = 4, kGemmNV = 2;  // linear attention's GEMM: 4 rows x 2 vectors

static inline V vzero() { return V{wasm_f32x4_const_splat(0.f), wasm_f32x4_const_splat(0.f)}; }
static inline V vset1(float x) {
  const v128_t s = wasm_f32x4_splat(x);
  return V{s, s};
}
static inline V vload(const float* p) { return V{wasm_v128_load(p), wasm_v128_load(p + 4)}; }
static inline void vstore(float* p, V v) {
  wasm_v128_store(p, v.a);
  wasm_v128_store(p + 4, v.b);
}
static inline V vbcast(const float* p) {
  const v128_t s = wasm_v128_load32_splat(p);
  return V{s, s};
}
static inline V vadd(V x, V y) { return V{wasm_f32x4_add(x.a, y.a), wasm_f32x4_add(x.b, y.b)}; }
static inline V vsub(V x, V y) { return V{wasm_f32x4_sub(x.a, y.a), wasm_f32x4_sub(x.b, y.b)}; }
static inline V vmul(V x, V y) { return V{wasm_f32x4_mul(x.a, y.a), wasm_f32x4_mul(x.b, y.b)}; }
// pmax(a, b) = a < b ? b : a: one maxps on x86; returns a where either is NaN
static inline V vmax(V x, V y) { return V{wasm_f32x4_pmax(x.a, y.a), wasm_f32x4_pmax(x.b, y.b)}; }
static inline v128_t fma4(v128_t x, v128_t y, v128_t z) { return wasm_f32x4_add(wasm_f32x4_mul(x, y), z); }
static inline v128_t fnma4(v128_t x, v128_t y, v128_t z) { return wasm_f32x4_sub(z, wasm_f32x4_mul(x, y)); }
static inline V vfma(V x, V y, V z) { return V{fma4(x.a, y.a, z.a), fma4(x.b, y.b, z.b)}; }
static inline V vfnma(V x, V y, V z) { return V{fnma4(x.a, y.a, z.a), fnma4(x.b, y.b, z.b)}; }
static inline V vabs(V x) { return V{wasm_f32x4_abs(x.a), wasm_f32x4_abs(x.b)}; }
static inline v128_t msafe4(v128_t m) {
  return wasm_v128_andnot(m, wasm_f32x4_eq(m, wasm_f32x4_const_splat(-__builtin_inff())));
}
static inline V vmsafe(V m) { return V{msafe4(m.a), msafe4(m.b)}; }
// s in the lanes whose bit is set in `bits` (bit l for lane l), -inf elsewhere
static inline V vkeep(V s, uint32_t bits) {
  const v128_t b = wasm_i32x4_splat(static_cast<int32_t>(bits));
  const v128_t lo = wasm_i32x4_const(1, 2, 4, 8), hi = wasm_i32x4_const(16, 32, 64, 128);
  const v128_t ninf = wasm_f32x4_const_splat(-__builtin_inff());
  return V{wasm_v128_bitselect(s.a, ninf, wasm_i32x4_eq(wasm_v128_and(b, lo), lo)),
           wasm_v128_bitselect(s.b, ninf, wasm_i32x4_eq(wasm_v128_and(b, hi), hi))};
}
// x > 0 ? a : b (NaN x gives b)
static inline V vwherePos(V x, V a, V b) {
  const v128_t zero = wasm_f32x4_const_splat(0.f);
  return V{wasm_v128_bitselect(a.a, b.a, wasm_f32x4_gt(x.a, zero)), wasm_v128_bitselect(a.b, b.b, wasm_f32x4_gt(x.b, zero))};
}

// dst[c * ds + r] = src[r * ss + c] for a 4 x 4 block
static inline void transpose4(const float* src, int64_t ss, float* dst, int64_t ds) {
  const v128_t r0 = wasm_v128_load(src), r1 = wasm_v128_load(src + ss);
  const v128_t r2 = wasm_v128_load(src + 2 * ss), r3 = wasm_v128_load(src + 3 * ss);
  const v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
  const v128_t t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
  wasm_v128_store(dst, wasm_i64x2_shuffle(t0, t2, 0, 2));
  wasm_v128_store(dst + ds, wasm_i64x2_shuffle(t0, t2, 1, 3));
  wasm_v128_store(dst + 2 * ds, wasm_i64x2_shuffle(t1, t3, 0, 2));
  wasm_v128_store(dst + 3 * ds, wasm_i64x2_shuffle(t1, t3, 1, 3));
}
// the 8 x 8 block as four 4 x 4 blocks
static inline void vtranspose(const float* src, int64_t ss, float* dst, int64_t ds) {
  transpose4(src, ss, dst, ds);
  transpose4(src + 4, ss, dst + 4 * ds, ds);
  transpose4(src + 4 * ss, ss, dst + 4, ds);
  transpose4(src + 4 * ss + 4, ss, dst + 4 * ds + 4, ds);
}

// 2^(n + r) = 2^r (degree-6 polynomial, r in [-1/2, 1/2]) * 2^n: the Cephes exp2f scheme of the
// other ISA files.
static inline v128_t exp2Poly(v128_t x) {
  const v128_t n = wasm_f32x4_nearest(x);
  const v128_t r = wasm_f32x4_sub(x, n);
  v128_t p = wasm_f32x4_const_splat(1.535336188319500e-4f);
  p = fma4(p, r, wasm_f32x4_const_splat(1.339887440266574e-3f));
  p = fma4(p, r, wasm_f32x4_const_splat(9.618437357674640e-3f));
  p = fma4(p, r, wasm_f32x4_const_splat(5.550332471162809e-2f));
  p = fma4(p, r, wasm_f32x4_const_splat(2.402264791363012e-1f));
  p = fma4(p, r, wasm_f32x4_const_splat(6.931472028550421e-1f));
  p = fma4(p, r, wasm_f32x4_const_splat(1.f));
  const v128_t e = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_const_splat(127)), 23);
  return wasm_f32x4_mul(p, e);
}

// 2^x for x <= 0 (-inf gives 0; results below 2^-126 flush to 0; NaN stays NaN: pmax(x, lo) is x
// unless x < lo, which is false for NaN)
static inline v128_t exp2Clamped(v128_t x) { return exp2Poly(wasm_f32x4_pmax(x, wasm_f32x4_const_splat(-127.f))); }
static inline V vexp2(V x) { return V{exp2Clamped(x.a), exp2Clamped(x.b)}; }

// e^x to ~2 ulp (simd_gnu.h's scheme): Cody–Waite reduction x = n·ln2 + r, degree-7 Taylor for
// e^r, 2^n through the exponent; x clamped to [-87.3, 88.0] (finite results); NaN stays NaN.
static inline v128_t exp4(v128_t x) {
  const v128_t xc = wasm_f32x4_pmin(wasm_f32x4_pmax(x, wasm_f32x4_const_splat(-87.3f)), wasm_f32x4_const_splat(88.0f));
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(xc, wasm_f32x4_const_splat(1.44269504088896341f)));
  v128_t r = fnma4(n, wasm_f32x4_const_splat(0.693359375f), xc);
  r = fnma4(n, wasm_f32x4_const_splat(-2.12194440e-4f), r);
  v128_t p = wasm_f32x4_const_splat(1.f / 5040.f);
  p = fma4(p, r, wasm_f32x4_const_splat(1.f / 720.f));
  p = fma4(p, r, wasm_f32x4_const_splat(1.f / 120.f));
  p = fma4(p, r, wasm_f32x4_const_splat(1.f / 24.f));
  p = fma4(p, r, wasm_f32x4_const_splat(1.f / 6.f));
  p = fma4(p, r, wasm_f32x4_const_splat(0.5f));
  p = fma4(p, r, wasm_f32x4_const_splat(1.f));
  p = fma4(p, r, wasm_f32x4_const_splat(1.f));
  const v128_t e = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_const_splat(127)), 23);
  const v128_t res = wasm_f32x4_mul(p, e);
  return wasm_v128_bitselect(res, x, wasm_f32x4_eq(x, x));  // NaN x -> x
}
static inline V vexp(V x) { return V{exp4(x.a), exp4(x.b)}; }

// tanh: Cephes tanhf (odd polynomial for |x| < 0.625, else 1 - 2 / (e^{2|x|} + 1)); tanh(NaN) is
// NaN (|x| >= 0.625 is false for NaN: the polynomial branch), tanh(±inf) = ±1.
static inline v128_t tanh4(v128_t x) {
  const v128_t ax = wasm_f32x4_abs(x);
  const v128_t t = wasm_f32x4_pmin(wasm_f32x4_mul(ax, wasm_f32x4_const_splat(2.885390081777927f)), wasm_f32x4_const_splat(126.f));
  const v128_t ex = exp2Poly(t);
  const v128_t one = wasm_f32x4_const_splat(1.f);
  v128_t big = wasm_f32x4_sub(one, wasm_f32x4_div(wasm_f32x4_const_splat(2.f), wasm_f32x4_add(ex, one)));
  big = wasm_v128_or(big, wasm_v128_and(x, wasm_f32x4_const_splat(-0.f)));  // the sign of x
  const v128_t z = wasm_f32x4_mul(x, x);
  v128_t q = wasm_f32x4_const_splat(-5.70498872745e-3f);
  q = fma4(q, z, wasm_f32x4_const_splat(2.06390887954e-2f));
  q = fma4(q, z, wasm_f32x4_const_splat(-5.37397155531e-2f));
  q = fma4(q, z, wasm_f32x4_const_splat(1.33314422036e-1f));
  q = fma4(q, z, wasm_f32x4_const_splat(-3.33332819422e-1f));
  const v128_t small = fma4(wasm_f32x4_mul(q, z), x, x);
  return wasm_v128_bitselect(big, small, wasm_f32x4_ge(ax, wasm_f32x4_const_splat(0.625f)));
}
static inline V vtanh(V x) { return V{tanh4(x.a), tanh4(x.b)}; }

// Four float16 -> float32, bit for bit as halfToFloat (subnormals, inf and NaN included): the
// bits moved into place and re-biased; subnormals through a float subtraction of the implicit bit.
static inline v128_t halfToFloat4(const uint16_t* src) {
  const v128_t h = wasm_u32x4_load16x4(src);
  const v128_t em = wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_const_splat(0x7fff)), 13);
  const v128_t exp = wasm_v128_and(em, wasm_i32x4_const_splat(0x0f800000));
  v128_t o = wasm_i32x4_add(em, wasm_i32x4_const_splat(112 << 23));  // exponent bias 15 -> 127
  // inf / NaN: exponent 31 -> 255
  o = wasm_i32x4_add(o, wasm_v128_and(wasm_i32x4_eq(exp, wasm_i32x4_const_splat(0x0f800000)), wasm_i32x4_const_splat(112 << 23)));
  // zero / subnormal: 0.m · 2^-14 = 1.m · 2^-14 − 2^-14, exact in float
  const v128_t fixed = wasm_f32x4_sub(wasm_i32x4_add(o, wasm_i32x4_const_splat(1 << 23)), wasm_f32x4_const_splat(6.103515625e-05f));
  o = wasm_v128_bitselect(fixed, o, wasm_i32x4_eq(exp, wasm_i32x4_const_splat(0)));
  return wasm_v128_or(o, wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_const_splat(0x8000)), 16));
}

static inline void loadF16(const uint16_t* src, float* dst, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(dst + i, halfToFloat4(src + i));
  for (; i < n; ++i) dst[i] = halfToFloat(src[i]);
}
static inline void loadBF16(const uint16_t* src, float* dst, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(dst + i, wasm_i32x4_shl(wasm_u32x4_load16x4(src + i), 16));
  for (; i < n; ++i) dst[i] = bf16ToFloat(src[i]);
}
static inline void storeF16(const float* src, uint16_t* dst, int n) { floatsToHalfs(src, dst, n); }
static inline void storeBF16(const float* src, uint16_t* dst, int n) { floatsToBf16s(src, dst, n); }

}  // namespace
}  // namespace wasm
}  // namespace cpu
}  // namespace attnflow
