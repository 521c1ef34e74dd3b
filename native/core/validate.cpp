// validateAttention: the defensive check every backend relies on. It never trusts the caller:
// shapes must agree, every reachable element of every view must lie inside its buffer, and the
// BlockMask must be a well-formed CSR that matches the shapes. Each failure names what is wrong.
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "attnflow.h"

namespace attnflow {
namespace {

std::string str(int64_t x) { return std::to_string(x); }
std::string ustr(uint64_t x) { return std::to_string(x); }

const char* dtypeName(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
  }
  return "unknown";
}

bool validDType(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Checks one view: dtype known, shape and strides non-negative, every reachable element offset
// (the largest is sum (shape[a]-1)*strides[a], computed without overflow) below `capacity`.
Status checkView(const char* name, const TensorView& v) {
  if (!validDType(v.dtype)) {
    return Status::Error(std::string(name) + ".dtype is not a known dtype (code " +
                         str(static_cast<int32_t>(v.dtype)) + ")");
  }
  static const char* axis[4] = {"batch", "heads", "seq", "headDim"};
  bool empty = false;
  for (int a = 0; a < 4; ++a) {
    if (v.shape[a] < 0) {
      return Status::Error(std::string(name) + ".shape[" + str(a) + "] (" + axis[a] + ") is negative (" +
                           str(v.shape[a]) + ")");
    }
    if (v.strides[a] < 0) {
      return Status::Error(std::string(name) + ".strides[" + str(a) + "] is negative (" + str(v.strides[a]) + ")");
    }
    if (v.shape[a] == 0) empty = true;
  }
  if (empty) return Status::Ok();  // no element is reachable
  uint64_t maxOffset = 0;
  for (int a = 0; a < 4; ++a) {
    uint64_t term = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(v.shape[a] - 1), static_cast<uint64_t>(v.strides[a]), &term) ||
        __builtin_add_overflow(maxOffset, term, &maxOffset)) {
      return Status::Error(std::string(name) + ": the largest reachable element offset overflows 64 bits");
    }
  }
  if (maxOffset >= static_cast<uint64_t>(v.capacity)) {
    return Status::Error(std::string(name) + ": the view reaches element offset " + ustr(maxOffset) +
                         " but its buffer holds " + ustr(v.capacity) + " elements");
  }
  if (v.data == nullptr) return Status::Error(std::string(name) + ".data is null but the view has elements");
  // Backends size their work and scratch (items, RoPE tables, partial results) by the shapes;
  // with zero strides a few bytes could describe a view of 2^31 rows and exhaust memory. A view
  // may not have more elements than its buffer holds.
  uint64_t count = 1;
  for (int a = 0; a < 4; ++a) {
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(v.shape[a]), &count) ||
        count > static_cast<uint64_t>(v.capacity)) {
      return Status::Error(std::string(name) + ": the view has more elements (shape [" + str(v.shape[0]) + ", " +
                           str(v.shape[1]) + ", " + str(v.shape[2]) + ", " + str(v.shape[3]) +
                           "]) than its buffer holds (" + ustr(v.capacity) + ")");
    }
  }
  return Status::Ok();
}

