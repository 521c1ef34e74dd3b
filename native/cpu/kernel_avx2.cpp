// The AVX2 + FMA + F16C instantiation of the CPU kernel. Built with -mavx2 -mfma -mf16c on x86-64
// only and called only after run-time detection (see forward.cpp), so nothing here may be reached
// from code that runs before that check: every function has internal linkage except the table.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>

#include "half.h"
#include "kernel.h"

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "kernel_avx2.cpp must be compiled with -mavx2 -mfma -mf16c"
#endif

namespace attnflow {
namespace cpu {
namespace avx2 {
namespace {

using V8 = __m256;

constexpr int kStR = 6, kStC = 2;  // S^T: 6 keys x 16 queries = 12 accumulators
constexpr int kPvR = 6, kPvC = 2;  // O:   6 queries x 16 columns = 12 accumulators

static inline V8 vzero() { return _mm256_setzero_ps(); }
static inline V8 vset1(float x) { return _mm256_set1_ps(x); }
static inline V8 vload(const float* p) { return _mm256_loadu_ps(p); }
static inline void vstore(float* p, V8 v) { _mm256_storeu_ps(p, v); }
static inline V8 vbcast(const float* p) { return _mm256_broadcast_ss(p); }
static inline V8 vadd(V8 a, V8 b) { return _mm256_add_ps(a, b); }
static inline V8 vsub(V8 a, V8 b) { return _mm256_sub_ps(a, b); }
static inline V8 vmul(V8 a, V8 b) { return _mm256_mul_ps(a, b); }
static inline V8 vmax(V8 a, V8 b) { return _mm256_max_ps(a, b); }
static inline V8 vfma(V8 a, V8 b, V8 c) { return _mm256_fmadd_ps(a, b, c); }
static inline V8 vfnma(V8 a, V8 b, V8 c) { return _mm256_fnmadd_ps(a, b, c); }
static inline V8 vabs(V8 a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
static inline V8 viota() { return _mm256_setr_ps(0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f); }
// s in the lanes whose bit is set in `bits` (bit l for lane l), -inf elsewhere
static inline V8 vkeep(V8 s, uint32_t bits) {
  const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i b = _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), sel);
  const V8 keep = _mm256_castsi256_ps(_mm256_cmpeq_epi32(b, sel));
  return _mm256_blendv_ps(_mm256_set1_ps(-__builtin_inff()), s, keep);
}
// dst[c * ds + r] = src[r * ss + c] for an 8 x 8 block
static inline void vtranspose8(const float* src, int64_t ss, float* dst, int64_t ds) {
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
static inline V8 vmsafe(V8 m) {
  const V8 isNegInf = _mm256_cmp_ps(m, _mm256_set1_ps(-__builtin_inff()), _CMP_EQ_OQ);
  return _mm256_andnot_ps(isNegInf, m);
}

// 2^x for x <= 0 (x = -inf gives 0; results below 2^-126 flush to 0; NaN stays NaN). Cephes
// exp2f: x = n + r, r in [-1/2, 1/2], 2^r by a degree-6 polynomial (relative error ~1e-7), 2^n by
// the exponent.
static inline V8 vexp2(V8 x) {
  // max_ps returns its second operand when either is NaN: x second, so a NaN x stays NaN (a NaN
  // score must make its probability, and so the row, NaN)
  x = _mm256_max_ps(_mm256_set1_ps(-127.f), x);
  const V8 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const V8 r = _mm256_sub_ps(x, n);
  V8 p = _mm256_set1_ps(1.535336188319500e-4f);
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
static inline V8 vtanh(V8 x) {
  const V8 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.f));
  const V8 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.f), x);
  // large branch: 2^(2|x| log2 e), clamped so it stays finite
  const V8 t = _mm256_min_ps(_mm256_mul_ps(ax, _mm256_set1_ps(2.885390081777927f)), _mm256_set1_ps(126.f));
  const V8 n = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const V8 r = _mm256_sub_ps(t, n);
  V8 p = _mm256_set1_ps(1.535336188319500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.339887440266574e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(9.618437357674640e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.550332471162809e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(2.402264791363012e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(6.931472028550421e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256i ei = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const V8 ex = _mm256_mul_ps(p, _mm256_castsi256_ps(ei));
  const V8 one = _mm256_set1_ps(1.f);
  const V8 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.f), _mm256_add_ps(ex, one)));
  // small branch
  const V8 z = _mm256_mul_ps(x, x);
  V8 q = _mm256_set1_ps(-5.70498872745e-3f);
  q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(2.06390887954e-2f));
  q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(-5.37397155531e-2f));
  q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.33314422036e-1f));
  q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(-3.33332819422e-1f));
  const V8 small = _mm256_fmadd_ps(_mm256_mul_ps(q, z), x, x);
  const V8 useSmall = _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_NGE_UQ);  // |x| < 0.625 or NaN
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

#include "kernel_body.h"

namespace {
void runItem(const Plan& P, const Item& it, const Scratch& S, float* partials) { runItemImpl(P, it, S, partials); }
void mergeRow(const Plan& P, const Scratch& S, const Item& first, const float* partials, int32_t count) {
  mergeRowImpl(P, S, first, partials, count);
}
const KernelTable kTable = {"avx2", &runItem, &mergeRow};
}  // namespace

}  // namespace avx2

const KernelTable& avx2Kernels() { return avx2::kTable; }

}  // namespace cpu
}  // namespace attnflow

#endif
