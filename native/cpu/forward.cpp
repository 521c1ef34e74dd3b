// cpuAttentionForward: validates the call, builds the plan, cuts the work into items and runs them
// on the shared pool with the best kernel table for this CPU (kernel_avx2.cpp when the CPU has
// AVX2+FMA+F16C, kernel_neon.cpp on aarch64, else kernel_portable.cpp; ATTNFLOW_CPU_SIMD=scalar
// forces the portable one).
//
// Work items are (batch, query head, query tile) rows of the BlockMask, grouped by (batch, kv
// head) so the threads share that head's K/V in cache, largest first within a group. For GQA with
// a shared mask and few queries (decoding), the heads of a group are packed into one item so each
// K/V tile is read once for all of them. When there are too few items to keep every thread busy
// (decoding: seqQ of 1..16 against a long KV, or small batches), a row's list of key tiles is
// split into chunks; each chunk produces a partial (unnormalised output, running max, sum) and a
// second pass merges them exactly through the log-sum-exp.
//
// float32 K/V with unit headDim stride are read in place (the S^T = K Q^T formulation needs no
// transposed copy); 16-bit K/V, RoPE on K and other layouts are converted tile by tile into
// per-thread scratch. When every K/V tile is used by a single item (one query tile: decoding),
// K/V stream from memory once and a sequential copy is faster than the kernels' strided reads,
// so they are always copied.
//
// Nothing is sized by seqQ x seqK: per-thread scratch is O(tile x headDim), the RoPE table is
// O(seqK x dims), partial results exist only for split rows.
//
// NaN / ±inf in q, k, v follow IEEE evaluation of the naive formula over each row's allowed keys,
// split rows included (a NaN part makes the merged row NaN, an empty part adds nothing): see the
// head of kernel_body.h.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "attnflow.h"
#include "kernel.h"
#include "scratch.h"
#include "thread_pool.h"

