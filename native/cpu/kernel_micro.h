// The two register-blocked micro-kernels of the attention body (S^T = K Q^T and O += P V) and
// the finiteness scan of a V tile, against the vector primitives of simd_<isa>.h (kLanes floats
// per vector). Included by kernel_body.h inside its unnamed namespace.

// ---------------------------------------------------------------------------------------------
// Micro-kernel 1: S^T[j][i] = sum_d K[j][d] * Q^T[d][i] for R keys x C vectors of kLanes queries.
// With MAXF it also folds the block's column maxima into colMax (for tiles with nothing to apply
// to the scores before the softmax, this saves a pass over the tile).
template <int R, int C, bool MAXF>
static inline void stBlock(const float* __restrict k, int64_t ks, const float* __restrict qT, int qw, int D,
                           float* __restrict sT, float* __restrict colMax) {
  V acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = vzero();
  const float* kr[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) kr[r] = k + r * ks;
  const float* qp = qT;
  for (int d = 0; d < D; ++d, qp += qw) {
    V q[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) q[c] = vload(qp + kLanes * c);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V kb = vbcast(kr[r] + d);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) acc[r][c] = vfma(kb, q[c], acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) vstore(sT + r * qw + kLanes * c, acc[r][c]);
  if constexpr (MAXF) {
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      V mx = acc[0][c];
#pragma GCC unroll 8
      for (int r = 1; r < R; ++r) mx = vmax(mx, acc[r][c]);
      vstore(colMax + kLanes * c, vmax(vload(colMax + kLanes * c), mx));
    }
  } else {
    (void)colMax;
  }
}

template <int R, int C, bool MAXF>
static inline void stRows(int rows, const float* k, int64_t ks, const float* qT, int qw, int D, float* sT,
                          float* colMax) {
  if constexpr (R >= 1) {
    if (rows == R) {
      stBlock<R, C, MAXF>(k, ks, qT, qw, D, sT, colMax);
      return;
    }
    stRows<R - 1, C, MAXF>(rows, k, ks, qT, qw, D, sT, colMax);
  }
}

template <int C, bool MAXF>
static inline void stColumns(const float* k, int64_t ks, const float* qT, int qw, int D, int nk, float* sT,
                             float* colMax) {
  int j = 0;
  for (; j + kStR <= nk; j += kStR) stBlock<kStR, C, MAXF>(k + j * ks, ks, qT, qw, D, sT + j * qw, colMax);
  if (j < nk) stRows<kStR - 1, C, MAXF>(nk - j, k + j * ks, ks, qT, qw, D, sT + j * qw, colMax);
}

template <bool MAXF>
static void computeST(const float* k, int64_t ks, const float* qT, int qw, int D, int nk, float* sT, float* colMax) {
  const int nv = qw / kLanes;
  int c = 0;
  for (; c + kStC <= nv; c += kStC)
    stColumns<kStC, MAXF>(k, ks, qT + kLanes * c, qw, D, nk, sT + kLanes * c, MAXF ? colMax + kLanes * c : nullptr);
  for (; c < nv; ++c) stColumns<1, MAXF>(k, ks, qT + kLanes * c, qw, D, nk, sT + kLanes * c, MAXF ? colMax + kLanes * c : nullptr);
}

// ---------------------------------------------------------------------------------------------
// Micro-kernel 2: O[i][d] = alpha[i] * O[i][d] + sum_j P^T[j][i] * V[j][d] for R queries x C
// vectors of kLanes headDim columns.
template <int R, int C>
static inline void pvBlock(const float* __restrict pT, int qw, const float* __restrict v, int64_t vs, int nk,
                           float* __restrict o, int Dp, const float* __restrict alpha) {
  V acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const V a = vbcast(alpha + r);
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = vmul(vload(o + r * Dp + kLanes * c), a);
  }
  const float* pj = pT;
  const float* vj = v;
  for (int j = 0; j < nk; ++j, pj += qw, vj += vs) {
    V vv[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) vv[c] = vload(vj + kLanes * c);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V p = vbcast(pj + r);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) acc[r][c] = vfma(p, vv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) vstore(o + r * Dp + kLanes * c, acc[r][c]);
}

