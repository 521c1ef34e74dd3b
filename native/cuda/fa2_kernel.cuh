// The tensor-core forward kernel, FlashAttention-2 style, for float16 / bfloat16 inputs with
// head dim 64 or 128 (launched by fa2_launch.cuh; its stages are in fa2_stages.cuh, its PTX in
// fa2_ptx.cuh).
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

#include <type_traits>

#include "fa2_stages.cuh"

namespace attnflow {
namespace cudaimpl {
namespace fa2 {

// Registers (ptxas, sm_80 and sm_90a): D = 128 uses all 255; D = 64 is held to 168 (three blocks
// per SM, as many as its shared memory allows on sm_80) without spilling. native/cuda/test/
// ptxas_check.sh fails the build's check on any stack frame or spill here.
template <typename T, int D>
__global__ void __launch_bounds__(kThreads, D == 64 ? 3 : 1) forwardKernel(const KernelParams p) {
  constexpr int kStride = Smem<D>::kStride;
  constexpr int kTile = kBK * kStride;  // elements per shared buffer
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

  const int64_t mrow = core::maskRow(p, h, qb);
  const int e0 = p.rowPtr[mrow], e1 = p.rowPtr[mrow + 1];

  // Prologue: Q and the first K/V tile in one group; Q into registers.
  loadTile<T, D>(sQ, qBase, p.q.ss, i0, p.Sq, tid);
  if (e0 < e1) {
    const int kt = p.colIdx[e0];
    loadTile<T, D>(sK0, kBase, p.k.ss, kt * kBK, p.Sk, tid);
    loadTile<T, D>(sV0, vBase, p.v.ss, kt * kBK, p.Sk, tid);
  }
  cpAsyncCommit();
  cpAsyncWait<0>();
  __syncthreads();
  uint32_t qf[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    ldmatrixX4(qf[kk], sQ + (warp * 16 + qRow(lane)) * kStride + kk * 16 + qCol(lane));
  }
  __syncthreads();  // sQ is stage 1's K buffer: every warp has its fragments before it is reused

  float o[D / 8][4];
#pragma unroll
  for (int j = 0; j < D / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
  RowStats st{-INFINITY, -INFINITY, 0.f, 0.f};
  const int rA = warp * 16 + accRow(lane, 0), rB = warp * 16 + accRow(lane, 2);  // this thread's rows in the tile
  const int64_t posA = static_cast<int64_t>(i0 + rA) + p.shift;                 // position of row rA
  const float slope2 = p.alibi2 != nullptr ? p.alibi2[h] : 0.f;

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

    const int part = p.partial[e];
    const int j0 = p.colIdx[e] * kBK;
    float s[8][4];
    scoreTile<T, D>(s, qf, sK, lane);
    const RowMask w = rowMask(p, part, rA, rB);
    // Partial tiles: the V rows holding a non-finite value (warp-uniform; see fa2_stages.cuh).
    uint64_t badV = 0;
    if (part >= 0) {
      const uint32_t lo = __ballot_sync(0xffffffffu, rowNonFinite<T, D>(sV, lane));
      const uint32_t hi = __ballot_sync(0xffffffffu, rowNonFinite<T, D>(sV, lane + 32));
      badV = static_cast<uint64_t>(lo) | (static_cast<uint64_t>(hi) << 32);
    }
    const float2 mx = scaleAndMask(s, p, w, static_cast<float>(posA - j0), slope2, min(kBK, p.Sk - j0), lane);
    softmaxUpdate<D>(s, o, st, mx);
    if (badV == 0) {
      accumulatePV<T, D, false>(o, s, sV, 0, lane);  // every full tile, and partial tiles whose V is finite
    } else {
      accumulatePV<T, D, true>(o, s, sV, badV, lane);
      addNonFiniteRows<T, D>(o, s, sV, badV, w, lane);
    }
    __syncthreads();  // every warp is done with this stage before the next iteration refills it
  }

  // Epilogue: row sums across the quad, then normalise and store O and the LSE.
  st.lA += __shfl_xor_sync(0xffffffffu, st.lA, 1);
  st.lA += __shfl_xor_sync(0xffffffffu, st.lA, 2);
  st.lB += __shfl_xor_sync(0xffffffffu, st.lB, 1);
  st.lB += __shfl_xor_sync(0xffffffffu, st.lB, 2);
  storeRow<T, D>(p, o, 0, st.mA, st.lA, b, h, i0 + rA, lane);
  storeRow<T, D>(p, o, 2, st.mB, st.lB, b, h, i0 + rB, lane);
}

template <int D>
constexpr size_t smemBytes() {
  return static_cast<size_t>(4) * kBK * Smem<D>::kStride * 2;
}

}  // namespace fa2
}  // namespace cudaimpl
}  // namespace attnflow
