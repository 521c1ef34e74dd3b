// The stages of the tensor-core kernel (fa2_kernel.cuh strings them together), each for one warp's
// 16 query rows: stage a K/V tile (cp.async), S = Q K^T on mma.sync, scale / softcap / ALiBi / mask
// in log2 units with the tile's row maxima, the online-softmax update, O += P V, the rare add-back
// of non-finite V rows, and the epilogue. A thread holds two query rows, rA (accumulators c = 0, 1)
// and rB = rA + 8 (c = 2, 3), and the columns accCol(lane, c) of each 8-key block (fa2_frag.cuh).
//
// Non-finite inputs (the semantics of native/cpu/kernel_body.h): IEEE evaluation of
// softmax(scores over the row's neighborhood) V.
//   - masked scores become -inf before the max, so NaN/inf in K at a key the row does not attend
//     never reaches it; a NaN score makes exp2(NaN - m) = NaN (exp2f and ex2.approx keep NaN), so
//     the row's sum l turns NaN whatever fmaxf did with the NaN in the running max; a +inf score
//     gives exp2(inf - inf) = NaN likewise; a -inf score has probability 0;
//   - in V, a masked probability 0 times a NaN/inf value would give NaN in the mma. Partial tiles
//     therefore look for non-finite V rows (each warp scans the tile once: two rows per lane and a
//     ballot; full tiles skip it, they have no masked pair: there 0 * NaN is the naive formula's
//     own result). Only when one is found (rare) those rows are zeroed in the V fragments and
//     added back, p * v in float32, for the rows whose mask bit is set (addNonFiniteRows);
//   - the epilogue writes an empty row (l == 0: no allowed key, or all scores -inf) as zeros with
//     lse -inf, and a row with l = NaN as NaN (1 / NaN) with lse NaN.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "fa2_frag.cuh"
#include "fa2_ptx.cuh"
#include "internal.cuh"
#include "math.cuh"

