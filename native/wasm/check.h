// The WebAssembly build's defensive checks of a call record (calls.h) and its arena, run before
// any kernel reads it. Each returns null when the call is well formed, else a message (a string
// constant) naming what is wrong.
#pragma once

#include <cstdint>

namespace attnflow {
namespace calls {

const char* checkAttention(const uint8_t* arena);
const char* checkLinear(const uint8_t* arena);

}  // namespace calls
}  // namespace attnflow
