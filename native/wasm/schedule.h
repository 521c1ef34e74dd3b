// The work of an attention call in the WebAssembly build (schedule.cpp).
#pragma once

#include <cstdint>

namespace attnflow {
namespace calls {

// Cuts the checked call in the arena into work items for record.threads threads and writes them,
// in the order threads take them, into its items and merges regions. Null when the cut fills
// them exactly (the counts af_attention_count_work gave), else what is wrong.
const char* cutWork(uint8_t* arena);

}  // namespace calls
}  // namespace attnflow
