// Loading and converting the rows of an attention item's operands: Q packed transposed, K rows
// converted for S^T (KConverted), V tiles converted for P V (packV), RoPE applied on the way.
// Included by kernel_body.h inside its unnamed namespace, after kernel_micro.h.

// n rows of D elements (row stride ss, element stride sd) into float32 rows of stride ds: `rowOf`
// converts a contiguous row, `one` a single element.
template <class T, class Row, class One>
static inline void convertRows(const T* src, int64_t ss, int64_t sd, int n, int D, float* __restrict dst, int64_t ds,
                               Row rowOf, One one) {
  for (int r = 0; r < n; ++r, src += ss, dst += ds) {
    if (sd == 1) {
      rowOf(src, dst, D);
    } else {
      for (int d = 0; d < D; ++d) dst[d] = one(src[d * sd]);
    }
  }
}

// Converts n rows of D elements of an operand from element offset off (its row and element
// strides) into float32 dst rows of dstStride floats. The dtype is dispatched once for all rows:
// a tile's rows are short (D elements), and per-row dispatch cost as much as the conversion.
static inline void loadRows(const OperandPlan& op, int64_t off, int n, int D, float* __restrict dst,
                            int64_t dstStride) {
  switch (op.dtype) {
    case DType::F32:
      convertRows(
          static_cast<const float*>(op.data) + off, op.ss, op.sd, n, D, dst, dstStride,
          [](const float* s, float* d, int m) {
            for (int i = 0; i < m; ++i) d[i] = s[i];
          },
          [](float x) { return x; });
      break;
    case DType::F16:
      convertRows(static_cast<const uint16_t*>(op.data) + off, op.ss, op.sd, n, D, dst, dstStride, loadF16, halfToFloat);
      break;
    case DType::BF16:
      convertRows(static_cast<const uint16_t*>(op.data) + off, op.ss, op.sd, n, D, dst, dstStride, loadBF16,
                  bf16ToFloat);
      break;
  }
}

// Rotates the leading dims of x (RoPE) with the cos/sin of one position.
static inline void ropeRow(float* __restrict x, const float* __restrict cs, const float* __restrict sn, int half,
                           bool interleaved) {
  if (!interleaved) {
    float* x1 = x + half;
    for (int t = 0; t < half; ++t) {
      const float a = x[t], b = x1[t];
      x[t] = a * cs[t] - b * sn[t];
      x1[t] = a * sn[t] + b * cs[t];
    }
  } else {
    for (int t = 0; t < half; ++t) {
      const float a = x[2 * t], b = x[2 * t + 1];
      x[2 * t] = a * cs[t] - b * sn[t];
      x[2 * t + 1] = a * sn[t] + b * cs[t];
    }
  }
}

// Packs the query tile: qT[d][c] = qScale * rope(q of column c)[d], zero columns past nq.
// Rows are converted into kBuf (free until the first K tile is packed), then transposed in
// kLanes x kLanes blocks.
static void packQ(const Plan& P, const Scratch& S, int b, int h, int i0, int nqi, int nq, int qw) {
  const int D = P.D, Dp = P.Dp;
  const int half = P.ropeDims / 2;
  const float sc = P.qScale;
  float* tmp = S.kBuf;
  for (int c = 0; c < qw; ++c) {
    float* row = tmp + static_cast<int64_t>(c) * Dp;
    if (c < nq) {
      const int g = c / nqi, i = i0 + c % nqi;
      const int64_t off = b * P.q.sb + (h + g) * P.q.sh + static_cast<int64_t>(i) * P.q.ss;
      loadRows(P.q, off, 1, D, row, 0);
      if (P.rope) {
        const int64_t pi = P.ropeRowQ ? P.ropeRowQ[i] : i + P.shift - P.ropeLo;
        ropeRow(row, P.ropeCos + pi * half, P.ropeSin + pi * half, half, P.ropeInterleaved);
      }
      for (int d = 0; d < D; ++d) row[d] *= sc;
    } else {
      for (int d = 0; d < D; ++d) row[d] = 0.f;
    }
  }
  const int DL = D - D % kLanes;
  for (int d = 0; d < DL; d += kLanes)
    for (int c = 0; c < qw; c += kLanes) vtranspose(tmp + static_cast<int64_t>(c) * Dp + d, Dp, S.qT + d * qw + c, qw);
  for (int d = DL; d < D; ++d)
    for (int c = 0; c < qw; ++c) S.qT[d * qw + c] = tmp[static_cast<int64_t>(c) * Dp + d];
}

