// resolveAttention: a validated AttentionParams turned into the AttentionCall every native
// backend starts from (see call.h).
#include <string>

#include "call.h"

namespace attnflow {
namespace core {

namespace {

Operand operandOf(const TensorView& t) {
  return Operand{t.data, t.dtype, t.strides[0], t.strides[1], t.strides[2], t.strides[3]};
}

}  // namespace

Status resolveAttention(const AttentionParams& p, TileShape tile, const char* kernelName, const char* tileFunction,
                        AttentionCall* out) {
  Status st = validateAttention(p);
  if (!st.ok) return st;
  const BlockMaskView& mk = p.mask;
  if (mk.blockQ != tile.blockQ || mk.blockK != tile.blockK) {
    return Status::Error("mask tile shape " + std::to_string(mk.blockQ) + "x" + std::to_string(mk.blockK) +
                         " does not match " + kernelName + " " + std::to_string(tile.blockQ) + "x" +
                         std::to_string(tile.blockK) + " (" + tileFunction + ")");
  }
  AttentionCall c{};
  c.B = static_cast<int32_t>(p.q.shape[0]);
  c.Hq = static_cast<int32_t>(p.q.shape[1]);
  c.Sq = static_cast<int32_t>(p.q.shape[2]);
  c.D = static_cast<int32_t>(p.q.shape[3]);
  c.Hkv = static_cast<int32_t>(p.k.shape[1]);
  c.Sk = static_cast<int32_t>(p.k.shape[2]);
  c.group = c.Hkv > 0 ? c.Hq / c.Hkv : 0;
  c.shift = p.queryStart == kBottomRight ? static_cast<int64_t>(c.Sk) - c.Sq : p.queryStart;
  c.qpos = p.queryPositions;
  c.kpos = p.keyPositions;
  c.kposStride = p.keyPositions && p.keyPositionsLen == static_cast<size_t>(c.Hkv) * c.Sk ? c.Sk : 0;
  c.keyMass = p.keyMass;
  c.q = operandOf(p.q);
  c.k = operandOf(p.k);
  c.v = operandOf(p.v);
  c.out = p.out.data;
  c.outType = p.out.dtype;
  c.osb = p.out.strides[0];
  c.osh = p.out.strides[1];
  c.oss = p.out.strides[2];
  c.osd = p.out.strides[3];
  c.lse = p.lse;
  c.rowPtr = mk.rowPtr;
  c.colIdx = mk.colIdx;
  c.partial = mk.partial;
  c.bits = mk.bits;
  c.maskHeads = mk.heads;
  c.numQBlocks = mk.numQBlocks;
  c.numKBlocks = mk.numKBlocks;
  c.wordsPerRow = mk.wordsPerRow;
  c.scale = p.scale;
  c.scaleLog2 = static_cast<float>(static_cast<double>(p.scale) * kLog2e);
  c.softcap = p.softcap > 0.f;
  c.capInv = c.softcap ? static_cast<float>(1.0 / p.softcap) : 0.f;
  c.capOut = c.softcap ? static_cast<float>(p.softcap * kLog2e) : 0.f;
  c.alibi2 = nullptr;
  *out = c;
  return Status::Ok();
}

void alibiLog2(const AttentionParams& p, int32_t Hq, float* dst) {
  for (int32_t h = 0; h < Hq; ++h) dst[h] = static_cast<float>(p.alibiSlopes[h] * kLog2e);
}

}  // namespace core
}  // namespace attnflow
