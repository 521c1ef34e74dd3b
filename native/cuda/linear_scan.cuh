// Chunked causal linear attention on CUDA: the kernel and its stages (launched by linear_scan.cu;
// the host emulator of native/cuda/test/ runs the same source). One CTA of 4 warps scans the whole
// sequence of one (batch, query head) for one slice of VS value columns, chunk by chunk, carrying
// the state S [Df][VS] and z [Df] in shared memory:
//
//   A  = (φQ φKᵀ) ⊙ P          lower triangle; P_{t,s} = γ_{s+1}⋯γ_t (per feature for gated decay)
//   Y  = (φQ ⊙ G) S₀ + A V      G_t = γ_0⋯γ_t;  den_t = (φQ_t ⊙ G_t)·z₀ + Σ_s A[t,s]
//   S  = diag(G_{L−1}) S₀ + (φK ⊙ P_{L−1})ᵀ V,   z likewise
//
// (the algorithm of lib/linear/reference.ts). The three products run on tensor cores through
// WMMA m16n16k8 TF32 fragments with the 3xTF32 split (a·b ≈ a_hi·b_hi + a_hi·b_lo + a_lo·b_hi),
// which keeps float32 accuracy (the SPEC's 1e-5 bar) on every input dtype. The decay products
// are built by running products (a column of P per thread, or per-feature rows for gated decay),
// never by dividing prefix products, so tiny gates underflow instead of overflowing. exp is a
// Cody–Waite + polynomial implementation, unaffected by --use_fast_math.
//
// Limits: Df ≤ 256 (the state lives in shared memory); the chunk is 64, 32 or 16 steps, the
// largest whose shared memory fits the device. Work is B·Hq·ceil(Dv/VS) CTAs, VS ≤ 64 (a multiple
// of 16) chosen to fill the SMs; the chunks of one sequence run one after another.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <math.h>

#include <cstddef>
#include <cstdint>

#include "attnflow.h"
#include "internal.cuh"