// True when no two elements of a (non-empty, in-bounds) view share an offset: ordered by stride,
// each axis's stride must exceed the largest offset reachable through the smaller ones.
bool nonOverlapping(const TensorView& v) {
  for (int a = 0; a < 4; ++a)
    if (v.shape[a] == 0) return true;  // no elements
  int order[4] = {0, 1, 2, 3};
  for (int i = 1; i < 4; ++i)
    for (int j = i; j > 0 && v.strides[order[j]] < v.strides[order[j - 1]]; --j) std::swap(order[j], order[j - 1]);
  uint64_t reach = 0;  // largest offset through the axes so far (no overflow: checkView bounded it)
  for (int i = 0; i < 4; ++i) {
    const int a = order[i];
    if (v.shape[a] <= 1) continue;
    if (static_cast<uint64_t>(v.strides[a]) <= reach) return false;
    reach += static_cast<uint64_t>(v.shape[a] - 1) * static_cast<uint64_t>(v.strides[a]);
  }
  return true;
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

Status checkMask(const AttentionParams& p) {
  const BlockMaskView& m = p.mask;
  const int64_t Hq = p.q.shape[1], Sq = p.q.shape[2], Sk = p.k.shape[2];
  if (m.seqQ != Sq) {
    return Status::Error("mask.seqQ (" + str(m.seqQ) + ") does not match the query length " + str(Sq));
  }
  if (m.seqK != Sk) {
    return Status::Error("mask.seqK (" + str(m.seqK) + ") does not match the key length " + str(Sk));
  }
  if (m.blockQ <= 0 || m.blockK <= 0) {
    return Status::Error("mask tile shape must be positive, got blockQ=" + str(m.blockQ) + " blockK=" + str(m.blockK));
  }
  const int64_t nqb = ceilDiv(Sq, m.blockQ), nkb = ceilDiv(Sk, m.blockK);
  if (m.numQBlocks != nqb) {
    return Status::Error("mask.numQBlocks (" + str(m.numQBlocks) + ") must be ceil(seqQ / blockQ) = " + str(nqb));
  }
  if (m.numKBlocks != nkb) {
    return Status::Error("mask.numKBlocks (" + str(m.numKBlocks) + ") must be ceil(seqK / blockK) = " + str(nkb));
  }
  // query head h reads row h / (Hq / heads): one row for every head, one per kv head, or one per head
  if (m.heads < 1 || Hq % m.heads != 0) {
    return Status::Error("mask.heads (" + str(m.heads) + ") must divide the number of query heads (" + str(Hq) + ")");
  }
  const int64_t wpr = ceilDiv(m.blockK, 32);
  if (m.wordsPerRow != wpr) {
    return Status::Error("mask.wordsPerRow (" + str(m.wordsPerRow) + ") must be ceil(blockK / 32) = " + str(wpr));
  }
  const uint64_t rows = static_cast<uint64_t>(m.heads) * static_cast<uint64_t>(nqb);
  if (m.rowPtrLen != rows + 1) {
    return Status::Error("mask.rowPtr has length " + ustr(m.rowPtrLen) + " but heads * numQBlocks + 1 = " +
                         ustr(rows + 1));
  }
  if (m.rowPtr == nullptr) return Status::Error("mask.rowPtr is null");
  if (m.nnz > 0 && (m.colIdx == nullptr || m.partial == nullptr)) {
    return Status::Error("mask.colIdx / mask.partial is null but nnz = " + ustr(m.nnz));
  }
  if (m.nnz > static_cast<uint64_t>(INT32_MAX)) {
    return Status::Error("mask.nnz (" + ustr(m.nnz) + ") exceeds the 32-bit index range");
  }
  const uint64_t tileWords = static_cast<uint64_t>(m.blockQ) * static_cast<uint64_t>(wpr);
  if (m.bitsLen % tileWords != 0) {
    return Status::Error("mask.bits has length " + ustr(m.bitsLen) + ", not a multiple of blockQ * wordsPerRow = " +
                         ustr(tileWords));
  }
  if (m.bitsLen > 0 && m.bits == nullptr) return Status::Error("mask.bits is null but bitsLen = " + ustr(m.bitsLen));
  const uint64_t numBitTiles = m.bitsLen / tileWords;
  if (m.rowPtr[0] != 0) return Status::Error("mask.rowPtr[0] must be 0, got " + str(m.rowPtr[0]));
  for (uint64_t r = 0; r < rows; ++r) {
    const int32_t a = m.rowPtr[r], b = m.rowPtr[r + 1];
    if (b < a) {
      return Status::Error("mask.rowPtr is not monotone: rowPtr[" + ustr(r + 1) + "] = " + str(b) + " < rowPtr[" +
                           ustr(r) + "] = " + str(a));
    }
    if (static_cast<uint64_t>(b) > m.nnz) {
      return Status::Error("mask.rowPtr[" + ustr(r + 1) + "] = " + str(b) + " exceeds nnz = " + ustr(m.nnz));
    }
    for (int32_t e = a; e < b; ++e) {
      const int32_t c = m.colIdx[e];
      if (c < 0 || c >= nkb) {
        return Status::Error("mask.colIdx[" + str(e) + "] = " + str(c) + " is outside [0, numKBlocks = " + str(nkb) +
                             ")");
      }
      if (e > a && c <= m.colIdx[e - 1]) {
        return Status::Error("mask.colIdx is not strictly ascending in row " + ustr(r) + ": colIdx[" + str(e) +
                             "] = " + str(c) + " after " + str(m.colIdx[e - 1]));
      }
      const int32_t t = m.partial[e];
      if (t != -1 && (t < 0 || static_cast<uint64_t>(t) >= numBitTiles)) {
        return Status::Error("mask.partial[" + str(e) + "] = " + str(t) + " must be -1 or a bit tile in [0, " +
                             ustr(numBitTiles) + ")");
      }
    }
  }
  if (static_cast<uint64_t>(m.rowPtr[rows]) != m.nnz) {
    return Status::Error("mask.rowPtr ends at " + str(m.rowPtr[rows]) + " but nnz = " + ustr(m.nnz));
  }
  return Status::Ok();
}

// Positions and key masses: lengths match the shapes, and every position that RoPE or ALiBi will
// turn into a number (plus the RoPE offset) stays inside int32.
Status checkPositions(const AttentionParams& p) {
  const int64_t B = p.q.shape[0], Sq = p.q.shape[2], Hkv = p.k.shape[1], Sk = p.k.shape[2];
  if (p.queryPositions != nullptr) {
    if (p.queryPositionsLen != static_cast<uint64_t>(Sq)) {
      return Status::Error("queryPositions has length " + ustr(p.queryPositionsLen) + " but seqQ = " + str(Sq));
    }
  } else if (p.queryPositionsLen != 0) {
    return Status::Error("queryPositions is null but queryPositionsLen = " + ustr(p.queryPositionsLen));
  }
  if (p.queryStart != kBottomRight && (p.queryStart < INT32_MIN || p.queryStart + Sq - 1 > INT32_MAX)) {
    return Status::Error("queryStart (" + str(p.queryStart) + ") puts query positions outside 32 bits");
  }
  if (p.keyPositions != nullptr) {
    if (p.keyPositionsLen != static_cast<uint64_t>(Sk) &&
        p.keyPositionsLen != static_cast<uint64_t>(Hkv) * static_cast<uint64_t>(Sk)) {
      return Status::Error("keyPositions has length " + ustr(p.keyPositionsLen) + " but must hold seqK (" + str(Sk) +
                           ") or kvHeads * seqK (" + ustr(static_cast<uint64_t>(Hkv) * static_cast<uint64_t>(Sk)) +
                           ") positions");
    }
  } else if (p.keyPositionsLen != 0) {
    return Status::Error("keyPositions is null but keyPositionsLen = " + ustr(p.keyPositionsLen));
  }
  if (p.keyMass != nullptr) {
    const uint64_t n = static_cast<uint64_t>(B) * static_cast<uint64_t>(Hkv) * static_cast<uint64_t>(Sk);
    if (p.keyMassLen != n) return Status::Error("keyMass has length " + ustr(p.keyMassLen) + " but batch * kvHeads * seqK = " + ustr(n));
  } else if (p.keyMassLen != 0) {
    return Status::Error("keyMass is null but keyMassLen = " + ustr(p.keyMassLen));
  }
  return Status::Ok();
}

}  // namespace

