// Checks the tensor-core kernel's fragment geometry (fa2_frag.cuh) without a GPU: ldmatrix .x4
// (plain and .trans) and mma.m16n8k16 are emulated on the host exactly as the PTX ISA defines
// them, the kernel's loops (Q fragments, S = Q K^T over key blocks, P -> A fragments, O = P V
// over head-dim blocks, the accumulator -> (row, column) mapping used for masking and stores) are
// replayed with the same index functions, and the results are compared with plain matrix
// products. Integer-valued inputs keep every product exact.
//
//   g++ -std=c++17 -O1 -Wall -Wextra -I native/cuda native/cuda/test/fragments_test.cpp -o /tmp/fragments_test && /tmp/fragments_test
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "fa2_frag.cuh"

using namespace attnflow::fa2frag;

namespace {

// A .b32 register holding two 16-bit elements: lo = the lower column (lower address).
struct Reg {
  float lo = 0, hi = 0;
};

// ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16: addr[l] is the element offset lane l gives
// (row (l & 7) of matrix l >> 3); out[l][i] is register i of lane l.
void ldmatrixX4(const std::vector<float>& smem, const int (&addr)[32], bool trans, Reg (&out)[32][4]) {
  for (int i = 0; i < 4; ++i) {
    float m[8][8];
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c) m[r][c] = smem.at(static_cast<size_t>(addr[8 * i + r] + c));
    for (int l = 0; l < 32; ++l) {
      const int g = l >> 2, t = l & 3;
      if (!trans) {
        out[l][i].lo = m[g][2 * t];
        out[l][i].hi = m[g][2 * t + 1];
      } else {
        out[l][i].lo = m[2 * t][g];
        out[l][i].hi = m[2 * t + 1][g];
      }
    }
  }
}

// mma.sync.aligned.m16n8k16.row.col.f32: c[l][0..3] += A (16 x 16) * B (16 x 8) in the
// fragment layouts of the PTX ISA.
void mma(const Reg (&a)[32][4], const Reg (&b0)[32], const Reg (&b1)[32], float (&c)[32][4]) {
  float A[16][16], B[16][8], C[16][8];
  for (int l = 0; l < 32; ++l) {
    const int g = l >> 2, t = l & 3;
    A[g][2 * t] = a[l][0].lo;
    A[g][2 * t + 1] = a[l][0].hi;
    A[g + 8][2 * t] = a[l][1].lo;
    A[g + 8][2 * t + 1] = a[l][1].hi;
    A[g][2 * t + 8] = a[l][2].lo;
    A[g][2 * t + 9] = a[l][2].hi;
    A[g + 8][2 * t + 8] = a[l][3].lo;
    A[g + 8][2 * t + 9] = a[l][3].hi;
    B[2 * t][g] = b0[l].lo;
    B[2 * t + 1][g] = b0[l].hi;
    B[2 * t + 8][g] = b1[l].lo;
    B[2 * t + 9][g] = b1[l].hi;
    C[g][2 * t] = c[l][0];
    C[g][2 * t + 1] = c[l][1];
    C[g + 8][2 * t] = c[l][2];
    C[g + 8][2 * t + 1] = c[l][3];
  }
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 8; ++j) {
      float s = C[i][j];
      for (int k = 0; k < 16; ++k) s += A[i][k] * B[k][j];
      C[i][j] = s;
    }
  for (int l = 0; l < 32; ++l) {
    const int g = l >> 2, t = l & 3;
    c[l][0] = C[g][2 * t];
    c[l][1] = C[g][2 * t + 1];
    c[l][2] = C[g + 8][2 * t];
    c[l][3] = C[g + 8][2 * t + 1];
  }
}

int failures = 0;

void expectEq(float got, float want, const char* what, int a, int b, int c) {
  if (got != want) {
    if (++failures <= 10) std::printf("MISMATCH %s [%d][%d][%d]: got %g want %g\n", what, a, b, c, got, want);
  }
}