namespace attnflow {
namespace cudaimpl {
namespace lin {

using namespace nvcuda;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;

__host__ __device__ inline int round16(int x) { return (x + 15) & ~15; }
__host__ __device__ inline size_t round32(size_t x) { return (x + 31) & ~static_cast<size_t>(31); }

// Shared-memory geometry (offsets in floats, each buffer 128-byte aligned).
struct Geo {
  int C, Fp, ldF, VS, ldV, ldA, ldX;
  size_t oQ, oK, oV, oS, oA, oY, oZ, oGam, oGlast, oDen, oG, oR, oX, floats;
};

__host__ __device__ inline Geo geometry(int C, int Df, int VS, int Dk, bool perDim, bool favor) {
  Geo g{};
  g.C = C;
  g.Fp = round16(Df);
  g.ldF = g.Fp + 4;
  g.VS = VS;
  g.ldV = VS + 4;
  g.ldA = C + 4;
  g.ldX = Dk + 1;
  size_t o = 0;
  auto take = [&o](size_t n) {
    const size_t r = o;
    o += round32(n);
    return r;
  };
  g.oQ = take(static_cast<size_t>(C) * g.ldF);
  g.oK = take(static_cast<size_t>(C) * g.ldF);
  g.oV = take(static_cast<size_t>(C) * g.ldV);
  g.oS = take(static_cast<size_t>(g.Fp) * g.ldV);
  g.oA = take(static_cast<size_t>(C) * g.ldA);
  g.oY = take(static_cast<size_t>(C) * g.ldV);
  g.oZ = take(g.Fp);
  g.oGam = take(perDim ? static_cast<size_t>(C) * g.ldF : static_cast<size_t>(C));
  g.oGlast = take(g.Fp);
  g.oDen = take(C);
  g.oG = take(C);
  g.oR = take(C);
  g.oX = take(favor ? static_cast<size_t>(C) * g.ldX : 0);
  g.floats = o;
  return g;
}

// The kernel's parameters (device pointers, except nothing: favorW and decayHead have been
// uploaded by the launcher).
struct ScanParams {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  int dtype;
  long long qs[4], ks[4], vs[4], os[4];
  int B, Hq, Hkv, N, Dk, Dv, Df, group;
  int fmap;  // LinearFeatureMap
  const float* W;
  float favorScale, favorNorm;
  int decay;  // LinearDecay
  const float* decayHead;
  const float* gates;
  long long gs[4];
  int normalize;
  float eps;
  const float* initS;
  const float* initZ;
  float* stateS;
  float* stateZ;
  Geo geo;
};

__device__ inline float loadIn(const void* p, int dtype, long long off) {
  if (dtype == 0) return static_cast<const float*>(p)[off];
  const unsigned short bits = static_cast<const unsigned short*>(p)[off];
  if (dtype == 1) return __half2float(__ushort_as_half(bits));
  return __bfloat162float(__ushort_as_bfloat16(bits));
}

__device__ inline void storeOut(void* p, int dtype, long long off, float x) {
  if (dtype == 0) {
    static_cast<float*>(p)[off] = x;
  } else if (dtype == 1) {
    static_cast<unsigned short*>(p)[off] = __half_as_ushort(__float2half_rn(x));
  } else {
    static_cast<unsigned short*>(p)[off] = __bfloat16_as_ushort(__float2bfloat16_rn(x));
  }
}

// exp(x) to a few ulp, independent of --use_fast_math (same scheme as the CPU kernel).
__device__ inline float accurateExp(float x) {
  if (x != x) return x;
  const float xc = fminf(fmaxf(x, -87.3f), 88.0f);
  const float n = rintf(xc * 1.44269504088896341f);
  float r = fmaf(n, -0.693359375f, xc);
  r = fmaf(n, 2.12194440e-4f, r);
  float p = 1.f / 5040.f;
  p = fmaf(p, r, 1.f / 720.f);
  p = fmaf(p, r, 1.f / 120.f);
  p = fmaf(p, r, 1.f / 24.f);
  p = fmaf(p, r, 1.f / 6.f);
  p = fmaf(p, r, 0.5f);
  p = fmaf(p, r, 1.f);
  p = fmaf(p, r, 1.f);
  return p * __int_as_float((static_cast<int>(n) + 127) << 23);
}

__device__ inline float phi(int fmap, float x) {
  switch (fmap) {
    case 0: return x;
    case 1: return x > 0.f ? x + 1.f : accurateExp(x);
    default: return fmaxf(x, 0.f);
  }
}

__device__ inline float warpSum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// --- 3xTF32 tensor-core products ------------------------------------------------------------
template <typename L>
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, L>;
template <typename L>
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, L>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 8, float>;

template <typename F>
__device__ inline void splitTf32(const F& x, F& hi, F& lo) {
#pragma unroll
  for (int i = 0; i < x.num_elements; ++i) {
    const float v = x.x[i];
    const float h = wmma::__float_to_tf32(v);
    hi.x[i] = h;
    lo.x[i] = wmma::__float_to_tf32(v - h);
  }
}

// acc += A(16×8) · B(8×16), both read from shared memory.
template <typename LA, typename LB>
__device__ inline void mma3(FragC& acc, const float* a, int lda, const float* b, int ldb) {
  FragA<LA> ar, ah, al;
  FragB<LB> br, bh, bl;
  wmma::load_matrix_sync(ar, a, lda);
  wmma::load_matrix_sync(br, b, ldb);
  splitTf32(ar, ah, al);
  splitTf32(br, bh, bl);
  wmma::mma_sync(acc, al, bh, acc);
  wmma::mma_sync(acc, ah, bl, acc);
  wmma::mma_sync(acc, ah, bh, acc);
}

// --- host side: how a call is cut into CTAs, and its parameters --------------------------------

// The value slice VS (as wide as possible while there are CTAs enough to fill `multiprocessors`
// SMs, a multiple of 16, at most 64) and the chunk (the largest of 64, 32, 16, at most maxChunk,
// whose shared memory fits in smemBytes). False when not even chunk 16 fits.
inline bool planScan(const LinearAttentionParams& p, int64_t Df, int multiprocessors, size_t smemBytes, int maxChunk,
                     Geo* geo, int* vs) {
  const int64_t B = p.q.shape[0], Hq = p.q.shape[1], Dk = p.q.shape[3], Dv = p.v.shape[3];
  int VS = round16(static_cast<int>(Dv)) < 64 ? round16(static_cast<int>(Dv)) : 64;
  while (VS > 16 && B * Hq * ((Dv + VS - 1) / VS) < 2LL * multiprocessors) {
    VS = round16(VS / 2) > 16 ? round16(VS / 2) : 16;
  }
  const bool perDim = p.decay == LinearDecay::PerStepFeature;
  const bool favor = p.featureMap == LinearFeatureMap::Favor;
  for (int c : {64, 32, 16}) {
    if (c > maxChunk) continue;
    *geo = geometry(c, static_cast<int>(Df), VS, static_cast<int>(Dk), perDim, favor);
    if (geo->floats * sizeof(float) <= smemBytes) {
      *vs = VS;
      return true;
    }
  }
  return false;
}

// The kernel's parameters from a validated call; W and decayHead are left for the launcher (device
// copies of the host arrays).
inline ScanParams scanParams(const LinearAttentionParams& p, int64_t Df, const Geo& geo) {
  ScanParams k{};
  k.q = p.q.data;
  k.k = p.k.data;
  k.v = p.v.data;
  k.out = p.out.data;
  k.dtype = static_cast<int>(p.q.dtype);
  for (int a = 0; a < 4; ++a) {
    k.qs[a] = p.q.strides[a];
    k.ks[a] = p.k.strides[a];
    k.vs[a] = p.v.strides[a];
    k.os[a] = p.out.strides[a];
    k.gs[a] = p.gateStrides[a];
  }
  k.B = static_cast<int>(p.q.shape[0]);
  k.Hq = static_cast<int>(p.q.shape[1]);
  k.Hkv = static_cast<int>(p.k.shape[1]);
  k.N = static_cast<int>(p.q.shape[2]);
  k.Dk = static_cast<int>(p.q.shape[3]);
  k.Dv = static_cast<int>(p.v.shape[3]);
  k.Df = static_cast<int>(Df);
  k.group = k.Hq / k.Hkv;
  k.fmap = static_cast<int>(p.featureMap);
  k.favorScale = static_cast<float>(pow(static_cast<double>(k.Dk), -0.25));
  k.favorNorm = static_cast<float>(1.0 / sqrt(static_cast<double>(Df)));
  k.decay = static_cast<int>(p.decay);
  k.gates = p.gates;
  k.normalize = p.normalize ? 1 : 0;
  k.eps = p.eps;
  k.initS = p.initS;
  k.initZ = p.initZ;
  k.stateS = p.stateS;
  k.stateZ = p.stateZ;
  k.geo = geo;
  return k;
}

// --- the stages of one CTA's scan -------------------------------------------------------------

// The shared buffers (geometry in Geo).
struct Buffers {
  float *Q, *K, *V, *S, *A, *Y, *z, *gam, *glast, *den, *gpre, *r, *X;
};

// What this CTA scans, and how.
struct Slice {
  int b, h, kh, v0, vw;
  size_t head;                     // b * Hq + h
  long long qBase, kBase, vBase;   // element offsets of (b, h) in q and of (b, kh) in k, v
  bool perDim, scalarDecay, favor;
  int tid, lane, warp;
};

__device__ __forceinline__ Buffers carve(float* sm, const Geo& g) {
  return Buffers{sm + g.oQ,   sm + g.oK,   sm + g.oV,     sm + g.oS,   sm + g.oA, sm + g.oY, sm + g.oZ,
                 sm + g.oGam, sm + g.oGlast, sm + g.oDen, sm + g.oG,   sm + g.oR, sm + g.oX};
}

__device__ __forceinline__ Slice sliceOf(const ScanParams& p) {
  Slice s;
  const int bh = blockIdx.x;
  s.b = bh / p.Hq;
  s.h = bh % p.Hq;
  s.kh = s.h / p.group;
  s.v0 = blockIdx.y * p.geo.VS;
  s.vw = min(p.geo.VS, p.Dv - s.v0);
  s.head = static_cast<size_t>(s.b) * p.Hq + s.h;
  s.qBase = s.b * p.qs[0] + s.h * p.qs[1];
  s.kBase = s.b * p.ks[0] + s.kh * p.ks[1];
  s.vBase = s.b * p.vs[0] + s.kh * p.vs[1];
  s.perDim = p.decay == static_cast<int>(LinearDecay::PerStepFeature);
  s.scalarDecay = p.decay == static_cast<int>(LinearDecay::PerHead) || p.decay == static_cast<int>(LinearDecay::PerStep);
  s.favor = p.fmap == static_cast<int>(LinearFeatureMap::Favor);
  s.tid = threadIdx.x;
  s.lane = s.tid & 31;
  s.warp = s.tid >> 5;
  return s;
}

// S and z from the initial state (or zeros), this CTA's value columns.
__device__ __forceinline__ void initState(const ScanParams& p, const Buffers& m, const Slice& s) {
  const Geo& g = p.geo;
  for (int i = s.tid; i < g.Fp * g.VS; i += kThreads) {
    const int f = i / g.VS, j = i % g.VS;
    m.S[f * g.ldV + j] = (p.initS && f < p.Df && j < s.vw) ? p.initS[(s.head * p.Df + f) * p.Dv + s.v0 + j] : 0.f;
  }
  for (int f = s.tid; f < g.Fp; f += kThreads) m.z[f] = (p.initZ && f < p.Df) ? p.initZ[s.head * p.Df + f] : 0.f;
}

// Stage 1a: φ of L rows of q (which = 0) or k (which = 1) into Q or K, zero past L and Df.
__device__ __forceinline__ void loadFeatures(const ScanParams& p, const Buffers& m, const Slice& s, int which, int n0,
                                             int L) {
  const Geo& g = p.geo;
  const void* src = which == 0 ? p.q : p.k;
  const long long base = which == 0 ? s.qBase : s.kBase;
  const long long* st = which == 0 ? p.qs : p.ks;
  float* dst = which == 0 ? m.Q : m.K;
  if (!s.favor) {
    for (int i = s.tid; i < g.C * g.Fp; i += kThreads) {
      const int t = i / g.Fp, f = i % g.Fp;
      dst[t * g.ldF + f] = (t < L && f < p.Df) ? phi(p.fmap, loadIn(src, p.dtype, base + (n0 + t) * st[2] + f * st[3])) : 0.f;
    }
    return;
  }
  // favor: x into X, |x|² (in den until den is needed), then exp(c·(W x) − c²|x|²/2)/√m
  for (int i = s.tid; i < g.C * p.Dk; i += kThreads) {
    const int t = i / p.Dk, d = i % p.Dk;
    m.X[t * g.ldX + d] = t < L ? loadIn(src, p.dtype, base + (n0 + t) * st[2] + d * st[3]) : 0.f;
  }
  __syncthreads();
  for (int t = s.warp; t < g.C; t += kWarps) {
    float sq = 0.f;
    for (int d = s.lane; d < p.Dk; d += 32) sq += m.X[t * g.ldX + d] * m.X[t * g.ldX + d];
    sq = warpSum(sq);
    if (s.lane == 0) m.den[t] = sq;
  }
  __syncthreads();
  const float c = p.favorScale, c2h = 0.5f * c * c;
  for (int i = s.tid; i < g.C * g.Fp; i += kThreads) {
    const int t = i / g.Fp, f = i % g.Fp;
    float val = 0.f;
    if (t < L && f < p.Df) {
      const float* w = p.W + static_cast<size_t>(f) * p.Dk;
      const float* x = m.X + t * g.ldX;
      float dot = 0.f;
      for (int d = 0; d < p.Dk; ++d) dot = fmaf(__ldg(w + d), x[d], dot);
      val = accurateExp(c * dot - c2h * m.den[t]) * p.favorNorm;
    }
    dst[t * g.ldF + f] = val;
  }
  __syncthreads();
}

// Stage 1b: the v slice and the chunk's gates (1 past L).
__device__ __forceinline__ void loadValuesAndGates(const ScanParams& p, const Buffers& m, const Slice& s, int n0,
                                                   int L) {
  const Geo& g = p.geo;
  for (int i = s.tid; i < g.C * g.VS; i += kThreads) {
    const int t = i / g.VS, j = i % g.VS;
    m.V[t * g.ldV + j] =
        (t < L && j < s.vw) ? loadIn(p.v, p.dtype, s.vBase + (n0 + t) * p.vs[2] + (s.v0 + j) * p.vs[3]) : 0.f;
  }
  if (s.scalarDecay) {
    for (int t = s.tid; t < g.C; t += kThreads) {
      float gt = 1.f;
      if (t < L) {
        gt = p.decay == static_cast<int>(LinearDecay::PerHead) ? p.decayHead[s.h]
                                                                : p.gates[s.b * p.gs[0] + s.h * p.gs[1] + (n0 + t) * p.gs[2]];
      }
      m.gam[t] = gt;
    }
  } else if (s.perDim) {
    for (int i = s.tid; i < g.C * g.Fp; i += kThreads) {
      const int t = i / g.Fp, f = i % g.Fp;
      m.gam[t * g.ldF + f] =
          (t < L && f < p.Df) ? p.gates[s.b * p.gs[0] + s.h * p.gs[1] + (n0 + t) * p.gs[2] + f * p.gs[3]] : 1.f;
    }
  }
}

// Stage 2: A, the intra-chunk scores with their decay, zero above the diagonal; for scalar decay
// also r = P_{C−1,·} and the prefix products gpre.
__device__ __forceinline__ void intraChunkScores(const ScanParams& p, const Buffers& m, const Slice& s) {
  const Geo& g = p.geo;
  const int C = g.C, ldF = g.ldF, ldA = g.ldA;
  if (!s.perDim) {
    const int nt = C / 16;
    const int tiles = nt * (nt + 1) / 2;  // lower triangle, tj <= ti
    for (int tile = s.warp; tile < tiles; tile += kWarps) {
      int ti = 0, rem = tile;
      while (rem > ti) {
        rem -= ti + 1;
        ++ti;
      }
      const int tj = rem;
      FragC acc;
      wmma::fill_fragment(acc, 0.f);
      for (int k0 = 0; k0 < g.Fp; k0 += 8)
        mma3<wmma::row_major, wmma::col_major>(acc, m.Q + ti * 16 * ldF + k0, ldF, m.K + tj * 16 * ldF + k0, ldF);
      wmma::store_matrix_sync(m.A + ti * 16 * ldA + tj * 16, acc, ldA, wmma::mem_row_major);
    }
    __syncthreads();
    // Column c: P_{t,c} for t = c..C−1 as a running product; zero above the diagonal.
    for (int c = s.tid; c < C; c += kThreads) {
      float d = 1.f;
      for (int t = 0; t < C; ++t) {
        if (t < c) {
          m.A[t * ldA + c] = 0.f;
        } else if (s.scalarDecay) {
          if (t > c) d *= m.gam[t];
          m.A[t * ldA + c] *= d;
        }
      }
      m.r[c] = d;  // P_{C−1,c} = P_{L−1,c} (γ = 1 past L)
    }
    if (s.scalarDecay && s.tid == kThreads - 1) {
      float gp = 1.f;
      for (int t = 0; t < C; ++t) {
        gp *= m.gam[t];
        m.gpre[t] = gp;
      }
    }
    return;
  }
  // Row t: decay every earlier key by γ_t, then A[t,c] = φq_t · K̃_c. Thread (warp, lane) owns
  // K̃[c][f] for c ≡ warp (mod 4), f ≡ lane (mod 32), so rows need no barrier between them.
  for (int t = 0; t < C; ++t) {
    for (int c = s.warp; c <= t; c += kWarps) {
      float part = 0.f;
      for (int f = s.lane; f < g.Fp; f += 32) {
        float kv = m.K[c * ldF + f];
        if (c < t) {
          kv *= m.gam[t * ldF + f];
          m.K[c * ldF + f] = kv;
        }
        part = fmaf(m.Q[t * ldF + f], kv, part);
      }
      part = warpSum(part);
      if (s.lane == 0) m.A[t * ldA + c] = part;
    }
    for (int c = t + 1 + s.tid; c < C; c += kThreads) m.A[t * ldA + c] = 0.f;
  }
}

// Stage 3: φQ ⊙ G, G_{L−1} (glast), and for scalar decay K̃ = φK ⊙ P_{L−1}.
__device__ __forceinline__ void applyDecay(const ScanParams& p, const Buffers& m, const Slice& s) {
  const Geo& g = p.geo;
  if (s.scalarDecay) {
    for (int i = s.tid; i < g.C * g.Fp; i += kThreads) {
      const int t = i / g.Fp, f = i % g.Fp;
      m.Q[t * g.ldF + f] *= m.gpre[t];
      m.K[t * g.ldF + f] *= m.r[t];
    }
    for (int f = s.tid; f < g.Fp; f += kThreads) m.glast[f] = m.gpre[g.C - 1];
  } else if (s.perDim) {
    for (int f = s.tid; f < g.Fp; f += kThreads) {
      float G = 1.f;
      for (int t = 0; t < g.C; ++t) {
        G *= m.gam[t * g.ldF + f];
        m.Q[t * g.ldF + f] *= G;
      }
      m.glast[f] = G;
    }
  }
}

// Stage 4: den = (φQ ⊙ G)·z₀ + Σ A and Y = (φQ ⊙ G)·S₀ + A·V.
__device__ __forceinline__ void chunkOutputs(const ScanParams& p, const Buffers& m, const Slice& s) {
  const Geo& g = p.geo;
  const int ldF = g.ldF, ldV = g.ldV, ldA = g.ldA;
  if (p.normalize) {
    for (int t = s.warp; t < g.C; t += kWarps) {
      float part = 0.f;
      for (int f = s.lane; f < g.Fp; f += 32) part = fmaf(m.Q[t * ldF + f], m.z[f], part);
      for (int c = s.lane; c <= t; c += 32) part += m.A[t * ldA + c];
      part = warpSum(part);
      if (s.lane == 0) m.den[t] = part;
    }
  }
  const int nv = g.VS / 16;
  const int tiles = (g.C / 16) * nv;
  for (int tile = s.warp; tile < tiles; tile += kWarps) {
    const int ti = tile / nv, tj = tile % nv;
    FragC acc;
    wmma::fill_fragment(acc, 0.f);
    for (int k0 = 0; k0 < g.Fp; k0 += 8)
      mma3<wmma::row_major, wmma::row_major>(acc, m.Q + ti * 16 * ldF + k0, ldF, m.S + k0 * ldV + tj * 16, ldV);
    for (int k0 = 0; k0 < (ti + 1) * 16; k0 += 8)
      mma3<wmma::row_major, wmma::row_major>(acc, m.A + ti * 16 * ldA + k0, ldA, m.V + k0 * ldV + tj * 16, ldV);
    wmma::store_matrix_sync(m.Y + ti * 16 * ldV + tj * 16, acc, ldV, wmma::mem_row_major);
  }
}

// Stage 5: the chunk's outputs (normalised); 6a: the state decayed by G_{L−1}, z advanced.
__device__ __forceinline__ void storeOutputsDecayState(const ScanParams& p, const Buffers& m, const Slice& s, int n0,
                                                       int L) {
  const Geo& g = p.geo;
  const long long oBase = s.b * p.os[0] + s.h * p.os[1];
  for (int i = s.tid; i < L * s.vw; i += kThreads) {
    const int t = i / s.vw, j = i % s.vw;
    float y = m.Y[t * g.ldV + j];
    if (p.normalize) y = y / (m.den[t] + p.eps);
    storeOut(p.out, p.dtype, oBase + (n0 + t) * p.os[2] + (s.v0 + j) * p.os[3], y);
  }
  const bool decays = s.scalarDecay || s.perDim;
  if (decays) {
    for (int i = s.tid; i < g.Fp * g.VS; i += kThreads) {
      const int f = i / g.VS, j = i % g.VS;
      m.S[f * g.ldV + j] *= m.glast[f];
    }
  }
  for (int f = s.tid; f < g.Fp; f += kThreads) {
    float sum = 0.f;
    for (int c = 0; c < g.C; ++c) sum += m.K[c * g.ldF + f];
    m.z[f] = (decays ? m.glast[f] * m.z[f] : m.z[f]) + sum;
  }
}

// Stage 6b: S += K̃ᵀ V.
__device__ __forceinline__ void addChunkToState(const ScanParams& p, const Buffers& m, const Slice& s) {
  const Geo& g = p.geo;
  const int nv = g.VS / 16;
  const int tiles = (g.Fp / 16) * nv;
  for (int tile = s.warp; tile < tiles; tile += kWarps) {
    const int fi = tile / nv, tj = tile % nv;
    FragC acc;
    float* sp = m.S + fi * 16 * g.ldV + tj * 16;
    wmma::load_matrix_sync(acc, sp, g.ldV, wmma::mem_row_major);
    for (int k0 = 0; k0 < g.C; k0 += 8)
      mma3<wmma::col_major, wmma::row_major>(acc, m.K + k0 * g.ldF + fi * 16, g.ldF, m.V + k0 * g.ldV + tj * 16, g.ldV);
    wmma::store_matrix_sync(sp, acc, g.ldV, wmma::mem_row_major);
  }
}

// The final state of this CTA's value columns (z once per head).
__device__ __forceinline__ void storeState(const ScanParams& p, const Buffers& m, const Slice& s) {
  if (!p.stateS) return;
  for (int i = s.tid; i < p.Df * s.vw; i += kThreads) {
    const int f = i / s.vw, j = i % s.vw;
    p.stateS[(s.head * p.Df + f) * p.Dv + s.v0 + j] = m.S[f * p.geo.ldV + j];
  }
  if (blockIdx.y == 0)
    for (int f = s.tid; f < p.Df; f += kThreads) p.stateZ[s.head * p.Df + f] = m.z[f];
}

// One CTA per SM is all its shared memory allows at chunk 64; with that bound ptxas keeps the
// kernel in registers (about 100, sm_80 and sm_90a) where its default target spills.
__global__ void __launch_bounds__(kThreads, 1) linearScanKernel(const ScanParams p) {
  AF_DYNAMIC_SMEM(float, sm);
  const Buffers m = carve(sm, p.geo);
  const Slice s = sliceOf(p);
  initState(p, m, s);
  __syncthreads();
  for (int n0 = 0; n0 < p.N; n0 += p.geo.C) {
    const int L = min(p.geo.C, p.N - n0);
    loadFeatures(p, m, s, 0, n0, L);
    loadFeatures(p, m, s, 1, n0, L);
    loadValuesAndGates(p, m, s, n0, L);
    __syncthreads();
    intraChunkScores(p, m, s);
    __syncthreads();
    applyDecay(p, m, s);
    __syncthreads();
    chunkOutputs(p, m, s);
    __syncthreads();
    storeOutputsDecayState(p, m, s, n0, L);
    __syncthreads();
    addChunkToState(p, m, s);
    __syncthreads();
  }
  storeState(p, m, s);
}

// Gate values on the device: every gate (b, h, n[, f]) of `count` = B·Hq·N·F must lie in (0, 1].
// *firstBad receives the smallest flat index (in b, h, n, f order) of a gate that does not, and
// stays at its initial all-ones value when there is none.
__global__ void __launch_bounds__(256) checkGatesKernel(const float* gates, long long s0, long long s1, long long s2,
                                                         long long s3, int Hq, int N, int F, long long count,
                                                         unsigned long long* firstBad) {
  for (long long i = blockIdx.x * 256LL + threadIdx.x; i < count; i += static_cast<long long>(gridDim.x) * 256) {
    const long long f = i % F, n = (i / F) % N, h = (i / F / N) % Hq, b = i / F / N / Hq;
    const float g = gates[b * s0 + h * s1 + n * s2 + f * s3];
    if (!(g > 0.f && g <= 1.f)) atomicMin(firstBad, static_cast<unsigned long long>(i));
  }
}

}  // namespace lin
}  // namespace cudaimpl
}  // namespace attnflow
