// The tensor-core forward kernel, FlashAttention-2 style, for float16 / bfloat16 inputs with
// head dim 64 or 128. Included by fa2_f16.cu and fa2_bf16.cu (one dtype each, so the two
// compile in parallel).
//
// One thread block (4 warps, 128 threads) computes one 64-row query tile of one (batch, head):
//   - the Q tile is loaded once (cp.async) and kept in registers as mma A fragments (ldmatrix);
//   - the block walks its BlockMask row: for each listed 64-key tile, K and V stream through
//     shared memory with cp.async double buffering (tile n+1 loads while tile n computes);
//   - each warp owns 16 query rows: S = Q K^T with mma.sync m16n8k16 (fp32 accumulation), then
//     scale / softcap / ALiBi / mask in registers, an exp2-based online softmax (row max and sum
//     across the 4 lanes sharing a row), P rounded to the input dtype and O += P V with mma.sync;
//   - full tiles apply only the sequence bound, partial tiles read their 64 x 64 bit tile;
//   - GQA: query head h reads kv head h / group, nothing is copied.
// Shared memory: 4 buffers of 64 x (D + 8) elements (K and V, two stages); the Q tile borrows
// stage 1's K buffer until the first prefetch into stage 1. 36 KiB (D = 64), 68 KiB (D = 128).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "fa2_frag.cuh"
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

#if !defined(ATTNFLOW_CUDA_EMULATOR)
__device__ __forceinline__ uint32_t smemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte asynchronous copy global -> shared; when !valid, writes 16 zero bytes and reads nothing.
__device__ __forceinline__ void cpAsync16(void* smem, const void* gmem, bool valid) {
  const int srcBytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smemAddr(smem)), "l"(gmem), "r"(srcBytes)
               : "memory");
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smemAddr(p))
               : "memory");
}
__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smemAddr(p))
               : "memory");
}

template <typename T>
struct Ops;

template <>
struct Ops<__half> {
  // c += a * b, 16 x 8 x 16, fp16 inputs, fp32 accumulators
  static __device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  // two floats -> one .b32 holding (lo, hi) rounded to nearest even
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    uint32_t u;
    memcpy(&u, &h, 4);
    return u;
  }
};

template <>
struct Ops<__nv_bfloat16> {
  static __device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    uint32_t u;
    memcpy(&u, &h, 4);
    return u;
  }
};

#else
// Host emulation of cp.async, ldmatrix and mma.sync (native/cuda/test/).
#include "emu_fa2_ops.h"
#endif

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
//     added back, p * v in float32, for the rows whose mask bit is set (addNonFinite below);
//   - the epilogue writes an empty row (l == 0: no allowed key, or all scores -inf) as zeros with
//     lse -inf, and a row with l = NaN as NaN (1 / NaN) with lse NaN.

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