// Asks for the row of n elements at element offset `off` of an operand (unit headDim stride) to be
// brought into the cache. The tile copies below request the next tile's row as they copy this
// one's, so when K/V stream from memory (decoding) a tile's latency overlaps the work on the last.
ATTNFLOW_PREFETCHES static void prefetchRow(const OperandPlan& op, int64_t off, int n) {
  if (op.sd != 1) return;
  const int64_t esize = op.dtype == DType::F32 ? 4 : 2;
  const char* p = static_cast<const char*>(op.data) + off * esize;
  for (int64_t x = 0; x < n * esize; x += 64) __builtin_prefetch(p + x, 0, 3);
}

// Converts the nk rows of an operand's key tile at j0 (head at element offset head) into dst
// [nk][Dp]. nextJ0 >= 0: each row also requests the row at the same place in the tile at nextJ0.
static void loadTile(const Plan& P, const OperandPlan& op, int64_t head, int j0, int nk, float* dst, int nextJ0) {
  const int64_t off = head + static_cast<int64_t>(j0) * op.ss;
  if (nextJ0 < 0) {
    loadRows(op, off, nk, P.D, dst, P.Dp);
    return;
  }
  const int64_t ahead = static_cast<int64_t>(nextJ0 - j0) * op.ss;
  for (int r = 0; r < nk; ++r) {
    const int64_t rowOff = off + static_cast<int64_t>(r) * op.ss;
    if (nextJ0 + r < P.Sk) prefetchRow(op, rowOff + ahead, P.D);
    loadRows(op, rowOff, 1, P.D, dst + static_cast<int64_t>(r) * P.Dp, P.Dp);
  }
}

// Converts nk rows of K (rotated) into kDst [nk][Dp] (a thread's kBuf, or the call's copy).
// nextJ0 as for loadTile.
static void packK(const Plan& P, float* kDst, int b, int hk, int j0, int nk, int nextJ0) {
  loadTile(P, P.k, b * P.k.sb + hk * P.k.sh, j0, nk, kDst, nextJ0);
  if (!P.rope) return;
  const int half = P.ropeDims / 2;
  for (int r = 0; r < nk; ++r) {
    const int64_t pj = P.ropeRowK ? P.ropeRowK[static_cast<int64_t>(hk) * P.Sk + j0 + r] : j0 + r - P.ropeLo;
    if (pj >= 0)
      ropeRow(kDst + static_cast<int64_t>(r) * P.Dp, P.ropeCos + pj * half, P.ropeSin + pj * half, half,
              P.ropeInterleaved);
  }
}

// K rows converted for S^T a register block at a time into the head of kBuf (KInPlace's
// counterpart): a block stays in L1 from its conversion to its last use, where a converted 16 KB
// tile would stream through L1 twice. nextJ0 >= 0 (decoding): the rows of the tile at nextJ0 are
// requested as these are converted.
struct KConverted {
  const Plan& P;
  float* buf;
  int b, hk, j0, nextJ0;
  const float* rows(int j, int n, int64_t* stride) const {
    packK(P, buf, b, hk, j0 + j, n, nextJ0 >= 0 ? nextJ0 + j : -1);
    *stride = P.Dp;
    return buf;
  }
};

// Converts nk rows of V into vDst [nk][Dp] (a thread's vBuf, or the call's copy), zero-padding
// headDim to Dp. nextJ0 as for loadTile.
static void packV(const Plan& P, float* vDst, int b, int hk, int j0, int nk, int nextJ0) {
  const int D = P.D, Dp = P.Dp;
  loadTile(P, P.v, b * P.v.sb + hk * P.v.sh, j0, nk, vDst, nextJ0);
  if (D < Dp)
    for (int r = 0; r < nk; ++r)
      for (int d = D; d < Dp; ++d) vDst[static_cast<int64_t>(r) * Dp + d] = 0.f;
}
