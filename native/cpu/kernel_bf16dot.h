// bfloat16 inputs through AVX512-BF16 dot products (vdpbf16ps: 16 lanes, each the f32 sum of two
// bf16 products added to an f32 accumulator), included by kernel_body.h where the including file
// defines ATTNFLOW_KERNEL_BF16DOT (kernel_avx512bf16.cpp). Used when q, k and v are all bfloat16,
// headDim is even, k and v have unit headDim stride and there is no RoPE (plan.cpp decides:
// Plan::bf16Dot); every other call of that kernel runs the f32 body.
//
// Both products take their operands in pairs along the summed dimension:
//   S^T = K Q^T  sums over headDim: K is read as stored (a 32-bit broadcast is the pair
//                K[j][2e], K[j][2e+1]); Q is packed q2 [D/2][qw] (the pair of each query as one
//                32-bit element: a transpose of 32-bit elements), unscaled; the scale is applied
//                to the f32 scores as the block is stored.
//   O += P V     sums over keys: P is rounded to bf16 and packed p2 [nk/2][qw] (the pair P[j], P[j+1]
//                of a query per 32-bit element), V packed v2 [nk/2][Dp] (V[j][d], V[j+1][d]).
// The softmax, the masks and the output stay in f32 as in the f32 path. A partial tile whose V
// holds inf or NaN takes the f32 path's exact treatment (f32 P, converted V) for its P V.
//
// The including file provides the primitives of simd_avx512.h, imin/roundLanes and the f32 body's
// functions used here (transposeMask, softmaxTile, packV, zeroNonFiniteRows, addNonFiniteRows,
// computePVMasked, beginItem, setAlibiTile, endItem, recordMass).
static_assert(kLanes == 16 && kStC == 4, "the bf16 dot-product path is written for 16 lanes, 4 vectors a tile");

static inline __m512 dotBf16(__m512 acc, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(a), reinterpret_cast<__m512bh>(b));
}
static inline __m512i bcast32(const void* p) {
  uint32_t x;
  __builtin_memcpy(&x, p, 4);
  return _mm512_set1_epi32(static_cast<int>(x));
}

// The bf16 rows of the query tile as stored, transposed as 32-bit pairs into q2 [D/2][qw];
// columns past nq are zero. Rows go through kBuf first (free until the tile loop).
static void packQDot(const Plan& P, const Scratch& S, int b, int h, int i0, int nqi, int nq, int qw) {
  const int D2 = P.D / 2;
  const int rowU32 = (D2 + 15) & ~15;
  uint32_t* tmp = reinterpret_cast<uint32_t*>(S.kBuf);
  uint32_t* q2 = reinterpret_cast<uint32_t*>(S.qT);
  const uint16_t* q = static_cast<const uint16_t*>(P.q.data);
  for (int c = 0; c < qw; ++c) {
    uint32_t* row = tmp + static_cast<int64_t>(c) * rowU32;
    if (c < nq) {
      const int g = c / nqi, i = i0 + c % nqi;
      const uint16_t* src = q + b * P.q.sb + (h + g) * P.q.sh + static_cast<int64_t>(i) * P.q.ss;
      if (P.q.sd == 1) {
        __builtin_memcpy(row, src, sizeof(uint32_t) * static_cast<size_t>(D2));
      } else {
        for (int e = 0; e < D2; ++e)
          row[e] = static_cast<uint32_t>(src[2 * e * P.q.sd]) | static_cast<uint32_t>(src[(2 * e + 1) * P.q.sd]) << 16;
      }
    } else {
      for (int e = 0; e < D2; ++e) row[e] = 0;
    }
  }
  const int DW = D2 - D2 % kLanes;
  for (int e = 0; e < DW; e += kLanes)
    for (int c = 0; c < qw; c += kLanes)
      vtranspose(reinterpret_cast<const float*>(tmp + static_cast<int64_t>(c) * rowU32 + e), rowU32,
                 reinterpret_cast<float*>(q2 + e * qw + c), qw);
  for (int e = DW; e < D2; ++e)
    for (int c = 0; c < qw; ++c) q2[e * qw + c] = tmp[static_cast<int64_t>(c) * rowU32 + e];
}