namespace attnflow {
namespace cudaimpl {
namespace fa2 {

using namespace fa2frag;

constexpr int kThreads = 128;
constexpr int kBQ = kTileQ;  // 64 query rows: 4 warps x 16
constexpr int kBK = kTileK;  // 64 keys per tile
static_assert(kBQ == 64 && kBK == 64, "the kernel's loops assume 64 x 64 tiles");

// Copies rows [r0, r0 + 64) of a [S][D] operand (row stride ss elements, contiguous rows) into
// a shared tile of stride D + 8; rows at or past S are zero-filled (so V's padding rows can never
// turn a zero probability into NaN).
template <typename T, int D>
__device__ __forceinline__ void loadTile(T* dst, const T* base, int64_t ss, int r0, int S, int tid) {
  constexpr int kChunks = D / 8;  // 16-byte chunks per row
  constexpr int kStride = Smem<D>::kStride;
  static_assert((64 * kChunks) % kThreads == 0, "whole chunks per thread");
#pragma unroll
  for (int it = 0; it < 64 * kChunks / kThreads; ++it) {
    const int c = tid + it * kThreads;
    const int r = c / kChunks, ch = c % kChunks;
    const int gr = r0 + r;
    const bool ok = gr < S;
    const T* src = ok ? base + static_cast<int64_t>(gr) * ss + ch * 8 : base;
    cpAsync16(dst + r * kStride + ch * 8, src, ok);
  }
}

// True when the 16-bit value's exponent is all ones (inf or NaN), for both dtypes.
template <typename T>
__device__ __forceinline__ bool nonFinite16(uint32_t bits);
template <>
__device__ __forceinline__ bool nonFinite16<__half>(uint32_t bits) {
  return (bits & 0x7c00u) == 0x7c00u;
}
template <>
__device__ __forceinline__ bool nonFinite16<__nv_bfloat16>(uint32_t bits) {
  return (bits & 0x7f80u) == 0x7f80u;
}

// Whether row r of a shared [64][D + 8] tile holds a non-finite value (16-byte reads: rows are
// 16-byte aligned, and lanes reading rows r, r + 1, ... hit different banks).
struct alignas(16) Words4 {
  uint32_t w[4];
};
template <typename T, int D>
__device__ __forceinline__ bool rowNonFinite(const T* tile, int r) {
  const Words4* row = reinterpret_cast<const Words4*>(tile + r * Smem<D>::kStride);
  bool bad = false;
#pragma unroll
  for (int i = 0; i < D / 8; ++i) {
    const Words4 x = row[i];
#pragma unroll
    for (int k = 0; k < 4; ++k) bad |= nonFinite16<T>(x.w[k] & 0xffffu) | nonFinite16<T>(x.w[k] >> 16);
  }
  return bad;
}

// Zeroes the 16-bit halves of a V fragment register whose keys (lo, hi) are flagged in `bad`.
__device__ __forceinline__ uint32_t dropKeys(uint32_t x, uint64_t bad, int keyLo) {
  const uint32_t lo = static_cast<uint32_t>(bad >> keyLo) & 1u, hi = static_cast<uint32_t>(bad >> (keyLo + 1)) & 1u;
  return x & ((lo ? 0u : 0xffffu) | (hi ? 0u : 0xffff0000u));
}

template <typename T>
__device__ __forceinline__ float toF(T x);
template <>
__device__ __forceinline__ float toF<__half>(__half x) {
  return __half2float(x);
}
template <>
__device__ __forceinline__ float toF<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}


// The mask words of this thread's rows rA and rB in the current tile (all ones for a full tile).
struct RowMask {
  uint32_t a0, a1, b0, b1;
  __device__ __forceinline__ bool a(int key) const { return (((key < 32 ? a0 : a1) >> (key & 31)) & 1u) != 0; }
  __device__ __forceinline__ bool b(int key) const { return (((key < 32 ? b0 : b1) >> (key & 31)) & 1u) != 0; }
};

__device__ __forceinline__ RowMask rowMask(const KernelParams& p, int part, int rA, int rB) {
  if (part < 0) return RowMask{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
  const uint32_t* tb = p.bits + static_cast<int64_t>(part) * kBQ * 2;  // wordsPerRow == 2
  return RowMask{tb[2 * rA], tb[2 * rA + 1], tb[2 * rB], tb[2 * rB + 1]};
}

// The running statistics of rows rA and rB: max (log2 units) and this lane's part of the sum.
struct RowStats {
  float mA, mB, lA, lB;
};

// S = Q K^T for the warp's 16 rows x the tile's 64 keys.
template <typename T, int D>
__device__ __forceinline__ void scoreTile(float (&s)[8][4], const uint32_t (&qf)[D / 16][4], const T* sK, int lane) {
  constexpr int kStride = Smem<D>::kStride;
#pragma unroll
  for (int j = 0; j < 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
    for (int jj = 0; jj < 4; ++jj) {
      uint32_t kf[4];
      ldmatrixX4(kf, sK + (jj * 16 + kRow(lane)) * kStride + kk * 16 + kCol(lane));
      Ops<T>::mma(s[2 * jj], qf[kk], kf[0], kf[1]);
      Ops<T>::mma(s[2 * jj + 1], qf[kk], kf[2], kf[3]);
    }
  }
}

// Scores into log2 units (scale, or softcap then log2(e)), ALiBi, then -inf for keys outside the
// sequence (col >= nk) or the mask. Returns the tile's maxima of rows rA and rB (across the quad).
// relA = pos(rA) - j0: ALiBi distances |pos(i) - j| are exact in float32 below 2^24.
__device__ __forceinline__ float2 scaleAndMask(float (&s)[8][4], const KernelParams& p, const RowMask& w, float relA,
                                               float slope2, int nk, int lane) {
  const float relB = relA + 8.f;
  float mxA = -INFINITY, mxB = -INFINITY;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int col = j * 8 + accCol(lane, c);  // key column within the tile (= accCol(lane, 2 + c))
      float xA = s[j][c], xB = s[j][2 + c];
      if (p.softcap) {
        xA = p.capOut * accurateTanh(xA * p.scale * p.capInv);
        xB = p.capOut * accurateTanh(xB * p.scale * p.capInv);
      } else {
        xA *= p.scaleLog2;
        xB *= p.scaleLog2;
      }
      if (p.alibi2 != nullptr) {
        xA -= slope2 * fabsf(relA - static_cast<float>(col));
        xB -= slope2 * fabsf(relB - static_cast<float>(col));
      }
      const uint32_t wA = j < 4 ? w.a0 : w.a1, wB = j < 4 ? w.b0 : w.b1;
      const bool inSeq = col < nk;
      xA = (inSeq && ((wA >> (col & 31)) & 1u)) ? xA : -INFINITY;
      xB = (inSeq && ((wB >> (col & 31)) & 1u)) ? xB : -INFINITY;
      s[j][c] = xA;
      s[j][2 + c] = xB;
      mxA = fmaxf(mxA, xA);
      mxB = fmaxf(mxB, xB);
    }
  }
  // The 4 lanes of a quad share a row.
  mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffffu, mxA, 1));
  mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffffu, mxA, 2));
  mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffffu, mxB, 1));
  mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffffu, mxB, 2));
  return make_float2(mxA, mxB);
}

// Online softmax: the new running max, the factor that rescales the old state (and O), and the
// tile's probabilities in place of its scores.
template <int D>
__device__ __forceinline__ void softmaxUpdate(float (&s)[8][4], float (&o)[D / 8][4], RowStats& st, float2 mx) {
  const float mNewA = fmaxf(st.mA, mx.x), mNewB = fmaxf(st.mB, mx.y);
  const float msA = mNewA == -INFINITY ? 0.f : mNewA;  // a row with nothing yet: exp2(-inf - 0) = 0
  const float msB = mNewB == -INFINITY ? 0.f : mNewB;
  const float alA = exp2f(st.mA - msA), alB = exp2f(st.mB - msB);
  st.mA = mNewA;
  st.mB = mNewB;
  float sumA = 0.f, sumB = 0.f;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const float pA = exp2f(s[j][c] - msA), pB = exp2f(s[j][2 + c] - msB);
      s[j][c] = pA;
      s[j][2 + c] = pB;
      sumA += pA;
      sumB += pB;
    }
  }
  st.lA = st.lA * alA + sumA;  // partial sums over this lane's columns; reduced across the quad at the end
  st.lB = st.lB * alB + sumB;