Status validateAttention(const AttentionParams& p) {
  Status s;
  if (!(s = checkView("q", p.q)).ok) return s;
  if (!(s = checkView("k", p.k)).ok) return s;
  if (!(s = checkView("v", p.v)).ok) return s;
  if (!(s = checkView("out", p.out)).ok) return s;

  const int64_t B = p.q.shape[0], Hq = p.q.shape[1], Sq = p.q.shape[2], D = p.q.shape[3];
  const int64_t Hkv = p.k.shape[1], Sk = p.k.shape[2];
  if (Hq < 1) return Status::Error("q must have at least one head");
  if (D < 1) return Status::Error("headDim must be at least 1");
  if (Hkv < 1) return Status::Error("k must have at least one head");
  if (Sq > INT32_MAX || Sk > INT32_MAX || D > INT32_MAX || Hq > INT32_MAX || B > INT32_MAX) {
    return Status::Error("q/k dimensions must fit in 32 bits");
  }
  if (p.k.shape[0] != B) {
    return Status::Error("k batch (" + str(p.k.shape[0]) + ") does not match q batch (" + str(B) + ")");
  }
  if (p.v.shape[0] != B) {
    return Status::Error("v batch (" + str(p.v.shape[0]) + ") does not match q batch (" + str(B) + ")");
  }
  if (p.v.shape[1] != Hkv) {
    return Status::Error("v heads (" + str(p.v.shape[1]) + ") do not match k heads (" + str(Hkv) + ")");
  }
  if (p.v.shape[2] != Sk) {
    return Status::Error("v sequence length (" + str(p.v.shape[2]) + ") does not match k (" + str(Sk) + ")");
  }
  if (p.k.shape[3] != D) {
    return Status::Error("k headDim (" + str(p.k.shape[3]) + ") does not match q headDim (" + str(D) + ")");
  }
  if (p.v.shape[3] != D) {
    return Status::Error("v headDim (" + str(p.v.shape[3]) + ") does not match q headDim (" + str(D) + ")");
  }
  if (Hq % Hkv != 0) {
    return Status::Error("query heads (" + str(Hq) + ") must be a multiple of kv heads (" + str(Hkv) + ")");
  }
  for (int a = 0; a < 4; ++a) {
    if (p.out.shape[a] != p.q.shape[a]) {
      return Status::Error("out.shape[" + str(a) + "] (" + str(p.out.shape[a]) + ") does not match q.shape[" +
                           str(a) + "] (" + str(p.q.shape[a]) + ")");
    }
  }
  if (!nonOverlapping(p.out)) {
    return Status::Error("out: the view's elements overlap (its strides map two elements to one place)");
  }
  if (p.out.dtype != p.q.dtype) {
    return Status::Error(std::string("out dtype (") + dtypeName(p.out.dtype) + ") must be q's dtype (" +
                         dtypeName(p.q.dtype) + ")");
  }

  const uint64_t rowsOut = static_cast<uint64_t>(B) * static_cast<uint64_t>(Hq) * static_cast<uint64_t>(Sq);
  if (p.lse != nullptr) {
    if (p.lseLen != rowsOut) {
      return Status::Error("lse has length " + ustr(p.lseLen) + " but batch * heads * seqQ = " + ustr(rowsOut));
    }
  } else if (p.lseLen != 0) {
    return Status::Error("lse is null but lseLen = " + ustr(p.lseLen));
  }

  if (!std::isfinite(p.scale)) return Status::Error("scale must be finite, got " + std::to_string(p.scale));
  if (!std::isfinite(p.softcap) || p.softcap < 0) {
    return Status::Error("softcap must be finite and >= 0, got " + std::to_string(p.softcap));
  }
  if (p.alibiSlopes != nullptr) {
    if (p.alibiLen != static_cast<uint64_t>(Hq)) {
      return Status::Error("alibi slopes: expected one per query head (" + str(Hq) + "), got " + ustr(p.alibiLen));
    }
    for (size_t h = 0; h < p.alibiLen; ++h) {
      if (!std::isfinite(p.alibiSlopes[h])) {
        return Status::Error("alibi slope " + ustr(h) + " is not finite");
      }
    }
  } else if (p.alibiLen != 0) {
    return Status::Error("alibi slopes are null but alibiLen = " + ustr(p.alibiLen));
  }
  if (p.rope.enabled) {
    if (p.rope.dims <= 0 || p.rope.dims % 2 != 0 || p.rope.dims > D) {
      return Status::Error("rope.dims must be a positive even number <= headDim (" + str(D) + "), got " +
                           str(p.rope.dims));
    }
    if (!(p.rope.base > 0) || !std::isfinite(p.rope.base)) {
      return Status::Error("rope.base must be positive and finite, got " + std::to_string(p.rope.base));
    }
  }
  if (!(s = checkPositions(p)).ok) return s;
  return checkMask(p);
}

}  // namespace attnflow