// S^T for R keys x C vectors of 16 queries over D/2 pairs, stored times `scale`; with MAXF the
// block's column maxima are folded into colMax (scaled units).
template <int R, int C, bool MAXF>
static inline void stBlockDot(const uint16_t* __restrict k, int64_t ks, const uint32_t* __restrict q2, int qw,
                              int D2, float scale, float* __restrict sT, float* __restrict colMax) {
  __m512 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int e = 0; e < D2; ++e) {
    __m512i q[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) q[c] = _mm512_loadu_si512(q2 + e * qw + kLanes * c);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i kb = bcast32(k + r * ks + 2 * e);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) acc[r][c] = dotBf16(acc[r][c], q[c], kb);
    }
  }
  const __m512 sc = _mm512_set1_ps(scale);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      acc[r][c] = _mm512_mul_ps(acc[r][c], sc);
      _mm512_storeu_ps(sT + r * qw + kLanes * c, acc[r][c]);
    }
  if constexpr (MAXF) {
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      __m512 mx = acc[0][c];
#pragma GCC unroll 8
      for (int r = 1; r < R; ++r) mx = _mm512_max_ps(mx, acc[r][c]);
      _mm512_storeu_ps(colMax + kLanes * c, _mm512_max_ps(_mm512_loadu_ps(colMax + kLanes * c), mx));
    }
  }
}

template <int R, int C, bool MAXF>
static inline void stRowsDot(int rows, const uint16_t* k, int64_t ks, const uint32_t* q2, int qw, int D2, float scale,
                             float* sT, float* colMax) {
  if constexpr (R >= 1) {
    if (rows == R) {
      stBlockDot<R, C, MAXF>(k, ks, q2, qw, D2, scale, sT, colMax);
      return;
    }
    stRowsDot<R - 1, C, MAXF>(rows, k, ks, q2, qw, D2, scale, sT, colMax);
  }
}

// Columns [c0, c0 + cols) of rows [0, rows): cols <= kStC.
template <bool MAXF>
static inline void stRowsColsDot(int rows, int cols, const uint16_t* k, int64_t ks, const uint32_t* q2, int qw, int D2,
                                 float scale, float* sT, float* colMax) {
  static_assert(kStC == 4, "stRowsColsDot covers 1..4 vectors");
  switch (cols) {
    case 1: stRowsDot<kStR, 1, MAXF>(rows, k, ks, q2, qw, D2, scale, sT, colMax); break;
    case 2: stRowsDot<kStR, 2, MAXF>(rows, k, ks, q2, qw, D2, scale, sT, colMax); break;
    case 3: stRowsDot<kStR, 3, MAXF>(rows, k, ks, q2, qw, D2, scale, sT, colMax); break;
    default: stRowsDot<kStR, 4, MAXF>(rows, k, ks, q2, qw, D2, scale, sT, colMax); break;
  }
}

// Full tile: every block; MAXF folds the column maxima.
template <bool MAXF>
static void computeSTDot(const uint16_t* k, int64_t ks, const uint32_t* q2, int qw, int D2, float scale, int nk,
                         float* sT, float* colMax) {
  const int nv = qw / kLanes;
  for (int c = 0; c < nv; c += kStC)
    for (int j = 0; j < nk; j += kStR)
      stRowsColsDot<MAXF>(imin(kStR, nk - j), imin(kStC, nv - c), k + j * ks, ks, q2 + kLanes * c, qw, D2, scale,
                          sT + j * qw + kLanes * c, MAXF ? colMax + kLanes * c : nullptr);
}

