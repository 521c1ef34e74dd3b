// The two register-blocked micro-kernels of the attention body (S^T = K Q^T and O += P V) and
// the finiteness scan of a V tile, against the vector primitives of simd_<isa>.h (kLanes floats
// per vector). Included by kernel_body.h inside its unnamed namespace.

// ---------------------------------------------------------------------------------------------
// Micro-kernel 1: S^T[j][i] = sum_d K[j][d] * Q^T[d][i] for R keys x C vectors of kLanes queries.
// With MAXF it also folds the block's column maxima into colMax (for tiles with nothing to apply
// to the scores before the softmax, this saves a pass over the tile); with MASKF it first sets the
// scores whose mask bit is clear to -inf (bit maskShift + c of maskRows[r]: key r, column c).
template <int R, int C, bool MAXF, bool MASKF = false>
static inline void stBlock(const float* __restrict k, int64_t ks, const float* __restrict qT, int qw, int D,
                           float* __restrict sT, float* __restrict colMax, const uint64_t* maskRows = nullptr,
                           int maskShift = 0) {
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
  if constexpr (MASKF) {  // -inf where the mask bit is clear (before the maxima)
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c)
        acc[r][c] = vkeep(acc[r][c], static_cast<uint32_t>(maskRows[r] >> (maskShift + kLanes * c)) & kLaneBits);
  } else {
    (void)maskRows, (void)maskShift;
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

template <int R, int C, bool MAXF, bool MASKF = false>
static inline void stRows(int rows, const float* k, int64_t ks, const float* qT, int qw, int D, float* sT,
                          float* colMax, const uint64_t* maskRows = nullptr, int maskShift = 0) {
  if constexpr (R >= 1) {
    if (rows == R) {
      stBlock<R, C, MAXF, MASKF>(k, ks, qT, qw, D, sT, colMax, maskRows, maskShift);
      return;
    }
    stRows<R - 1, C, MAXF, MASKF>(rows, k, ks, qT, qw, D, sT, colMax, maskRows, maskShift);
  }
}

// Where S^T reads a tile's K rows: in place (row stride ks), or, through the kernel body's
// KConverted, converted one register block of rows at a time just before the block uses them.
struct KInPlace {
  const float* k;
  int64_t ks;
  const float* rows(int j, int /*n*/, int64_t* stride) const {
    *stride = ks;
    return k + j * ks;
  }
};

// Blocks of kStR keys, each against every vector of queries before the next keys, so that a block's
// K rows (converted ones included) are read from L1 by all its column blocks. pf: prefetches for
// the next item, a step after each block of keys (null: none).
template <bool MAXF, class KRows>
static void computeST(const KRows& src, const float* qT, int qw, int D, int nk, float* sT, float* colMax,
                      PrefetchSteps* pf = nullptr) {
  const int nv = qw / kLanes;
  for (int j = 0; j < nk; j += kStR) {
    const int rows = imin(kStR, nk - j);
    int64_t ks;
    const float* k = src.rows(j, rows, &ks);
    float* s = sT + j * qw;
    int c = 0;
    for (; c + kStC <= nv; c += kStC)
      stRows<kStR, kStC, MAXF>(rows, k, ks, qT + kLanes * c, qw, D, s + kLanes * c, MAXF ? colMax + kLanes * c : nullptr);
    for (; c < nv; ++c)
      stRows<kStR, 1, MAXF>(rows, k, ks, qT + kLanes * c, qw, D, s + kLanes * c, MAXF ? colMax + kLanes * c : nullptr);
    if (pf) prefetchStep(*pf);
  }
}

// S^T of a partial tile: only the blocks of kStR keys x vectors of kLanes queries that hold an allowed
// pair (maskT[j] bit c: column c may read key j). On the diagonal tile of a causal or
// sliding-window mask this skips about half of the work. Without FOLD the skipped scores are left
// unwritten (the softmax's mask pass sets every lane whose bit is clear to -inf); with FOLD (no
// softcap or ALiBi to apply first) the mask is applied to the computed blocks in registers, the
// rest is written -inf, and the column maxima are folded into colMax, so the softmax needs no
// pass of its own.
template <int R, bool FOLD>
static inline void stRowsCols(int rows, int cols, const float* k, int64_t ks, const float* qT, int qw, int D,
                              float* sT, float* colMax, const uint64_t* maskRows, int maskShift) {
  static_assert(kStC <= 4, "stRowsCols covers up to 4 vectors per block");
  switch (cols) {
    case 1: stRows<R, 1, FOLD, FOLD>(rows, k, ks, qT, qw, D, sT, colMax, maskRows, maskShift); break;
    case 2:
      if constexpr (kStC >= 2) stRows<R, 2, FOLD, FOLD>(rows, k, ks, qT, qw, D, sT, colMax, maskRows, maskShift);
      break;
    case 3:
      if constexpr (kStC >= 3) stRows<R, 3, FOLD, FOLD>(rows, k, ks, qT, qw, D, sT, colMax, maskRows, maskShift);
      break;
    default:
      if constexpr (kStC >= 4) stRows<R, 4, FOLD, FOLD>(rows, k, ks, qT, qw, D, sT, colMax, maskRows, maskShift);
      break;
  }
}

template <bool FOLD, class KRows>
static void computeSTMasked(const KRows& src, const float* qT, int qw, int D, int nk, float* sT,
                            const uint64_t* maskT, float* colMax, PrefetchSteps* pf = nullptr) {
  const int nv = qw / kLanes;
  const V ninf = vset1(-__builtin_inff());
  for (int j = 0; j < nk; j += kStR) {
    const int rows = imin(kStR, nk - j);
    uint64_t any = 0;
    for (int r = 0; r < rows; ++r) any |= maskT[j + r];
    const int cLo = any ? __builtin_ctzll(any) / kLanes : nv;
    const int cHi = any ? imin(nv, (63 - __builtin_clzll(any)) / kLanes + 1) : nv;
    if constexpr (FOLD) {
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < nv; ++c)
          if (c < cLo || c >= cHi) vstore(sT + (j + r) * qw + kLanes * c, ninf);
    }
    int64_t ks = 0;
    const float* k = cLo < cHi ? src.rows(j, rows, &ks) : nullptr;
    for (int c0 = cLo; c0 < cHi; c0 += kStC)
      stRowsCols<kStR, FOLD>(rows, imin(kStC, cHi - c0), k, ks, qT + kLanes * c0, qw, D, sT + j * qw + kLanes * c0,
                             FOLD ? colMax + kLanes * c0 : nullptr, maskT + j, kLanes * c0);
    if (pf) prefetchStep(*pf);
  }
}

