// Scalar float16 / bfloat16 <-> float32 conversions (round to nearest even, NaN stays a quiet
// NaN). Every function is `static inline` so each translation unit, whatever its instruction-set
// flags, gets its own copy (no shared out-of-line code between the portable and AVX2 units).
#pragma once

#include <cstdint>
#include <cstring>

namespace attnflow {
namespace cpu {

static inline float bitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

static inline uint32_t floatToBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

static inline float halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  if (exp == 0) {
    if (man == 0) return bitsToFloat(sign);
    const float f = static_cast<float>(man) * 5.9604644775390625e-8f;  // man * 2^-24, exact
    return sign ? -f : f;
  }
  if (exp == 31) return bitsToFloat(sign | 0x7f800000u | (man << 13));
  return bitsToFloat(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t floatToHalf(float f) {
  const uint32_t x = floatToBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) {  // inf or NaN
    if (ax == 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u);
    return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  }
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (ax >= 0x38800000u) {                                               // normal half (>= 2^-14)
    uint32_t r = ax - 0x38000000u;                                       // rebias exponent by 112
    r = r + 0xfffu + ((r >> 13) & 1u);
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  // subnormal half or zero: round |f| / 2^-24 to an integer, ties to even (the FPU's default mode)
  const float scaled = bitsToFloat(ax) * 16777216.0f;  // exact: a power of two
  const float t = scaled + 8388608.0f;                 // rounds to an integer (2^23 spacing 1)
  const uint32_t n = static_cast<uint32_t>(t - 8388608.0f);
  return static_cast<uint16_t>(sign | n);
}

static inline float bf16ToFloat(uint16_t h) { return bitsToFloat(static_cast<uint32_t>(h) << 16); }

static inline uint16_t floatToBf16(float f) {
  const uint32_t b = floatToBits(f);
  if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu) != 0) {
    return static_cast<uint16_t>(((b >> 16) & 0x8000u) | 0x7fc0u);
  }
  return static_cast<uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

// n contiguous values converted one by one: the loadF16 / loadBF16 / storeF16 / storeBF16 an ISA
// file without vector conversions supplies (simd_portable.h).
static inline void halfsToFloats(const uint16_t* src, float* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = halfToFloat(src[i]);
}
static inline void bf16sToFloats(const uint16_t* src, float* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = bf16ToFloat(src[i]);
}
static inline void floatsToHalfs(const float* src, uint16_t* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = floatToHalf(src[i]);
}
static inline void floatsToBf16s(const float* src, uint16_t* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = floatToBf16(src[i]);
}

}  // namespace cpu
}  // namespace attnflow
