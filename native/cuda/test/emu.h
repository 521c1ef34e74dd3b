// The emulated GPU the kernel tests run on (emu_runtime.cpp): one OS thread per CUDA thread,
// __syncthreads as a barrier of the block, warp shuffles, ballots, ldmatrix, mma.sync and the
// WMMA fragment operations as exchanges among the 32 threads of a warp, cp.async copied at once or
// at cp.async.wait_group. The device-side half of its interface is declared in the shim
// cuda_runtime.h (and mma.h); this is the test-side half.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include <cuda_runtime.h>

#include "attnflow.h"
#include "half.h"

namespace emu {

// Runs a grid of blocks of `block` threads one block at a time (blockIdx.x fastest). Shared
// memory is filled with 0xff (NaN in every dtype) before each block, so reading what the block
// never wrote shows up.
void launch(dim3 grid, unsigned block, size_t smemBytes, const std::function<void()>& kernel);
inline void launch(unsigned grid, unsigned block, size_t smemBytes, const std::function<void()>& kernel) {
  dim3 g;
  g.x = grid;
  launch(g, block, smemBytes, kernel);
}

// cp.async copies: true = deferred to cp.async.wait_group, false = done at once (both legal).
extern bool gDeferred;

// The global buffers cp.async may read (its sources are checked against them).
struct Range {
  const unsigned char* base;
  size_t bytes;
};
extern std::vector<Range> gGlobals;

// Element `at` of a buffer of dtype `dt` (float32, or 16-bit raw bits), as a double.
inline double storedValue(const std::vector<unsigned char>& bytes, int64_t at, attnflow::DType dt) {
  if (dt == attnflow::DType::F32) {
    float f;
    std::memcpy(&f, &bytes[at * 4], 4);
    return f;
  }
  uint16_t bits;
  std::memcpy(&bits, &bytes[at * 2], 2);
  return dt == attnflow::DType::F16 ? attnflow::cpu::halfToFloat(bits) : attnflow::cpu::bf16ToFloat(bits);
}

}  // namespace emu