// ---------------------------------------------------------------------------------------------
// Micro-kernel 2: O[i][d] = alpha[i] * O[i][d] + sum_j P^T[j][i] * V[j][d] for R queries x C
// vectors of kLanes headDim columns. WIDEN 1 / 2: V is instead read from float16 / bfloat16 rows w
// (row stride ws), widened in registers, and also stored into vOut (row stride vs), so the first
// block of queries converts the V tile that the other blocks then read as float32.
template <int WIDEN>
static inline V widenLanes(const uint16_t* w) {
  alignas(64) float t[kLanes];
  if constexpr (WIDEN == 1)
    loadF16(w, t, kLanes);
  else
    loadBF16(w, t, kLanes);
  return vload(t);
}

template <int R, int C, int WIDEN = 0>
static inline void pvBlock(const float* __restrict pT, int qw, const float* __restrict v, int64_t vs, int nk,
                           float* __restrict o, int Dp, const float* __restrict alpha,
                           const uint16_t* __restrict w = nullptr, int64_t ws = 0, float* __restrict vOut = nullptr) {
  V acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const V a = vbcast(alpha + r);
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = vmul(vload(o + r * Dp + kLanes * c), a);
  }
  const float* pj = pT;
  for (int j = 0; j < nk; ++j, pj += qw) {
    V vv[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      if constexpr (WIDEN == 0) {
        vv[c] = vload(v + j * vs + kLanes * c);
      } else {
        vv[c] = widenLanes<WIDEN>(w + j * ws + kLanes * c);
        vstore(vOut + j * vs + kLanes * c, vv[c]);
      }
    }
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

template <int R, int C, int WIDEN = 0>
static inline void pvRows(int rows, const float* pT, int qw, const float* v, int64_t vs, int nk, float* o, int Dp,
                          const float* alpha, const uint16_t* w = nullptr, int64_t ws = 0, float* vOut = nullptr) {
  if constexpr (R >= 1) {
    if (rows == R) {
      pvBlock<R, C, WIDEN>(pT, qw, v, vs, nk, o, Dp, alpha, w, ws, vOut);
      return;
    }
    pvRows<R - 1, C, WIDEN>(rows, pT, qw, v, vs, nk, o, Dp, alpha, w, ws, vOut);
  }
}

// A full tile's 16-bit V, widened by P V's first block of queries into dst (vBuf: unit headDim
// stride, D == Dp): its rows are read while that block's arithmetic runs, not in a pass of their own.
struct VWiden {
  const uint16_t* src;
  int64_t ss;  // source row stride (elements)
  bool bf16;
  float* dst;
};

template <int C>
static inline void pvColumns(const float* pT, int qw, const float* v, int64_t vs, int nk, int nq, float* o, int Dp,
                             const float* alpha, PrefetchSteps* pf, const VWiden* wv, int col) {
  int i = 0;
  if (wv) {
    i = imin(kPvR, nq);
    if (wv->bf16)
      pvRows<kPvR, C, 2>(i, pT, qw, nullptr, vs, nk, o, Dp, alpha, wv->src + col, wv->ss, wv->dst + col);
    else
      pvRows<kPvR, C, 1>(i, pT, qw, nullptr, vs, nk, o, Dp, alpha, wv->src + col, wv->ss, wv->dst + col);
    if (pf) prefetchStep(*pf);
  }
  for (; i + kPvR <= nq; i += kPvR) {
    pvBlock<kPvR, C>(pT + i, qw, v, vs, nk, o + i * Dp, Dp, alpha + i);
    if (pf) prefetchStep(*pf);
  }
  if (i < nq) pvRows<kPvR - 1, C>(nq - i, pT + i, qw, v, vs, nk, o + i * Dp, Dp, alpha + i);
}

// wv: V to widen into v (see VWiden), or null when v already holds float32 values.
static void computePV(const float* pT, int qw, const float* v, int64_t vs, int nk, int nq, float* o, int Dp,
                      const float* alpha, PrefetchSteps* pf = nullptr, const VWiden* wv = nullptr) {
  const int nv = Dp / kLanes;
  int c = 0;
  for (; c + kPvC <= nv; c += kPvC)
    pvColumns<kPvC>(pT, qw, v + kLanes * c, vs, nk, nq, o + kLanes * c, Dp, alpha, pf, wv, kLanes * c);
  for (; c < nv; ++c) pvColumns<1>(pT, qw, v + kLanes * c, vs, nk, nq, o + kLanes * c, Dp, alpha, pf, wv, kLanes * c);
}

// P V of a partial tile: each block of queries reads only the keys from its first to its last
// allowed one (the other probabilities are exactly 0), and is still rescaled by alpha.
static void computePVMasked(const float* pT, int qw, const float* v, int64_t vs, int nk, int nq, float* o, int Dp,
                            const float* alpha, const uint64_t* maskT, PrefetchSteps* pf = nullptr) {
  const int nv = Dp / kLanes;
  for (int i = 0; i < nq; i += kPvR) {
    const int rows = imin(kPvR, nq - i);
    const uint64_t cols = (rows == 64 ? ~uint64_t{0} : ((uint64_t{1} << rows) - 1)) << i;
    int j0 = 0, j1 = nk;
    while (j0 < nk && !(maskT[j0] & cols)) ++j0;
    while (j1 > j0 && !(maskT[j1 - 1] & cols)) --j1;
    const float* pj = pT + j0 * qw + i;
    const float* vj = v + j0 * vs;
    float* oi = o + i * Dp;
    int c = 0;
    for (; c + kPvC <= nv; c += kPvC) pvRows<kPvR, kPvC>(rows, pj, qw, vj + kLanes * c, vs, j1 - j0, oi + kLanes * c, Dp, alpha + i);
    for (; c < nv; ++c) pvRows<kPvR, 1>(rows, pj, qw, vj + kLanes * c, vs, j1 - j0, oi + kLanes * c, Dp, alpha + i);
    if (pf) prefetchStep(*pf);
  }
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