template <typename T, int D>
__global__ void __launch_bounds__(kThreads) forwardKernel(const KernelParams p) {
  constexpr int kStride = Smem<D>::kStride;
  constexpr int kTile = kBK * kStride;  // elements per shared buffer
  constexpr int kDK = D / 16;           // k-steps of S = Q K^T
  constexpr int kDN = D / 8;            // 8-wide column blocks of O
  AF_DYNAMIC_SMEM(unsigned char, smemRaw);
  T* const sK0 = reinterpret_cast<T*>(smemRaw);
  T* const sK1 = sK0 + kTile;
  T* const sV0 = sK1 + kTile;
  T* const sV1 = sV0 + kTile;
  T* const sQ = sK1;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int nqb = p.numQBlocks;
  int64_t blk = blockIdx.x;
  const int qb = nqb - 1 - static_cast<int>(blk % nqb);  // the longest (last) query tiles start first
  blk /= nqb;
  const int h = static_cast<int>(blk % p.Hq);
  const int b = static_cast<int>(blk / p.Hq);
  const int hk = h / p.group;
  const int i0 = qb * kBQ;

  const T* const qBase = static_cast<const T*>(p.q.data) + b * p.q.sb + h * p.q.sh;
  const T* const kBase = static_cast<const T*>(p.k.data) + b * p.k.sb + hk * p.k.sh;
  const T* const vBase = static_cast<const T*>(p.v.data) + b * p.v.sb + hk * p.v.sh;

  const int64_t mrow = static_cast<int64_t>(h / (p.Hq / p.maskHeads)) * nqb + qb;
  const int e0 = p.rowPtr[mrow], e1 = p.rowPtr[mrow + 1];

  // Prologue: Q and the first K/V tile in one group.
  loadTile<T, D>(sQ, qBase, p.q.ss, i0, p.Sq, tid);
  if (e0 < e1) {
    const int kt = p.colIdx[e0];
    loadTile<T, D>(sK0, kBase, p.k.ss, kt * kBK, p.Sk, tid);
    loadTile<T, D>(sV0, vBase, p.v.ss, kt * kBK, p.Sk, tid);
  }
  cpAsyncCommit();
  cpAsyncWait<0>();
  __syncthreads();

  uint32_t qf[kDK][4];
#pragma unroll
  for (int kk = 0; kk < kDK; ++kk) {
    ldmatrixX4(qf[kk], sQ + (warp * 16 + qRow(lane)) * kStride + kk * 16 + qCol(lane));
  }
  __syncthreads();  // sQ is stage 1's K buffer: every warp has its fragments before it is reused

  float o[kDN][4];
#pragma unroll
  for (int j = 0; j < kDN; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
  float mA = -INFINITY, mB = -INFINITY, lA = 0.f, lB = 0.f;  // rows rA and rB: running max, sum

  const int t4 = lane & 3;
  const int rA = warp * 16 + accRow(lane, 0), rB = warp * 16 + accRow(lane, 2);  // this thread's rows in the tile
  const int64_t posA = static_cast<int64_t>(i0 + rA) + p.shift;  // position of row rA
  const float slope2 = p.alibi2 != nullptr ? p.alibi2[h] : 0.f;
  const int64_t tileWords = static_cast<int64_t>(kBQ) * p.wordsPerRow;  // wordsPerRow == 2

  for (int e = e0; e < e1; ++e) {
    const int stage = (e - e0) & 1;
    const T* const sK = stage ? sK1 : sK0;
    const T* const sV = stage ? sV1 : sV0;
    if (e + 1 < e1) {
      // Prefetch the next tile into the other stage (its last readers passed the barrier at the
      // end of the previous iteration), then wait for this tile only.
      const int ktn = p.colIdx[e + 1];
      loadTile<T, D>(stage ? sK0 : sK1, kBase, p.k.ss, ktn * kBK, p.Sk, tid);
      loadTile<T, D>(stage ? sV0 : sV1, vBase, p.v.ss, ktn * kBK, p.Sk, tid);
      cpAsyncCommit();
      cpAsyncWait<1>();
    } else {
      cpAsyncWait<0>();
    }
    __syncthreads();

    const int kt = p.colIdx[e];
    const int part = p.partial[e];
    const int j0 = kt * kBK;
    const int nk = min(kBK, p.Sk - j0);  // keys of this tile inside the sequence

    // S = Q K^T for this warp's 16 rows x 64 keys.
    float s[8][4];
#pragma unroll
    for (int j = 0; j < 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < kDK; ++kk) {
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
        uint32_t kf[4];
        ldmatrixX4(kf, sK + (jj * 16 + kRow(lane)) * kStride + kk * 16 + kCol(lane));
        Ops<T>::mma(s[2 * jj], qf[kk], kf[0], kf[1]);
        Ops<T>::mma(s[2 * jj + 1], qf[kk], kf[2], kf[3]);
      }
    }

    // Mask words of rows rA and rB (all ones for a full tile).
    uint32_t wA0 = 0xffffffffu, wA1 = 0xffffffffu, wB0 = 0xffffffffu, wB1 = 0xffffffffu;
    if (part >= 0) {
      const uint32_t* tb = p.bits + static_cast<int64_t>(part) * tileWords;
      wA0 = tb[2 * rA];
      wA1 = tb[2 * rA + 1];
      wB0 = tb[2 * rB];
      wB1 = tb[2 * rB + 1];
    }
    // Partial tiles: the V rows holding a non-finite value (warp-uniform; see the file comment).
    uint64_t badV = 0;
    if (part >= 0) {
      const uint32_t lo = __ballot_sync(0xffffffffu, rowNonFinite<T, D>(sV, lane));
      const uint32_t hi = __ballot_sync(0xffffffffu, rowNonFinite<T, D>(sV, lane + 32));
      badV = static_cast<uint64_t>(lo) | (static_cast<uint64_t>(hi) << 32);
    }

    // Scores in log2 units, masked; tile row maxima. ALiBi distances |pos(i) - j| from the
    // tile's offsets relA = pos(rA) - j0 (exact in float32 below 2^24).
    const float relA = static_cast<float>(posA - j0), relB = relA + 8.f;
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
        const uint32_t wA = j < 4 ? wA0 : wA1, wB = j < 4 ? wB0 : wB1;
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

    // Online softmax: new max, rescale factor of the old state, probabilities.
    const float mNewA = fmaxf(mA, mxA), mNewB = fmaxf(mB, mxB);
    const float msA = mNewA == -INFINITY ? 0.f : mNewA;  // a row with nothing yet: exp2(-inf - 0) = 0
    const float msB = mNewB == -INFINITY ? 0.f : mNewB;
    const float alA = exp2f(mA - msA), alB = exp2f(mB - msB);
    mA = mNewA;
    mB = mNewB;
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
    lA = lA * alA + sumA;  // partial sums over this lane's columns; reduced across the quad at the end
    lB = lB * alB + sumB;
#pragma unroll
    for (int j = 0; j < kDN; ++j) {
      o[j][0] *= alA;
      o[j][1] *= alA;
      o[j][2] *= alB;
      o[j][3] *= alB;
    }

    // O += P V; with DROP (only when badV != 0) the non-finite V rows are left out (see above).
    auto pv = [&](auto drop) {
      constexpr bool DROP = decltype(drop)::value;
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
          }
          Ops<T>::mma(o[2 * dd], pa, vf[0], vf[1]);
          Ops<T>::mma(o[2 * dd + 1], pa, vf[2], vf[3]);
        }
      }
    };
    if (badV == 0) {
      pv(std::false_type{});  // every full tile, and partial tiles whose V is finite
    } else {
      pv(std::true_type{});
      // The non-finite V rows left out of the mma, added for the rows that attend them. The
      // probability of key kb for row rA sits in s[kb / 8][kb % 2] of quad lane (kb % 8) / 2.
      for (int kb = 0; kb < kBK; ++kb) {
        if (((badV >> kb) & 1u) == 0) continue;  // warp-uniform
        float mineA = 0.f, mineB = 0.f;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            if (j == (kb >> 3) && c == (kb & 1)) {
              mineA = s[j][c];
              mineB = s[j][2 + c];
            }
          }
        }
        const int src = (lane & ~3) | ((kb & 7) >> 1);
        const float pA = __shfl_sync(0xffffffffu, mineA, src), pB = __shfl_sync(0xffffffffu, mineB, src);
        const bool inA = (((kb < 32 ? wA0 : wA1) >> (kb & 31)) & 1u) != 0;
        const bool inB = (((kb < 32 ? wB0 : wB1) >> (kb & 31)) & 1u) != 0;
        const T* vr = sV + kb * kStride;
