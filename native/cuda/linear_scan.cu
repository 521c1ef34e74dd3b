// Chunked causal linear attention on CUDA (self-contained: nothing here depends on the attention
// kernels). One CTA of 4 warps scans the whole sequence of one (batch, query head) for one slice
// of VS value columns, chunk by chunk, carrying the state S [Df][VS] and z [Df] in shared memory:
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
// largest whose shared memory fits the device. Work is B·Hq·ceil(Dv/VS) CTAs, VS ≤ 64 (a multiple of 16)
// chosen to fill the SMs; the chunks of one sequence run one after another (no chunk-parallel
// state pass yet).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "attnflow.h"

namespace attnflow {
namespace {

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

struct KParams {
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

__global__ void __launch_bounds__(kThreads) linearScanKernel(KParams p) {
#if defined(__CUDACC__)
  extern __shared__ __align__(128) float sm[];
#else  // compiled by a host compiler against an emulation of the CUDA API (kernel tests without a GPU)
  float* sm = attnflowEmulatedShared();
#endif
  const Geo& g = p.geo;
  float* Qs = sm + g.oQ;
  float* Ks = sm + g.oK;
  float* Vs = sm + g.oV;
  float* Ss = sm + g.oS;
  float* As = sm + g.oA;
  float* Ys = sm + g.oY;
  float* zs = sm + g.oZ;
  float* gam = sm + g.oGam;
  float* glast = sm + g.oGlast;
  float* den = sm + g.oDen;
  float* gpre = sm + g.oG;
  float* rs = sm + g.oR;
  float* Xs = sm + g.oX;

  const int C = g.C, Fp = g.Fp, ldF = g.ldF, ldV = g.ldV, ldA = g.ldA, VS = g.VS;
  const int Df = p.Df, Dk = p.Dk, Dv = p.Dv;
  const int bh = blockIdx.x;
  const int b = bh / p.Hq, h = bh % p.Hq, kh = h / p.group;
  const int v0 = blockIdx.y * VS;
  const int vw = min(VS, Dv - v0);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const bool perDim = p.decay == static_cast<int>(LinearDecay::PerStepFeature);
  const bool scalarDecay = p.decay == static_cast<int>(LinearDecay::PerHead) || p.decay == static_cast<int>(LinearDecay::PerStep);
  const bool favor = p.fmap == static_cast<int>(LinearFeatureMap::Favor);
  const size_t head = static_cast<size_t>(b) * p.Hq + h;

  for (int i = tid; i < Fp * VS; i += kThreads) {
    const int f = i / VS, j = i % VS;
    Ss[f * ldV + j] = (p.initS && f < Df && j < vw) ? p.initS[(head * Df + f) * Dv + v0 + j] : 0.f;
  }
  for (int f = tid; f < Fp; f += kThreads) zs[f] = (p.initZ && f < Df) ? p.initZ[head * Df + f] : 0.f;
  __syncthreads();

  const long long qBase = b * p.qs[0] + h * p.qs[1];
  const long long kBase = b * p.ks[0] + kh * p.ks[1];
  const long long vBase = b * p.vs[0] + kh * p.vs[1];

  for (int n0 = 0; n0 < p.N; n0 += C) {
    const int L = min(C, p.N - n0);

    // --- 1. load φ(q), φ(k), the v slice and the gates -----------------------------------------
    for (int which = 0; which < 2; ++which) {
      const void* src = which == 0 ? p.q : p.k;
      const long long base = which == 0 ? qBase : kBase;
      const long long* st = which == 0 ? p.qs : p.ks;
      float* dst = which == 0 ? Qs : Ks;
      if (!favor) {
        for (int i = tid; i < C * Fp; i += kThreads) {
          const int t = i / Fp, f = i % Fp;
          dst[t * ldF + f] = (t < L && f < Df) ? phi(p.fmap, loadIn(src, p.dtype, base + (n0 + t) * st[2] + f * st[3])) : 0.f;
        }
      } else {
        for (int i = tid; i < C * Dk; i += kThreads) {
          const int t = i / Dk, d = i % Dk;
          Xs[t * g.ldX + d] = t < L ? loadIn(src, p.dtype, base + (n0 + t) * st[2] + d * st[3]) : 0.f;
        }
        __syncthreads();
        for (int t = warp; t < C; t += kWarps) {
          float sq = 0.f;
          for (int d = lane; d < Dk; d += 32) sq += Xs[t * g.ldX + d] * Xs[t * g.ldX + d];
          sq = warpSum(sq);
          if (lane == 0) den[t] = sq;  // |x|², until den is needed
        }
        __syncthreads();
        const float c = p.favorScale, c2h = 0.5f * c * c;
        for (int i = tid; i < C * Fp; i += kThreads) {
          const int t = i / Fp, f = i % Fp;
          float val = 0.f;
          if (t < L && f < Df) {
            const float* w = p.W + static_cast<size_t>(f) * Dk;
            const float* x = Xs + t * g.ldX;
            float dot = 0.f;
            for (int d = 0; d < Dk; ++d) dot = fmaf(__ldg(w + d), x[d], dot);
            val = accurateExp(c * dot - c2h * den[t]) * p.favorNorm;
          }
          dst[t * ldF + f] = val;
        }
        __syncthreads();
      }
    }
    for (int i = tid; i < C * VS; i += kThreads) {
      const int t = i / VS, j = i % VS;
      Vs[t * ldV + j] = (t < L && j < vw) ? loadIn(p.v, p.dtype, vBase + (n0 + t) * p.vs[2] + (v0 + j) * p.vs[3]) : 0.f;
    }
    if (scalarDecay) {
      for (int t = tid; t < C; t += kThreads) {
        float gt = 1.f;
        if (t < L) {
          gt = p.decay == static_cast<int>(LinearDecay::PerHead) ? p.decayHead[h]
                                                                  : p.gates[b * p.gs[0] + h * p.gs[1] + (n0 + t) * p.gs[2]];
        }
        gam[t] = gt;
      }
    } else if (perDim) {
      for (int i = tid; i < C * Fp; i += kThreads) {
        const int t = i / Fp, f = i % Fp;
        gam[t * ldF + f] =
            (t < L && f < Df) ? p.gates[b * p.gs[0] + h * p.gs[1] + (n0 + t) * p.gs[2] + f * p.gs[3]] : 1.f;
      }
    }
    __syncthreads();

    // --- 2. A: intra-chunk scores -------------------------------------------------------------
    if (!perDim) {
      const int nt = C / 16;
      const int tiles = nt * (nt + 1) / 2;  // lower triangle, tj <= ti
      for (int tile = warp; tile < tiles; tile += kWarps) {
        int ti = 0, rem = tile;
        while (rem > ti) {
          rem -= ti + 1;
          ++ti;
        }
        const int tj = rem;
        FragC acc;
        wmma::fill_fragment(acc, 0.f);
        for (int k0 = 0; k0 < Fp; k0 += 8)
          mma3<wmma::row_major, wmma::col_major>(acc, Qs + ti * 16 * ldF + k0, ldF, Ks + tj * 16 * ldF + k0, ldF);
        wmma::store_matrix_sync(As + ti * 16 * ldA + tj * 16, acc, ldA, wmma::mem_row_major);
      }
      __syncthreads();
      // Column s: P_{t,s} for t = s..C−1 as a running product; zero above the diagonal.
      for (int s = tid; s < C; s += kThreads) {
        float d = 1.f;
        for (int t = 0; t < C; ++t) {
          if (t < s) {
            As[t * ldA + s] = 0.f;
          } else if (scalarDecay) {
            if (t > s) d *= gam[t];
            As[t * ldA + s] *= d;
          }
        }
        rs[s] = d;  // P_{C−1,s} = P_{L−1,s} (γ = 1 past L)
      }
      if (scalarDecay && tid == kThreads - 1) {
        float gp = 1.f;
        for (int t = 0; t < C; ++t) {
          gp *= gam[t];
          gpre[t] = gp;
        }
      }
    } else {
      // Row t: decay every earlier key by γ_t, then A[t,s] = φq_t · K̃_s. Thread (warp, lane) owns
      // K̃[s][f] for s ≡ warp (mod 4), f ≡ lane (mod 32), so rows need no barrier between them.
      for (int t = 0; t < C; ++t) {
        for (int s = warp; s <= t; s += kWarps) {
          float part = 0.f;
          for (int f = lane; f < Fp; f += 32) {
            float kv = Ks[s * ldF + f];
            if (s < t) {
              kv *= gam[t * ldF + f];
              Ks[s * ldF + f] = kv;
            }
            part = fmaf(Qs[t * ldF + f], kv, part);
          }
          part = warpSum(part);
          if (lane == 0) As[t * ldA + s] = part;
        }
        for (int s = t + 1 + tid; s < C; s += kThreads) As[t * ldA + s] = 0.f;
      }
    }
    __syncthreads();

    // --- 3. φQ ⊙ G, G_{L−1}, and (scalar decay) K̃ = φK ⊙ P_{L−1} -------------------------------
    if (scalarDecay) {
      for (int i = tid; i < C * Fp; i += kThreads) {
        const int t = i / Fp, f = i % Fp;
        Qs[t * ldF + f] *= gpre[t];
        Ks[t * ldF + f] *= rs[t];
      }
      for (int f = tid; f < Fp; f += kThreads) glast[f] = gpre[C - 1];
    } else if (perDim) {
      for (int f = tid; f < Fp; f += kThreads) {
        float G = 1.f;
        for (int t = 0; t < C; ++t) {
          G *= gam[t * ldF + f];
          Qs[t * ldF + f] *= G;
        }
        glast[f] = G;
      }
    }
    __syncthreads();

    // --- 4. den and Y = (φQ ⊙ G)·S₀ + A·V --------------------------------------------------------
    if (p.normalize) {
      for (int t = warp; t < C; t += kWarps) {
        float part = 0.f;
        for (int f = lane; f < Fp; f += 32) part = fmaf(Qs[t * ldF + f], zs[f], part);
        for (int s = lane; s <= t; s += 32) part += As[t * ldA + s];
        part = warpSum(part);
        if (lane == 0) den[t] = part;
      }
    }
    {
      const int nv = VS / 16;
      const int tiles = (C / 16) * nv;
      for (int tile = warp; tile < tiles; tile += kWarps) {
        const int ti = tile / nv, tj = tile % nv;
        FragC acc;
        wmma::fill_fragment(acc, 0.f);
        for (int k0 = 0; k0 < Fp; k0 += 8)
          mma3<wmma::row_major, wmma::row_major>(acc, Qs + ti * 16 * ldF + k0, ldF, Ss + k0 * ldV + tj * 16, ldV);
        for (int k0 = 0; k0 < (ti + 1) * 16; k0 += 8)
          mma3<wmma::row_major, wmma::row_major>(acc, As + ti * 16 * ldA + k0, ldA, Vs + k0 * ldV + tj * 16, ldV);
        wmma::store_matrix_sync(Ys + ti * 16 * ldV + tj * 16, acc, ldV, wmma::mem_row_major);
      }
    }
    __syncthreads();

    // --- 5. outputs; 6a. decay the state --------------------------------------------------------
    const long long oBase = b * p.os[0] + h * p.os[1];
    for (int i = tid; i < L * vw; i += kThreads) {
      const int t = i / vw, j = i % vw;
      float y = Ys[t * ldV + j];
      if (p.normalize) y = y / (den[t] + p.eps);
      storeOut(p.out, p.dtype, oBase + (n0 + t) * p.os[2] + (v0 + j) * p.os[3], y);
    }
    if (scalarDecay || perDim) {
      for (int i = tid; i < Fp * VS; i += kThreads) {
        const int f = i / VS, j = i % VS;
        Ss[f * ldV + j] *= glast[f];
      }
    }
    for (int f = tid; f < Fp; f += kThreads) {
      float sum = 0.f;
      for (int s = 0; s < C; ++s) sum += Ks[s * ldF + f];
      zs[f] = ((scalarDecay || perDim) ? glast[f] * zs[f] : zs[f]) + sum;
    }
    __syncthreads();

    // --- 6b. S += K̃ᵀ V ----------------------------------------------------------------------
    {
      const int nv = VS / 16;
      const int tiles = (Fp / 16) * nv;
      for (int tile = warp; tile < tiles; tile += kWarps) {
        const int fi = tile / nv, tj = tile % nv;
        FragC acc;
        float* sp = Ss + fi * 16 * ldV + tj * 16;
        wmma::load_matrix_sync(acc, sp, ldV, wmma::mem_row_major);
        for (int k0 = 0; k0 < C; k0 += 8)
          mma3<wmma::col_major, wmma::row_major>(acc, Ks + k0 * ldF + fi * 16, ldF, Vs + k0 * ldV + tj * 16, ldV);
        wmma::store_matrix_sync(sp, acc, ldV, wmma::mem_row_major);
      }
    }
    __syncthreads();
  }

  if (p.stateS) {
    for (int i = tid; i < Df * vw; i += kThreads) {
      const int f = i / vw, j = i % vw;
      p.stateS[(head * Df + f) * Dv + v0 + j] = Ss[f * ldV + j];
    }
    if (blockIdx.y == 0)
      for (int f = tid; f < Df; f += kThreads) p.stateZ[head * Df + f] = zs[f];
  }
}

std::string cudaError(const char* what, cudaError_t e) {
  return std::string("linear attention (CUDA): ") + what + ": " + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ")";
}

}  // namespace

Status cudaLinearAttention(const LinearAttentionParams& p, void* stream) {
  Status st = validateLinearAttention(p);
  if (!st.ok) return st;
  const int64_t B = p.q.shape[0], Hq = p.q.shape[1], N = p.q.shape[2], Dk = p.q.shape[3];
  const int64_t Hkv = p.k.shape[1], Dv = p.v.shape[3];
  const bool favor = p.featureMap == LinearFeatureMap::Favor;
  const int64_t Df = favor ? p.features : Dk;
  if (Df > 256) return Status::Error("linear attention (CUDA): Df (features per head) above 256 is not supported (got " + std::to_string(Df) + ")");
  if (N > 0x7fffffffLL || B * Hq > 0x7fffffffLL) return Status::Error("linear attention (CUDA): sequence or batch x heads too large");
  if (B * Hq == 0) return Status::Ok();
  if (cancelRequested(p.cancel)) return Status::Cancelled();  // checked between launches

  int dev = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e != cudaSuccess) return Status::Error(cudaError("cudaGetDevice", e));
  int smemOptin = 0, sms = 1;
  e = cudaDeviceGetAttribute(&smemOptin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  if (e != cudaSuccess) return Status::Error(cudaError("cudaDeviceGetAttribute", e));
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);