template <int R, int C>
static inline void pvRows(int rows, const float* pT, int qw, const float* v, int64_t vs, int nk, float* o, int Dp,
                          const float* alpha) {
  if constexpr (R >= 1) {
    if (rows == R) {
      pvBlock<R, C>(pT, qw, v, vs, nk, o, Dp, alpha);
      return;
    }
    pvRows<R - 1, C>(rows, pT, qw, v, vs, nk, o, Dp, alpha);
  }
}

template <int C>
static inline void pvColumns(const float* pT, int qw, const float* v, int64_t vs, int nk, int nq, float* o, int Dp,
                             const float* alpha) {
  int i = 0;
  for (; i + kPvR <= nq; i += kPvR) pvBlock<kPvR, C>(pT + i, qw, v, vs, nk, o + i * Dp, Dp, alpha + i);
  if (i < nq) pvRows<kPvR - 1, C>(nq - i, pT + i, qw, v, vs, nk, o + i * Dp, Dp, alpha + i);
}

static void computePV(const float* pT, int qw, const float* v, int64_t vs, int nk, int nq, float* o, int Dp,
                      const float* alpha) {
  const int nv = Dp / kLanes;
  int c = 0;
  for (; c + kPvC <= nv; c += kPvC) pvColumns<kPvC>(pT, qw, v + kLanes * c, vs, nk, nq, o + kLanes * c, Dp, alpha);
  for (; c < nv; ++c) pvColumns<1>(pT, qw, v + kLanes * c, vs, nk, nq, o + kLanes * c, Dp, alpha);
}

// Whether an nk x Dp tile of V (row stride vs) certainly holds only finite values: the sum of its
// values is finite (a sum overflowing to inf only sends the tile to the exact check of
// zeroNonFiniteRows). Eight independent accumulators, so the scan costs about one load per vector.
__attribute__((noinline)) static bool tileFinite(const float* v, int64_t vs, int nk, int Dp) {
  V a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero(), a4 = vzero(), a5 = vzero(), a6 = vzero(),
     a7 = vzero();
  int j = 0;
  for (; j + 4 <= nk; j += 4) {
    const float* r0 = v + j * vs;
    const float* r1 = r0 + vs;
    const float* r2 = r1 + vs;
    const float* r3 = r2 + vs;
    int d = 0;
    for (; d + 2 * kLanes <= Dp; d += 2 * kLanes) {
      a0 = vadd(a0, vload(r0 + d));
      a1 = vadd(a1, vload(r1 + d));
      a2 = vadd(a2, vload(r2 + d));
      a3 = vadd(a3, vload(r3 + d));
      a4 = vadd(a4, vload(r0 + d + kLanes));
      a5 = vadd(a5, vload(r1 + d + kLanes));
      a6 = vadd(a6, vload(r2 + d + kLanes));
      a7 = vadd(a7, vload(r3 + d + kLanes));
    }
    if (d < Dp) {
      a0 = vadd(a0, vload(r0 + d));
      a1 = vadd(a1, vload(r1 + d));
      a2 = vadd(a2, vload(r2 + d));
      a3 = vadd(a3, vload(r3 + d));
    }
  }
  for (; j < nk; ++j)
    for (int d = 0; d < Dp; d += kLanes) a0 = vadd(a0, vload(v + j * vs + d));
  float t[kLanes];
  vstore(t, vadd(vadd(vadd(a0, a1), vadd(a2, a3)), vadd(vadd(a4, a5), vadd(a6, a7))));
  float x = 0.f;
  for (int i = 0; i < kLanes; ++i) x += t[i] * 0.f;  // 0 for finite lanes, NaN for inf / NaN
  return x == 0.f;
}