// Partial tile: only the blocks holding an allowed pair (see computeSTMasked).
static void computeSTDotMasked(const uint16_t* k, int64_t ks, const uint32_t* q2, int qw, int D2, float scale, int nk,
                               float* sT, const uint64_t* maskT) {
  const int nv = qw / kLanes;
  for (int j = 0; j < nk; j += kStR) {
    const int rows = imin(kStR, nk - j);
    uint64_t any = 0;
    for (int r = 0; r < rows; ++r) any |= maskT[j + r];
    if (any == 0) continue;
    const int cLo = __builtin_ctzll(any) / kLanes;
    const int cHi = imin(nv, (63 - __builtin_clzll(any)) / kLanes + 1);
    for (int c0 = cLo; c0 < cHi; c0 += kStC)
      stRowsColsDot<false>(rows, imin(kStC, cHi - c0), k + j * ks, ks, q2 + kLanes * c0, qw, D2, scale,
                           sT + j * qw + kLanes * c0, nullptr);
  }
}

// Interleaves the bf16 roundings of two 16-float vectors: result element 2l = a[l], 2l + 1 = b[l].
static inline __m512i pairBf16(__m512 a, __m512 b) {
  const __m512i ab = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a));  // a in 0..15, b in 16..31
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                       21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(idx, ab);
}

// p2 [ceil(nk/2)][qw] from the f32 probabilities sT [nk][qw] (a missing last row counts as 0).
static void packPDot(const float* sT, int qw, int nk, uint32_t* p2) {
  const int nv = qw / kLanes;
  for (int j = 0; j < nk; j += 2) {
    const float* r0 = sT + j * qw;
    const float* r1 = r0 + qw;
    for (int c = 0; c < nv; ++c) {
      const __m512 a = _mm512_loadu_ps(r0 + kLanes * c);
      const __m512 b = j + 1 < nk ? _mm512_loadu_ps(r1 + kLanes * c) : _mm512_setzero_ps();
      // the pairs of 16 queries: 32 bf16 in two halves
      const __m512i x = pairBf16(a, b);
      _mm512_storeu_si512(p2 + (j / 2) * qw + kLanes * c, x);
    }
  }
}

// Whether the bf16 V tile holds inf or NaN (exponent bits all ones).
static bool tileFiniteBf16(const Plan& P, int b, int hk, int j0, int nk) {
  const uint16_t* v = static_cast<const uint16_t*>(P.v.data) + b * P.v.sb + hk * P.v.sh;
  const __m512i expo = _mm512_set1_epi16(0x7f80);
  __mmask32 bad = 0;
  for (int j = 0; j < nk; ++j) {
    const uint16_t* row = v + static_cast<int64_t>(j0 + j) * P.v.ss;
    int d = 0;
    for (; d + 32 <= P.D; d += 32) {
      const __m512i x = _mm512_and_si512(_mm512_loadu_si512(row + d), expo);
      bad |= _mm512_cmpeq_epi16_mask(x, expo);
    }
    if (d < P.D) {
      const __mmask32 k = static_cast<__mmask32>((uint64_t{1} << (P.D - d)) - 1);
      const __m512i x = _mm512_and_si512(_mm512_maskz_loadu_epi16(k, row + d), expo);
      bad |= _mm512_mask_cmpeq_epi16_mask(k, x, expo);
    }
  }
  return bad == 0;
}

// v2 [ceil(nk/2)][Dp] in vBuf: V[j][d] and V[j + 1][d] as one 32-bit pair (zero past D and nk).
static void packVDot(const Plan& P, const Scratch& S, int b, int hk, int j0, int nk) {
  const int D = P.D, Dp = P.Dp;
  const uint16_t* v = static_cast<const uint16_t*>(P.v.data) + b * P.v.sb + hk * P.v.sh;
  uint32_t* v2 = reinterpret_cast<uint32_t*>(S.vBuf);
  for (int j = 0; j < nk; j += 2) {
    const uint16_t* r0 = v + static_cast<int64_t>(j0 + j) * P.v.ss;
    const uint16_t* r1 = r0 + P.v.ss;
    const bool two = j + 1 < nk;
    uint32_t* dst = v2 + static_cast<int64_t>(j / 2) * Dp;
    for (int d = 0; d < Dp; d += kLanes) {
      const int n = imin(kLanes, D - d);
      const __mmask16 k = n >= kLanes ? static_cast<__mmask16>(0xffff) : n > 0 ? static_cast<__mmask16>((1u << n) - 1) : 0;
      const __m512i a = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, r0 + d));
      const __m512i bb = two ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, r1 + d)) : _mm512_setzero_si512();
      _mm512_storeu_si512(dst + d, _mm512_or_si512(a, _mm512_slli_epi32(bb, 16)));
    }
  }
}

