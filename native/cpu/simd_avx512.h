// The vector primitives of the AVX-512 CPU kernels (16 floats per __m512, 32 registers); the
// interface is listed in simd_portable.h. Included only by files built with -mavx512f/bw/dq/vl
// -mfma -mf16c (kernel_avx512*.cpp, linear_avx512.cpp), which run only after run-time detection
// (isa.cpp): every function has internal linkage. The including file names its namespace
// (ATTNFLOW_SIMD_AVX512_NS): avx512, or avx512bf16 for the kernel with bf16 dot products.
#pragma once

#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__) || \
    !defined(__FMA__) || !defined(__F16C__)
#error "simd_avx512.h must be compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c"
#endif
#if !defined(ATTNFLOW_SIMD_AVX512_NS)
#error "define ATTNFLOW_SIMD_AVX512_NS (the kernel's namespace) before including simd_avx512.h"
#endif

#include <immintrin.h>

#include <cstdint>

#include "half.h"

// GCC 12 reports the _mm512_undefined_ps() inside its own intrinsics (_mm512_max_ps, ...) as used
// uninitialized once they are inlined; the value is a don't-care by definition.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace attnflow {
namespace cpu {
namespace ATTNFLOW_SIMD_AVX512_NS {
namespace {

#include "simd_gnu.h"

using V = __m512;
constexpr int kLanes = 16;

// S^T: 6 keys x 4 vectors (64 queries, the whole tile) = 24 accumulators, 4 query vectors and a
// broadcast: 29 of the 32 registers. Per headDim step 4 loads + 6 broadcasts feed 24 FMAs (12
// cycles on the two FMA ports), far below what the load ports take.
constexpr int kStR = 6, kStC = 4;
// O: 6 queries x 4 vectors (64 headDim columns) = 24 accumulators; per key 4 loads of V, 6
// broadcasts of P.
constexpr int kPvR = 6, kPvC = 4;
// Linear attention's GEMM: 6 rows x 4 vectors (64 columns) = 24 accumulators.
constexpr int kGemmR = 6, kGemmNV = 4;

static inline V vzero() { return _mm512_setzero_ps(); }
static inline V vset1(float x) { return _mm512_set1_ps(x); }
static inline V vload(const float* p) { return _mm512_loadu_ps(p); }
static inline void vstore(float* p, V v) { _mm512_storeu_ps(p, v); }
static inline V vbcast(const float* p) { return _mm512_set1_ps(*p); }
static inline V vadd(V a, V b) { return _mm512_add_ps(a, b); }
static inline V vsub(V a, V b) { return _mm512_sub_ps(a, b); }
static inline V vmul(V a, V b) { return _mm512_mul_ps(a, b); }
static inline V vmax(V a, V b) { return _mm512_max_ps(a, b); }
static inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
static inline V vfnma(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
static inline V vabs(V a) { return _mm512_abs_ps(a); }
// s in the lanes whose bit is set in `bits` (bit l for lane l), -inf elsewhere
static inline V vkeep(V s, uint32_t bits) {
  return _mm512_mask_mov_ps(_mm512_set1_ps(-__builtin_inff()), static_cast<__mmask16>(bits), s);
}
static inline V vwherePos(V x, V a, V b) {
  return _mm512_mask_mov_ps(b, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), a);  // NaN x: b
}
// __m512 is a GCC/Clang vector type: the exp of simd_gnu.h compiles to AVX-512 code here.
typedef int32_t I16 __attribute__((vector_size(64)));
static inline V vexp(V x) { return gnuExp<V, I16>(x); }
static inline V vmsafe(V m) {
  const __mmask16 isNegInf = _mm512_cmp_ps_mask(m, _mm512_set1_ps(-__builtin_inff()), _CMP_EQ_OQ);
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~isNegInf), m);
}

// dst[c * ds + r] = src[r * ss + c] for a 16 x 16 block: 2 x 2 and 4 x 4 transposes inside each
// 128-bit lane (unpack, shuffle), then the 4 x 4 transpose of the lanes (two rounds of shuffle_f32x4).
static inline void vtranspose(const float* src, int64_t ss, float* dst, int64_t ds) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ss);
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4q + m]: inside 128-bit lane k, column 4k + m of rows 4q .. 4q + 3
  __m512 u[16];
  for (int q = 0; q < 4; ++q) {
    u[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
    u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
    u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
    u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
  }
  for (int m = 0; m < 4; ++m) {
    const __m512 a = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88);       // lanes 0, 2 of rows 0-3, 4-7
    const __m512 b = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xDD);       // lanes 1, 3
    const __m512 c = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88);  // rows 8-11, 12-15
    const __m512 d = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xDD);
    _mm512_storeu_ps(dst + (0 + m) * ds, _mm512_shuffle_f32x4(a, c, 0x88));
    _mm512_storeu_ps(dst + (4 + m) * ds, _mm512_shuffle_f32x4(b, d, 0x88));
    _mm512_storeu_ps(dst + (8 + m) * ds, _mm512_shuffle_f32x4(a, c, 0xDD));
    _mm512_storeu_ps(dst + (12 + m) * ds, _mm512_shuffle_f32x4(b, d, 0xDD));
  }
}

