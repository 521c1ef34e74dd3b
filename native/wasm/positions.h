// Positions in the WebAssembly build: the part of a call record that says where queries and keys
// sit (calls.h), as the CPU Plan holds it, and the RoPE rows of a call (plan_rules.h's rules, the
// ones native/cpu/plan.cpp follows), whose tables live in the call's arena.
#pragma once

#include <cstdint>

#include "calls.h"
#include "kernel.h"

namespace attnflow {
namespace calls {

// A Plan holding only the shapes and positions of the call (what core::queryPosition and
// core::keyPosition read); the regions must have been checked.
cpu::Plan positionsPlan(const AttentionCall& c, const uint8_t* arena);

// Rows of the RoPE tables of the call: [ropeLow, ropeHigh) without explicit positions; with them
// the dense range of plan_rules.h's RopeSpan, or (sparse) one row per query and per key slot of
// one kv head's list (every kv head's when each has its own): unlike plan.cpp the module keeps
// repeated positions as rows of their own, which needs no sort (each row is the same exact sincos).
int64_t ropeTableRows(const cpu::Plan& P);

// With explicit positions: the table row of each query (rowQ[Sq]) and key slot (rowK[Hkv * Sk],
// -1 for an empty slot), as Plan::ropeRowQ / ropeRowK.
void fillRopeRows(const cpu::Plan& P, int32_t* rowQ, int32_t* rowK);

// Column t of the RoPE tables (cos and sin of every row's position for frequency t, at stride
// dims/2), for the call's positions.
void ropeColumn(const cpu::Plan& P, float ropeBase, int32_t ropeOffset, float* cosT, float* sinT, int t);

}  // namespace calls
}  // namespace attnflow
