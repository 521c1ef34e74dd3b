// Host stand-in for <cuda_fp16.h> (CUDA emulator test): __half as raw bits, conversions rounding
// to nearest even (the CPU backend's scalar conversions).
#pragma once

#include <cstdint>

#include "half.h"

struct __half {
  uint16_t x;
};
struct __half2 {
  __half x, y;
};

inline float __half2float(__half h) { return attnflow::cpu::halfToFloat(h.x); }
inline __half __float2half_rn(float f) { return __half{attnflow::cpu::floatToHalf(f)}; }
inline __half2 __floats2half2_rn(float lo, float hi) { return __half2{__float2half_rn(lo), __float2half_rn(hi)}; }
inline __half __ushort_as_half(unsigned short u) { return __half{u}; }
inline unsigned short __half_as_ushort(__half h) { return h.x; }
