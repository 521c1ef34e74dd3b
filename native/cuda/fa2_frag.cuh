// Fragment geometry of the tensor-core kernel, as plain __host__ __device__ functions so that a
// host program (native/cuda/test/fragments_test.cpp) can check them against the PTX ISA's
// definitions of ldmatrix and mma.m16n8k16 without a GPU.
//
// Conventions (PTX ISA, "Matrix fragments for mma.m16n8k16" and "ldmatrix"): lane l of a warp has
// groupID g = l >> 2 and thread-in-group t = l & 3.
//   A (16 x 16, row-major), 4 x .b32: reg0 = A[g][2t, 2t+1], reg1 = A[g+8][2t, 2t+1],
//     reg2 = A[g][2t+8, 2t+9], reg3 = A[g+8][2t+8, 2t+9] (lower column in the low half).
//   B (16 x 8, K x N), 2 x .b32: reg0 = B[2t, 2t+1][g], reg1 = B[2t+8, 2t+9][g].
//   C/D (16 x 8, f32), 4 floats: c0, c1 = C[g][2t, 2t+1], c2, c3 = C[g+8][2t, 2t+1].
//   ldmatrix .x4: lanes 8i .. 8i+7 give the row addresses of 8 x 8 matrix i; the thread receives
//     in register i matrix i's row g, columns 2t, 2t+1 (with .trans: rows 2t, 2t+1 of column g).
#pragma once

#include "../core/hd.h"

namespace attnflow {
namespace fa2frag {

// Shared-memory tiles are row-major with a row stride of D + 8 elements: 16 bytes of padding
// per row, so the 8 row addresses of one ldmatrix hit 8 different 16-byte bank groups.
template <int D>
struct Smem {
  static constexpr int kStride = D + 8;
};

// Q (the A operand of S = Q K^T), 16 x 16 block at (row warp*16, column kk*16): the row and
// column whose address lane l gives to ldmatrix .x4 (non-transposed). Matrices: 0 = rows 0-7 /
// cols 0-7, 1 = rows 8-15 / cols 0-7, 2 = rows 0-7 / cols 8-15, 3 = rows 8-15 / cols 8-15,
// which are exactly A's reg0 .. reg3.
AF_HD int qRow(int lane) { return (lane & 7) + ((lane >> 3) & 1) * 8; }
AF_HD int qCol(int lane) { return (lane >> 4) * 8; }

// K (the B operand of S = Q K^T: B[k = d][n = key] = K[key][d]), keys jj*16 .. +15 and head
// dims kk*16 .. +15, ldmatrix .x4 non-transposed. Matrices: 0 = keys 0-7 / d 0-7, 1 = keys 0-7 /
// d 8-15, 2 = keys 8-15 / d 0-7, 3 = keys 8-15 / d 8-15: regs (0, 1) are B of the key block
// 2jj, regs (2, 3) B of the key block 2jj + 1.
AF_HD int kRow(int lane) { return (lane & 7) + (lane >> 4) * 8; }
AF_HD int kCol(int lane) { return ((lane >> 3) & 1) * 8; }

// V (the B operand of O = P V: B[k = key][n = d] = V[key][d]), keys kk*16 .. +15 and head dims
// dd*16 .. +15, ldmatrix .x4 .trans. Matrices: 0 = keys 0-7 / d 0-7, 1 = keys 8-15 / d 0-7,
// 2 = keys 0-7 / d 8-15, 3 = keys 8-15 / d 8-15: regs (0, 1) are B of the d block 2dd, regs
// (2, 3) B of the d block 2dd + 1.
AF_HD int vRow(int lane) { return (lane & 7) + ((lane >> 3) & 1) * 8; }
AF_HD int vCol(int lane) { return (lane >> 4) * 8; }

// The S accumulators s[j][c] (key block j of 8 keys, c = 0..3) become the A operand of P V for
// keys kk*16 .. +15: reg0 = (s[2kk][0], s[2kk][1]), reg1 = (s[2kk][2], s[2kk][3]),
// reg2 = (s[2kk+1][0], s[2kk+1][1]), reg3 = (s[2kk+1][2], s[2kk+1][3]).
AF_HD int pBlock(int kk, int reg) { return 2 * kk + (reg >> 1); }
AF_HD int pElem(int reg) { return (reg & 1) * 2; }  // first of the two accumulators packed

// Where accumulator c of a thread sits in its 16 x 8 block: row and column.
AF_HD int accRow(int lane, int c) { return (lane >> 2) + (c >> 1) * 8; }
AF_HD int accCol(int lane, int c) { return (lane & 3) * 2 + (c & 1); }

}  // namespace fa2frag
}  // namespace attnflow
