// Checks a call record against its arena before a kernel reads it: every region lies inside the
// arena, every view's reachable elements inside its region, the mask is a well-formed CSR over the
// CPU tile that matches the shapes, every work item names a real row and its own tiles. The
// TypeScript side validated the user's arguments already; this guards the kernels against a
// record that disagrees with itself, as native/core/validate.cpp guards the native backends.
#include "check.h"

#include <cstdint>

#include "attnflow_views.h"
#include "calls.h"
#include "kernels.h"
#include "plan_rules.h"
#include "positions.h"

namespace attnflow {
namespace calls {
namespace {

// A region of the arena: absent (offset 0, no bytes) or inside it, after the record, aligned.
bool regionOk(uint32_t arenaBytes, uint32_t recordBytes, uint32_t offset, uint32_t bytes) {
  if (offset == 0) return bytes == 0;
  return offset >= recordBytes && offset % 4 == 0 && static_cast<uint64_t>(offset) + bytes <= arenaBytes;
}

bool validDType(int32_t t) { return t >= 0 && t <= 2; }
uint64_t elementBytes(int32_t t) { return t == 0 ? 4 : 2; }

// Whether a view of `shape` at strides s (elements) lies inside a region of `bytes`.
bool viewFits(const int64_t shape[4], const int32_t s[4], int32_t dtype, uint32_t offset, uint32_t bytes) {
  uint64_t maxOffset = 0;
  for (int a = 0; a < 4; ++a) {
    if (shape[a] < 0 || s[a] < 0) return false;
    if (shape[a] == 0) return true;  // no element is reachable
    maxOffset += static_cast<uint64_t>(shape[a] - 1) * static_cast<uint64_t>(s[a]);  // < 2^62: no overflow
  }
  return offset != 0 && (maxOffset + 1) * elementBytes(dtype) <= bytes;
}

bool floatsFit(uint32_t bytes, uint64_t count) { return count * 4 <= bytes; }

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

const char* checkMask(const AttentionCall& c, const uint8_t* arena) {
  if (c.numQBlocks != ceilDiv(c.Sq, cpu::kBQ) || c.numKBlocks != ceilDiv(c.Sk, cpu::kBK) || c.wordsPerRow != cpu::kBK / 32) {
    return "attention call: the mask's tile shape does not match the CPU kernel's";
  }
  // query head h reads row h / (Hq / maskHeads): one row for every head, per kv head, or per head
  if (c.maskHeads < 1 || c.Hq % c.maskHeads != 0) return "attention call: mask heads must divide the query heads";
  const int64_t rows = static_cast<int64_t>(c.maskHeads) * c.numQBlocks;
  if (c.rowPtr == 0 || !floatsFit(c.rowPtrBytes, static_cast<uint64_t>(rows) + 1)) {
    return "attention call: the mask's row pointers do not fit their region";
  }
  const int32_t* rowPtr = reinterpret_cast<const int32_t*>(arena + c.rowPtr);
  if (rowPtr[0] != 0) return "attention call: the mask's first row pointer is not 0";
  for (int64_t r = 0; r < rows; ++r)
    if (rowPtr[r + 1] < rowPtr[r]) return "attention call: the mask's row pointers decrease";
  const int64_t nnz = rowPtr[rows];
  if (!floatsFit(c.colIdxBytes, nnz) || !floatsFit(c.partialBytes, nnz) || (nnz > 0 && (c.colIdx == 0 || c.partial == 0))) {
    return "attention call: the mask's tiles do not fit their regions";
  }
  const int64_t tileWords = static_cast<int64_t>(cpu::kBQ) * c.wordsPerRow;
  const int64_t bitTiles = c.bitsBytes / 4 / tileWords;
  const int32_t* colIdx = reinterpret_cast<const int32_t*>(arena + c.colIdx);
  const int32_t* partial = reinterpret_cast<const int32_t*>(arena + c.partial);
  for (int64_t e = 0; e < nnz; ++e) {
    if (colIdx[e] < 0 || colIdx[e] >= c.numKBlocks) return "attention call: a mask tile's key block is out of range";
    if (partial[e] < -1 || partial[e] >= bitTiles) return "attention call: a mask tile's bit tile is out of range";
  }
  return nullptr;
}

// Positions: the lists fit their regions and the default query positions stay inside int32 (the
// values themselves are any int32: the kernels only subtract them and look up RoPE rows the module
// builds itself).
const char* checkPositions(const AttentionCall& c) {
  if (c.qpos != 0 && !floatsFit(c.qposBytes, static_cast<uint64_t>(c.Sq))) return "attention call: the query positions do not fit their region";
  if (c.kpos == 0 && c.kposStride != 0) return "attention call: a key position stride without key positions";
  if (c.kposStride != 0 && c.kposStride != c.Sk) return "attention call: the key position stride must be 0 or seqK";
  const uint64_t keys = static_cast<uint64_t>(c.kposStride ? c.Hkv : 1) * static_cast<uint64_t>(c.Sk);
  if (c.kpos != 0 && !floatsFit(c.kposBytes, keys)) return "attention call: the key positions do not fit their region";
  if (c.qpos == 0 && static_cast<int64_t>(c.shift) + c.Sq - 1 > INT32_MAX) return "attention call: the query positions leave int32";
  if (c.keyMass != 0 && !floatsFit(c.keyMassBytes, static_cast<uint64_t>(c.B) * c.Hkv * c.Sk)) return "attention call: keyMass does not fit";
  // the records of split rows: one int64 offset per partial result (their sizes: cutWork)
  if (c.keyMass != 0 && !floatsFit(c.massOffsetsBytes, 2 * static_cast<uint64_t>(c.partialSlots))) {
    return "attention call: the key-mass offsets do not fit their region";
  }
  return nullptr;
}

const char* checkRopeAndScores(const AttentionCall& c, const cpu::Plan& P) {
  if (c.alibi != 0 && !floatsFit(c.alibiBytes, static_cast<uint64_t>(c.Hq))) return "attention call: ALiBi slopes do not fit";
  if (c.rope) {
    if (c.ropeDims < 2 || c.ropeDims % 2 != 0 || c.ropeDims > c.D || !(c.ropeBase > 1.f)) {
      return "attention call: bad RoPE dimensions or base";
    }
    const uint64_t entries = static_cast<uint64_t>(ropeTableRows(P)) * (c.ropeDims / 2);
    if (c.ropeCos == 0 || c.ropeSin == 0 || !floatsFit(c.ropeCosBytes, entries) || !floatsFit(c.ropeSinBytes, entries)) {
      return "attention call: the RoPE tables do not fit their regions";
    }
    if ((P.qpos || P.kpos) && (c.ropeRowQ == 0 || c.ropeRowK == 0 || !floatsFit(c.ropeRowQBytes, static_cast<uint64_t>(c.Sq)) ||
                               !floatsFit(c.ropeRowKBytes, static_cast<uint64_t>(c.Hkv) * c.Sk))) {
      return "attention call: the RoPE rows do not fit their regions";
    }
  }
  return nullptr;
}

// The work regions' sizes (schedule.cpp writes the items into them once the call is checked).
const char* checkWork(const AttentionCall& c) {
  if (c.itemCount < 0 || c.mergeCount < 0 || c.partialSlots < 0) return "attention call: negative work counts";
  if (!floatsFit(c.itemsBytes, 7 * static_cast<uint64_t>(c.itemCount)) ||
      !floatsFit(c.mergesBytes, 8 * static_cast<uint64_t>(c.mergeCount))) {
    return "attention call: the work items do not fit their regions";
  }
  const uint64_t stride = cpu::partialStride(cpu::wasm::paddedHeadDim(c.D));
  if (!floatsFit(c.partialsBytes, stride * static_cast<uint64_t>(c.partialSlots))) {
    return "attention call: the partial results do not fit their region";
  }
  return nullptr;
}

}  // namespace

const char* checkAttention(const uint8_t* arena) {
  const AttentionCall& c = *reinterpret_cast<const AttentionCall*>(arena);
  const uint32_t n = c.arenaBytes, rec = sizeof(AttentionCall);
  if (n < rec) return "attention call: the arena is smaller than its record";
  if (c.cancel != 0 && !regionOk(n, rec, c.cancel, 4)) return "attention call: the cancel flag lies outside the arena";
  const uint32_t regions[][2] = {
      {c.q, c.qBytes}, {c.k, c.kBytes}, {c.v, c.vBytes}, {c.out, c.outBytes}, {c.lse, c.lseBytes},
      {c.rowPtr, c.rowPtrBytes}, {c.colIdx, c.colIdxBytes}, {c.partial, c.partialBytes}, {c.bits, c.bitsBytes},
      {c.alibi, c.alibiBytes}, {c.ropeCos, c.ropeCosBytes}, {c.ropeSin, c.ropeSinBytes}, {c.items, c.itemsBytes},
      {c.merges, c.mergesBytes}, {c.partials, c.partialsBytes}, {c.qpos, c.qposBytes}, {c.kpos, c.kposBytes},
      {c.ropeRowQ, c.ropeRowQBytes}, {c.ropeRowK, c.ropeRowKBytes}, {c.keyMass, c.keyMassBytes},
      {c.massParts, c.massPartsBytes}, {c.massOffsets, c.massOffsetsBytes}};
  for (const auto& r : regions)
    if (!regionOk(n, rec, r[0], r[1])) return "attention call: a region lies outside the arena";
  if (c.B < 0 || c.Hq < 0 || c.Sq < 0 || c.Sk < 0 || c.D < 1 || c.Hkv < 1 || c.Hq % c.Hkv != 0 || !validDType(c.dtype)) {
    return "attention call: bad shapes or dtype";
  }
  const int64_t qShape[4] = {c.B, c.Hq, c.Sq, c.D}, kvShape[4] = {c.B, c.Hkv, c.Sk, c.D};
  const int32_t qs[4] = {c.qS0, c.qS1, c.qS2, c.qS3}, ks[4] = {c.kS0, c.kS1, c.kS2, c.kS3};
  const int32_t vs[4] = {c.vS0, c.vS1, c.vS2, c.vS3}, os[4] = {c.outS0, c.outS1, c.outS2, c.outS3};
  if (!viewFits(qShape, qs, c.dtype, c.q, c.qBytes) || !viewFits(kvShape, ks, c.dtype, c.k, c.kBytes) ||
      !viewFits(kvShape, vs, c.dtype, c.v, c.vBytes) || !viewFits(qShape, os, c.dtype, c.out, c.outBytes)) {
    return "attention call: a view reaches past its region";
  }
  if (c.lse != 0 && !floatsFit(c.lseBytes, static_cast<uint64_t>(c.B) * c.Hq * c.Sq)) return "attention call: lse does not fit";
  if (const char* e = checkMask(c, arena)) return e;
  if (const char* e = checkPositions(c)) return e;
  if (const char* e = checkRopeAndScores(c, positionsPlan(c, arena))) return e;
  return checkWork(c);
}

const char* checkLinear(const uint8_t* arena) {
  const LinearCall& c = *reinterpret_cast<const LinearCall*>(arena);
  const uint32_t n = c.arenaBytes, rec = sizeof(LinearCall);
  if (n < rec) return "linear attention call: the arena is smaller than its record";
  if (c.cancel != 0 && !regionOk(n, rec, c.cancel, 4)) return "linear attention call: the cancel flag lies outside the arena";
  const uint32_t regions[][2] = {{c.q, c.qBytes},           {c.k, c.kBytes},         {c.v, c.vBytes},
                                 {c.out, c.outBytes},       {c.favorWT, c.favorWTBytes}, {c.decayHead, c.decayHeadBytes},
                                 {c.gates, c.gatesBytes},   {c.initS, c.initSBytes}, {c.initZ, c.initZBytes},
                                 {c.stateS, c.stateSBytes}, {c.stateZ, c.stateZBytes}};
  for (const auto& r : regions)
    if (!regionOk(n, rec, r[0], r[1])) return "linear attention call: a region lies outside the arena";
  const bool favor = c.featureMap == static_cast<int32_t>(LinearFeatureMap::Favor);
  if (c.B < 0 || c.Hq < 0 || c.N < 0 || c.Dk < 1 || c.Dv < 1 || c.Hkv < 1 || c.Hq % c.Hkv != 0 || !validDType(c.dtype) ||
      c.featureMap < 0 || c.featureMap > 3 || c.Df < 1 || (!favor && c.Df != c.Dk) || c.chunk < 1 || c.chunk > 256) {
    return "linear attention call: bad shapes, dtype, feature map or chunk";
  }
  const int64_t qShape[4] = {c.B, c.Hq, c.N, c.Dk}, kShape[4] = {c.B, c.Hkv, c.N, c.Dk};
  const int64_t vShape[4] = {c.B, c.Hkv, c.N, c.Dv}, oShape[4] = {c.B, c.Hq, c.N, c.Dv};
  const int32_t qs[4] = {c.qS0, c.qS1, c.qS2, c.qS3}, ks[4] = {c.kS0, c.kS1, c.kS2, c.kS3};
  const int32_t vs[4] = {c.vS0, c.vS1, c.vS2, c.vS3}, os[4] = {c.outS0, c.outS1, c.outS2, c.outS3};
  if (!viewFits(qShape, qs, c.dtype, c.q, c.qBytes) || !viewFits(kShape, ks, c.dtype, c.k, c.kBytes) ||
      !viewFits(vShape, vs, c.dtype, c.v, c.vBytes) || !viewFits(oShape, os, c.dtype, c.out, c.outBytes)) {
    return "linear attention call: a view reaches past its region";
  }
  if (favor && (c.favorWT == 0 || !floatsFit(c.favorWTBytes, static_cast<uint64_t>(c.Dk) * cpu::linear::roundUp(c.Df, cpu::wasm::kLinearKernel.lanes)))) {
    return "linear attention call: the favor weights do not fit their region";
  }
  if (!(c.eps >= 0.f && c.eps <= 3.4e38f)) return "linear attention call: eps must be finite and >= 0";
  // Gates: every γ in (0, 1] (the kernel's products of gates rely on it).
  const uint8_t* base = arena;
  if (c.decay == static_cast<int32_t>(LinearDecay::PerHead)) {
    if (c.decayHead == 0 || !floatsFit(c.decayHeadBytes, static_cast<uint64_t>(c.Hq))) return "linear attention call: per-head decay does not fit";
    const float* g = reinterpret_cast<const float*>(base + c.decayHead);
    for (int32_t h = 0; h < c.Hq; ++h)
      if (!(g[h] > 0.f && g[h] <= 1.f)) return "linear attention call: a decay is outside (0, 1]";
  } else if (c.decay == static_cast<int32_t>(LinearDecay::PerStep) || c.decay == static_cast<int32_t>(LinearDecay::PerStepFeature)) {
    const bool feature = c.decay == static_cast<int32_t>(LinearDecay::PerStepFeature);
    const int64_t gShape[4] = {c.B, c.Hq, c.N, feature ? c.Df : 1};
    const int32_t gs[4] = {c.gateS0, c.gateS1, c.gateS2, feature ? c.gateS3 : 0};
    if (!viewFits(gShape, gs, 0, c.gates, c.gatesBytes)) return "linear attention call: the gates reach past their region";
    const float* g = reinterpret_cast<const float*>(base + c.gates);
    for (int64_t b = 0; b < gShape[0]; ++b)
      for (int64_t h = 0; h < gShape[1]; ++h)
        for (int64_t t = 0; t < gShape[2]; ++t)
          for (int64_t f = 0; f < gShape[3]; ++f) {
            const float x = g[b * gs[0] + h * gs[1] + t * gs[2] + f * gs[3]];
            if (!(x > 0.f && x <= 1.f)) return "linear attention call: a gate is outside (0, 1]";
          }
  } else if (c.decay != static_cast<int32_t>(LinearDecay::None)) {
    return "linear attention call: unknown decay";
  }
  const uint64_t sFloats = static_cast<uint64_t>(c.B) * c.Hq * c.Df * c.Dv, zFloats = static_cast<uint64_t>(c.B) * c.Hq * c.Df;
  if ((c.initS == 0) != (c.initZ == 0) || (c.stateS == 0) != (c.stateZ == 0)) return "linear attention call: S and z go together";
  if (c.initS != 0 && (!floatsFit(c.initSBytes, sFloats) || !floatsFit(c.initZBytes, zFloats))) return "linear attention call: the initial state does not fit";
  if (c.stateS != 0 && (!floatsFit(c.stateSBytes, sFloats) || !floatsFit(c.stateZBytes, zFloats))) return "linear attention call: the state does not fit";
  return nullptr;
}

}  // namespace calls
}  // namespace attnflow
