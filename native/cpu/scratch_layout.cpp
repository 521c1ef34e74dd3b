// The per-thread scratch layout of the attention kernels (kernel.h's Scratch). Plain arithmetic
// on pointers, no standard library: the WebAssembly build (native/wasm) compiles it too.
#include "kernel.h"

namespace attnflow {
namespace cpu {

namespace {

// Scratch buffers start on 64-byte boundaries (whole cache lines; aligned for any vector width).
size_t round16(size_t n) { return (n + 15) & ~static_cast<size_t>(15); }

}  // namespace

size_t scratchFloats(int D, int Dp) {
  const size_t DpA = round16(static_cast<size_t>(Dp));
  return round16(static_cast<size_t>(D) * kBQ) + round16(static_cast<size_t>(kBK) * kBQ) + kBQ * DpA + 3 * kBQ +
         2 * kBK * DpA + DpA + 16 + kBK / 2 * kBQ;
}

Scratch carveScratch(float* base, int D, int Dp) {
  const size_t DpA = round16(static_cast<size_t>(Dp));  // segment sizes: every segment starts on a cache line
  Scratch s;
  float* p = base;
  s.qT = p;
  p += round16(static_cast<size_t>(D) * kBQ);
  s.sT = p;
  p += round16(static_cast<size_t>(kBK) * kBQ);
  s.o = p;
  p += kBQ * DpA;
  s.m = p;
  p += kBQ;
  s.l = p;
  p += kBQ;
  s.alpha = p;
  p += kBQ;
  s.kBuf = p;
  p += kBK * DpA;
  s.vBuf = p;
  p += kBK * DpA;
  s.row = p;
  p += DpA;
  s.p2 = p;
  s.mass = nullptr;
  return s;
}

}  // namespace cpu
}  // namespace attnflow