#pragma unroll
        for (int j = 0; j < kDN; ++j) {
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            const float x = toF<T>(vr[j * 8 + accCol(lane, c)]);
            if (inA) o[j][c] = fmaf(pA, x, o[j][c]);
            if (inB) o[j][2 + c] = fmaf(pB, x, o[j][2 + c]);
          }
        }
      }
    }
    __syncthreads();  // every warp is done with this stage before the next iteration refills it
  }

  // Epilogue: row sums across the quad, normalise, store O (and the LSE).
  lA += __shfl_xor_sync(0xffffffffu, lA, 1);
  lA += __shfl_xor_sync(0xffffffffu, lA, 2);
  lB += __shfl_xor_sync(0xffffffffu, lB, 1);
  lB += __shfl_xor_sync(0xffffffffu, lB, 2);
  // l == 0: an empty row (zeros, lse -inf); l = NaN: 1 / NaN makes the row NaN.
  const bool emptyA = lA == 0.f, emptyB = lB == 0.f;
  const float invA = emptyA ? 0.f : 1.f / lA;
  const float invB = emptyB ? 0.f : 1.f / lB;
  const int iA = i0 + rA, iB = i0 + rB;
  T* const outBase = static_cast<T*>(p.out) + b * p.osb + h * p.osh;
  if (iA < p.Sq) {
    T* row = outBase + static_cast<int64_t>(iA) * p.oss + accCol(lane, 0);
#pragma unroll
    for (int j = 0; j < kDN; ++j) {
      const uint32_t v = emptyA ? 0u : Ops<T>::pack(o[j][0] * invA, o[j][1] * invA);
      *reinterpret_cast<uint32_t*>(row + j * 8) = v;
    }
    if (p.lse != nullptr && t4 == 0) {
      p.lse[(static_cast<int64_t>(b) * p.Hq + h) * p.Sq + iA] =
          emptyA ? -INFINITY
                 : static_cast<float>(static_cast<double>(mA) * 0.6931471805599453 + log(static_cast<double>(lA)));
    }
  }
  if (iB < p.Sq) {
    T* row = outBase + static_cast<int64_t>(iB) * p.oss + accCol(lane, 2);
#pragma unroll
    for (int j = 0; j < kDN; ++j) {
      const uint32_t v = emptyB ? 0u : Ops<T>::pack(o[j][2] * invB, o[j][3] * invB);
      *reinterpret_cast<uint32_t*>(row + j * 8) = v;
    }
    if (p.lse != nullptr && t4 == 0) {
      p.lse[(static_cast<int64_t>(b) * p.Hq + h) * p.Sq + iB] =
          emptyB ? -INFINITY
                 : static_cast<float>(static_cast<double>(mB) * 0.6931471805599453 + log(static_cast<double>(lB)));
    }
  }
}