#pragma unroll
  for (int j = 0; j < D / 8; ++j) {
    o[j][0] *= alA;
    o[j][1] *= alA;
    o[j][2] *= alB;
    o[j][3] *= alB;
  }
}

// O += P V; with DROP the V rows flagged in badV are left out (see the file comment).
template <typename T, int D, bool DROP>
__device__ __forceinline__ void accumulatePV(float (&o)[D / 8][4], const float (&s)[8][4], const T* sV, uint64_t badV,
                                             int lane) {
  constexpr int kStride = Smem<D>::kStride;
  const int t4 = lane & 3;
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    uint32_t pa[4];
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int jb = pBlock(kk, r), c = pElem(r);
      pa[r] = Ops<T>::pack(s[jb][c], s[jb][c + 1]);
    }
#pragma unroll
    for (int dd = 0; dd < D / 16; ++dd) {
      uint32_t vf[4];
      ldmatrixX4Trans(vf, sV + (kk * 16 + vRow(lane)) * kStride + dd * 16 + vCol(lane));
      if constexpr (DROP) {
        // vf[i] holds keys kk * 16 + (i & 1) * 8 + 2 t4 + {0, 1} (ldmatrix .trans layout)
        const int kLo = kk * 16 + 2 * t4;
        vf[0] = dropKeys(vf[0], badV, kLo);
        vf[1] = dropKeys(vf[1], badV, kLo + 8);
        vf[2] = dropKeys(vf[2], badV, kLo);
        vf[3] = dropKeys(vf[3], badV, kLo + 8);
      } else {
        (void)badV, (void)t4;
      }
      Ops<T>::mma(o[2 * dd], pa, vf[0], vf[1]);
      Ops<T>::mma(o[2 * dd + 1], pa, vf[2], vf[3]);
    }
  }
}

// The non-finite V rows left out of the mma, added (p * v in float32) for the rows that attend
// them. The probability of key kb = 8 j + 2 t + c for row rA sits in s[j][c] of quad lane t (for
// rB in s[j][2 + c]): j and c are compile-time here, so s is only ever indexed statically (a
// run-time index would put the array in local memory).
template <typename T, int D>
__device__ __forceinline__ void addNonFiniteRows(float (&o)[D / 8][4], const float (&s)[8][4], const T* sV,
                                                 uint64_t badV, const RowMask& w, int lane) {
  constexpr int kStride = Smem<D>::kStride;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const float sA = s[j][c], sB = s[j][2 + c];
#pragma unroll 1
      for (int t = 0; t < 4; ++t) {
        const int kb = 8 * j + 2 * t + c;
        if (((badV >> kb) & 1u) == 0) continue;  // warp-uniform
        const int src = (lane & ~3) | t;
        const float pA = __shfl_sync(0xffffffffu, sA, src), pB = __shfl_sync(0xffffffffu, sB, src);
        const bool inA = w.a(kb), inB = w.b(kb);
        const T* vr = sV + kb * kStride;
#pragma unroll
        for (int jd = 0; jd < D / 8; ++jd) {
#pragma unroll
          for (int cc = 0; cc < 2; ++cc) {
            const float x = toF<T>(vr[jd * 8 + accCol(lane, cc)]);
            if (inA) o[jd][cc] = fmaf(pA, x, o[jd][cc]);
            if (inB) o[jd][2 + cc] = fmaf(pB, x, o[jd][2 + cc]);
          }
        }
      }
    }
  }
}

// One output row from its accumulators (o[j][c0], o[j][c0 + 1]) and statistics: normalised and
// stored as 16-bit pairs, and (by quad lane 0) its lse. l == 0: an empty row (zeros, lse -inf);
// l = NaN: 1 / NaN makes the row NaN.
template <typename T, int D>
__device__ __forceinline__ void storeRow(const KernelParams& p, const float (&o)[D / 8][4], int c0, float m, float l,
                                         int b, int h, int i, int lane) {
  if (i >= p.Sq) return;
  const bool empty = l == 0.f;
  const float inv = empty ? 0.f : 1.f / l;
  T* row = static_cast<T*>(p.out) + b * p.osb + h * p.osh + static_cast<int64_t>(i) * p.oss + accCol(lane, c0);
#pragma unroll
  for (int j = 0; j < D / 8; ++j) {
    const uint32_t v = empty ? 0u : Ops<T>::pack(o[j][c0] * inv, o[j][c0 + 1] * inv);
    *reinterpret_cast<uint32_t*>(row + j * 8) = v;
  }
  if (p.lse != nullptr && (lane & 3) == 0) p.lse[(static_cast<int64_t>(b) * p.Hq + h) * p.Sq + i] = core::rowLse(m, l);
}

}  // namespace fa2
}  // namespace cudaimpl
}  // namespace attnflow
