// The general CUDA kernels (launched by general.cu): float32 arithmetic for any dtype, any
// strides and head dims up to 256. They are the float32 path (FP32 arithmetic throughout, no TF32: float32 inputs meet the
// 1e-5 bar), the decode path (short queries: split-KV over thread blocks plus a combine kernel,
// the query heads of one KV head packed into one block so each K/V tile is read once for all of
// them), and the fallback for 16-bit shapes the tensor-core kernel does not take. Also here:
// the RoPE pre-pass.
//
// One thread block (8 warps) runs one "item": up to 64 rows that share a batch, a KV head, a
// query tile of the BlockMask and its mask row (a query tile of one head, or, when the mask is
// shared and seqQ is small, the same queries for several heads of one GQA group), against a
// range of the mask row's key tiles (all of them, or one split). Row r belongs to warp r % 8.
// Each 64-key tile is processed as two 32-key halves staged in shared memory as float32: lane l
// scores key l against all of its warp's rows, the online softmax runs across the warp (exp2,
// log2 units, as the CPU backend), and lane l accumulates head dims l, l + 32, ... of O.
//
// Non-finite inputs (the semantics of native/cpu/kernel_body.h): masked scores become -inf before
// the max and masked keys are skipped in P V (their probability is sent as -1, never a real
// one), so NaN/inf at a key a row does not attend never reaches it; a NaN or +inf score makes
// exp2 NaN and the row's sum l NaN (whatever fmaxf did with it in the max); l == 0 is an empty
// row (zeros, lse -inf), l = NaN gives NaN out and lse. Split-KV: a split without keys (m = -inf,
// l = 0) contributes nothing to the combine, a NaN split (l = NaN, m possibly -inf) makes the
// row NaN.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "attnflow.h"
#include "internal.cuh"
#include "math.cuh"

