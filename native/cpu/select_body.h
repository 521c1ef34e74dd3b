// Quest block scores (option `select`), written once against GCC vector types and compiled twice:
// select_portable.cpp (baseline instruction set) and select_avx2.cpp (-mavx2). The including file
// opens its own namespace. The arithmetic is fixed so that lib/select/quest.ts reproduces it bit
// for bit: per head dim d, a = q_d * min_d and b = q_d * max_d rounded to float32, m = a > b ? a : b,
// added in float32 into lane d mod 8 of an 8-lane accumulator (lanes past headDim add 0), lanes
// summed as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).

namespace {

typedef float F8 __attribute__((vector_size(32)));

// v = p[0 .. n), zeros past n (by reference: a 32-byte vector returned by value changes the ABI
// of the portable build)
static inline void load8(F8& v, const float* p, int n) {
  if (n >= 8) {
    __builtin_memcpy(&v, p, sizeof v);
  } else {
    v = F8{0, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < n; ++i) v[i] = p[i];
  }
}

// The bound of one query row against one block (no fused multiply-add: the products round first).
__attribute__((optimize("fp-contract=off"))) static inline float blockScore(const float* q, const float* mn, const float* mx, int D) {
  F8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int d = 0; d < D; d += 8) {
    const int n = D - d < 8 ? D - d : 8;
    F8 x, lo, hi;
    load8(x, q + d, n);
    load8(lo, mn + d, n);
    load8(hi, mx + d, n);
    const F8 a = x * lo;
    const F8 b = x * hi;
    acc += a > b ? a : b;
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// score[kb] = the largest bound over the rows for blocks with flags[kb] == 1 (NaN counts as +inf).
static void scoreBlocks(const attnflow::QuestSelectParams& p, float* score) {
  const int D = p.headDim;
  for (int kb = 0; kb < p.numBlocks; ++kb) {
    if (p.flags[kb] != 1) continue;
    const float* mn = p.min + p.boundsOffset + static_cast<int64_t>(kb) * D;
    const float* mx = p.max + p.boundsOffset + static_cast<int64_t>(kb) * D;
    float best = -__builtin_inff();
    bool nan = false;
    for (int r = 0; r < p.rows; ++r) {
      const float s = blockScore(p.q + static_cast<int64_t>(r) * D, mn, mx, D);
      if (s != s) nan = true;
      else if (s > best) best = s;
    }
    score[kb] = nan ? __builtin_inff() : best;
  }
}

}  // namespace
