// Key masses (AttentionCall::keyMass) for the tiled kernel: included by kernel_body.h inside its
// unnamed namespace (so each instruction set's compilation gets its own copy), after imin and
// before runItemImpl, which records each tile's probabilities and finishes the masses. Scalar code:
// it runs once per visited key and query column, independent of the vector width (kLanes).
// No include guard on purpose: kernel_body.h includes it once per compilation.

// Key masses. Each tile's probabilities are relative to the running max m of their column at that
// tile; once the row's final max M and sum L are known (at the end of an item that owns its row, or
// in mergeRow for split rows), key j's mass is sum_c P[j][c] * exp2(m_c - M_c) / L_c over the
// columns (query rows) of the item. Only entries with P != 0 count: masked pairs (P = 0 exactly)
// never receive a NaN row's NaN.

static inline void atomicAddFloat(float* p, float v) {
  uint32_t* u = reinterpret_cast<uint32_t*>(p);
  uint32_t old = __atomic_load_n(u, __ATOMIC_RELAXED);
  for (;;) {
    float f;
    __builtin_memcpy(&f, &old, 4);
    f += v;
    uint32_t nw;
    __builtin_memcpy(&nw, &f, 4);
    if (__atomic_compare_exchange_n(u, &old, nw, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return;
  }
}

// Keeps tile e's probabilities (sT, nk rows of qw) and the maxima they are relative to.
static inline void recordMass(const Scratch& S, int slot, int nk, int qw) {
  float* rec = S.mass + static_cast<size_t>(slot) * massTileFloats(qw);
  for (int64_t x = 0, n = static_cast<int64_t>(nk) * qw; x < n; ++x) rec[x] = S.sT[x];
  float* mrec = rec + static_cast<size_t>(kBK) * qw;
  for (int c = 0; c < qw; ++c) mrec[c] = S.m[c] == -__builtin_inff() ? 0.f : S.m[c];
}

// Adds the masses of the tiles [e0, e1) recorded at `rec` (columns 0..nq-1 of width qw) for
// final maxima M and sums L of the columns.
static void addKeyMass(const Plan& P, const float* rec, int e0, int e1, int qw, int nq, int b, int hk, const float* M,
                       const float* L) {
  float w[kBQ];
  float* km = P.keyMass + (static_cast<int64_t>(b) * P.Hkv + hk) * P.Sk;
  for (int e = e0; e < e1; ++e, rec += massTileFloats(qw)) {
    const int j0 = P.colIdx[e] * kBK;
    const int nk = imin(kBK, P.Sk - j0);
    const float* mrec = rec + static_cast<size_t>(kBK) * qw;
    for (int c = 0; c < nq; ++c) {
      const float ms = M[c] == -__builtin_inff() ? 0.f : M[c];
      w[c] = L[c] == 0.f ? 0.f : __builtin_exp2f(mrec[c] - ms) / L[c];
    }
    for (int j = 0; j < nk; ++j) {
      const float* pj = rec + static_cast<int64_t>(j) * qw;
      float acc = 0.f;
      for (int c = 0; c < nq; ++c)
        if (pj[c] != 0.f) acc += pj[c] * w[c];
      if (acc != 0.f) atomicAddFloat(km + j0 + j, acc);  // NaN != 0 too
    }
  }
}