namespace attnflow {
namespace cudaimpl {
namespace gen {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kRowsPerWarp = kTileQ / kWarps;  // 8
constexpr int kHalf = 32;                      // keys staged at a time
constexpr int kMaxPerLane = kMaxGeneralHeadDim / 32;  // 8 output values per lane and row
static_assert(kTileK == 2 * kHalf, "a key tile is two staged halves (one mask word each)");

template <typename T>
__device__ __forceinline__ float toFloat(T x);
template <>
__device__ __forceinline__ float toFloat<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ float toFloat<__half>(__half x) {
  return __half2float(x);
}
template <>
__device__ __forceinline__ float toFloat<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

template <typename T>
__device__ __forceinline__ T fromFloat(float x);
template <>
__device__ __forceinline__ float fromFloat<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __half fromFloat<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

__device__ __forceinline__ float warpMax(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warpSum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// How the rows of the problem are cut into items (see the file comment).
struct Items {
  int ng;        // heads packed per item (1 unless the mask is shared and seqQ <= 32)
  int chunks;    // ceil(group / ng)
  int splits;    // thread blocks per item (split-KV); 1: the block writes the output itself
  float* ws;     // splits > 1: per block, o [64][D] then m [64] then l [64]
  bool vecKV;    // K and V rows can be read in 16-byte pieces (see vectorLoads)
  // Key masses (p.keyMass): each block records the probabilities of its rows for its keys (its
  // tiles' 64-key slots, nk = 64 * tiles of them) and the max each half-tile's are relative to; each
  // item its rows' final max and sum. massKernel (general_mass.cuh) then turns the records into
  // masses. No key is read twice: the records are.
  float* massP;            // block blk: [row][nk] at massP + massOff[blk] * 64
  float* massM;            // block blk: [row][nk / 32] at massM + massOff[blk] / 32 * 64
  const int64_t* massOff;  // per block: key slots recorded by the blocks before it
  float* finalML;          // per item: max [64] then sum [64] of its rows
};

struct Item {
  int b, hk, qb, h0, nqi, nrows;
};

__host__ __device__ __forceinline__ Item decodeItem(const KernelParams& p, const Items& it, int64_t item) {
  Item r;
  const int chunk = static_cast<int>(item % it.chunks);
  item /= it.chunks;
  r.qb = static_cast<int>(item % p.numQBlocks);
  item /= p.numQBlocks;
  r.hk = static_cast<int>(item % p.Hkv);
  r.b = static_cast<int>(item / p.Hkv);
  r.h0 = r.hk * p.group + chunk * it.ng;
  const int ngHere = min(it.ng, p.group - chunk * it.ng);
  r.nqi = min(kTileQ, p.Sq - r.qb * kTileQ);
  r.nrows = r.nqi * ngHere;
  return r;
}

__device__ __forceinline__ size_t wsStride(int D) { return static_cast<size_t>(kTileQ) * (D + 2); }

// Staging of up to kHalf keys (kb .. kb + nks - 1) of K and V into shared memory as float32 (K
// rows padded to D + 1; rows past nks zero). The vector path reads each row in 16-byte pieces
// (8 16-bit or 4 float32 values per thread and load); it needs Items::vecKV (host-checked
// alignment and contiguous rows, see vectorLoads). The scalar path reads any strides.
template <typename T>
__device__ __forceinline__ void stageKeysVector(const T* kBase, const T* vBase, int64_t kss, int64_t vss, int kb,
                                                int nks, int D, float* sK, float* sV, int tid) {
  constexpr int kPer = 16 / static_cast<int>(sizeof(T));
  const int perRow = D / kPer;
  for (int x = tid; x < kHalf * perRow; x += kThreads) {
    const int key = x / perRow, d0 = (x - key * perRow) * kPer;
    uint4 kw = make_uint4(0u, 0u, 0u, 0u), vw = kw;  // zero bits: 0 in every dtype
    if (key < nks) {
      const int64_t js = static_cast<int64_t>(kb + key);
      kw = *reinterpret_cast<const uint4*>(kBase + js * kss + d0);
      vw = *reinterpret_cast<const uint4*>(vBase + js * vss + d0);
    }
    T kv[kPer], vv[kPer];
    memcpy(kv, &kw, 16);
    memcpy(vv, &vw, 16);
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      sK[key * (D + 1) + d0 + i] = toFloat(kv[i]);
      sV[key * D + d0 + i] = toFloat(vv[i]);
    }
  }
}

template <typename T>
__device__ __forceinline__ void stageKeysScalar(const T* kBase, const T* vBase, const Operand& k, const Operand& v,
                                                int kb, int nks, int D, float* sK, float* sV, int tid) {
  for (int x = tid; x < kHalf * D; x += kThreads) {
    const int key = x / D, d = x - key * D;
    float kv = 0.f, vv = 0.f;
    if (key < nks) {
      const int64_t js = static_cast<int64_t>(kb + key);
      kv = toFloat(kBase[js * k.ss + d * k.sd]);
      vv = toFloat(vBase[js * v.ss + d * v.sd]);
    }
    sK[key * (D + 1) + d] = kv;
    sV[key * D + d] = vv;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) generalKernel(const KernelParams p, const Items items) {
  AF_DYNAMIC_SMEM(float, smem);
  const int D = p.D;
  float* const sQ = smem;                        // [64][D]
  float* const sK = sQ + kTileQ * D;             // [32][D + 1] (padded: lanes read different rows)
  float* const sV = sK + kHalf * (D + 1);        // [32][D]

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int split = static_cast<int>(blockIdx.x % items.splits);
  const Item it = decodeItem(p, items, blockIdx.x / items.splits);
  const int i0 = it.qb * kTileQ;

  // Query rows (float32), zeros for unused rows.
  for (int x = tid; x < kTileQ * D; x += kThreads) {
    const int r = x / D, d = x - r * D;
    float val = 0.f;
    if (r < it.nrows) {
      const int h = it.h0 + r / it.nqi, i = i0 + r % it.nqi;
      const T* q = static_cast<const T*>(p.q.data);
      val = toFloat(q[it.b * p.q.sb + h * p.q.sh + static_cast<int64_t>(i) * p.q.ss + d * p.q.sd]);
    }
    sQ[x] = val;
  }

  // This block's range of the mask row.
  const int64_t mrow = core::maskRow(p, it.h0, it.qb);
  const int64_t r0 = p.rowPtr[mrow], r1 = p.rowPtr[mrow + 1];
  const int ea = static_cast<int>(r0 + (r1 - r0) * split / items.splits);
  const int ez = static_cast<int>(r0 + (r1 - r0) * (split + 1) / items.splits);

  // Per row slot j (row warp + 8 j): running max, sum, and this lane's output columns. Only the
  // slots of real rows are computed: `slots` of them for this warp (warp-uniform; 0 when the item
  // has fewer rows than warps, as in decoding: 1 query x a few packed heads).
  const int slots = max(0, min(kRowsPerWarp, (it.nrows - warp + kWarps - 1) / kWarps));
  float m[kRowsPerWarp], l[kRowsPerWarp], o[kRowsPerWarp][kMaxPerLane];
  float slope[kRowsPerWarp];
  int64_t pos[kRowsPerWarp];
#pragma unroll
  for (int j = 0; j < kRowsPerWarp; ++j) {
    m[j] = -INFINITY;
    l[j] = 0.f;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) o[j][i] = 0.f;
    const int r = warp + kWarps * j;
    const int rr = r < it.nrows ? r : 0;
    slope[j] = p.alibi2 != nullptr ? p.alibi2[it.h0 + rr / it.nqi] : 0.f;
    pos[j] = core::queryPosition(p, i0 + rr % it.nqi);
  }

  const T* const kBase = static_cast<const T*>(p.k.data) + it.b * p.k.sb + it.hk * p.k.sh;
  const T* const vBase = static_cast<const T*>(p.v.data) + it.b * p.v.sb + it.hk * p.v.sh;
  const int64_t tileWords = static_cast<int64_t>(kTileQ) * p.wordsPerRow;
  // key-mass records of this block (see Items)
  const int nkRec = (ez - ea) * kTileK;
  float* const recP = p.keyMass != nullptr ? items.massP + items.massOff[blockIdx.x] * kTileQ : nullptr;
  float* const recM = p.keyMass != nullptr ? items.massM + items.massOff[blockIdx.x] / kHalf * kTileQ : nullptr;

  for (int e = ea; e < ez; ++e) {
    const int kt = p.colIdx[e];
    const int part = p.partial[e];
    const int j0 = kt * kTileK;
    const int nk = min(kTileK, p.Sk - j0);
    for (int hf = 0; hf * kHalf < nk; ++hf) {
      const int kb = j0 + hf * kHalf;
      const int nks = min(kHalf, nk - hf * kHalf);
      const int kk0 = (e - ea) * kTileK + hf * kHalf;  // this half's first slot in the mass records
      __syncthreads();  // the previous half is no longer read (and sQ is complete the first time)
      if (items.vecKV) {
        stageKeysVector<T>(kBase, vBase, p.k.ss, p.v.ss, kb, nks, D, sK, sV, tid);
      } else {
        stageKeysScalar<T>(kBase, vBase, p.k, p.v, kb, nks, D, sK, sV, tid);
      }
      __syncthreads();

      if (slots == 0) continue;  // this warp has no real row (it still helps staging K and V)

      // Scores of key (kb + lane) against the warp's rows.
      float sc[kRowsPerWarp];
#pragma unroll
      for (int j = 0; j < kRowsPerWarp; ++j) sc[j] = 0.f;
      const float* kRow = sK + lane * (D + 1);
      for (int d = 0; d < D; ++d) {
        const float kd = kRow[d];
#pragma unroll
        for (int j = 0; j < kRowsPerWarp; ++j)
          if (j < slots) sc[j] = fmaf(sQ[(warp + kWarps * j) * D + d], kd, sc[j]);
      }

      float pr[kRowsPerWarp];
#pragma unroll
      for (int j = 0; j < kRowsPerWarp; ++j) {
        pr[j] = 0.f;
        const int r = warp + kWarps * j;
        if (j < slots) {  // r < it.nrows; uniform across the warp
          float x = sc[j];
          if (p.softcap) {
            x = p.capOut * accurateTanh(x * p.scale * p.capInv);
          } else {
            x *= p.scaleLog2;
          }
          if (p.alibi2 != nullptr) {
            const int64_t kpos = lane < nks ? core::keyPosition(p, it.hk, kb + lane) : 0;
            x -= slope[j] * fabsf(static_cast<float>(pos[j] - kpos));
          }
          bool ok = lane < nks;
          if (part >= 0) {
            const uint32_t w = p.bits[part * tileWords + static_cast<int64_t>(r % it.nqi) * p.wordsPerRow + hf];
            ok = ok && ((w >> lane) & 1u);
          }
          x = ok ? x : -INFINITY;
          const float mNew = fmaxf(m[j], warpMax(x));
          const float ms = mNew == -INFINITY ? 0.f : mNew;
          const float alpha = exp2f(m[j] - ms);
          const float pj = exp2f(x - ms);
          l[j] = l[j] * alpha + warpSum(pj);
          m[j] = mNew;
#pragma unroll
          for (int i = 0; i < kMaxPerLane; ++i) o[j][i] *= alpha;
          pr[j] = ok ? pj : -1.f;  // -1: masked, skipped in P V (0 * NaN must not reach the row)
          if (recP != nullptr) {
            recP[static_cast<int64_t>(r) * nkRec + kk0 + lane] = ok ? pj : 0.f;
            if (lane == 0) recM[static_cast<int64_t>(r) * (nkRec / kHalf) + kk0 / kHalf] = ms;
          }
        }
      }

      // O += P V: key kk's probability comes from lane kk.
      for (int kk = 0; kk < nks; ++kk) {
        float vv[kMaxPerLane];
#pragma unroll
        for (int i = 0; i < kMaxPerLane; ++i) {
          const int d = lane + 32 * i;
          vv[i] = d < D ? sV[kk * D + d] : 0.f;
        }
#pragma unroll
        for (int j = 0; j < kRowsPerWarp; ++j) {
          if (j >= slots) break;  // warp-uniform
          const float pk = __shfl_sync(0xffffffffu, pr[j], kk);
          if (pk < 0.f) continue;  // masked (warp-uniform)
#pragma unroll
          for (int i = 0; i < kMaxPerLane; ++i) o[j][i] = fmaf(pk, vv[i], o[j][i]);
        }
      }
    }
  }

#pragma unroll
  for (int j = 0; j < kRowsPerWarp; ++j) {
    const int r = warp + kWarps * j;
    if (r >= it.nrows) continue;
    const int h = it.h0 + r / it.nqi, i = i0 + r % it.nqi;
    if (items.splits == 1) {
      const bool empty = l[j] == 0.f;  // zeros; l = NaN: 1 / NaN makes the row NaN
      const float inv = empty ? 0.f : 1.f / l[j];
      T* out = static_cast<T*>(p.out) + it.b * p.osb + h * p.osh + static_cast<int64_t>(i) * p.oss;
#pragma unroll
      for (int c = 0; c < kMaxPerLane; ++c) {
        const int d = lane + 32 * c;
        if (d < D) out[d * p.osd] = fromFloat<T>(empty ? 0.f : o[j][c] * inv);
      }
      if (p.lse != nullptr && lane == 0) p.lse[(static_cast<int64_t>(it.b) * p.Hq + h) * p.Sq + i] = core::rowLse(m[j], l[j]);
      if (p.keyMass != nullptr && lane == 0) {
        float* ml = items.finalML + static_cast<int64_t>(blockIdx.x) * 2 * kTileQ;
        ml[r] = m[j];
        ml[kTileQ + r] = l[j];
      }
    } else {
      float* ws = items.ws + static_cast<size_t>(blockIdx.x) * wsStride(D);
#pragma unroll
      for (int c = 0; c < kMaxPerLane; ++c) {
        const int d = lane + 32 * c;
        if (d < D) ws[static_cast<size_t>(r) * D + d] = o[j][c];
      }
      if (lane == 0) {
        ws[static_cast<size_t>(kTileQ) * D + r] = m[j];
        ws[static_cast<size_t>(kTileQ) * D + kTileQ + r] = l[j];
      }
    }
  }
}

// Merges the splits of each item exactly through their (max, sum) pairs. One block per item,
// one warp per row.
template <typename T>
__global__ void __launch_bounds__(kThreads) combineKernel(const KernelParams p, const Items items) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const Item it = decodeItem(p, items, blockIdx.x);
  const int D = p.D;
  const size_t stride = wsStride(D);
  const float* base = items.ws + static_cast<size_t>(blockIdx.x) * items.splits * stride;
  for (int r = warp; r < it.nrows; r += kWarps) {
    float M = -INFINITY;
    for (int s = 0; s < items.splits; ++s) M = fmaxf(M, base[s * stride + static_cast<size_t>(kTileQ) * D + r]);
    float L = 0.f;
    float acc[kMaxPerLane];
#pragma unroll
    for (int c = 0; c < kMaxPerLane; ++c) acc[c] = 0.f;
    // A NaN split may have m = -inf (fmaxf dropped its NaN scores): M == -inf uses 0 as the
    // reference, so its factor is 0 and L = 0 * NaN = NaN.
    const float Ms = M == -INFINITY ? 0.f : M;
    for (int s = 0; s < items.splits; ++s) {
      const float* w = base + s * stride;
      const float ls = w[static_cast<size_t>(kTileQ) * D + kTileQ + r];
      if (ls == 0.f) continue;  // an empty split (no key, or all its scores -inf): nothing
      const float f = exp2f(w[static_cast<size_t>(kTileQ) * D + r] - Ms);
      L += f * ls;
#pragma unroll
      for (int c = 0; c < kMaxPerLane; ++c) {
        const int d = lane + 32 * c;
        if (d < D) acc[c] = fmaf(f, w[static_cast<size_t>(r) * D + d], acc[c]);
      }
    }
    const int h = it.h0 + r / it.nqi, i = it.qb * kTileQ + r % it.nqi;
    const bool empty = L == 0.f;  // zeros, lse -inf; L = NaN: NaN row
    const float inv = empty ? 0.f : 1.f / L;
    T* out = static_cast<T*>(p.out) + it.b * p.osb + h * p.osh + static_cast<int64_t>(i) * p.oss;
#pragma unroll
    for (int c = 0; c < kMaxPerLane; ++c) {
      const int d = lane + 32 * c;
      if (d < D) out[d * p.osd] = fromFloat<T>(empty ? 0.f : acc[c] * inv);
    }
    if (p.lse != nullptr && lane == 0) p.lse[(static_cast<int64_t>(it.b) * p.Hq + h) * p.Sq + i] = core::rowLse(M, L);
    if (p.keyMass != nullptr && lane == 0) {
      float* ml = items.finalML + static_cast<int64_t>(blockIdx.x) * 2 * kTileQ;
      ml[r] = M;
      ml[kTileQ + r] = L;
    }
  }
}

// RoPE pre-pass: dst[row][d] for rows (b, h, s) in [B, H, S] order. Angles in float64, the
// rotation in float32, the result rounded to the dtype (exact for float32).
template <typename T>
__global__ void __launch_bounds__(128) ropeKernel(const Operand src, int B, int H, int S, int D, int64_t posShift,
                                                  int dims, bool interleaved, double log2Base, int64_t offset,
                                                  T* dst, const int32_t* positions, int64_t posStride) {
  const int64_t rows = static_cast<int64_t>(B) * H * S;
  const int half = dims / 2;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int s = static_cast<int>(row % S);
    const int64_t bh = row / S;
    const int h = static_cast<int>(bh % H);
    const int b = static_cast<int>(bh / H);
    const T* x = static_cast<const T*>(src.data) + b * src.sb + h * src.sh + static_cast<int64_t>(s) * src.ss;
    T* y = dst + row * D;
    const int64_t at = positions != nullptr ? positions[h * posStride + s] : s + posShift;
    const double position = static_cast<double>(at + offset);
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
      const float self = toFloat(x[d * src.sd]);
      float r = self;
      if (d < dims && (positions == nullptr || at >= 0)) {
        int t, partner;
        bool first;
        if (interleaved) {
          t = d >> 1;
          partner = d ^ 1;
          first = (d & 1) == 0;
        } else {
          first = d < half;
          t = first ? d : d - half;
          partner = first ? d + half : d - half;
        }
        const double angle = position * exp2(-2.0 * t / dims * log2Base);
        double sn, cs;
        sincos(angle, &sn, &cs);
        const float c = static_cast<float>(cs), sv = static_cast<float>(sn);
        const float other = toFloat(x[partner * src.sd]);
        // pair (a, b) -> (a cos - b sin, a sin + b cos)
        r = first ? self * c - other * sv : other * sv + self * c;
      }
      y[d] = fromFloat<T>(r);
    }
  }
}

