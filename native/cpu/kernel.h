// Internal interface of the CPU attention backend: the plan of one call (the resolved call of
// native/core plus what the CPU kernels need), the work items the scheduler hands to threads,
// per-thread scratch, and the entry points of one instruction set's kernel. The kernel body
// (kernel_body.h) is compiled once per instruction set (kernel_<isa>.cpp, against the vector
// primitives of simd_<isa>.h); isa.h is the registry that picks one at run time. Nothing in this
// header emits code, so translation units built with different instruction-set flags share it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../core/call.h"
#include "attnflow_views.h"
#include "mask_transpose.h"

namespace attnflow {
namespace cpu {

// The CPU tile: masks for this backend are compiled with exactly this shape.
constexpr int kBQ = 64;
constexpr int kBK = 64;

using OperandPlan = core::Operand;

struct Plan : core::AttentionCall {
  int32_t lanes;  // the kernel's vector width: query columns are padded to multiples of it
  int32_t Dp;    // D rounded up to a multiple of the kernel's lanes (row stride of O and packed V)
  float qScale;  // multiplies q: scaleLog2, or scale when the softcap is applied to the scores

  // RoPE: cos/sin tables [row][dims/2]. Without explicit positions row = pos - ropeLo; with them,
  // query i's row is ropeRowQ[i] and key (hk, j)'s ropeRowK[hk * Sk + j] (-1: an empty slot, not
  // rotated).
  bool rope, ropeInterleaved;
  int32_t ropeDims;
  int64_t ropeLo;
  const float* ropeCos;
  const float* ropeSin;
  const int32_t* ropeRowQ;
  const int32_t* ropeRowK;

  // Key masses (AttentionCall::keyMass, zeroed by the driver): an item keeps each tile's
  // probabilities and the max they are relative to in Scratch::mass (massTileFloats per tile);
  // rows split across items keep theirs in massParts at massOffset[slot] until mergeRow, which
  // knows the row's final max and sum.
  float* massParts;
  const int64_t* massOffset;  // [slots]

  // How K and V tiles are read: straight from the caller's float32 buffer (direct) or copied /
  // converted (16-bit, RoPE, odd strides, streaming decode) into per-thread scratch first.
  bool kDirect, vDirect;
  // Every K/V tile is read by one item only (one query tile: decoding), so K/V stream from memory
  // once: always copied, each copy requesting the next tile's rows (plan_rules.h).
  bool kvStream;
  // q, k and v bfloat16, read as stored by the AVX512-BF16 dot-product path (kernel_bf16dot.h)
  bool bf16Dot;

  // Per-call caches the kernels may use (null: each item works it out itself, as the WebAssembly
  // build does). Both pay where a pattern gives each query tile few key tiles (sliding windows),
  // so per-tile work is a large share of an item.
  // bitsT: every partial tile's allow-mask transposed for a whole query tile (64 query rows, no
  // packed heads): bitsT[t * 64 + j] bit c = query row c may read key j. Heads sharing the mask
  // and query tiles sharing a tile reuse one transpose.
  const uint64_t* bitsT;
  // vFinite: per V tile (b, hk, key tile), whether its values are all finite: 0 not yet known,
  // 1 yes, 2 no. The first item to scan a tile records it (racing scans agree), so the partial
  // tiles' finiteness check (kernel_body.h) reads each V tile once per call.
  uint8_t* vFinite;
};

// One unit of work: query tile qb of batch b for heads h .. h + ng - 1 (ng > 1 packs the heads
// of one GQA group that share a mask into the tile's columns, so K/V tiles are read once for all
// of them: column c is query i0 + c % rows of head h + c / rows), against tile entries [e0, e1)
// of the (shared) mask row. When a row is split across several items (split-KV), each writes a
// partial result (unnormalised O, running max, sum) at partials + slot * partialStride(Dp);
// mergeRow combines them.
struct Item {
  int32_t b, h, qb, ng;
  int32_t e0, e1;
  int32_t slot;  // -1: the item owns the whole row and writes the output directly
};

static inline size_t partialStride(int Dp) { return static_cast<size_t>(kBQ) * Dp + 2 * kBQ; }

// Floats of key-mass record per tile of an item with qw columns: the probabilities [kBK][qw] and
// the max [qw] they are relative to.
static inline size_t massTileFloats(int qw) { return static_cast<size_t>(kBK) * qw + qw; }

// Floats of key-mass record of a whole item: its query columns (rows x packed heads) padded to
// whole vectors, for each of its tiles.
static inline size_t massItemFloats(const Plan& P, const Item& it) {
  const int rows = P.Sq - it.qb * kBQ < kBQ ? P.Sq - it.qb * kBQ : kBQ;
  const int qw = (rows * it.ng + P.lanes - 1) / P.lanes * P.lanes;
  return static_cast<size_t>(it.e1 - it.e0) * massTileFloats(qw);
}

// Per-thread scratch (float32; every buffer starts on a 64-byte boundary), sized by
// scratchFloats(D, Dp).
struct Scratch {
  float* qT;     // [D][kBQ]       Q tile transposed, scaled, rotated
  float* sT;     // [kBK][kBQ]     scores / probabilities transposed
  float* o;      // [kBQ][Dp]      output accumulator
  float* m;      // [kBQ]          running max (log2 units)
  float* l;      // [kBQ]          running sum
  float* alpha;  // [kBQ]          rescale factors of the current tile
  float* kBuf;   // [kBK][Dp]      converted K tile (first holds the query rows while packing qT)
  float* vBuf;   // [kBK][Dp]      converted V tile
  float* row;    // [Dp]           one converted row
  float* p2;     // [kBK/2][kBQ]   bf16 pairs of probabilities (the bf16 dot-product path)
  float* mass;   // key-mass record of the item (see Plan::massParts), set per item by the driver
  // The item this thread runs next (the pool hands it out before this one starts), or null: the
  // kernel brings its query rows into the cache while this item computes.
  const Item* next = nullptr;
};

size_t scratchFloats(int D, int Dp);
Scratch carveScratch(float* base, int D, int Dp);

using RunItemFn = void (*)(const Plan&, const Item&, const Scratch&, float* partials);
// Merges the partials in slots [first.slot, first.slot + count) of the row that `first` describes.
using MergeRowFn = void (*)(const Plan&, const Scratch&, const Item& first, const float* partials, int32_t count);
// Converts key tile kt of (b, hk) as the items would (K rotated; rows of Dp floats, V zero-padded)
// into kDst and / or vDst (null: not that one).
using ConvertTileFn = void (*)(const Plan&, int b, int hk, int kt, float* kDst, float* vDst);

// The attention entry points of one instruction set's kernel (defined by kernel_body.h).
struct AttentionKernel {
  int lanes;     // floats per vector: headDim and query columns are padded to multiples of it
  bool bf16Dot;  // has the bfloat16 dot-product path (Plan::bf16Dot)
  RunItemFn runItem;
  MergeRowFn mergeRow;
  ConvertTileFn convertTile;
};

// Size of the shared thread pool (worker threads plus the one calling thread that may help).
unsigned poolThreads();

}  // namespace cpu
}  // namespace attnflow
