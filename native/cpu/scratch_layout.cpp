// The per-thread scratch layout of the attention kernels (kernel.h's Scratch). Plain arithmetic on
// pointers, no standard library: the WebAssembly build (native/wasm) compiles it too.
#include "kernel.h"

namespace attnflow {
namespace cpu {

namespace {

size_t round8(size_t n) { return (n + 7) & ~static_cast<size_t>(7); }

}  // namespace

size_t scratchFloats(int D) {
  const size_t Dp = round8(static_cast<size_t>(D));
  return round8(static_cast<size_t>(D) * kBQ) + round8(static_cast<size_t>(kBK) * kBQ) + kBQ * Dp + 3 * kBQ +
         2 * kBK * Dp + Dp + 8;
}

Scratch carveScratch(float* base, int D) {
  const size_t Dp = round8(static_cast<size_t>(D));
  Scratch s;
  float* p = base;
  s.qT = p;
  p += round8(static_cast<size_t>(D) * kBQ);
  s.sT = p;
  p += round8(static_cast<size_t>(kBK) * kBQ);
  s.o = p;
  p += kBQ * Dp;
  s.m = p;
  p += kBQ;
  s.l = p;
  p += kBQ;
  s.alpha = p;
  p += kBQ;
  s.kBuf = p;
  p += kBK * Dp;
  s.vBuf = p;
  p += kBK * Dp;
  s.row = p;
  return s;
}

}  // namespace cpu
}  // namespace attnflow
