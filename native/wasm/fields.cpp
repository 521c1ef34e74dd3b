// The names of the call records' fields, in memory order, for lib/wasm/layout.ts: each entry is a
// type letter (U uint32, I int32, F float32) and a name, separated by spaces.
#include <cstddef>
#include <cstdint>

#include "calls.h"
#include "exports.h"
#include "kernels.h"

namespace {

#define ATTNFLOW_NAME(type, name) #type " " #name " "
constexpr char kAttentionFields[] = ATTNFLOW_ATTENTION_FIELDS(ATTNFLOW_NAME);
constexpr char kLinearFields[] = ATTNFLOW_LINEAR_FIELDS(ATTNFLOW_NAME);
#undef ATTNFLOW_NAME

// An Item is written as 7 int32 in this order (a split row to merge adds its part count).
constexpr char kItemFields[] = "I b I h I qb I ng I e0 I e1 I slot ";
static_assert(sizeof(attnflow::cpu::Item) == 28 && offsetof(attnflow::cpu::Item, qb) == 8 &&
                  offsetof(attnflow::cpu::Item, e0) == 16 && offsetof(attnflow::cpu::Item, slot) == 24,
              "Item is 7 int32: b h qb ng e0 e1 slot");

}  // namespace

// 0: AttentionCall, 1: LinearCall, 2: Item.
ATTNFLOW_EXPORT(af_call_fields) const char* af_call_fields(int32_t which) {
  return which == 0 ? kAttentionFields : which == 1 ? kLinearFields : kItemFields;
}

// Floats per vector of the kernels: head dimensions and feature counts are padded to it.
ATTNFLOW_EXPORT(af_lanes) int32_t af_lanes() { return attnflow::cpu::wasm::kAttentionKernel.lanes; }

// The tile masks for this build are compiled with (the CPU kernel's).
ATTNFLOW_EXPORT(af_tile_q) int32_t af_tile_q() { return attnflow::cpu::kBQ; }
ATTNFLOW_EXPORT(af_tile_k) int32_t af_tile_k() { return attnflow::cpu::kBK; }