template <int D>
void checkHeadDim(unsigned seed) {
  constexpr int kStride = Smem<D>::kStride;
  constexpr int kRows = 64;
  std::srand(seed);
  auto rnd = [] { return static_cast<float>(std::rand() % 7 - 3); };
  // Q, K, V tiles in shared-memory layout (padding columns hold garbage that must never be read:
  // fill them with NaN so a stray read shows up).
  std::vector<float> sQ(kRows * kStride), sK(kRows * kStride), sV(kRows * kStride);
  for (auto* buf : {&sQ, &sK, &sV})
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < kStride; ++c) (*buf)[r * kStride + c] = c < D ? rnd() : __builtin_nanf("");
  // P: arbitrary small integers per (row, key), laid out as the S accumulators.
  std::vector<float> P(kRows * 64);
  for (auto& x : P) x = rnd();

  for (int warp = 0; warp < 4; ++warp) {
    // Q fragments, as the kernel loads them.
    Reg qf[D / 16][32][4];
    for (int kk = 0; kk < D / 16; ++kk) {
      int addr[32];
      for (int l = 0; l < 32; ++l) addr[l] = (warp * 16 + qRow(l)) * kStride + kk * 16 + qCol(l);
      ldmatrixX4(sQ, addr, false, qf[kk]);
    }
    // S = Q K^T over 64 keys.
    float s[8][32][4] = {};
    for (int kk = 0; kk < D / 16; ++kk)
      for (int jj = 0; jj < 4; ++jj) {
        int addr[32];
        for (int l = 0; l < 32; ++l) addr[l] = (jj * 16 + kRow(l)) * kStride + kk * 16 + kCol(l);
        Reg kf[32][4];
        ldmatrixX4(sK, addr, false, kf);
        Reg b[4][32];
        for (int l = 0; l < 32; ++l)
          for (int r = 0; r < 4; ++r) b[r][l] = kf[l][r];
        mma(qf[kk], b[0], b[1], s[2 * jj]);
        mma(qf[kk], b[2], b[3], s[2 * jj + 1]);
      }
    for (int j = 0; j < 8; ++j)
      for (int l = 0; l < 32; ++l)
        for (int c = 0; c < 4; ++c) {
          const int row = warp * 16 + accRow(l, c), key = j * 8 + accCol(l, c);
          float want = 0;
          for (int d = 0; d < D; ++d) want += sQ[row * kStride + d] * sK[key * kStride + d];
          expectEq(s[j][l][c], want, "S", row, key, D);
        }

    // O = P V with P taken from accumulator-layout registers.
    float pacc[8][32][4];
    for (int j = 0; j < 8; ++j)
      for (int l = 0; l < 32; ++l)
        for (int c = 0; c < 4; ++c) pacc[j][l][c] = P[(warp * 16 + accRow(l, c)) * 64 + j * 8 + accCol(l, c)];
    float o[D / 8][32][4] = {};
    for (int kk = 0; kk < 4; ++kk) {
      Reg pa[32][4];
      for (int l = 0; l < 32; ++l)
        for (int r = 0; r < 4; ++r) {
          const int jb = pBlock(kk, r), c = pElem(r);
          pa[l][r].lo = pacc[jb][l][c];
          pa[l][r].hi = pacc[jb][l][c + 1];
        }
      for (int dd = 0; dd < D / 16; ++dd) {
        int addr[32];
        for (int l = 0; l < 32; ++l) addr[l] = (kk * 16 + vRow(l)) * kStride + dd * 16 + vCol(l);
        Reg vf[32][4];
        ldmatrixX4(sV, addr, true, vf);
        Reg b[4][32];
        for (int l = 0; l < 32; ++l)
          for (int r = 0; r < 4; ++r) b[r][l] = vf[l][r];
        mma(pa, b[0], b[1], o[2 * dd]);
        mma(pa, b[2], b[3], o[2 * dd + 1]);
      }
    }
    for (int j = 0; j < D / 8; ++j)
      for (int l = 0; l < 32; ++l)
        for (int c = 0; c < 4; ++c) {
          const int row = warp * 16 + accRow(l, c), d = j * 8 + accCol(l, c);
          float want = 0;
          for (int key = 0; key < 64; ++key) want += P[row * 64 + key] * sV[key * kStride + d];
          expectEq(o[j][l][c], want, "O", row, d, D);
        }
  }
  // The kernel's row / column expressions: rows warp*16 + accRow(lane, 0) and + accRow(lane, 2)
  // (8 apart), the pair (c, c + 1) adjacent columns, as the packed output store assumes.
  for (int l = 0; l < 32; ++l) {
    if (accRow(l, 2) != accRow(l, 0) + 8 || accRow(l, 1) != accRow(l, 0) || accRow(l, 3) != accRow(l, 2)) {
      ++failures;
      std::printf("accRow layout broken at lane %d\n", l);
    }
    if (accCol(l, 1) != accCol(l, 0) + 1 || accCol(l, 2) != accCol(l, 0) || accCol(l, 0) % 2 != 0) {
      ++failures;
      std::printf("accCol layout broken at lane %d\n", l);
    }
  }
}

}  // namespace

int main() {
  for (unsigned seed = 1; seed <= 3; ++seed) {
    checkHeadDim<64>(seed);
    checkHeadDim<128>(seed);
  }
  if (failures) {
    std::printf("fragments_test: %d mismatches\n", failures);
    return 1;
  }
  std::printf("fragments_test: ok (ldmatrix/mma geometry of head dims 64 and 128)\n");
  return 0;
}