// O[i][d] = alpha[i] O[i][d] + sum over key pairs for R queries x C vectors of 16 headDim columns.
template <int R, int C>
static inline void pvBlockDot(const uint32_t* __restrict p2, int qw, const uint32_t* __restrict v2, int Dp, int n2,
                              float* __restrict o, const float* __restrict alpha) {
  __m512 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512 a = _mm512_set1_ps(alpha[r]);
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_mul_ps(_mm512_loadu_ps(o + r * Dp + kLanes * c), a);
  }
  for (int e = 0; e < n2; ++e) {
    __m512i vv[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) vv[c] = _mm512_loadu_si512(v2 + e * Dp + kLanes * c);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i p = bcast32(p2 + e * qw + r);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) acc[r][c] = dotBf16(acc[r][c], vv[c], p);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) _mm512_storeu_ps(o + r * Dp + kLanes * c, acc[r][c]);
}

template <int R, int C>
static inline void pvRowsDot(int rows, const uint32_t* p2, int qw, const uint32_t* v2, int Dp, int n2, float* o,
                             const float* alpha) {
  if constexpr (R >= 1) {
    if (rows == R) {
      pvBlockDot<R, C>(p2, qw, v2, Dp, n2, o, alpha);
      return;
    }
    pvRowsDot<R - 1, C>(rows, p2, qw, v2, Dp, n2, o, alpha);
  }
}

// P V over key pairs [e0, e1) for query rows [i, i + rows), every headDim vector.
static inline void pvRangeDot(int rows, const uint32_t* p2, int qw, const uint32_t* v2, int Dp, int e0, int e1,
                              float* o, const float* alpha) {
  const int nv = Dp / kLanes;
  const uint32_t* pe = p2 + e0 * qw;
  const uint32_t* ve = v2 + static_cast<int64_t>(e0) * Dp;
  int c = 0;
  for (; c + kPvC <= nv; c += kPvC) pvRowsDot<kPvR, kPvC>(rows, pe, qw, ve + kLanes * c, Dp, e1 - e0, o + kLanes * c, alpha);
  for (; c < nv; ++c) pvRowsDot<kPvR, 1>(rows, pe, qw, ve + kLanes * c, Dp, e1 - e0, o + kLanes * c, alpha);
}

// maskT null: a full tile. Otherwise each query block reads only the key pairs from its first to
// its last allowed key (computePVMasked).
static void computePVDot(const uint32_t* p2, int qw, const uint32_t* v2, int nk, int nq, float* o, int Dp,
                         const float* alpha, const uint64_t* maskT) {
  const int n2 = (nk + 1) / 2;
  for (int i = 0; i < nq; i += kPvR) {
    const int rows = imin(kPvR, nq - i);
    int e0 = 0, e1 = n2;
    if (maskT) {
      const uint64_t cols = ((uint64_t{1} << rows) - 1) << i;
      int j0 = 0, j1 = nk;
      while (j0 < nk && !(maskT[j0] & cols)) ++j0;
      while (j1 > j0 && !(maskT[j1 - 1] & cols)) --j1;
      e0 = j0 / 2;
      e1 = j1 > j0 ? (j1 + 1) / 2 : e0;
    }
    pvRangeDot(rows, p2 + i, qw, v2, Dp, e0, e1, o + i * Dp, alpha + i);
  }
}

