// Partial tiles' allow-masks transposed (static inline: each translation unit, built with its own
// instruction-set flags, keeps its own copy), so a key's mask is one 64-bit word over the query
// columns (the kernels' S^T layout). Scalar code with no instruction-set flags: the kernels
// (kernel_body.h, per instruction set) and the plan (plan.cpp, once per call) both use it.
#pragma once

#include <cstdint>

namespace attnflow {
namespace cpu {

// In-place transpose of a 64 x 64 bit matrix (row r = A[r], column c = bit c).
static inline void transpose64(uint64_t* A) {
  uint64_t m = 0x00000000FFFFFFFFull;
  for (int j = 32; j != 0; j >>= 1, m ^= m << j) {
    for (int k = 0; k < 64; k = ((k | j) + 1) & ~j) {
      const uint64_t t = ((A[k] >> j) ^ A[k | j]) & m;
      A[k] ^= t << j;
      A[k | j] ^= t;
    }
  }
}

// The transposed allow-mask of a partial tile (64 x 64 bits, two words per query row): T[j] bit c
// = column c may read key j, where column c is query row c % nqi of the tile (nq columns: the
// rows times the heads packed into the tile).
static inline void transposeMask(const uint32_t* tileBits, int nqi, int nq, uint64_t* T) {
  for (int c = 0; c < 64; ++c) {
    const int r = c < nq ? c % nqi : 0;
    T[c] = c < nq ? (static_cast<uint64_t>(tileBits[2 * r]) | static_cast<uint64_t>(tileBits[2 * r + 1]) << 32) : 0;
  }
  transpose64(T);
}

}  // namespace cpu
}  // namespace attnflow