inline size_t generalSmemBytes(int D) {
  return (static_cast<size_t>(kTileQ) * D + static_cast<size_t>(kHalf) * (D + 1) + static_cast<size_t>(kHalf) * D) *
         sizeof(float);
}

// Whether every row of operand `o` (headDim D) can be read in 16-byte pieces: contiguous rows,
// every row start 16-byte aligned.
inline bool vectorLoads(const Operand& o, int D) {
  const int64_t elt = static_cast<int64_t>(dtypeSize(o.dtype));
  return o.sd == 1 && (D * elt) % 16 == 0 && (o.ss * elt) % 16 == 0 && (o.sh * elt) % 16 == 0 &&
         (o.sb * elt) % 16 == 0 && reinterpret_cast<uintptr_t>(o.data) % 16 == 0;
}

// How a call is cut into items and splits (host side; the emulator test uses it too).
// `count` receives the number of items; blocks = count * splits.
inline Items planItems(const KernelParams& p, int multiprocessors, int64_t* count) {
  Items items{};
  // GQA packing: with a shared mask and one query tile, the heads of a group read the same K/V
  // tiles; pack as many as fit in 64 rows into one block.
  items.ng = core::packedHeads(p, kTileQ);
  items.chunks = (p.group + items.ng - 1) / items.ng;
  *count = static_cast<int64_t>(p.B) * p.Hkv * p.numQBlocks * items.chunks;
  // Split-KV when there are too few items to fill the device: up to 2 blocks per SM in all,
  // never more splits than key tiles, and a workspace of at most 256 MiB.
  int splits = 1;
  const int64_t target = 2LL * multiprocessors;
  if (*count > 0 && *count < target && p.numKBlocks > 1) {
    splits = static_cast<int>(std::min<int64_t>({(target + *count - 1) / *count, p.numKBlocks, 64}));
    const size_t perBlock = static_cast<size_t>(kTileQ) * (p.D + 2) * sizeof(float);
    while (splits > 1 && static_cast<size_t>(*count) * splits * perBlock > (static_cast<size_t>(256) << 20)) --splits;
  }
  items.splits = splits;
  items.ws = nullptr;
  items.massP = items.massM = items.finalML = nullptr;
  items.massOff = nullptr;
  items.vecKV = vectorLoads(p.k, p.D) && vectorLoads(p.v, p.D);
  return items;
}

}  // namespace gen
}  // namespace cudaimpl
}  // namespace attnflow