// runItemImpl for Plan::bf16Dot (the same steps as the f32 loop, see there).
static void runItemDot(const Plan& P, const Item& it, const Scratch& S, float* partials) {
  const int b = it.b, h = it.h, qb = it.qb;
  const int hk = h / P.group;
  const int i0 = qb * kBQ;
  const int nqi = imin(kBQ, P.Sq - i0);
  const int nq = nqi * it.ng;
  const int qw = roundLanes(nq);
  const int Dp = P.Dp, D2 = P.D / 2;
  uint64_t maskScratch[64];
  float colMax[kBQ];
  float colSlope[kBQ], colRel[kBQ], keyRel[kBK];
  int64_t colPos[kBQ];
  const ColumnInfo ci{colSlope, colRel, keyRel};
  beginItem(P, S, h, i0, nqi, nq, qw, colSlope, colPos);
  if (it.e1 > it.e0) packQDot(P, S, b, h, i0, nqi, nq, qw);

  const uint16_t* kHead = static_cast<const uint16_t*>(P.k.data) + b * P.k.sb + hk * P.k.sh;
  const uint32_t* q2 = reinterpret_cast<const uint32_t*>(S.qT);
  uint32_t* p2 = reinterpret_cast<uint32_t*>(S.p2);
  PrefetchSteps ahead = itemPrefetch(P, it, S.next, (it.e1 - it.e0) * 2);  // two steps per tile here
  for (int e = it.e0; e < it.e1; ++e) {
    const int kt = P.colIdx[e];
    const int t = P.partial[e];
    const int j0 = kt * kBK;
    const int nk = imin(kBK, P.Sk - j0);
    const uint16_t* kp = kHead + static_cast<int64_t>(j0) * P.k.ss;
    prefetchStep(ahead);
    const uint64_t* maskT = t < 0 ? nullptr : tileMaskT(P, t, nqi, nq, maskScratch);
    if (P.alibi2) setAlibiTile(P, hk, j0, nk, qw, colPos, colRel, keyRel);

    if (t < 0 && !P.softcap && !P.alibi2) {
      for (int c = 0; c < qw; ++c) colMax[c] = S.m[c];
      computeSTDot<true>(kp, P.k.ss, q2, qw, D2, P.qScale, nk, S.sT, colMax);
      softmaxTile(P, S.sT, qw, nk, S.m, S.l, S.alpha, ci, nullptr, colMax);
    } else if (t < 0) {
      computeSTDot<false>(kp, P.k.ss, q2, qw, D2, P.qScale, nk, S.sT, nullptr);
      softmaxTile(P, S.sT, qw, nk, S.m, S.l, S.alpha, ci, nullptr, nullptr);
    } else {
      computeSTDotMasked(kp, P.k.ss, q2, qw, D2, P.qScale, nk, S.sT, maskT);
      softmaxTile(P, S.sT, qw, nk, S.m, S.l, S.alpha, ci, maskT, nullptr);
    }
    if (P.keyMass) recordMass(S, e - it.e0, nk, qw);
    prefetchStep(ahead);
    if (t >= 0 && !vTileFinite(P, b, hk, kt, [&] { return tileFiniteBf16(P, b, hk, j0, nk); })) {
      // the f32 path's exact treatment of non-finite V in a partial tile
      packV(P, S.vBuf, b, hk, j0, nk, -1);
      const float* vp = S.vBuf;
      int64_t vs = Dp;
      const uint64_t bad = zeroNonFiniteRows(S, nk, Dp, &vp, &vs);
      computePVMasked(S.sT, qw, vp, vs, nk, nq, S.o, Dp, S.alpha, maskT);
      if (bad) addNonFiniteRows(P, S, b, hk, j0, nq, qw, maskT, bad);
      continue;
    }
    packPDot(S.sT, qw, nk, p2);
    packVDot(P, S, b, hk, j0, nk);
    computePVDot(p2, qw, reinterpret_cast<const uint32_t*>(S.vBuf), nk, nq, S.o, Dp, S.alpha, t >= 0 ? maskT : nullptr);
  }
  endItem(P, S, it, i0, nqi, nq, qw, partials);
}
