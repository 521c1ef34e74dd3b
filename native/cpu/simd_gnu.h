// Vector math for ISA files whose vectors are GCC/Clang vector types (the portable V4 halves,
// __m256, __m512, NEON's float32x4_t, ...): written once with the vector extensions' operators,
// so an ISA file may use these instead of writing its own. Included by simd_<isa>.h files inside
// their unnamed namespace (everything here is internal to the including translation unit).
//   F: a vector of N floats; I: the vector of N int32 of the same size.

template <class F>
static inline __attribute__((always_inline)) F gnuSplat(float c) {
  return F{} + c;
}

// exp(x) to ~2 ulp: Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, degree-7 Taylor for e^r,
// 2^n through the exponent bits. x is clamped to [-87.3, 88.0] (finite results); NaN stays NaN.
template <class F, class I>
static inline __attribute__((always_inline)) F gnuExp(F x) {
  const F lo = gnuSplat<F>(-87.3f), hi = gnuSplat<F>(88.0f);
  F xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  const F magic = gnuSplat<F>(12582912.f);  // 1.5·2^23: adding it rounds to an integer
  F n = xc * gnuSplat<F>(1.44269504088896341f) + magic;
  n = n - magic;
  F r = xc - n * gnuSplat<F>(0.693359375f);
  r = r - n * gnuSplat<F>(-2.12194440e-4f);
  F p = gnuSplat<F>(1.f / 5040.f);
  p = p * r + gnuSplat<F>(1.f / 720.f);
  p = p * r + gnuSplat<F>(1.f / 120.f);
  p = p * r + gnuSplat<F>(1.f / 24.f);
  p = p * r + gnuSplat<F>(1.f / 6.f);
  p = p * r + gnuSplat<F>(0.5f);
  p = p * r + gnuSplat<F>(1.f);
  p = p * r + gnuSplat<F>(1.f);
  const I ni = __builtin_convertvector(n, I);
  const I bits = (ni + 127) << 23;
  const F res = p * (F)bits;
  return x != x ? x : res;
}

// x > 0 ? a : b, lane by lane (NaN x gives b).
template <class F>
static inline __attribute__((always_inline)) F gnuWherePositive(F x, F a, F b) {
  return x > F{} ? a : b;
}