namespace attnflow {

TileShape cpuTileShape() { return TileShape{cpu::kBQ, cpu::kBK}; }

namespace cpu {

// --- kernel selection --------------------------------------------------------------------------

namespace {

std::atomic<int> gForced{static_cast<int>(Simd::Auto)};

bool avx2Supported() {
#if defined(__x86_64__) || defined(_M_X64)
  const CpuInfo c = cpuInfo();
  return c.avx2 && c.fma && c.f16c;
#else
  return false;
#endif
}

Simd envChoice() {
  static const Simd choice = [] {
    const char* e = std::getenv("ATTNFLOW_CPU_SIMD");
    if (e && (std::strcmp(e, "scalar") == 0 || std::strcmp(e, "portable") == 0)) return Simd::Portable;
    return Simd::Auto;
  }();
  return choice;
}

}  // namespace

void forceSimd(Simd s) { gForced.store(static_cast<int>(s)); }

const KernelTable& activeKernels() {
  Simd s = static_cast<Simd>(gForced.load());
  if (s == Simd::Auto) s = envChoice();
#if defined(__x86_64__) || defined(_M_X64)
  if (s != Simd::Portable && avx2Supported()) return avx2Kernels();
#endif
#if defined(__aarch64__)
  if (s != Simd::Portable) return neonKernels();  // NEON is baseline on aarch64
#endif
  return portableKernels();
}

const char* activeSimd() { return activeKernels().name; }

unsigned poolThreads() { return ThreadPool::instance().threads(); }

// --- scratch -----------------------------------------------------------------------------------

namespace {

size_t round8(size_t n) { return (n + 7) & ~static_cast<size_t>(7); }

Scratch threadScratch(int D) {
  return carveScratch(cpu::threadScratchFloats(scratchFloats(D)), D);
}

}  // namespace

size_t scratchFloats(int D) {
  const size_t Dp = round8(static_cast<size_t>(D));
  return round8(static_cast<size_t>(D) * kBQ) + round8(static_cast<size_t>(kBK) * kBQ) + kBQ * Dp + 3 * kBQ +
         2 * kBK * Dp + Dp + 8;
}

Scratch carveScratch(float* base, int D) {
  const size_t Dp = round8(static_cast<size_t>(D));
  Scratch s;
  float* p = base;
  s.qT = p;
  p += round8(static_cast<size_t>(D) * kBQ);
  s.sT = p;
  p += round8(static_cast<size_t>(kBK) * kBQ);
  s.o = p;
  p += kBQ * Dp;
  s.m = p;
  p += kBQ;
  s.l = p;
  p += kBQ;
  s.alpha = p;
  p += kBQ;
  s.kBuf = p;
  p += kBK * Dp;
  s.vBuf = p;
  p += kBK * Dp;
  s.row = p;
  s.mass = nullptr;
  return s;
}

// --- the call ----------------------------------------------------------------------------------

namespace {

constexpr double kLog2e = 1.4426950408889634;

OperandPlan operandPlan(const TensorView& t) {
  return OperandPlan{t.data, t.dtype, t.strides[0], t.strides[1], t.strides[2], t.strides[3]};
}

// cos/sin of (pos + offset) * base^(-2t/dims) for pos in [lo, hi), t < dims/2, as float32 tables
// [pos - lo][t]. Angles and rotations are in float64: each block of 64 positions takes the exact
// sincos of its first angle and steps by the angle-addition formula.
void buildRopeTable(const RopeParams& rope, int64_t lo, int64_t hi, std::vector<float>& cosT,
                    std::vector<float>& sinT, ThreadPool& pool) {
  const int half = rope.dims / 2;
  const int64_t n = hi - lo;
  cosT.assign(static_cast<size_t>(n) * half, 0.f);
  sinT.assign(static_cast<size_t>(n) * half, 0.f);
  std::vector<double> inv(half), stepC(static_cast<size_t>(64) * half), stepS(static_cast<size_t>(64) * half);
  for (int t = 0; t < half; ++t) inv[t] = std::pow(static_cast<double>(rope.base), -2.0 * t / rope.dims);
  for (int r = 0; r < 64; ++r)
    for (int t = 0; t < half; ++t) {
      stepC[r * half + t] = std::cos(r * inv[t]);
      stepS[r * half + t] = std::sin(r * inv[t]);
    }
  const size_t blocks = static_cast<size_t>((n + 63) / 64);
  auto body = [&](size_t blk) {
    const int64_t p0 = lo + static_cast<int64_t>(blk) * 64;
    const int64_t cnt = std::min<int64_t>(64, hi - p0);
    for (int t = 0; t < half; ++t) {
      const double a0 = static_cast<double>(p0 + rope.offset) * inv[t];
      const double c0 = std::cos(a0), s0 = std::sin(a0);
      for (int64_t r = 0; r < cnt; ++r) {
        const double cr = stepC[r * half + t], sr = stepS[r * half + t];
        const size_t at = static_cast<size_t>(p0 - lo + r) * half + t;
        cosT[at] = static_cast<float>(c0 * cr - s0 * sr);
        sinT[at] = static_cast<float>(s0 * cr + c0 * sr);
      }
    }
  };
  pool.parallelFor(blocks, body);
}

// RoPE tables for explicit positions: one row per position in use. When the positions span little
// more than their count, the rows are the dense range [lo, hi] (row = pos - lo); otherwise (a cache
// that kept keys spread over a long sequence) one row per distinct position, each from its own
// sincos. Row indices per query and per key slot go to rowQ / rowK (-1 for an empty key slot).
void ropeRows(const AttentionParams& p, const Plan& P, std::vector<float>& cosT, std::vector<float>& sinT,
              std::vector<int32_t>& rowQ, std::vector<int32_t>& rowK, ThreadPool& pool) {
  const int64_t nk = static_cast<int64_t>(P.Hkv) * P.Sk;
  std::vector<int32_t> all;
  all.reserve(static_cast<size_t>(P.Sq + nk));
  for (int64_t i = 0; i < P.Sq; ++i) all.push_back(static_cast<int32_t>(queryPosition(p, i)));
  auto keyPos = [&](int64_t x) {  // x = hk * Sk + j
    return P.kpos ? P.kpos[(x / P.Sk) * P.kposStride + x % P.Sk] : static_cast<int32_t>(x % P.Sk);
  };
  for (int64_t x = 0; x < nk; ++x) {
    const int32_t kp = keyPos(x);
    if (kp >= 0) all.push_back(kp);
  }
  rowQ.resize(static_cast<size_t>(P.Sq));
  rowK.resize(static_cast<size_t>(nk));
  const int64_t lo = *std::min_element(all.begin(), all.end());
  const int64_t hi = *std::max_element(all.begin(), all.end());
  if (hi - lo + 1 <= 4 * static_cast<int64_t>(all.size()) + 64) {
    buildRopeTable(p.rope, lo, hi + 1, cosT, sinT, pool);
    for (int64_t i = 0; i < P.Sq; ++i) rowQ[i] = static_cast<int32_t>(queryPosition(p, i) - lo);
    for (int64_t x = 0; x < nk; ++x) rowK[x] = keyPos(x) >= 0 ? static_cast<int32_t>(keyPos(x) - lo) : -1;
    return;
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  const int half = p.rope.dims / 2;
  cosT.assign(all.size() * half, 0.f);
  sinT.assign(all.size() * half, 0.f);
  std::vector<double> inv(half);
  for (int t = 0; t < half; ++t) inv[t] = std::pow(static_cast<double>(p.rope.base), -2.0 * t / p.rope.dims);
  auto body = [&](size_t blk) {
    for (size_t r = blk * 64; r < std::min(all.size(), blk * 64 + 64); ++r)
      for (int t = 0; t < half; ++t) {
        const double a = (static_cast<double>(all[r]) + p.rope.offset) * inv[t];
        cosT[r * half + t] = static_cast<float>(std::cos(a));
        sinT[r * half + t] = static_cast<float>(std::sin(a));
      }
  };
  pool.parallelFor((all.size() + 63) / 64, body);
  auto row = [&](int64_t pos) { return static_cast<int32_t>(std::lower_bound(all.begin(), all.end(), pos) - all.begin()); };
  for (int64_t i = 0; i < P.Sq; ++i) rowQ[i] = row(queryPosition(p, i));
  for (int64_t x = 0; x < nk; ++x) rowK[x] = keyPos(x) >= 0 ? row(keyPos(x)) : -1;
}

Status forward(const AttentionParams& p) {
  Status st = validateAttention(p);
  if (!st.ok) return st;
  const BlockMaskView& mk = p.mask;
  if (mk.blockQ != kBQ || mk.blockK != kBK) {
    return Status::Error("mask tile shape " + std::to_string(mk.blockQ) + "x" + std::to_string(mk.blockK) +
                         " does not match the CPU kernel's " + std::to_string(kBQ) + "x" + std::to_string(kBK) +
                         " (cpuTileShape)");
  }

  Plan P{};
  P.B = static_cast<int32_t>(p.q.shape[0]);
  P.Hq = static_cast<int32_t>(p.q.shape[1]);
  P.Sq = static_cast<int32_t>(p.q.shape[2]);
  P.D = static_cast<int32_t>(p.q.shape[3]);
  P.Hkv = static_cast<int32_t>(p.k.shape[1]);
  P.Sk = static_cast<int32_t>(p.k.shape[2]);
  if (P.B == 0 || P.Sq == 0) return Status::Ok();
  P.Dp = static_cast<int32_t>(round8(static_cast<size_t>(P.D)));
  P.group = P.Hq / P.Hkv;
  P.shift = p.queryStart == kBottomRight ? static_cast<int64_t>(P.Sk) - P.Sq : p.queryStart;
  P.qpos = p.queryPositions;
  P.kpos = p.keyPositions;
  P.kposStride = p.keyPositions && p.keyPositionsLen == static_cast<size_t>(P.Hkv) * P.Sk ? P.Sk : 0;
  P.q = operandPlan(p.q);
  P.k = operandPlan(p.k);
  P.v = operandPlan(p.v);
  P.out = p.out.data;
  P.outType = p.out.dtype;
  P.osb = p.out.strides[0];
  P.osh = p.out.strides[1];
  P.oss = p.out.strides[2];
  P.osd = p.out.strides[3];
  P.lse = p.lse;
  P.rowPtr = mk.rowPtr;
  P.colIdx = mk.colIdx;
  P.partial = mk.partial;
  P.bits = mk.bits;
  P.maskHeads = mk.heads;
  P.numQBlocks = mk.numQBlocks;
  P.numKBlocks = mk.numKBlocks;
  P.wordsPerRow = mk.wordsPerRow;

  P.softcap = p.softcap > 0.f;
  P.qScale = static_cast<float>(P.softcap ? static_cast<double>(p.scale) : p.scale * kLog2e);
  P.capInv = P.softcap ? static_cast<float>(1.0 / p.softcap) : 0.f;
  P.capOut = P.softcap ? static_cast<float>(p.softcap * kLog2e) : 0.f;
  std::vector<float> alibi2;
  if (p.alibiSlopes) {
    alibi2.resize(static_cast<size_t>(P.Hq));
    for (int h = 0; h < P.Hq; ++h) alibi2[h] = static_cast<float>(p.alibiSlopes[h] * kLog2e);
    P.alibi2 = alibi2.data();
  }

  ThreadPool& pool = ThreadPool::instance();
  std::vector<float> ropeCos, ropeSin;
  std::vector<int32_t> ropeRowQ, ropeRowK;
  P.rope = p.rope.enabled;
  if (P.rope) {
    P.ropeInterleaved = p.rope.interleaved;
    P.ropeDims = p.rope.dims;
    if (P.qpos || P.kpos) {
      ropeRows(p, P, ropeCos, ropeSin, ropeRowQ, ropeRowK, pool);
      P.ropeRowQ = ropeRowQ.data();
      P.ropeRowK = ropeRowK.data();
    } else {
      P.ropeLo = std::min<int64_t>(0, P.shift);
      buildRopeTable(p.rope, P.ropeLo, std::max<int64_t>(P.Sk, P.shift + P.Sq), ropeCos, ropeSin, pool);
    }
    P.ropeCos = ropeCos.data();
    P.ropeSin = ropeSin.data();
  }
  if (cancelRequested(p.cancel)) return Status::Cancelled();
  P.kDirect = p.k.dtype == DType::F32 && !P.rope && p.k.strides[3] == 1;
  P.vDirect = p.v.dtype == DType::F32 && p.v.strides[3] == 1 && P.D % 8 == 0;
  if (mk.numQBlocks <= 1) {
    // Each K/V tile is used by one item only (decoding): it streams from memory once, and a
    // sequential copy into scratch reads memory faster than the kernels' strided access.
    P.kDirect = P.vDirect = false;
  }

  // --- work items -------------------------------------------------------------------------------
  const int nqb = P.numQBlocks;
  auto rowRange = [&](int h, int qb, int32_t& e0, int32_t& e1) {
    // query head h reads mask row h / (Hq / maskHeads): one row for all heads, per kv head, or per head
    const int64_t mr = static_cast<int64_t>(h / (P.Hq / P.maskHeads)) * nqb + qb;
    e0 = P.rowPtr[mr];
    e1 = P.rowPtr[mr + 1];
  };
  int64_t totalTiles = 0;
  for (int h = 0; h < P.Hq; h += P.Hq / P.maskHeads)
    for (int qb = 0; qb < nqb; ++qb) {
      int32_t e0, e1;
      rowRange(h, qb, e0, e1);
      totalTiles += e1 - e0;
    }
  totalTiles *= static_cast<int64_t>(P.B) * (P.Hq / P.maskHeads);

  // GQA decode: when the heads of a group share the mask and the queries fit in one tile, pack
  // several heads into one item so each K/V tile is read once for all of them.
  int ng = 1;
  const bool groupShares = (P.Hq / P.maskHeads) % P.group == 0;  // the heads of a group read one mask row
  if (P.group > 1 && groupShares && nqb == 1 && 2 * P.Sq <= kBQ) ng = std::min(P.group, kBQ / P.Sq);
  const int64_t packedRows = static_cast<int64_t>(P.B) * P.Hkv * nqb * ((P.group + ng - 1) / ng);

  const unsigned threads = pool.threads();
  int64_t chunk = INT32_MAX;  // tiles per item
  if (threads > 1 && packedRows < 4 * static_cast<int64_t>(threads)) {
    constexpr int64_t kMinChunk = 4;
    chunk = std::max<int64_t>(kMinChunk, (totalTiles / ng + 4 * threads - 1) / (4 * threads));
  }

  std::vector<Item> items;
  std::vector<int64_t> cost;
  std::vector<Item> merges;  // the first item of each split row, with its slot count in `mergeCount`
  std::vector<int32_t> mergeCount;
  items.reserve(static_cast<size_t>(packedRows));
  cost.reserve(static_cast<size_t>(packedRows));
  int32_t slots = 0;
  std::vector<int64_t> massOffset;  // per slot, into massParts (key masses only)
  int64_t massFloats = 0;
  for (int b = 0; b < P.B; ++b)
    for (int hk = 0; hk < P.Hkv; ++hk)
      for (int qb = 0; qb < nqb; ++qb)
        for (int g = 0; g < P.group; g += ng) {
          const int h = hk * P.group + g;
          const int ngHere = std::min(ng, P.group - g);
          int32_t e0, e1;
          rowRange(h, qb, e0, e1);
          const int64_t n = e1 - e0;
          const int nq = std::min(kBQ, P.Sq - qb * kBQ) * ngHere;
          if (n <= chunk) {
            items.push_back(Item{b, h, qb, ngHere, e0, e1, -1});
            cost.push_back(n * (nq + 8) + 1);
          } else {
            const int64_t parts = (n + chunk - 1) / chunk;
            merges.push_back(Item{b, h, qb, ngHere, e0, e1, slots});
            mergeCount.push_back(static_cast<int32_t>(parts));
            for (int64_t s = 0; s < parts; ++s) {
              const int32_t a = static_cast<int32_t>(e0 + n * s / parts);
              const int32_t z = static_cast<int32_t>(e0 + n * (s + 1) / parts);
              items.push_back(Item{b, h, qb, ngHere, a, z, slots++});
              cost.push_back((z - a) * (nq + 8) + 1);
              if (p.keyMass) {
                massOffset.push_back(massFloats);
                massFloats += static_cast<int64_t>(z - a) * static_cast<int64_t>(massTileFloats((nq + 7) & ~7));
              }
            }
          }
        }

  // Items of one (batch, kv head) stay together, so the threads share its K/V in cache; within it
  // the largest go first (stable, so equal items keep their order: consecutive query tiles
  // share key tiles), which keeps the tail of the schedule short.
  std::vector<uint32_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
  auto kvGroup = [&](uint32_t i) { return static_cast<int64_t>(items[i].b) * P.Hkv + items[i].h / P.group; };
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const int64_t ga = kvGroup(a), gb = kvGroup(b);
    return ga != gb ? ga < gb : cost[a] > cost[b];
  });

