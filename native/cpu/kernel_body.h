// The tiled online-softmax attention kernel, written once against the vector primitives of an
// instruction set (simd_<isa>.h, listed in simd_portable.h: a vector V of kLanes floats and the
// v* functions) and compiled once per instruction set by kernel_<isa>.cpp, inside the ISA's
// namespace. Everything here has internal linkage (an unnamed namespace) except the kernel's
// entry (kAttentionKernel), so compilations for different instruction sets never share code.
//
// Layout (one work item = one query tile of up to kBQ columns against a list of key tiles; a
// column is one query row, or, for GQA decoding, one (head, row) of the heads packed together):
//   qT [D][qw]     the query tile transposed, converted, rotated, scaled (qw = nq rounded up to
//                  kLanes)
//   sT [nk][qw]    S^T = K Q^T: row j holds key j's score against every query of the tile, so the
//                  softmax statistics of a query are lane-wise (vertical) vector operations
//   o  [nq][Dp]    the output accumulator, O = diag(alpha) O + P V, P read by broadcast from sT
// K is read by broadcast (any layout), V by vectors along headDim: neither is ever transposed, so
// float32 K/V are read in place. Other K (16-bit, RoPE, strided) is converted a register block of
// rows at a time into per-thread scratch just before S^T reads it (KConverted); other V is
// converted into a per-thread tile, by P V's first block of queries where it can (VWiden), else
// by packV before P V.
//
// Non-finite inputs follow IEEE evaluation of softmax(scores over the row's neighborhood) · V:
//   - a NaN score gives its probability exp2(NaN - m) = NaN (vexp2 keeps NaN), so the running sum
//     l of that row turns NaN and stays NaN (l' = alpha l + sum, O' = alpha O + P V), whatever the
//     running max did with the NaN; a +inf score gives exp2(inf - inf) = NaN likewise;
//   - a -inf score has probability 0; a row whose scores are all -inf (or that has no allowed key)
//     ends with l = 0 and is written as an empty row (zeros, lse -inf);
//   - masked scores are replaced by -inf (vkeep) before the max, so NaN/inf in K at a key the row
//     does not attend cannot reach it; in V the masked probability 0 times a NaN/inf value would,
//     so partial tiles whose V holds a non-finite value zero those rows for P V and add them back
//     for the columns that attend them (zeroNonFiniteRows, addNonFiniteRows; full tiles have
//     no masked pair: there 0 · NaN = NaN is the naive formula's own result);
//   - finishRow writes NaN out and lse for l = NaN; mergeRow propagates a NaN part.

