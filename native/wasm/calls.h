// The WebAssembly build's calls, as lib/wasm/ lays them out in linear memory. A call is one arena:
// a block of memory that holds a call record and every buffer the record names. Buffers are named
// by their byte offset from the arena's start (0: absent) and their size in bytes, so one arena
// works at any address (several worker instances over one shared memory, or a worker's own
// memory). Every field is 4 bytes wide (int32, uint32 or float32).
//
// Each record is declared once, as a list of fields (X-macros): the list makes the struct, and
// the module exports the field names in order (af_call_fields), from which lib/wasm/layout.ts
// finds each field's index. TypeScript never hard-codes an offset.
//
// TypeScript fills the record from a validated call (with the sizes of the work regions, which
// af_attention_count_work gives); attention.cpp completes the CPU kernels' Plan from it with
// native/cpu/plan_rules.h, as plan.cpp does; check.cpp checks it before any kernel reads it: a call whose regions, shapes
// or items do not agree is refused with a message, never run.
#pragma once

#include <cstdint>

// X(type, name): U = uint32 (offsets, sizes), I = int32, F = float32.
#define ATTNFLOW_OPERAND_FIELDS(X, n) \
  X(U, n) X(U, n##Bytes) X(I, n##S0) X(I, n##S1) X(I, n##S2) X(I, n##S3)

#define ATTNFLOW_ATTENTION_FIELDS(X)                                                              \
  X(U, arenaBytes)                                                                              \
  X(U, cancel) /* int32 flag: set (by another thread) to stop the call at its next work item */ \
  X(I, B) X(I, Hq) X(I, Hkv) X(I, Sq) X(I, Sk) X(I, D)                                          \
  X(I, dtype) /* of q, k, v and out (DType) */                                                  \
  ATTNFLOW_OPERAND_FIELDS(X, q) ATTNFLOW_OPERAND_FIELDS(X, k) ATTNFLOW_OPERAND_FIELDS(X, v)     \
  ATTNFLOW_OPERAND_FIELDS(X, out)                                                               \
  X(U, lse) X(U, lseBytes) /* float32 [B, Hq, Sq], or absent */                                 \
  /* the BlockMask: a CSR over the CPU tile */                                                  \
  X(U, rowPtr) X(U, rowPtrBytes) X(U, colIdx) X(U, colIdxBytes) X(U, partial) X(U, partialBytes) \
  X(U, bits) X(U, bitsBytes)                                                                    \
  X(I, maskHeads) X(I, numQBlocks) X(I, numKBlocks) X(I, wordsPerRow)                           \
  /* scores: the scale, the softcap (0: none), ALiBi slopes (float32 [Hq], turned into log2 */ \
  /* units in place when the call is checked) */                                                \
  X(F, scale) X(F, softcap) X(U, alibi) X(U, alibiBytes)                                        \
  /* positions (native/core/call.h): query i at shift + i, or qpos[i] (int32 [Sq]); key (hk, j) */ \
  /* at j, or kpos[hk * kposStride + j] (int32; kposStride Sk or 0: one list for every kv head) */ \
  X(I, shift) X(U, qpos) X(U, qposBytes) X(U, kpos) X(U, kposBytes) X(I, kposStride)             \
  X(I, rope) X(I, ropeInterleaved) X(I, ropeDims) X(F, ropeBase) X(I, ropeOffset)  \
  /* float32 [rows][dims/2] cos and sin (plan_rules.h: ropeTableRows), written by phase 0 */     \
  X(U, ropeCos) X(U, ropeCosBytes) X(U, ropeSin) X(U, ropeSinBytes)                             \
  /* with explicit positions: the table row of each query (int32 [Sq]) and key slot (int32 */   \
  /* [Hkv * Sk], -1: an empty slot), written when the call is checked */                        \
  X(U, ropeRowQ) X(U, ropeRowQBytes) X(U, ropeRowK) X(U, ropeRowKBytes)                         \
  /* key masses: float32 [B, Hkv, Sk], zeroed when the call is checked (the kernels add into */ \
  /* it); the records of split rows (massParts at int64 massOffsets[slot], written by the cut) */ \
  /* and the floats of each thread's record of a whole item (its scratch grows by that much) */ \
  X(U, keyMass) X(U, keyMassBytes) X(U, massParts) X(U, massPartsBytes)                         \
  X(U, massOffsets) X(U, massOffsetsBytes) X(U, massScratch)                                    \
  /* the work, cut for `threads` threads by the module (schedule.cpp) when the call is checked: */\
  /* items (Item: 7 int32), split rows to merge (Item + part count: 8 int32) */                 \
  X(I, threads) X(U, items) X(U, itemsBytes) X(I, itemCount)                                    \
  X(U, merges) X(U, mergesBytes) X(I, mergeCount)                                               \
  X(U, partials) X(U, partialsBytes) X(I, partialSlots)

#define ATTNFLOW_LINEAR_FIELDS(X)                                                                 \
  X(U, arenaBytes)                                                                              \
  X(U, cancel) /* int32 flag, as in the attention record */                                     \
  X(I, B) X(I, Hq) X(I, Hkv) X(I, N) X(I, Dk) X(I, Dv) X(I, Df) X(I, chunk)                     \
  X(I, dtype)                                                                                   \
  ATTNFLOW_OPERAND_FIELDS(X, q) ATTNFLOW_OPERAND_FIELDS(X, k) ATTNFLOW_OPERAND_FIELDS(X, v)     \
  ATTNFLOW_OPERAND_FIELDS(X, out)                                                               \
  X(I, featureMap) /* LinearFeatureMap */                                                       \
  X(U, favorWT) X(U, favorWTBytes) /* float32 [Dk][Df padded to lanes]: W transposed */       \
  X(F, favorScale) X(F, favorNorm)                                                              \
  X(I, decay) /* LinearDecay */                                                                 \
  X(U, decayHead) X(U, decayHeadBytes) /* float32 [Hq] */                                       \
  X(U, gates) X(U, gatesBytes) X(I, gateS0) X(I, gateS1) X(I, gateS2) X(I, gateS3)              \
  X(I, normalize) X(F, eps)                                                                     \
  /* float32 S [B, Hq, Df, Dv] and z [B, Hq, Df]: read (init) and written (state) */            \
  X(U, initS) X(U, initSBytes) X(U, initZ) X(U, initZBytes)                                     \
  X(U, stateS) X(U, stateSBytes) X(U, stateZ) X(U, stateZBytes)

namespace attnflow {
namespace calls {

using U = uint32_t;
using I = int32_t;
using F = float;

#define ATTNFLOW_FIELD(type, name) type name;
struct AttentionCall {
  ATTNFLOW_ATTENTION_FIELDS(ATTNFLOW_FIELD)
};
struct LinearCall {
  ATTNFLOW_LINEAR_FIELDS(ATTNFLOW_FIELD)
};
#undef ATTNFLOW_FIELD

}  // namespace calls
}  // namespace attnflow