template <int D>
constexpr size_t smemBytes() {
  return static_cast<size_t>(4) * kBK * Smem<D>::kStride * 2;
}

#if !defined(ATTNFLOW_CUDA_EMULATOR)

template <typename T, int D>
Status launchOne(const KernelParams& p, const DeviceContext& ctx) {
  const size_t smem = smemBytes<D>();
  const std::string dn = deviceName(ctx.device);
  if (smem > ctx.smemOptin) {
    return Status::Error(dn + ": the tensor-core kernel needs " + std::to_string(smem) +
                         " bytes of shared memory per block, the device allows " + std::to_string(ctx.smemOptin));
  }
  cudaError_t e = cudaFuncSetAttribute(forwardKernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(smem));
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Status::Error(dn + ": " + describeError("cudaFuncSetAttribute", e));
  }
  const int64_t blocks = static_cast<int64_t>(p.numQBlocks) * p.Hq * p.B;
  if (blocks <= 0) return Status::Ok();
  if (blocks > 0x7fffffff) return Status::Error(dn + ": too many query tiles for one launch");
  forwardKernel<T, D><<<static_cast<unsigned>(blocks), kThreads, smem, ctx.stream>>>(p);
  e = cudaGetLastError();
  if (e != cudaSuccess) return Status::Error(dn + ": launching the attention kernel: " + describeError("<<<>>>", e));
  return Status::Ok();
}

template <typename T>
Status launchForType(const KernelParams& p, const DeviceContext& ctx) {
  if (p.D == 64) return launchOne<T, 64>(p, ctx);
  if (p.D == 128) return launchOne<T, 128>(p, ctx);
  return Status::Error("the tensor-core kernel supports head dims 64 and 128, got " + std::to_string(p.D));
}

#endif  // !ATTNFLOW_CUDA_EMULATOR

}  // namespace fa2
}  // namespace cudaimpl
}  // namespace attnflow
