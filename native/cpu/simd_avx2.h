// The vector primitives of the AVX2 + FMA + F16C CPU kernel (8 floats per __m256); the interface
// is listed in simd_portable.h. Included only by files built with -mavx2 -mfma -mf16c
// (kernel_avx2.cpp, linear_avx2.cpp), which run only after run-time detection (isa.cpp): every
// function has internal linkage.
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "simd_avx2.h must be compiled with -mavx2 -mfma -mf16c"
#endif

#include <immintrin.h>

#include <cstdint>

#include "half.h"

namespace attnflow {
namespace cpu {
namespace avx2 {
namespace {

#include "simd_gnu.h"

using V = __m256;
constexpr int kLanes = 8;

constexpr int kStR = 6, kStC = 2;  // S^T: 6 keys x 16 queries = 12 accumulators
constexpr int kPvR = 6, kPvC = 2;  // O:   6 queries x 16 columns = 12 accumulators
constexpr int kGemmR = 4, kGemmNV = 2;  // linear attention's GEMM: 4 rows x 16 columns

static inline V vzero() { return _mm256_setzero_ps(); }
static inline V vset1(float x) { return _mm256_set1_ps(x); }
static inline V vload(const float* p) { return _mm256_loadu_ps(p); }
static inline void vstore(float* p, V v) { _mm256_storeu_ps(p, v); }
static inline V vbcast(const float* p) { return _mm256_broadcast_ss(p); }
static inline V vadd(V a, V b) { return _mm256_add_ps(a, b); }
static inline V vsub(V a, V b) { return _mm256_sub_ps(a, b); }
static inline V vmul(V a, V b) { return _mm256_mul_ps(a, b); }
static inline V vmax(V a, V b) { return _mm256_max_ps(a, b); }
static inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
static inline V vfnma(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
static inline V vabs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
// s in the lanes whose bit is set in `bits` (bit l for lane l), -inf elsewhere
static inline V vkeep(V s, uint32_t bits) {
  const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i b = _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), sel);
  const V keep = _mm256_castsi256_ps(_mm256_cmpeq_epi32(b, sel));
  return _mm256_blendv_ps(_mm256_set1_ps(-__builtin_inff()), s, keep);
}
// dst[c * ds + r] = src[r * ss + c] for an 8 x 8 block
static inline void vtranspose(const float* src, int64_t ss, float* dst, int64_t ds) {
  __m256 r0 = _mm256_loadu_ps(src + 0 * ss), r1 = _mm256_loadu_ps(src + 1 * ss);
  __m256 r2 = _mm256_loadu_ps(src + 2 * ss), r3 = _mm256_loadu_ps(src + 3 * ss);
  __m256 r4 = _mm256_loadu_ps(src + 4 * ss), r5 = _mm256_loadu_ps(src + 5 * ss);
  __m256 r6 = _mm256_loadu_ps(src + 6 * ss), r7 = _mm256_loadu_ps(src + 7 * ss);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r0 = _mm256_permute2f128_ps(u0, u4, 0x20);
  r1 = _mm256_permute2f128_ps(u1, u5, 0x20);
  r2 = _mm256_permute2f128_ps(u2, u6, 0x20);
  r3 = _mm256_permute2f128_ps(u3, u7, 0x20);
  r4 = _mm256_permute2f128_ps(u0, u4, 0x31);
  r5 = _mm256_permute2f128_ps(u1, u5, 0x31);
  r6 = _mm256_permute2f128_ps(u2, u6, 0x31);
  r7 = _mm256_permute2f128_ps(u3, u7, 0x31);
  _mm256_storeu_ps(dst + 0 * ds, r0);
  _mm256_storeu_ps(dst + 1 * ds, r1);
  _mm256_storeu_ps(dst + 2 * ds, r2);
  _mm256_storeu_ps(dst + 3 * ds, r3);
  _mm256_storeu_ps(dst + 4 * ds, r4);
  _mm256_storeu_ps(dst + 5 * ds, r5);
  _mm256_storeu_ps(dst + 6 * ds, r6);
  _mm256_storeu_ps(dst + 7 * ds, r7);
}
static inline V vmsafe(V m) {
  const V isNegInf = _mm256_cmp_ps(m, _mm256_set1_ps(-__builtin_inff()), _CMP_EQ_OQ);
  return _mm256_andnot_ps(isNegInf, m);
}
static inline V vwherePos(V x, V a, V b) { return gnuWherePositive<V>(x, a, b); }
// __m256 is a GCC/Clang vector type: the exp of simd_gnu.h compiles to AVX2/FMA code here.
typedef int32_t I8 __attribute__((vector_size(32)));
static inline V vexp(V x) { return gnuExp<V, I8>(x); }

// 2^x for x <= 0 (x = -inf gives 0; results below 2^-126 flush to 0; NaN stays NaN). Cephes
// exp2f: x = n + r, r in [-1/2, 1/2], 2^r by a degree-6 polynomial (relative error ~1e-7), 2^n by
// the exponent.
static inline V vexp2(V x) {
  // max_ps returns its second operand when either is NaN: x second, so a NaN x stays NaN (a NaN
  // score must make its probability, and so the row, NaN)
  x = _mm256_max_ps(_mm256_set1_ps(-127.f), x);
  const V n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const V r = _mm256_sub_ps(x, n);
  V p = _mm256_set1_ps(1.535336188319500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.339887440266574e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(9.618437357674640e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.550332471162809e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(2.402264791363012e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(6.931472028550421e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// tanh: Cephes tanhf (odd polynomial for |x| < 0.625, else 1 - 2 / (e^{2|x|} + 1)); tanh(NaN) is
// NaN (the polynomial branch, taken when |x| < 0.625 is not true-or-false: unordered), tanh(±inf) = ±1.
static inline V vtanh(V x) {
  const V sign = _mm256_and_ps(x, _mm256_set1_ps(-0.f));
  const V ax = _mm256_andnot_ps(_mm256_set1_ps(-0.f), x);
  // large branch: 2^(2|x| log2 e), clamped so it stays finite
  const V t = _mm256_min_ps(_mm256_mul_ps(ax, _mm256_set1_ps(2.885390081777927f)), _mm256_set1_ps(126.f));
  const V ex = vexp2(t);  // t is in [0, 126] (the min above maps NaN to 126): vexp2's clamp never acts
  const V one = _mm256_set1_ps(1.f);
  const V big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.f), _mm256_add_ps(ex, one)));
  // small branch
  const V z = _mm256_mul_ps(x, x);
  V q = _mm256_set1_ps(-5.70498872745e-3f);
  q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(2.06390887954e-2f));
  q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(-5.37397155531e-2f));
  q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.33314422036e-1f));
  q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(-3.33332819422e-1f));
  const V small = _mm256_fmadd_ps(_mm256_mul_ps(q, z), x, x);
  const V useSmall = _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_NGE_UQ);  // |x| < 0.625 or NaN
  return _mm256_blendv_ps(_mm256_or_ps(big, sign), small, useSmall);
}

static inline void loadF16(const uint16_t* src, float* dst, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  }
  for (; i < n; ++i) dst[i] = halfToFloat(src[i]);
}

static inline void loadBF16(const uint16_t* src, float* dst, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) dst[i] = bf16ToFloat(src[i]);
}

static inline void storeF16(const float* src, uint16_t* dst, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = floatToHalf(src[i]);
}

static inline void storeBF16(const float* src, uint16_t* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = floatToBf16(src[i]);
}

}  // namespace
}  // namespace avx2
}  // namespace cpu
}  // namespace attnflow