  std::vector<float> partials(static_cast<size_t>(slots) * partialStride(P.Dp));
  const KernelTable& K = activeKernels();
  float* partialData = partials.data();

  std::vector<float> massParts;
  if (p.keyMass) {
    std::fill(p.keyMass, p.keyMass + p.keyMassLen, 0.f);
    massParts.resize(static_cast<size_t>(massFloats));
    P.keyMass = p.keyMass;
    P.massParts = massParts.data();
    P.massOffset = massOffset.data();
  }

  // Cancellation: once p.cancel is set, the remaining items return at once (one relaxed load per
  // item, none per tile), the merge pass is skipped and the call reports Cancelled.
  auto run = [&](size_t i) {
    if (cancelRequested(p.cancel)) return;
    Scratch S = threadScratch(P.D);
    const Item& it = items[order[i]];
    if (P.keyMass) {
      if (it.slot >= 0) {
        S.mass = P.massParts + P.massOffset[it.slot];
      } else {
        // this thread's record of an item's tiles, kept between calls
        thread_local std::vector<float> record;
        const int nq = std::min(kBQ, P.Sq - it.qb * kBQ) * it.ng;
        const size_t need = static_cast<size_t>(it.e1 - it.e0) * massTileFloats((nq + 7) & ~7);
        if (record.size() < need) record.resize(need);
        S.mass = record.data();
      }
    }
    K.runItem(P, it, S, partialData);
  };
  pool.parallelFor(items.size(), run);
  if (cancelRequested(p.cancel)) return Status::Cancelled();

  if (!merges.empty()) {
    auto merge = [&](size_t i) {
      if (cancelRequested(p.cancel)) return;
      const Scratch S = threadScratch(P.D);
      K.mergeRow(P, S, merges[i], partialData, mergeCount[i]);
    };
    pool.parallelFor(merges.size(), merge);
    if (cancelRequested(p.cancel)) return Status::Cancelled();
  }
  return Status::Ok();
}

}  // namespace
}  // namespace cpu

const char* cpuKernelName() { return cpu::activeSimd(); }

Status cpuAttentionForward(const AttentionParams& p) {
  try {
    return cpu::forward(p);
  } catch (const std::bad_alloc&) {
    return Status::Error("cpuAttentionForward: out of memory");
  } catch (const std::exception& e) {
    return Status::Error(std::string("cpuAttentionForward: ") + e.what());
  } catch (...) {
    return Status::Error("cpuAttentionForward: unknown error");
  }
}

}  // namespace attnflow