  // Value-column slice: as wide as possible while there are CTAs enough to fill the SMs.
  int VS = std::min<int>(64, round16(static_cast<int>(Dv)));
  while (VS > 16 && B * Hq * ((Dv + VS - 1) / VS) < 2LL * sms) VS = std::max(16, round16(VS / 2));  // multiples of 16
  const bool perDim = p.decay == LinearDecay::PerStepFeature;
  Geo geo{};
  int C = 0;
  for (int c : {64, 32, 16}) {
    geo = geometry(c, static_cast<int>(Df), VS, static_cast<int>(Dk), perDim, favor);
    if (geo.floats * sizeof(float) <= static_cast<size_t>(smemOptin)) {
      C = c;
      break;
    }
  }
  if (C == 0)
    return Status::Error("linear attention (CUDA): the state of Df=" + std::to_string(Df) + ", headDim=" + std::to_string(Dk) +
                         " does not fit in shared memory (" + std::to_string(smemOptin) + " bytes per block)");
  const size_t bytes = geo.floats * sizeof(float);

  KParams k{};
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
  k.B = static_cast<int>(B);
  k.Hq = static_cast<int>(Hq);
  k.Hkv = static_cast<int>(Hkv);
  k.N = static_cast<int>(N);
  k.Dk = static_cast<int>(Dk);
  k.Dv = static_cast<int>(Dv);
  k.Df = static_cast<int>(Df);
  k.group = static_cast<int>(Hq / Hkv);
  k.fmap = static_cast<int>(p.featureMap);
  k.W = p.favorW;
  k.favorScale = static_cast<float>(std::pow(static_cast<double>(Dk), -0.25));
  k.favorNorm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(Df)));
  k.decay = static_cast<int>(p.decay);
  k.decayHead = p.decayHead;
  k.gates = p.gates;
  k.normalize = p.normalize ? 1 : 0;
  k.eps = p.eps;
  k.initS = p.initS;
  k.initZ = p.initZ;
  k.stateS = p.stateS;
  k.stateZ = p.stateZ;
  k.geo = geo;

  e = cudaFuncSetAttribute(linearScanKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (e != cudaSuccess) return Status::Error(cudaError("cudaFuncSetAttribute", e));
  const dim3 grid(static_cast<unsigned>(B * Hq), static_cast<unsigned>((Dv + VS - 1) / VS));
#if defined(__CUDACC__)
  linearScanKernel<<<grid, kThreads, bytes, static_cast<cudaStream_t>(stream)>>>(k);
#else
  attnflowEmulatedLaunch(grid, kThreads, bytes, [&k] { linearScanKernel(k); });
#endif
  e = cudaGetLastError();
  if (e != cudaSuccess) return Status::Error(cudaError("kernel launch", e));
  return Status::Ok();
}