// 2^n r for the Cephes polynomial p(r) (r in [-1/2, 1/2]) and integer-valued n >= -127: the
// exponent is built in the integer unit, so n = -127 gives exactly 0 (no denormals).
static inline V pow2Poly(V n, V r) {
  V p = _mm512_set1_ps(1.535336188319500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.339887440266574e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.618437357674640e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.550332471162809e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(2.402264791363012e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(6.931472028550421e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

// 2^x for x <= 0 (x = -inf gives 0; results below 2^-126 flush to 0; NaN stays NaN: max_ps returns
// its second operand, x, when either is NaN).
static inline V vexp2(V x) {
  x = _mm512_max_ps(_mm512_set1_ps(-127.f), x);
  const V n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return pow2Poly(n, _mm512_sub_ps(x, n));
}

// tanh: Cephes tanhf (odd polynomial for |x| < 0.625, else 1 - 2 / (e^{2|x|} + 1)); tanh(NaN) is
// NaN (the polynomial branch, taken unless |x| >= 0.625, which is false for NaN), tanh(±inf) = ±1.
static inline V vtanh(V x) {
  const V ax = _mm512_abs_ps(x);
  const V t = _mm512_min_ps(_mm512_mul_ps(ax, _mm512_set1_ps(2.885390081777927f)), _mm512_set1_ps(126.f));
  const V n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const V ex = pow2Poly(n, _mm512_sub_ps(t, n));
  const V one = _mm512_set1_ps(1.f);
  V big = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.f), _mm512_add_ps(ex, one)));
  big = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(big),
                                            _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN))));
  const V z = _mm512_mul_ps(x, x);
  V q = _mm512_set1_ps(-5.70498872745e-3f);
  q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(2.06390887954e-2f));
  q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(-5.37397155531e-2f));
  q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(1.33314422036e-1f));
  q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(-3.33332819422e-1f));
  const V small = _mm512_fmadd_ps(_mm512_mul_ps(q, z), x, x);
  const __mmask16 useBig = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_GE_OQ);  // false for NaN
  return _mm512_mask_mov_ps(small, useBig, big);
}

static inline void loadF16(const uint16_t* src, float* dst, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
  if (i < n) {
    const __mmask16 k = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, k, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, src + i)));
  }
}

static inline void loadBF16(const uint16_t* src, float* dst, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)));
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
  if (i < n) {
    const __mmask16 k = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, src + i));
    _mm512_mask_storeu_ps(dst + i, k, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
}

static inline void storeF16(const float* src, uint16_t* dst, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = floatToHalf(src[i]);
}

static inline void storeBF16(const float* src, uint16_t* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = floatToBf16(src[i]);
}

}  // namespace
}  // namespace ATTNFLOW_SIMD_AVX512_NS
}  // namespace cpu
}  // namespace attnflow
