// Internal interface of the CPU backend: the plan of one call (plain data, no code), the work
// items the scheduler hands to threads, per-thread scratch, and the table of kernels for one
// instruction set. The kernel bodies are compiled twice (kernel_portable.cpp for any CPU,
// kernel_avx2.cpp with AVX2/FMA/F16C) from kernel_body.h; the forward driver picks a table at
// run time. Nothing in this header emits code, so both translation units can share it safely.
#pragma once

#include <cstddef>
#include <cstdint>

#include "attnflow.h"

namespace attnflow {
namespace cpu {

// The CPU tile: masks for this backend are compiled with exactly this shape.
constexpr int kBQ = 64;
constexpr int kBK = 64;

struct OperandPlan {
  const void* data;
  DType dtype;
  int64_t sb, sh, ss, sd;  // element strides of batch, head, seq, headDim
};

struct Plan {
  int32_t B, Hq, Hkv, Sq, Sk, D;
  int32_t Dp;     // D rounded up to a multiple of 8 (row stride of O and packed V)
  int32_t group;  // Hq / Hkv
  int64_t shift;  // query i sits at position i + shift, unless qpos
  const int32_t* qpos;  // [Sq] query positions, or null
  const int32_t* kpos;  // key positions (negative: empty slot) at kpos[hk * kposStride + j], or null: key j at j
  int64_t kposStride;   // Sk, or 0 when one list serves every kv head
  OperandPlan q, k, v;
  void* out;
  DType outType;
  int64_t osb, osh, oss, osd;
  float* lse;  // contiguous [B, Hq, Sq] or null

  // mask (CSR over kBQ x kBK tiles)
  const int32_t* rowPtr;
  const int32_t* colIdx;
  const int32_t* partial;
  const uint32_t* bits;
  int32_t maskHeads, numQBlocks, numKBlocks, wordsPerRow;

  // Scores are kept in log2 units (so the softmax uses exp2): s2 = log2(e) * s.
  float qScale;      // multiplies q: scale, times log2(e) when there is no softcap
  bool softcap;      // apply s <- cap * tanh(s / cap) (then convert to log2 units)
  float capInv;      // 1 / cap
  float capOut;      // cap * log2(e)
  const float* alibi2;  // per query head slope * log2(e), or null

  // RoPE: cos/sin tables [row][dims/2]. Without explicit positions row = pos - ropeLo (positions
  // [ropeLo, Sk)); with them, query i's row is ropeRowQ[i] and key (hk, j)'s ropeRowK[hk * Sk + j]
  // (-1: an empty slot, not rotated).
  bool rope, ropeInterleaved;
  int32_t ropeDims;
  int64_t ropeLo;
  const float* ropeCos;
  const float* ropeSin;
  const int32_t* ropeRowQ;
  const int32_t* ropeRowK;

  // Key masses (see AttentionParams::keyMass): [B][Hkv][Sk], zeroed by the driver, or null. An item
  // keeps each tile's probabilities and the max they are relative to in Scratch::mass
  // (massTileFloats(qw) per tile); rows split across items keep theirs in massParts at
  // massOffset[slot] until mergeRow, which knows the row's final max and sum.
  float* keyMass;
  float* massParts;
  const int64_t* massOffset;  // [slots]

  // How K and V tiles are read: straight from the caller's float32 buffer (direct) or copied /
  // converted (16-bit, RoPE, odd strides, streaming decode) into per-thread scratch first.
  bool kDirect, vDirect;
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

// Per-thread scratch (float32, 32-byte aligned), sized by scratchFloats(D).
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
  float* mass;   // key-mass record of the item (see Plan::keyMass), set per item by the driver
};

size_t scratchFloats(int D);
Scratch carveScratch(float* base, int D);

using RunItemFn = void (*)(const Plan&, const Item&, const Scratch&, float* partials);
// Merges the partials in slots [first.slot, first.slot + count) of the row that `first` describes.
using MergeRowFn = void (*)(const Plan&, const Scratch&, const Item& first, const float* partials, int32_t count);

struct KernelTable {
  const char* name;
  RunItemFn runItem;
  MergeRowFn mergeRow;
};

const KernelTable& portableKernels();
#if defined(__x86_64__) || defined(_M_X64)
const KernelTable& avx2Kernels();
#endif
#if defined(__aarch64__)
const KernelTable& neonKernels();
#endif

// Which kernel table calls use. By default the best the CPU supports; the environment variable
// ATTNFLOW_CPU_SIMD=scalar (or "portable") forces the portable path, and forceSimd overrides both
// (for tests). Returns the name of the table in use: "avx2", "neon" or "portable".
enum class Simd { Auto, Portable, Avx2, Neon };
void forceSimd(Simd s);
const char* activeSimd();
const KernelTable& activeKernels();

// Size of the shared thread pool (worker threads plus the one calling thread that may help).
unsigned poolThreads();

}  // namespace cpu
}  // namespace attnflow