namespace {

// Device copies of host buffers, freed on every path.
struct DeviceBuffers {
  std::vector<void*> ptrs;
  ~DeviceBuffers() {
    for (void* p : ptrs) cudaFree(p);
  }
  // Copies `bytes` from host `src` (or nothing when src is null and upload is false) into new
  // device memory; returns null for zero bytes.
  Status upload(const void* src, size_t bytes, void** out) {
    *out = nullptr;
    if (bytes == 0) return Status::Ok();
    cudaError_t e = cudaMalloc(out, bytes);
    if (e != cudaSuccess) return Status::Error(cudaError("cudaMalloc", e));
    ptrs.push_back(*out);
    if (src) {
      e = cudaMemcpy(*out, src, bytes, cudaMemcpyHostToDevice);
      if (e != cudaSuccess) return Status::Error(cudaError("cudaMemcpy (to device)", e));
    }
    return Status::Ok();
  }
};

}  // namespace

Status cudaLinearAttentionHost(const LinearAttentionParams& hp) {
  Status st = validateLinearAttention(hp);
  if (!st.ok) return st;
  LinearAttentionParams dp = hp;
  DeviceBuffers mem;
  auto view = [&mem](const TensorView& h, TensorView& d, bool copyIn) -> Status {
    void* ptr = nullptr;
    Status s = mem.upload(copyIn ? h.data : nullptr, h.capacity * dtypeSize(h.dtype), &ptr);
    d.data = ptr;
    return s;
  };
  if (!(st = view(hp.q, dp.q, true)).ok) return st;
  if (!(st = view(hp.k, dp.k, true)).ok) return st;
  if (!(st = view(hp.v, dp.v, true)).ok) return st;
  if (!(st = view(hp.out, dp.out, true)).ok) return st;  // elements the views skip come back unchanged
  void* ptr = nullptr;
  auto floats = [&](const float* src, size_t n, const float** dst) -> Status {
    if (!src) return Status::Ok();
    Status s = mem.upload(src, n * sizeof(float), &ptr);
    *dst = static_cast<const float*>(ptr);
    return s;
  };
  if (!(st = floats(hp.favorW, hp.favorWLen, &dp.favorW)).ok) return st;
  if (!(st = floats(hp.decayHead, hp.decayHeadLen, &dp.decayHead)).ok) return st;
  if (!(st = floats(hp.gates, hp.gatesLen, &dp.gates)).ok) return st;
  if (!(st = floats(hp.initS, hp.initSLen, &dp.initS)).ok) return st;
  if (!(st = floats(hp.initZ, hp.initZLen, &dp.initZ)).ok) return st;
  if (hp.stateS) {
    if (!(st = mem.upload(nullptr, hp.stateSLen * sizeof(float), &ptr)).ok) return st;
    dp.stateS = static_cast<float*>(ptr);
    if (!(st = mem.upload(nullptr, hp.stateZLen * sizeof(float), &ptr)).ok) return st;
    dp.stateZ = static_cast<float*>(ptr);
  }
  // The empty-buffer dummies of the binding become null device pointers; validation on the
  // device view compares lengths only, which are unchanged.
  st = cudaLinearAttention(dp, nullptr);
  if (!st.ok) return st;
  cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) return Status::Error(cudaError("kernel", e));
  if (cancelRequested(hp.cancel)) return Status::Cancelled();
  if (hp.out.capacity) {
    e = cudaMemcpy(hp.out.data, dp.out.data, hp.out.capacity * dtypeSize(hp.out.dtype), cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) return Status::Error(cudaError("cudaMemcpy (to host)", e));
  }
  if (hp.stateS && hp.stateSLen) {
    e = cudaMemcpy(hp.stateS, dp.stateS, hp.stateSLen * sizeof(float), cudaMemcpyDeviceToHost);
    if (e == cudaSuccess) e = cudaMemcpy(hp.stateZ, dp.stateZ, hp.stateZLen * sizeof(float), cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) return Status::Error(cudaError("cudaMemcpy (to host)", e));
  }
  return Status::Ok();
}

}  // namespace attnflow
