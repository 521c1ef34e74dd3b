// The WebAssembly SIMD128 instantiation of the CPU attention kernel (kernel_body.h): the 8-lane
// vector interface as two v128 registers, with WebAssembly's own instructions where the generic
// vector types of kernel_portable.cpp would be lowered to slower sequences (pseudo-min/max,
// nearest, load-and-splat, widening loads, the half-to-float conversion in integer lanes).
// Engines compile v128 to 16 SSE/AVX or 32 NEON registers; the register blocks are sized for 16.
#include <wasm_simd128.h>

#include <cstdint>
#include <cstring>

#include "half.h"
#include "kernel.h"

namespace attnflow {
namespace cpu {
namespace simd128 {
namespace {

struct V8 {
  v128_t a, b;
};

// V8 keeps one of x86-64's 16 vector registers for itself: 8 accumulators + 4 loaded vectors + 1
// broadcast fit; 12 accumulators (the AVX2 blocks) spill, measured 30 % slower.
constexpr int kStR = 2, kStC = 2;  // S^T: 2 keys x 16 queries = 8 accumulators (two v128 per V8)
constexpr int kPvR = 2, kPvC = 2;  // O:   2 queries x 16 columns = 8 accumulators

static inline V8 vzero() { return V8{wasm_f32x4_const_splat(0.f), wasm_f32x4_const_splat(0.f)}; }
static inline V8 vset1(float x) {
  const v128_t s = wasm_f32x4_splat(x);
  return V8{s, s};
}
static inline V8 vload(const float* p) { return V8{wasm_v128_load(p), wasm_v128_load(p + 4)}; }
static inline void vstore(float* p, V8 v) {
  wasm_v128_store(p, v.a);
  wasm_v128_store(p + 4, v.b);
}
static inline V8 vbcast(const float* p) {
  const v128_t s = wasm_v128_load32_splat(p);
  return V8{s, s};
}
static inline V8 vadd(V8 x, V8 y) { return V8{wasm_f32x4_add(x.a, y.a), wasm_f32x4_add(x.b, y.b)}; }
static inline V8 vsub(V8 x, V8 y) { return V8{wasm_f32x4_sub(x.a, y.a), wasm_f32x4_sub(x.b, y.b)}; }
static inline V8 vmul(V8 x, V8 y) { return V8{wasm_f32x4_mul(x.a, y.a), wasm_f32x4_mul(x.b, y.b)}; }
// pmax(a, b) = a < b ? b : a: one maxps on x86; returns a when either is NaN (allowed by the body)
static inline V8 vmax(V8 x, V8 y) { return V8{wasm_f32x4_pmax(x.a, y.a), wasm_f32x4_pmax(x.b, y.b)}; }
// No fused multiply-add in SIMD128 (relaxed SIMD has one, not yet on by default): a*b+c rounds twice.
static inline V8 vfma(V8 x, V8 y, V8 z) {
  return V8{wasm_f32x4_add(wasm_f32x4_mul(x.a, y.a), z.a), wasm_f32x4_add(wasm_f32x4_mul(x.b, y.b), z.b)};
}
static inline V8 vfnma(V8 x, V8 y, V8 z) {
  return V8{wasm_f32x4_sub(z.a, wasm_f32x4_mul(x.a, y.a)), wasm_f32x4_sub(z.b, wasm_f32x4_mul(x.b, y.b))};
}
static inline V8 vabs(V8 x) { return V8{wasm_f32x4_abs(x.a), wasm_f32x4_abs(x.b)}; }
static inline V8 viota() { return V8{wasm_f32x4_make(0.f, 1.f, 2.f, 3.f), wasm_f32x4_make(4.f, 5.f, 6.f, 7.f)}; }
static inline v128_t msafe4(v128_t m) {
  return wasm_v128_andnot(m, wasm_f32x4_eq(m, wasm_f32x4_const_splat(-__builtin_inff())));
}
static inline V8 vmsafe(V8 m) { return V8{msafe4(m.a), msafe4(m.b)}; }
// s in the lanes whose bit is set in `bits` (bit l for lane l), -inf elsewhere
static inline V8 vkeep(V8 s, uint32_t bits) {
  const v128_t b = wasm_i32x4_splat(static_cast<int32_t>(bits));
  const v128_t lo = wasm_i32x4_const(1, 2, 4, 8), hi = wasm_i32x4_const(16, 32, 64, 128);
  const v128_t ninf = wasm_f32x4_const_splat(-__builtin_inff());
  return V8{wasm_v128_bitselect(s.a, ninf, wasm_i32x4_eq(wasm_v128_and(b, lo), lo)),
            wasm_v128_bitselect(s.b, ninf, wasm_i32x4_eq(wasm_v128_and(b, hi), hi))};
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
static inline void vtranspose8(const float* src, int64_t ss, float* dst, int64_t ds) {
  transpose4(src, ss, dst, ds);
  transpose4(src + 4, ss, dst + 4 * ds, ds);
  transpose4(src + 4 * ss, ss, dst + 4, ds);
  transpose4(src + 4 * ss + 4, ss, dst + 4 * ds + 4, ds);
}

// 2^(n + r) = 2^r (degree-6 polynomial, r in [-1/2, 1/2]) * 2^n: the Cephes exp2f scheme of the
// other builds.
static inline v128_t exp2Poly(v128_t x) {
  const v128_t n = wasm_f32x4_nearest(x);
  const v128_t r = wasm_f32x4_sub(x, n);
  v128_t p = wasm_f32x4_const_splat(1.535336188319500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_const_splat(1.339887440266574e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_const_splat(9.618437357674640e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_const_splat(5.550332471162809e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_const_splat(2.402264791363012e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_const_splat(6.931472028550421e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_const_splat(1.f));
  const v128_t e = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_const_splat(127)), 23);
  return wasm_f32x4_mul(p, e);
}

// 2^x for x <= 0 (x = -inf gives 0; results below 2^-126 flush to 0; NaN stays NaN: pmax(x, lo)
// is x unless x < lo, which is false for NaN)
static inline v128_t exp2Clamped(v128_t x) { return exp2Poly(wasm_f32x4_pmax(x, wasm_f32x4_const_splat(-127.f))); }
static inline V8 vexp2(V8 x) { return V8{exp2Clamped(x.a), exp2Clamped(x.b)}; }

// tanh: Cephes tanhf (odd polynomial for |x| < 0.625, else 1 - 2 / (e^{2|x|} + 1)); tanh(NaN) is
// NaN (the comparison |x| >= 0.625 is false for NaN: the polynomial branch), tanh(±inf) = ±1.
static inline v128_t tanh4(v128_t x) {
  const v128_t ax = wasm_f32x4_abs(x);
  const v128_t t = wasm_f32x4_pmin(wasm_f32x4_mul(ax, wasm_f32x4_const_splat(2.885390081777927f)), wasm_f32x4_const_splat(126.f));
  const v128_t ex = exp2Poly(t);
  const v128_t one = wasm_f32x4_const_splat(1.f);
  v128_t big = wasm_f32x4_sub(one, wasm_f32x4_div(wasm_f32x4_const_splat(2.f), wasm_f32x4_add(ex, one)));
  big = wasm_v128_or(big, wasm_v128_and(x, wasm_f32x4_const_splat(-0.f)));  // sign of x
  const v128_t z = wasm_f32x4_mul(x, x);
  v128_t q = wasm_f32x4_const_splat(-5.70498872745e-3f);
  q = wasm_f32x4_add(wasm_f32x4_mul(q, z), wasm_f32x4_const_splat(2.06390887954e-2f));
  q = wasm_f32x4_add(wasm_f32x4_mul(q, z), wasm_f32x4_const_splat(-5.37397155531e-2f));
  q = wasm_f32x4_add(wasm_f32x4_mul(q, z), wasm_f32x4_const_splat(1.33314422036e-1f));
  q = wasm_f32x4_add(wasm_f32x4_mul(q, z), wasm_f32x4_const_splat(-3.33332819422e-1f));
  const v128_t small = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(q, z), x), x);
  return wasm_v128_bitselect(big, small, wasm_f32x4_ge(ax, wasm_f32x4_const_splat(0.625f)));
}
static inline V8 vtanh(V8 x) { return V8{tanh4(x.a), tanh4(x.b)}; }

// Four float16 -> float32, exactly (subnormals, inf and NaN included): the bits moved into place
// and re-biased; subnormals by a float subtraction of the implicit bit.
static inline v128_t halfToFloat4(const uint16_t* src) {
  const v128_t h = wasm_u32x4_load16x4(src);
  const v128_t em = wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_const_splat(0x7fff)), 13);
  const v128_t exp = wasm_v128_and(em, wasm_i32x4_const_splat(0x0f800000));
  v128_t o = wasm_i32x4_add(em, wasm_i32x4_const_splat(112 << 23));  // exponent 15 -> 127
  // inf / NaN: exponent 31 -> 255
  o = wasm_i32x4_add(o, wasm_v128_and(wasm_i32x4_eq(exp, wasm_i32x4_const_splat(0x0f800000)), wasm_i32x4_const_splat(112 << 23)));
  // zero / subnormal: 2^-14 * 0.m = (1.m * 2^-14) - 2^-14
  const v128_t sub = wasm_i32x4_eq(exp, wasm_i32x4_const_splat(0));
  const v128_t fixed = wasm_f32x4_sub(wasm_i32x4_add(o, wasm_i32x4_const_splat(1 << 23)), wasm_f32x4_const_splat(6.103515625e-05f));
  o = wasm_v128_bitselect(fixed, o, sub);
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
static inline void storeF16(const float* src, uint16_t* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = floatToHalf(src[i]);
}
static inline void storeBF16(const float* src, uint16_t* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = floatToBf16(src[i]);
}

}  // namespace

#include "kernel_body.h"

namespace {
void runItem(const Plan& P, const Item& it, const Scratch& S, float* partials) { runItemImpl(P, it, S, partials); }
void mergeRow(const Plan& P, const Scratch& S, const Item& first, const float* partials, int32_t count) {
  mergeRowImpl(P, S, first, partials, count);
}
const KernelTable kTable = {"simd128", &runItem, &mergeRow};
}  // namespace

}  // namespace simd128

const KernelTable& simd128Kernels() { return simd128::kTable; }

}  // namespace cpu
}  // namespace attnflow
