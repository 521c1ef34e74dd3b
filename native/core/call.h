// One attention call, resolved once for every native backend: the shapes, the operands' strides,
// the mask's CSR, and the score arithmetic (scale, softcap, ALiBi in log2 units), all read out of
// a validated AttentionParams in one place (resolve.cpp). The CPU Plan (native/cpu/kernel.h) and
// the CUDA kernels' parameter block (native/cuda/internal.cuh) are this struct plus what only
// their kernels need, so a new score option is added here, once.
//
// Plain data, trivially copyable (CUDA kernels take it by value). The small functions below are
// shared by the host kernels and device code (AF_HD): the log-sum-exp of a finished row and the
// GQA head packing both backends use for short queries.
#pragma once

#include <math.h>

#include <cstdint>

#include "attnflow.h"
#include "hd.h"

namespace attnflow {
namespace core {

constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2 = 0.6931471805599453;

// One input operand: element (b, h, s, d) at data + b*sb + h*sh + s*ss + d*sd.
struct Operand {
  const void* data;
  DType dtype;
  int64_t sb, sh, ss, sd;
};

struct AttentionCall {
  int32_t B, Hq, Hkv, Sq, Sk, D;
  int32_t group;  // Hq / Hkv: query head h reads kv head h / group
  int64_t shift;  // query i sits at position i + shift (bottom-right: Sk - Sq), unless qpos
  // Explicit positions (AttentionParams::queryPositions / keyPositions), host memory as resolved
  // (the CUDA backend points them at its device copies); null: the default positions.
  const int32_t* qpos;  // [Sq] query positions, or null
  const int32_t* kpos;  // key (hk, j) at kpos[hk * kposStride + j] (negative: an empty slot), or null: j
  int64_t kposStride;   // Sk, or 0 when one list serves every kv head
  // Key masses (AttentionParams::keyMass): [B][Hkv][Sk] float32 in the backend's memory, or null.
  float* keyMass;
  Operand q, k, v;
  void* out;
  DType outType;
  int64_t osb, osh, oss, osd;
  float* lse;  // contiguous [B, Hq, Sq] or null

  // The mask: a CSR over tiles of the backend's tile shape (host memory as resolved; the CUDA
  // backend points these at its device copy).
  const int32_t* rowPtr;
  const int32_t* colIdx;
  const int32_t* partial;
  const uint32_t* bits;
  int32_t maskHeads, numQBlocks, numKBlocks, wordsPerRow;

  // Scores are kept in log2 units, so the softmax runs on exp2: s2 = log2(e) * s.
  //   no softcap: s2 = scaleLog2 * q.k
  //   softcap:    s2 = capOut * tanh(scale * q.k * capInv)
  //   ALiBi:      s2 -= alibi2[h] * |pos(i) - pos(j)|   (queryPosition, keyPosition)
  float scale;      // the caller's scale
  float scaleLog2;  // scale * log2(e)
  bool softcap;
  float capInv;     // 1 / cap
  float capOut;     // cap * log2(e)
  // slope * log2(e) per query head (alibiLog2), in memory the backend's kernels read; null
  // without ALiBi. resolveAttention leaves it null: the backend supplies its copy.
  const float* alibi2;
};

// Validates `p` (validateAttention), checks that its mask was compiled for `tile` (the error
// names the backend: "the CPU kernel's 64x64 (cpuTileShape)") and resolves it into `out`.
Status resolveAttention(const AttentionParams& p, TileShape tile, const char* kernelName, const char* tileFunction,
                        AttentionCall* out);

// The ALiBi slopes of `p` in log2 units, one per query head, into dst[0, Hq).
void alibiLog2(const AttentionParams& p, int32_t Hq, float* dst);

// The log-sum-exp of a finished row from its running max m2 (log2 units) and sum l: -inf for an
// empty row (l == 0: no allowed key, or only -inf scores), NaN when l is NaN.
AF_HD float rowLse(float m2, float l) {
  return l == 0.f ? -INFINITY : static_cast<float>(static_cast<double>(m2) * kLn2 + log(static_cast<double>(l)));
}

// Query i's position, and key j's of kv head hk (negative: an empty slot).
AF_HD int64_t queryPosition(const AttentionCall& c, int64_t i) { return c.qpos ? c.qpos[i] : i + c.shift; }
AF_HD int64_t keyPosition(const AttentionCall& c, int64_t hk, int64_t j) {
  return c.kpos ? c.kpos[hk * c.kposStride + j] : j;
}

// The mask row of query head h and query tile qb: query head h reads row h / (Hq / maskHeads)
// (one row for every head, one per kv head, or one per head).
AF_HD int64_t maskRow(const AttentionCall& c, int h, int qb) {
  return static_cast<int64_t>(h / (c.Hq / c.maskHeads)) * c.numQBlocks + qb;
}

// GQA decode: how many query heads of one kv group share one work item of `tileRows` rows. When
// the heads of a group read the same mask row and the queries fit in half a tile, packing them
// lets each K/V tile be read once for all of them; otherwise 1.
AF_HD int packedHeads(const AttentionCall& c, int tileRows) {
  const bool groupShares = (c.Hq / c.maskHeads) % c.group == 0;  // the heads of a group read one mask row
  if (c.group > 1 && groupShares && c.numQBlocks == 1 && 2 * c.Sq <= tileRows) {
    const int fit = tileRows / c.Sq;
    return c.group < fit ? c.group : fit;
  }
  return 1;
}

}  // namespace core
}  // namespace attnflow
