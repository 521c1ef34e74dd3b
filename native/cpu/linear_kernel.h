// Internal interface of the CPU linear-attention backend: the resolved plan of one call (plain
// data), per-thread scratch sizing, and the entry point of one instruction set's kernel. The
// kernel body (linear_body.h) is compiled once per instruction set (linear_<isa>.cpp, against the
// vector primitives of simd_<isa>.h); the registry of isa.h picks one at run time. Nothing in this
// header emits code.
#pragma once

#include <cstddef>
#include <cstdint>

#include "attnflow.h"

namespace attnflow {
namespace cpu {
namespace linear {

// n rounded up to a multiple of `lanes` (a power of two: the kernel's vector width).
static inline int32_t roundUp(int32_t n, int32_t lanes) { return (n + lanes - 1) & ~(lanes - 1); }

struct In {
  const void* data;
  int64_t sb, sh, ss, sd;  // element strides of batch, head, seq, headDim
};

struct LinPlan {
  int32_t B, Hq, Hkv, N, Dk, Dv, Df, group, C;
  int32_t lanes;            // the kernel's vector width
  int32_t Dkp, Fp, Vp, Cp;  // Dk, Df, Dv, C rounded up to multiples of `lanes` (row strides of scratch)
  DType dtype;
  In q, k, v;
  void* out;
  int64_t osb, osh, oss, osd;
  LinearFeatureMap featureMap;
  const float* favorWT;  // [Dk][Fp]: W transposed, zero-padded; null unless Favor
  float favorScale;      // Dk^(-1/4)
  float favorNorm;       // 1/sqrt(m)
  LinearDecay decay;
  const float* decayHead;
  const float* gates;
  int64_t gs[4];
  bool normalize;
  float eps;
  const float* initS;
  const float* initZ;
  float* stateS;
  float* stateZ;
  const CancelFlag* cancel;  // read between chunks: a set flag ends the scan early
};

// Per-thread scratch of runHead (float32; every buffer starts on a multiple of `lanes` floats
// from the base).
struct LinScratch {
  float* x;     // [C][Dkp]  converted input rows (q or k)
  float* qf;    // [C][Fp]   φ(q) (then φ(q) ⊙ G)
  float* kf;    // [C][Fp]   φ(k)
  float* kT;    // [Fp][Cp]  φ(k) transposed (then ⊙ P_{L−1,s})
  float* vv;    // [C][Vp]   v rows
  float* a;     // [C][Cp]   intra-chunk scores A (lower triangle, zeros above)
  float* y;     // [C][Vp]   outputs
  float* den;   // [C]
  float* gam;   // [C]       scalar gates of the chunk
  float* g;     // [C]       their prefix products
  float* drow;  // [Cp]      P_{t,s} of the current row t
  float* gamD;  // [C][Fp]   per-feature gates (PerStepFeature only)
  float* gD;    // [C][Fp]   their prefix products
  float* xsq;   // [C]       |x|² of each row (favor)
  float* S;     // [Fp][Vp]  the running state
  float* z;     // [Fp]
};

// static inline: each translation unit (whatever its ISA flags) gets its own copy.
static inline size_t linScratchFloats(const LinPlan& p) {
  const size_t C = static_cast<size_t>(p.C), Cp = static_cast<size_t>(p.Cp), Fp = static_cast<size_t>(p.Fp),
               Vp = static_cast<size_t>(p.Vp), Dkp = static_cast<size_t>(p.Dkp);
  return C * Dkp + 2 * C * Fp + Fp * Cp + 2 * C * Vp + C * Cp + 4 * Cp + Cp + 2 * C * Fp + Cp + Fp * Vp + Fp + 64;
}

static inline LinScratch carveLinScratch(const LinPlan& p, float* base) {
  const size_t C = static_cast<size_t>(p.C), Cp = static_cast<size_t>(p.Cp), Fp = static_cast<size_t>(p.Fp),
               Vp = static_cast<size_t>(p.Vp), Dkp = static_cast<size_t>(p.Dkp);
  LinScratch s;
  float* q = base;
  auto take = [&q](size_t n) {
    float* r = q;
    q += n;  // every n is a multiple of `lanes` floats
    return r;
  };
  s.x = take(C * Dkp);
  s.qf = take(C * Fp);
  s.kf = take(C * Fp);
  s.kT = take(Fp * Cp);
  s.vv = take(C * Vp);
  s.a = take(C * Cp);
  s.y = take(C * Vp);
  s.den = take(Cp);
  s.gam = take(Cp);
  s.g = take(Cp);
  s.drow = take(Cp);
  s.gamD = take(C * Fp);
  s.gD = take(C * Fp);
  s.xsq = take(Cp);
  s.S = take(Fp * Vp);
  s.z = take(Fp);
  return s;
}

// Runs the whole sequence of (batch b, query head h).
using LinRunHeadFn = void (*)(const LinPlan&, int32_t b, int32_t h, float* scratch);

// The linear-attention entry point of one instruction set's kernel (defined by linear_body.h).
struct LinearKernel {
  int lanes;
  LinRunHeadFn runHead;
};

}  // namespace linear
}  // namespace cpu
}  // namespace attnflow
