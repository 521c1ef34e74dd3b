// The work of an attention call in the WebAssembly build, cut and ordered by
// native/cpu/schedule_cut.h exactly as the native backend cuts a call for its thread pool:
// counted before the call's arena is laid out (af_attention_count_work sizes its regions), then
// written into the arena (cutWork, when the call is checked), where the workers take the items in
// turn.
#include "schedule.h"

#include "calls.h"
#include "exports.h"
#include "kernels.h"
#include "schedule_cut.h"

namespace attnflow {
namespace calls {
namespace {

using cpu::Item;

// What the cut reads of a call: shapes and the mask's row pointers.
cpu::Plan cutPlan(int32_t B, int32_t Hq, int32_t Hkv, int32_t Sq, int32_t maskHeads, int32_t numQBlocks,
                  const int32_t* rowPtr) {
  cpu::Plan P{};
  P.B = B;
  P.Hq = Hq;
  P.Hkv = Hkv;
  P.Sq = Sq;
  P.group = Hq / Hkv;
  P.maskHeads = maskHeads;
  P.numQBlocks = numQBlocks;
  P.rowPtr = rowPtr;
  P.lanes = cpu::wasm::kAttentionKernel.lanes;  // sizes the key-mass records (massItemFloats)
  return P;
}

// Key-mass records (kernel.h's massItemFloats): the items of split rows keep theirs in massParts,
// one after another in slot order, as native/cpu/schedule.cpp lays them out; the others in their
// thread's scratch, which holds the largest.
struct Count {
  const cpu::Plan& P;
  int32_t items = 0, merges = 0, slots = 0;
  int64_t massParts = 0, massScratch = 0;
  void item(const Item& it) {
    ++items;
    const int64_t need = static_cast<int64_t>(cpu::massItemFloats(P, it));
    if (it.slot >= 0) massParts += need;
    else if (need > massScratch) massScratch = need;
  }
  void split(const Item&, int32_t parts) {
    ++merges;
    slots += parts;
  }
};

// Writes items (7 int32 each, as Item) and split rows (an Item and its part count: 8 int32) while
// they fit the regions; counts them all.
struct Write {
  Item* items;
  int32_t* merges;
  int32_t itemRoom, mergeRoom;
  int64_t* massOffsets;  // [slots], or null without key masses
  int32_t massRoom;
  Count n;
  void item(const Item& it) {
    if (n.items < itemRoom) items[n.items] = it;
    if (massOffsets && it.slot >= 0 && it.slot < massRoom) massOffsets[it.slot] = n.massParts;
    n.item(it);
  }
  void split(const Item& first, int32_t parts) {
    if (n.merges < mergeRoom) {
      int32_t* m = merges + 8 * static_cast<int64_t>(n.merges);
      const int32_t fields[8] = {first.b, first.h, first.qb, first.ng, first.e0, first.e1, first.slot, parts};
      for (int f = 0; f < 8; ++f) m[f] = fields[f];
    }
    n.split(first, parts);
  }
};

// Puts the items in the order threads take them (cut::takenBefore), stably. Insertion sort: no
// memory beyond the items; its moves are quadratic only in the items of one (batch, kv head)
// group, which stay few against the key tiles those items run.
void order(const cpu::Plan& P, Item* items, int32_t n) {
  for (int32_t i = 1; i < n; ++i) {
    const Item x = items[i];
    int32_t j = i;
    for (; j > 0 && cpu::cut::takenBefore(P, x, items[j - 1]); --j) items[j] = items[j - 1];
    items[j] = x;
  }
}

}  // namespace

const char* cutWork(uint8_t* arena) {
  const AttentionCall& c = *reinterpret_cast<const AttentionCall*>(arena);
  if (c.threads < 1) return "attention call: the work is cut for no threads";
  const cpu::Plan P = cutPlan(c.B, c.Hq, c.Hkv, c.Sq, c.maskHeads, c.numQBlocks,
                              reinterpret_cast<const int32_t*>(arena + c.rowPtr));
  Item* items = c.items ? reinterpret_cast<Item*>(arena + c.items) : nullptr;
  int64_t* massOffsets = c.keyMass && c.massOffsets ? reinterpret_cast<int64_t*>(arena + c.massOffsets) : nullptr;
  Write w{items, c.merges ? reinterpret_cast<int32_t*>(arena + c.merges) : nullptr,
          static_cast<int32_t>(c.itemsBytes / sizeof(Item)), static_cast<int32_t>(c.mergesBytes / 32), massOffsets,
          static_cast<int32_t>(c.massOffsetsBytes / 8), Count{P}};
  if (!items) w.itemRoom = 0;
  if (!w.merges) w.mergeRoom = 0;
  if (c.Hq > 0) cpu::cut::cutItems(P, static_cast<unsigned>(c.threads), w);  // no heads: no work (and no group)
  if (w.n.items != c.itemCount || w.n.merges != c.mergeCount || w.n.slots != c.partialSlots || w.n.items > w.itemRoom ||
      w.n.merges > w.mergeRoom) {
    return "attention call: the work items do not fit their regions";
  }
  if (c.keyMass && (w.n.slots > w.massRoom || (w.n.massParts > 0 && c.massParts == 0) ||
                    static_cast<uint64_t>(w.n.massParts) * 4 > c.massPartsBytes || w.n.massScratch > c.massScratch)) {
    return "attention call: the key-mass records do not fit their regions";
  }
  order(P, items, w.n.items);
  return nullptr;
}

}  // namespace calls
}  // namespace attnflow

using namespace attnflow;

// Counts the work items, split rows and partial results of a call of these shapes, whose mask has
// the row pointers rowPtr[0, rowPtrLen), cut for `threads` threads, into out[0..2], and the floats
// of key-mass records (all split rows' in massParts, the largest other item's) into out[3..4]. 0,
// or -1 when the arguments are inconsistent (nothing written).
ATTNFLOW_EXPORT(af_attention_count_work)
int32_t af_attention_count_work(const int32_t* rowPtr, int32_t rowPtrLen, int32_t B, int32_t Hq, int32_t Hkv, int32_t Sq,
                                int32_t maskHeads, int32_t numQBlocks, int32_t threads, int32_t* out) {
  if (B < 0 || Hq < 0 || Hkv < 1 || Hq % Hkv != 0 || Sq < 0 || threads < 1 || maskHeads < 1 || Hq % maskHeads != 0 ||
      numQBlocks != (Sq + cpu::kBQ - 1) / cpu::kBQ) {
    return -1;
  }
  const int64_t rows = static_cast<int64_t>(maskHeads) * numQBlocks;
  if (rowPtrLen < rows + 1 || rowPtr[0] != 0) return -1;
  for (int64_t r = 0; r < rows; ++r)
    if (rowPtr[r + 1] < rowPtr[r]) return -1;
  const cpu::Plan P = calls::cutPlan(B, Hq, Hkv, Sq, maskHeads, numQBlocks, rowPtr);
  calls::Count n{P};
  if (Hq > 0) cpu::cut::cutItems(P, static_cast<unsigned>(threads), n);  // no heads: no work (and no group)
  // past 2^30 floats the records cannot be laid out in 32-bit memory: say so (the caller refuses)
  constexpr int64_t kMaxFloats = int64_t{1} << 30;
  out[0] = n.items;
  out[1] = n.merges;
  out[2] = n.slots;
  out[3] = static_cast<int32_t>(n.massParts < kMaxFloats ? n.massParts : kMaxFloats);
  out[4] = static_cast<int32_t>(n.massScratch < kMaxFloats ? n.massScratch : kMaxFloats);
  return 0;
}