namespace {

static_assert(kLanes >= 4 && kLanes <= 16 && kBQ % kLanes == 0, "a tile's 64 columns are whole vectors");
// The mask bits of one vector of query columns.
constexpr uint32_t kLaneBits = (1u << kLanes) - 1;

static inline int imin(int a, int b) { return a < b ? a : b; }
// n rounded up to a whole number of vectors.
static inline int roundLanes(int n) { return (n + kLanes - 1) / kLanes * kLanes; }

#include "prefetch_steps.h"

// An item's prefetches (prefetch_steps.h) request what the next item will read first: its query
// rows, and the K and V rows of its last key tile when this item does not read that tile (a
// sliding window's next query tile reaches one tile further); and this item's own output rows.
// Where items have few key tiles, packQ, the new tile's first reads and finishRow's first writes
// would otherwise wait on memory in every item.

// prefetchStep runs between the register blocks of S^T and of P V: about this many per key tile.
constexpr int kPrefetchSteps = 2 * (kBQ / 6 + 1);

static void addRun(PrefetchSteps& f, const OperandPlan& op, int64_t off, int64_t groupStride, int rowsPerGroup,
                   int rows, int D) {
  if (op.sd != 1) return;
  const int64_t esize = op.dtype == DType::F32 ? 4 : 2;
  addPrefetchRun(f, static_cast<const char*>(op.data) + off * esize, groupStride * esize, op.ss * esize, rowsPerGroup,
                 rows, D * esize);
}

static PrefetchSteps itemPrefetch(const Plan& P, const Item& it, const Item* next, int steps) {
  PrefetchSteps f;
  if (steps <= 0) return f;
  if (next) {
    const int nqi = imin(kBQ, P.Sq - next->qb * kBQ);
    addRun(f, P.q, next->b * P.q.sb + next->h * P.q.sh + static_cast<int64_t>(next->qb) * kBQ * P.q.ss, P.q.sh, nqi,
           nqi * next->ng, P.D);
    if (next->e1 > next->e0) {
      const int kt = P.colIdx[next->e1 - 1];
      const int hk = next->h / P.group;
      const bool sameHead = it.b == next->b && it.h / P.group == hk;
      if (!sameHead || it.e1 == it.e0 || kt > P.colIdx[it.e1 - 1]) {
        const int j0 = kt * kBK, nk = imin(kBK, P.Sk - j0);
        addRun(f, P.k, next->b * P.k.sb + hk * P.k.sh + static_cast<int64_t>(j0) * P.k.ss, 0, nk, nk, P.D);
        addRun(f, P.v, next->b * P.v.sb + hk * P.v.sh + static_cast<int64_t>(j0) * P.v.ss, 0, nk, nk, P.D);
      }
    }
  }
  if (it.slot < 0 && P.osd == 1) {
    // this item's output rows: in cache (exclusive, where no other core holds them) before
    // finishRow's stores, which would otherwise each wait for a line of a fresh output
    const int nqi = imin(kBQ, P.Sq - it.qb * kBQ);
    const int64_t esize = P.outType == DType::F32 ? 4 : 2;
    const int64_t off = it.b * P.osb + it.h * P.osh + static_cast<int64_t>(it.qb) * kBQ * P.oss;
    addPrefetchRun(f, static_cast<const char*>(P.out) + off * esize, P.osh * esize, P.oss * esize, nqi, nqi * it.ng,
                   P.D * esize);
  }
  spreadPrefetches(f, steps);
  return f;
}

#include "kernel_micro.h"

#include "kernel_rows.h"

// ---------------------------------------------------------------------------------------------
// Softmax over one tile of scores.

static_assert(kBQ == 64 && kBK == 64, "the mask transpose assumes 64 x 64 tiles");

// The transposed allow-mask of partial tile t for an item of nqi query rows and nq columns
// (mask_transpose.h): the plan's copy for a whole query tile, else transposed into `scratch`.
static inline const uint64_t* tileMaskT(const Plan& P, int32_t t, int nqi, int nq, uint64_t* scratch) {
  if (P.bitsT && nq == kBQ) return P.bitsT + static_cast<int64_t>(t) * kBK;
  transposeMask(P.bits + static_cast<int64_t>(t) * kBQ * P.wordsPerRow, nqi, nq, scratch);
  return scratch;
}

// Per-tile data for ALiBi: the slope of each column's head (log2 units), the position of its
// query relative to the tile's first key index j0, and each key's position relative to j0
// (j itself unless keys have explicit positions).
struct ColumnInfo {
  const float* slope;   // [qw]
  const float* rel;     // [qw]
  const float* keyRel;  // [nk]
};

// Column max of one kLanes-query column of the tile, applying (as compiled in) softcap, ALiBi and the
// mask to the scores first (softcap -> log2 units -> ALiBi -> mask).
template <bool CAP, bool ALIBI, bool MASK>
static inline V maxPass(const Plan& P, float* col, int qw, int nk, V mx, int c, const ColumnInfo& ci,
                         const uint64_t* maskT) {
  if constexpr (!CAP && !ALIBI && !MASK) {
    (void)P, (void)c, (void)ci, (void)maskT;
    V mx1 = mx;
    int j = 0;
    for (; j + 2 <= nk; j += 2) {
      mx = vmax(mx, vload(col + j * qw));
      mx1 = vmax(mx1, vload(col + (j + 1) * qw));
    }
    if (j < nk) mx = vmax(mx, vload(col + j * qw));
    return vmax(mx, mx1);
  } else {
    const V capInv = vset1(P.capInv), capOut = vset1(P.capOut);
    V slope = vzero(), rel = vzero();
    if constexpr (ALIBI) {
      slope = vload(ci.slope + kLanes * c);
      rel = vload(ci.rel + kLanes * c);
    }
    for (int j = 0; j < nk; ++j) {
      V s = vload(col + j * qw);
      if constexpr (CAP) s = vmul(capOut, vtanh(vmul(s, capInv)));
      if constexpr (ALIBI) s = vfnma(slope, vabs(vsub(rel, vset1(ci.keyRel[j]))), s);
      if constexpr (MASK) s = vkeep(s, static_cast<uint32_t>(maskT[j] >> (kLanes * c)) & kLaneBits);
      vstore(col + j * qw, s);
      mx = vmax(mx, s);
    }
    return mx;
  }
}

// colMax, when not null, already holds the new column maxima (folded in by computeST). span, when
// not null, is a partial tile's mask whose disallowed scores are already -inf: each vector of
// columns exponentiates only the keys from the first to the last that one of its columns reads,
// and writes 0 for the rest (P V may read them: its blocks of rows straddle vectors).
template <bool CAP, bool ALIBI, bool MASK>
static void softmaxTileT(const Plan& P, float* sT, int qw, int nk, float* m, float* l, float* alpha,
                         const ColumnInfo& ci, const uint64_t* maskT, const float* colMax, const uint64_t* span) {
  const int nv = qw / kLanes;
  for (int c = 0; c < nv; ++c) {
    float* col = sT + kLanes * c;
    const V mOld = vload(m + kLanes * c);
    const V mx = colMax ? vload(colMax + kLanes * c) : maxPass<CAP, ALIBI, MASK>(P, col, qw, nk, mOld, c, ci, maskT);
    const V ms = vmsafe(mx);
    const V a = vexp2(vsub(mOld, ms));
    vstore(alpha + kLanes * c, a);
    vstore(m + kLanes * c, mx);
    V sum = vzero();
    int jlo = 0, jhi = nk;
    if (span) {
      const uint64_t lanes = static_cast<uint64_t>(kLaneBits) << (kLanes * c);
      for (; jlo < nk && !(span[jlo] & lanes); ++jlo) vstore(col + jlo * qw, vzero());
      for (; jhi > jlo && !(span[jhi - 1] & lanes); --jhi) vstore(col + (jhi - 1) * qw, vzero());
    }
    for (int j = jlo; j < jhi; ++j) {
      const V p = vexp2(vsub(vload(col + j * qw), ms));
      vstore(col + j * qw, p);
      sum = vadd(sum, p);
    }
    vstore(l + kLanes * c, vfma(vload(l + kLanes * c), a, sum));
  }
}

// Online-softmax update of one tile: scores -> probabilities in place, new running max m, sums
// l, and the factors alpha that rescale the accumulated output.
static void softmaxTile(const Plan& P, float* sT, int qw, int nk, float* m, float* l, float* alpha,
                        const ColumnInfo& ci, const uint64_t* maskT, const float* colMax,
                        const uint64_t* span = nullptr) {
  const int key = (P.softcap ? 4 : 0) | (P.alibi2 ? 2 : 0) | (maskT ? 1 : 0);
  switch (key) {
    case 0: softmaxTileT<false, false, false>(P, sT, qw, nk, m, l, alpha, ci, maskT, colMax, span); break;
    case 1: softmaxTileT<false, false, true>(P, sT, qw, nk, m, l, alpha, ci, maskT, nullptr, nullptr); break;
    case 2: softmaxTileT<false, true, false>(P, sT, qw, nk, m, l, alpha, ci, maskT, nullptr, nullptr); break;
    case 3: softmaxTileT<false, true, true>(P, sT, qw, nk, m, l, alpha, ci, maskT, nullptr, nullptr); break;
    case 4: softmaxTileT<true, false, false>(P, sT, qw, nk, m, l, alpha, ci, maskT, nullptr, nullptr); break;
    case 5: softmaxTileT<true, false, true>(P, sT, qw, nk, m, l, alpha, ci, maskT, nullptr, nullptr); break;
    case 6: softmaxTileT<true, true, false>(P, sT, qw, nk, m, l, alpha, ci, maskT, nullptr, nullptr); break;
    default: softmaxTileT<true, true, true>(P, sT, qw, nk, m, l, alpha, ci, maskT, nullptr, nullptr); break;
  }
}

// ---------------------------------------------------------------------------------------------
// Output.

static void storeRow(const Plan& P, int64_t off, const float* src) {
  const int D = P.D;
  const int64_t sd = P.osd;
  switch (P.outType) {
    case DType::F32: {
      float* dst = static_cast<float*>(P.out) + off;
      if (sd == 1) {
        for (int d = 0; d < D; ++d) dst[d] = src[d];
      } else {
        for (int d = 0; d < D; ++d) dst[d * sd] = src[d];
      }
      break;
    }
    case DType::F16: {
      uint16_t* dst = static_cast<uint16_t*>(P.out) + off;
      if (sd == 1) {
        storeF16(src, dst, D);
      } else {
        for (int d = 0; d < D; ++d) dst[d * sd] = floatToHalf(src[d]);
      }
      break;
    }
    case DType::BF16: {
      uint16_t* dst = static_cast<uint16_t*>(P.out) + off;
      if (sd == 1) {
        storeBF16(src, dst, D);
      } else {
        for (int d = 0; d < D; ++d) dst[d * sd] = floatToBf16(src[d]);
      }
      break;
    }
  }
}

// Writes normalised output row i (global query index) from an accumulator row, and its lse.
// l = 0: no allowed key, or only -inf scores: an empty row (zeros, lse -inf). l = NaN (a NaN or
// +inf score on the way): out and lse NaN.
static void finishRow(const Plan& P, const Scratch& S, int b, int h, int iq, const float* oRow, float mi, float li) {
  const int D = P.D;
  const int64_t off = b * P.osb + h * P.osh + static_cast<int64_t>(iq) * P.oss;
  // float32 rows of unit stride go straight into the output; others through S.row and storeRow
  const bool direct = P.outType == DType::F32 && P.osd == 1;
  float* dst = direct ? static_cast<float*>(P.out) + off : S.row;
  if (li == 0.f) {
    for (int d = 0; d < D; ++d) dst[d] = 0.f;
  } else {
    const float inv = 1.f / li;
    for (int d = 0; d < D; ++d) dst[d] = oRow[d] * inv;
  }
  if (!direct) storeRow(P, off, S.row);
  if (P.lse) {
    const int64_t li64 = (static_cast<int64_t>(b) * P.Hq + h) * P.Sq + iq;
    P.lse[li64] = core::rowLse(mi, li);
  }
}

// ---------------------------------------------------------------------------------------------

// Partial tiles whose V holds a non-finite value. A masked pair has probability exactly 0, but
// 0 · NaN = 0 · inf = NaN would reach every column of the tile in P V, also those that do not
// attend the key. So P V runs with the non-finite rows of V zeroed (a copy in vBuf, or vBuf itself
// when V was converted into it: zeroNonFiniteRows), and those rows' terms are then added for the
// columns that attend them only (addNonFiniteRows, reloading the rows from the source). Rare: taken
// only when tileFinite fails, so both stay out of line (and the P V calls of runItemImpl stay
// inlined).

// Returns the rows (bit j) of the tile that hold inf or NaN, with *v / *vs pointing at a copy in
// which they are zero; 0 (and *v, *vs untouched) when there are none (tileFinite's sum overflowed).
__attribute__((noinline, cold)) static uint64_t zeroNonFiniteRows(const Scratch& S, int nk, int Dp, const float** v,
                                                                   int64_t* vs) {
  const float* src = *v;
  const int64_t ss = *vs;
  uint64_t bad = 0;
  for (int j = 0; j < nk; ++j) {
    const float* r = src + j * ss;
    for (int d = 0; d < Dp; ++d)
      if (!(r[d] * 0.f == 0.f)) {
        bad |= uint64_t{1} << j;
        break;
      }
  }
  if (bad == 0) return 0;
  float* z = S.vBuf;
  if (src != z) {  // float32 V read in place (then D == Dp)
    for (int j = 0; j < nk; ++j)
      for (int d = 0; d < Dp; ++d) z[static_cast<int64_t>(j) * Dp + d] = src[j * ss + d];
  }
  for (int j = 0; j < nk; ++j)
    if (bad >> j & 1)
      for (int d = 0; d < Dp; ++d) z[static_cast<int64_t>(j) * Dp + d] = 0.f;
  *v = z;
  *vs = Dp;
  return bad;
}

// O[c] += P[j][c] V[j] for the rows j in `bad` and the columns c that attend them (mask bit set).
__attribute__((noinline, cold)) static void addNonFiniteRows(const Plan& P, const Scratch& S, int b, int hk, int j0,
                                                             int nq, int qw, const uint64_t* maskT, uint64_t bad) {
  const int D = P.D, Dp = P.Dp;
  const int64_t vHead = b * P.v.sb + hk * P.v.sh;
  for (int j = 0; bad != 0; ++j, bad >>= 1) {
    if (!(bad & 1)) continue;
    loadRows(P.v, vHead + static_cast<int64_t>(j0 + j) * P.v.ss, 1, D, S.row, 0);
    for (int c = 0; c < nq; ++c) {
      if (!(maskT[j] >> c & 1)) continue;
      const float p = S.sT[static_cast<int64_t>(j) * qw + c];
      float* oc = S.o + static_cast<int64_t>(c) * Dp;
      for (int d = 0; d < D; ++d) oc[d] += p * S.row[d];
    }
  }
}

// Whether V tile kt of (b, hk) holds only finite values, scanned by `scan` (a bool()) unless the
// call's record (Plan::vFinite) already knows.
template <class Scan>
static inline bool vTileFinite(const Plan& P, int b, int hk, int kt, Scan scan) {
  if (!P.vFinite) return scan();
  uint8_t* rec = P.vFinite + (static_cast<int64_t>(b) * P.Hkv + hk) * P.numKBlocks + kt;
  uint8_t known = __atomic_load_n(rec, __ATOMIC_RELAXED);
  if (known == 0) {
    known = scan() ? 1 : 2;
    __atomic_store_n(rec, known, __ATOMIC_RELAXED);
  }
  return known == 1;
}

#include "kernel_mass.h"

// The start of an item: empty running max, sum and output; the ALiBi slope and query position of
// each column.
static void beginItem(const Plan& P, const Scratch& S, int h, int i0, int nqi, int nq, int qw, float* colSlope,
                      int64_t* colPos) {
  for (int i = 0; i < qw; ++i) {
    S.m[i] = -__builtin_inff();
    S.l[i] = 0.f;
  }
  for (int64_t x = 0, n = static_cast<int64_t>(nq) * P.Dp; x < n; ++x) S.o[x] = 0.f;
  if (P.alibi2) {
    for (int c = 0; c < qw; ++c) {
      const int cc = c < nq ? c : 0;
      colSlope[c] = P.alibi2[h + cc / nqi];
      colPos[c] = core::queryPosition(P, i0 + cc % nqi);
    }
  }
}

// The ALiBi distances of key tile j0: each column's query position and each key's position
// relative to j0 (explicit key positions, or j itself).
static void setAlibiTile(const Plan& P, int hk, int j0, int nk, int qw, const int64_t* colPos, float* colRel,
                         float* keyRel) {
  for (int c = 0; c < qw; ++c) colRel[c] = static_cast<float>(colPos[c] - j0);
  for (int j = 0; j < nk; ++j) keyRel[j] = static_cast<float>(core::keyPosition(P, hk, j0 + j) - j0);
}

// The end of an item: its rows finished (and their key masses added), or (split-KV) its partial
// result in its slot (its key-mass record stays in massParts for mergeRow).
static void endItem(const Plan& P, const Scratch& S, const Item& it, int i0, int nqi, int nq, int qw,
                    float* partials) {
  const int b = it.b, h = it.h, Dp = P.Dp;
  if (it.slot < 0) {
    for (int c = 0; c < nq; ++c)
      finishRow(P, S, b, h + c / nqi, i0 + c % nqi, S.o + static_cast<int64_t>(c) * Dp, S.m[c], S.l[c]);
    if (P.keyMass) addKeyMass(P, S.mass, it.e0, it.e1, qw, nq, b, h / P.group, S.m, S.l);
  } else {
    float* base = partials + static_cast<size_t>(it.slot) * partialStride(Dp);
    for (int64_t x = 0, n = static_cast<int64_t>(nq) * Dp; x < n; ++x) base[x] = S.o[x];
    float* pm = base + static_cast<size_t>(kBQ) * Dp;
    float* pl = pm + kBQ;
    for (int c = 0; c < nq; ++c) {
      pm[c] = S.m[c];
      pl[c] = S.l[c];
    }
  }
}

#if defined(ATTNFLOW_KERNEL_BF16DOT)
#include "kernel_bf16dot.h"
#endif

// S^T of one tile and its online-softmax update: scores -> probabilities in S.sT, with S.m, S.l
// and S.alpha updated. t < 0: a full tile; else partial tile t, whose transposed mask is maskT.
template <class KRows>
static inline void scoreTile(const Plan& P, const Scratch& S, const KRows& k, int t, int nk, int qw,
                             const uint64_t* maskT, const ColumnInfo& ci, float* colMax, PrefetchSteps* ahead) {
  const int D = P.D;
  if (t < 0 && !P.softcap && !P.alibi2) {
    // nothing to apply to the scores: the column maxima come out of the S^T kernel
    for (int c = 0; c < qw; ++c) colMax[c] = S.m[c];
    computeST<true>(k, S.qT, qw, D, nk, S.sT, colMax, ahead);
    softmaxTile(P, S.sT, qw, nk, S.m, S.l, S.alpha, ci, nullptr, colMax);
  } else if (t < 0) {
    computeST<false>(k, S.qT, qw, D, nk, S.sT, nullptr, ahead);
    softmaxTile(P, S.sT, qw, nk, S.m, S.l, S.alpha, ci, nullptr, nullptr);
  } else if (!P.softcap && !P.alibi2) {
    // a partial tile: only the blocks with an allowed pair; without softcap or ALiBi the mask
    // and the column maxima are applied as the blocks are stored
    for (int c = 0; c < qw; ++c) colMax[c] = S.m[c];
    computeSTMasked<true>(k, S.qT, qw, D, nk, S.sT, maskT, colMax, ahead);
    softmaxTile(P, S.sT, qw, nk, S.m, S.l, S.alpha, ci, nullptr, colMax, maskT);
  } else {
    computeSTMasked<false>(k, S.qT, qw, D, nk, S.sT, maskT, nullptr, ahead);
    softmaxTile(P, S.sT, qw, nk, S.m, S.l, S.alpha, ci, maskT, nullptr);
  }
}

static void runItemImpl(const Plan& P, const Item& it, const Scratch& S, float* partials) {
  const int b = it.b, h = it.h, qb = it.qb;
  const int hk = h / P.group;
  const int i0 = qb * kBQ;
  const int nqi = imin(kBQ, P.Sq - i0);  // query rows of the tile
  const int nq = nqi * it.ng;              // columns: rows x packed heads (<= kBQ)
  const int qw = roundLanes(nq);
  const int Dp = P.Dp;
  uint64_t maskScratch[64];
  float colMax[kBQ];
  float colSlope[kBQ], colRel[kBQ], keyRel[kBK];
  int64_t colPos[kBQ];
  const ColumnInfo ci{colSlope, colRel, keyRel};
#if defined(ATTNFLOW_KERNEL_BF16DOT)
  if (P.bf16Dot) {
    runItemDot(P, it, S, partials);
    return;
  }
#endif
  beginItem(P, S, h, i0, nqi, nq, qw, colSlope, colPos);
  if (it.e1 > it.e0) packQ(P, S, b, h, i0, nqi, nq, qw);

  PrefetchSteps ahead = itemPrefetch(P, it, S.next, (it.e1 - it.e0) * kPrefetchSteps);
  const float* kSrc = static_cast<const float*>(P.k.data);
  const float* vSrc = static_cast<const float*>(P.v.data);
  const int64_t kHead = b * P.k.sb + hk * P.k.sh;
  const int64_t vHead = b * P.v.sb + hk * P.v.sh;
  // 16-bit V rows that P V can widen as it reads them (streamed V keeps packV's look-ahead)
  const bool vWidenable = !P.vDirect && P.v.dtype != DType::F32 && P.v.sd == 1 && P.D == Dp && !P.kvStream;

  for (int e = it.e0; e < it.e1; ++e) {
    const int kt = P.colIdx[e];
    const int t = P.partial[e];
    const int j0 = kt * kBK;
    const int nk = imin(kBK, P.Sk - j0);
    // Only streamed tiles request the next one's rows as they are converted: tiles shared by query
    // tiles sit in cache, where the requests would only cost.
    const int nextJ0 = P.kvStream && e + 1 < it.e1 ? P.colIdx[e + 1] * kBK : -1;

    if (P.alibi2) setAlibiTile(P, hk, j0, nk, qw, colPos, colRel, keyRel);

    const uint64_t* maskT = t < 0 ? nullptr : tileMaskT(P, t, nqi, nq, maskScratch);
    if (P.kDirect)
      scoreTile(P, S, KInPlace{kSrc + kHead + static_cast<int64_t>(j0) * P.k.ss, P.k.ss}, t, nk, qw, maskT, ci, colMax,
                &ahead);
    else
      scoreTile(P, S, KConverted{P, S.kBuf, b, hk, j0, nextJ0}, t, nk, qw, maskT, ci, colMax, &ahead);
    if (P.keyMass) recordMass(S, e - it.e0, nk, qw);
    const float* vp;
    int64_t vs;
    VWiden widen{};  // a full tile's 16-bit V, converted by P V's first block of queries
    const bool widening = t < 0 && vWidenable;
    if (P.vDirect) {
      vp = vSrc + vHead + static_cast<int64_t>(j0) * P.v.ss;
      vs = P.v.ss;
    } else {
      if (widening)
        widen = {static_cast<const uint16_t*>(P.v.data) + vHead + static_cast<int64_t>(j0) * P.v.ss, P.v.ss,
                 P.v.dtype == DType::BF16, S.vBuf};
      else
        packV(P, S.vBuf, b, hk, j0, nk, nextJ0);
      vp = S.vBuf;
      vs = Dp;
    }
    uint64_t bad = 0;  // partial tile: rows of V holding inf / NaN, zeroed in the copy vp now points at
    if (t >= 0 && !vTileFinite(P, b, hk, kt, [&] { return tileFinite(vp, vs, nk, Dp); }))
      bad = zeroNonFiniteRows(S, nk, Dp, &vp, &vs);
    if (t < 0)
      computePV(S.sT, qw, vp, vs, nk, nq, S.o, Dp, S.alpha, &ahead, widening ? &widen : nullptr);
    else
      computePVMasked(S.sT, qw, vp, vs, nk, nq, S.o, Dp, S.alpha, maskT, &ahead);
    if (bad) addNonFiniteRows(P, S, b, hk, j0, nq, qw, maskT, bad);
  }

  endItem(P, S, it, i0, nqi, nq, qw, partials);
}

// Combines `count` partial results of one row (split-KV) through their log-sum-exp. A part with
// no allowed key (m = -inf, l = 0, O = 0) gets weight 0 and adds 0; a NaN max makes the row NaN
// (a part's NaN l or O does by itself).
static void mergeRowImpl(const Plan& P, const Scratch& S, const Item& first, const float* partials, int32_t count) {
  const int i0 = first.qb * kBQ;
  const int nqi = imin(kBQ, P.Sq - i0);
  const int nq = nqi * first.ng;
  const int Dp = P.Dp;
  const size_t stride = partialStride(Dp);
  float* acc = S.o;  // one row
  float Mc[kBQ], Lc[kBQ];
  for (int c = 0; c < nq; ++c) {
    float M = -__builtin_inff();
    for (int s = 0; s < count; ++s) {
      const float* base = partials + static_cast<size_t>(first.slot + s) * stride;
      const float ms = base[static_cast<size_t>(kBQ) * Dp + c];
      M = (ms > M || __builtin_isnan(ms)) ? ms : M;  // keeps a NaN once seen
    }
    for (int d = 0; d < Dp; ++d) acc[d] = 0.f;
    float L = 0.f;
    if (M != -__builtin_inff()) {
      for (int s = 0; s < count; ++s) {
        const float* base = partials + static_cast<size_t>(first.slot + s) * stride;
        const float ms = base[static_cast<size_t>(kBQ) * Dp + c];
        const float ls = base[static_cast<size_t>(kBQ) * Dp + kBQ + c];
        const float w = __builtin_exp2f(ms - M);
        L += w * ls;
        const float* orow = base + static_cast<size_t>(c) * Dp;
        for (int d = 0; d < Dp; ++d) acc[d] += w * orow[d];
      }
    }
    finishRow(P, S, first.b, first.h + c / nqi, i0 + c % nqi, acc, M, L);
    Mc[c] = M;
    Lc[c] = L;
  }
  if (P.keyMass) {
    // the parts cover the row's tiles as the schedule split them
    const int64_t n = first.e1 - first.e0;
    for (int s = 0; s < count; ++s) {
      const int a = static_cast<int>(first.e0 + n * s / count);
      const int z = static_cast<int>(first.e0 + n * (s + 1) / count);
      addKeyMass(P, P.massParts + P.massOffset[first.slot + s], a, z, roundLanes(nq), nq, first.b, first.h / P.group,
                 Mc, Lc);
    }
  }
}

// Key tile kt of (b, hk) converted as packK / packV would per item, into kDst / vDst (rows of Dp
// floats; either may be null), for the call's converted copy (Plan::kvConverted).
static void convertTileImpl(const Plan& P, int b, int hk, int kt, float* kDst, float* vDst) {
  const int j0 = kt * kBK;
  const int nk = imin(kBK, P.Sk - j0);
  if (kDst) packK(P, kDst, b, hk, j0, nk, -1);
  if (vDst) packV(P, vDst, b, hk, j0, nk, -1);
}

}  // namespace

#if defined(ATTNFLOW_KERNEL_BF16DOT)
extern const AttentionKernel kAttentionKernel = {kLanes, true, &runItemImpl, &mergeRowImpl, &convertTileImpl};
#else
extern const AttentionKernel kAttentionKernel = {kLanes, false, &runItemImpl, &mergeRowImpl, &convertTileImpl};
#endif
