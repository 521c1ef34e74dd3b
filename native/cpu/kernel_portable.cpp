// The portable instantiation of the CPU kernel: GCC/Clang vector types, compiled for the baseline
// instruction set (SSE2 on x86-64, NEON on aarch64). Used on CPUs without AVX2/FMA/F16C, on other
// architectures, and when ATTNFLOW_CPU_SIMD=scalar (or "portable").
#include <cstdint>
#include <cstring>

#include "half.h"
#include "kernel.h"

namespace attnflow {
namespace cpu {
namespace portable {
namespace {

// 8 floats as two native 4-lane vectors (GCC/Clang vector types): two SSE registers on baseline
// x86-64, two NEON registers on aarch64.
typedef float V4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));
struct V8 {
  V4 a, b;
};

#if defined(__aarch64__)
constexpr int kStR = 6, kStC = 2;  // 32 NEON registers
constexpr int kPvR = 6, kPvC = 2;
#else
constexpr int kStR = 3, kStC = 2;  // 16 SSE registers: 12 accumulators
constexpr int kPvR = 3, kPvC = 2;
#endif

static inline V4 s4(float x) { return V4{x, x, x, x}; }
static inline V8 vzero() { return V8{V4{}, V4{}}; }
static inline V8 vset1(float x) { return V8{s4(x), s4(x)}; }
static inline V8 vload(const float* p) {
  V8 r;
  std::memcpy(&r.a, p, 16);
  std::memcpy(&r.b, p + 4, 16);
  return r;
}
static inline void vstore(float* p, V8 v) {
  std::memcpy(p, &v.a, 16);
  std::memcpy(p + 4, &v.b, 16);
}
static inline V8 vbcast(const float* p) { return vset1(*p); }
static inline V8 vadd(V8 x, V8 y) { return V8{x.a + y.a, x.b + y.b}; }
static inline V8 vsub(V8 x, V8 y) { return V8{x.a - y.a, x.b - y.b}; }
static inline V8 vmul(V8 x, V8 y) { return V8{x.a * y.a, x.b * y.b}; }
static inline V4 max4(V4 x, V4 y) { return x > y ? x : y; }
static inline V8 vmax(V8 x, V8 y) { return V8{max4(x.a, y.a), max4(x.b, y.b)}; }
static inline V8 vfma(V8 x, V8 y, V8 z) { return V8{x.a * y.a + z.a, x.b * y.b + z.b}; }
static inline V8 vfnma(V8 x, V8 y, V8 z) { return V8{z.a - x.a * y.a, z.b - x.b * y.b}; }
static inline V4 abs4(V4 x) { return reinterpret_cast<V4>(reinterpret_cast<I4>(x) & 0x7fffffff); }
static inline V8 vabs(V8 x) { return V8{abs4(x.a), abs4(x.b)}; }
static inline V8 viota() { return V8{V4{0.f, 1.f, 2.f, 3.f}, V4{4.f, 5.f, 6.f, 7.f}}; }
static inline V4 msafe4(V4 m) { return m == s4(-__builtin_inff()) ? V4{} : m; }
static inline V8 vmsafe(V8 m) { return V8{msafe4(m.a), msafe4(m.b)}; }
static inline V8 vkeep(V8 s, uint32_t bits) {
  const I4 lo = {1, 2, 4, 8}, hi = {16, 32, 64, 128};
  const I4 bb = I4{} + static_cast<int32_t>(bits);
  const V4 ninf = s4(-__builtin_inff());
  return V8{(bb & lo) == lo ? s.a : ninf, (bb & hi) == hi ? s.b : ninf};
}
static inline void vtranspose8(const float* src, int64_t ss, float* dst, int64_t ds) {
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) dst[c * ds + r] = src[r * ss + c];
}

// 2^(n + r) = 2^r (degree-6 polynomial, r in [-1/2, 1/2]) * 2^n: the Cephes exp2f scheme of the
// AVX2 build.
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
static inline V8 vexp2(V8 x) {
  const V4 lo = s4(-127.f);
  return V8{exp2Poly(clampLo(x.a, lo)), exp2Poly(clampLo(x.b, lo))};
}

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
static inline V8 vtanh(V8 x) { return V8{tanh4(x.a), tanh4(x.b)}; }

static inline void loadF16(const uint16_t* src, float* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = halfToFloat(src[i]);
}
static inline void loadBF16(const uint16_t* src, float* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = bf16ToFloat(src[i]);
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
const KernelTable kTable = {"portable", &runItem, &mergeRow};
}  // namespace

}  // namespace portable

const KernelTable& portableKernels() { return portable::kTable; }

}  // namespace cpu
}  // namespace attnflow
