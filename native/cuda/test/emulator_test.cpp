// Runs the CUDA kernels without a GPU: the kernel sources (fa2.cuh, general.cuh) compiled as
// host C++ against the stand-in headers of shim/, one OS thread per CUDA thread, __syncthreads as
// a barrier of the block, warp shuffles, ldmatrix and mma.sync as exchanges among the 32 threads
// of a warp (with the PTX ISA's fragment layouts), cp.async copied either at once or at
// cp.async.wait_group. Results are checked against a float64 reference with the SPEC's bars.
//
// What it checks: the kernels' index arithmetic, masking (full / partial / out-of-sequence
// tiles, per-head and per-kv-head masks), online softmax, GQA, split-KV and its combine, the RoPE
// pre-pass, softcap, ALiBi, LSE, empty rows, explicit query and key positions (RoPE and ALiBi on
// true positions, empty key slots, top-left alignment), key masses (records, combine, massKernel), non-finite inputs (NaN / +-inf in q, k, v at attended and
// masked keys, in partial tiles and split-KV, against the IEEE semantics of native/cpu/kernel_body.h:
// the pattern of non-finite outputs and lse must equal the reference's); shared-memory bounds and alignment of every emulated
// ldmatrix / cp.async; cp.async sources inside their buffers. Built with -fsanitize=address it
// also catches out-of-bounds global reads and writes (memcheck's job); with -fsanitize=thread,
// shared-memory races between barriers (racecheck's job). What it cannot check: timing,
// occupancy, the real hardware's rounding inside mma, compiler or PTX issues. See run.sh.
#include <pthread.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "attnflow.h"
#include "fa2.cuh"
#include "general.cuh"

// --- the emulated runtime -----------------------------------------------------------------------

thread_local dim3 threadIdx;
thread_local dim3 blockIdx;
dim3 blockDim;
dim3 gridDim;

namespace emu {
namespace {

[[noreturn]] void fault(const char* what) {
  std::fprintf(stderr, "EMULATED DEVICE FAULT: %s (block %u, thread %u)\n", what, blockIdx.x, threadIdx.x);
  std::abort();
}

struct Block {
  pthread_barrier_t all;
  pthread_barrier_t warps[32];
  uint32_t slots[32][32][8];      // [warp][lane][word]
  const void* ptrs[32][32];       // [warp][lane]
  unsigned char* smem = nullptr;  // dynamic shared memory
  size_t smemBytes = 0;
};

Block* gBlock = nullptr;
thread_local int tLane = 0, tWarp = 0;
bool gDeferred = false;

struct Copy {
  void* dst;
  const void* src;
  bool valid;
};
thread_local std::vector<Copy> tOpen;
thread_local std::deque<std::vector<Copy>> tGroups;

struct Range {
  const unsigned char* base;
  size_t bytes;
};
std::vector<Range> gGlobals;  // buffers cp.async may read

void warpSync() { pthread_barrier_wait(&gBlock->warps[tWarp]); }

void checkSmem(const void* p, size_t bytes, size_t align) {
  const auto* c = static_cast<const unsigned char*>(p);
  if (c < gBlock->smem || c + bytes > gBlock->smem + gBlock->smemBytes) fault("shared memory access out of bounds");
  if (reinterpret_cast<uintptr_t>(p) % align != 0) fault("misaligned shared memory access");
}

void checkGlobal(const void* p, size_t bytes) {
  const auto* c = static_cast<const unsigned char*>(p);
  for (const Range& r : gGlobals) {
    if (c >= r.base && c + bytes <= r.base + r.bytes) {
      if (reinterpret_cast<uintptr_t>(p) % 16 != 0) fault("misaligned cp.async source");
      return;
    }
  }
  fault("cp.async reads outside every global buffer");
}

void doCopy(const Copy& c) {
  if (c.valid) {
    std::memcpy(c.dst, c.src, 16);
  } else {
    std::memset(c.dst, 0, 16);
  }
}

float decode16(uint16_t bits, bool bf16) {
  return bf16 ? attnflow::cpu::bf16ToFloat(bits) : attnflow::cpu::halfToFloat(bits);
}

}  // namespace

void* dynamicSmem() { return gBlock->smem; }
void syncthreads() { pthread_barrier_wait(&gBlock->all); }
int lane() { return tLane; }

uint32_t shfl32(uint32_t v, int src) {
  gBlock->slots[tWarp][tLane][0] = v;
  warpSync();
  const uint32_t r = gBlock->slots[tWarp][src][0];
  warpSync();
  return r;
}

uint32_t ballot(bool pred) {
  gBlock->slots[tWarp][tLane][0] = pred ? 1u : 0u;
  warpSync();
  uint32_t r = 0;
  for (int l = 0; l < 32; ++l) r |= (gBlock->slots[tWarp][l][0] & 1u) << l;
  warpSync();
  return r;
}

void cpAsync16(void* dst, const void* src, bool valid) {
  checkSmem(dst, 16, 16);
  if (valid) checkGlobal(src, 16);
  const Copy c{dst, src, valid};
  if (gDeferred) {
    tOpen.push_back(c);
  } else {
    doCopy(c);
  }
}

void cpAsyncCommit() {
  tGroups.push_back(std::move(tOpen));
  tOpen.clear();
}

void cpAsyncWait(int pendingAllowed) {
  while (static_cast<int>(tGroups.size()) > pendingAllowed) {
    for (const Copy& c : tGroups.front()) doCopy(c);
    tGroups.pop_front();
  }
}

void ldmatrixX4(uint32_t (&r)[4], const void* row, bool trans) {
  checkSmem(row, 16, 16);
  gBlock->ptrs[tWarp][tLane] = row;
  warpSync();
  const int g = tLane >> 2, t = tLane & 3;
  for (int i = 0; i < 4; ++i) {
    auto elem = [&](int rr, int cc) {
      return static_cast<const uint16_t*>(gBlock->ptrs[tWarp][8 * i + rr])[cc];
    };
    const uint16_t lo = trans ? elem(2 * t, g) : elem(g, 2 * t);
    const uint16_t hi = trans ? elem(2 * t + 1, g) : elem(g, 2 * t + 1);
    r[i] = static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
  }
  warpSync();
}

void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, bool bf16) {
  uint32_t* s = gBlock->slots[tWarp][tLane];
  for (int i = 0; i < 4; ++i) s[i] = a[i];
  s[4] = b0;
  s[5] = b1;
  warpSync();
  float A[16][16], B[16][8];
  for (int l = 0; l < 32; ++l) {
    const uint32_t* o = gBlock->slots[tWarp][l];
    const int g = l >> 2, t = l & 3;
    auto lo = [&](uint32_t x) { return decode16(static_cast<uint16_t>(x & 0xffffu), bf16); };
    auto hi = [&](uint32_t x) { return decode16(static_cast<uint16_t>(x >> 16), bf16); };
    A[g][2 * t] = lo(o[0]);
    A[g][2 * t + 1] = hi(o[0]);
    A[g + 8][2 * t] = lo(o[1]);
    A[g + 8][2 * t + 1] = hi(o[1]);
    A[g][2 * t + 8] = lo(o[2]);
    A[g][2 * t + 9] = hi(o[2]);
    A[g + 8][2 * t + 8] = lo(o[3]);
    A[g + 8][2 * t + 9] = hi(o[3]);
    B[2 * t][g] = lo(o[4]);
    B[2 * t + 1][g] = hi(o[4]);
    B[2 * t + 8][g] = lo(o[5]);
    B[2 * t + 9][g] = hi(o[5]);
  }
  const int g = tLane >> 2, t = tLane & 3;
  for (int e = 0; e < 4; ++e) {
    const int row = g + (e >> 1) * 8, col = 2 * t + (e & 1);
    float acc = c[e];
    for (int k = 0; k < 16; ++k) acc += A[row][k] * B[k][col];
    c[e] = acc;
  }
  warpSync();
}

// Runs `grid` blocks of `block` threads one block at a time. Shared memory is filled with 0xff
// (NaN in every dtype) before each block, so reading what the block never wrote shows up.
void launch(unsigned grid, unsigned block, size_t smemBytes, const std::function<void()>& kernel) {
  if (block % 32 != 0 || block > 1024) fault("bad block size");
  Block* b = new Block();
  b->smemBytes = smemBytes;
  b->smem = static_cast<unsigned char*>(std::malloc(smemBytes == 0 ? 1 : smemBytes));
  pthread_barrier_init(&b->all, nullptr, block);
  for (unsigned w = 0; w < block / 32; ++w) pthread_barrier_init(&b->warps[w], nullptr, 32);
  gridDim.x = grid;
  blockDim.x = block;
  gBlock = b;
  for (unsigned bid = 0; bid < grid; ++bid) {
    std::memset(b->smem, 0xff, smemBytes);
    std::vector<std::thread> threads;
    threads.reserve(block);
    for (unsigned t = 0; t < block; ++t) {
      threads.emplace_back([&, t, bid] {
        threadIdx.x = t;
        blockIdx.x = bid;
        tLane = static_cast<int>(t & 31);
        tWarp = static_cast<int>(t >> 5);
        tOpen.clear();
        tGroups.clear();
        kernel();
      });
    }
    for (auto& th : threads) th.join();
  }
  for (unsigned w = 0; w < block / 32; ++w) pthread_barrier_destroy(&b->warps[w]);
  pthread_barrier_destroy(&b->all);
  std::free(b->smem);
  delete b;
  gBlock = nullptr;
}

}  // namespace emu

// --- problems, masks, reference ----------------------------------------------------------------

namespace {

using namespace attnflow;
using namespace attnflow::cudaimpl;

using Allow = std::function<bool(int h, int64_t p, int64_t j)>;

struct Case {
  std::string name;
  int B = 1, Hq = 2, Hkv = 2, Sq = 64, Sk = 64, D = 64;
  DType dtype = DType::F16;
  bool bshd = false;
  bool perHead = false;
  Allow allow = [](int, int64_t, int64_t) { return true; };
  float scale = 0.f;  // 0: 1/sqrt(D)
  float softcap = 0.f;
  bool alibi = false;
  RopeParams rope;
  int forced = 0;  // 0 auto, 1 fa2, 2 general
  int sms = 132;   // multiprocessors the split heuristic assumes
  // Non-finite injection: elements of q / k / v set (as stored in the dtype) after generation.
  struct Poke {
    char t;  // 'q', 'k' or 'v'
    int b, h, s, d;
    float value;
  };
  std::vector<Poke> pokes;
  bool colOnes = false;  // k[..][..][..][0] = 1 for every key (with q[..][0] = -inf: all scores -inf)
  // Explicit positions (see AttentionParams): query i at queryPos[i] (empty: queryStart + i, or
  // bottom-right), key j of kv head hk at keyPos[hk * Sk + j] (or keyPos[j] when it holds Sk
  // entries; negative: an empty slot); the mask and the reference use them.
  std::vector<int32_t> queryPos, keyPos;
  int64_t queryStart = kBottomRight;
  bool maskPerKvHead = false;  // mask rows per kv head (BlockMask.heads = Hkv)
  bool keyMass = false;
  int64_t qpos(int i) const {
    if (!queryPos.empty()) return queryPos[i];
    return (queryStart == kBottomRight ? static_cast<int64_t>(Sk) - Sq : queryStart) + i;
  }
  int64_t kpos(int hk, int j) const {
    if (keyPos.empty()) return j;
    return keyPos.size() == static_cast<size_t>(Sk) ? keyPos[j] : keyPos[static_cast<size_t>(hk) * Sk + j];
  }
  // whether query i of head h may read key j (the pattern on the true positions)
  bool allowed(int h, int i, int j) const {
    const int hk = h / (Hq / Hkv);
    const int64_t kp = kpos(hk, j);
    return kp >= 0 && allow(perHead ? h : 0, qpos(i), kp);
  }
};

struct Mask {
  BlockMaskView view;
  std::vector<int32_t> rowPtr, colIdx, partial;
  std::vector<uint32_t> bits;
};

Mask buildMask(const Case& c) {
  Mask m;
  const int bq = kTileQ, bk = kTileK, wpr = (bk + 31) / 32;
  const int nqb = (c.Sq + bq - 1) / bq, nkb = (c.Sk + bk - 1) / bk;
  const int heads = c.perHead ? c.Hq : c.maskPerKvHead ? c.Hkv : 1;
  m.rowPtr.push_back(0);
  for (int mh = 0; mh < heads; ++mh) {
    const int h = c.maskPerKvHead ? mh * (c.Hq / c.Hkv) : mh;  // a query head this row serves
    for (int qb = 0; qb < nqb; ++qb) {
      for (int kb = 0; kb < nkb; ++kb) {
        std::vector<uint32_t> tile(static_cast<size_t>(bq) * wpr, 0);
        int allowed = 0, inRange = 0;
        for (int r = 0; r < bq; ++r) {
          const int i = qb * bq + r;
          if (i >= c.Sq) continue;
          for (int cc = 0; cc < bk; ++cc) {
            const int j = kb * bk + cc;
            if (j >= c.Sk) continue;
            ++inRange;
            if (c.allowed(h, i, j)) {
              ++allowed;
              tile[static_cast<size_t>(r) * wpr + (cc >> 5)] |= 1u << (cc & 31);
            }
          }
        }
        if (allowed == 0) continue;
        m.colIdx.push_back(kb);
        if (allowed == inRange) {
          m.partial.push_back(-1);
        } else {
          m.partial.push_back(static_cast<int32_t>(m.bits.size() / tile.size()));
          m.bits.insert(m.bits.end(), tile.begin(), tile.end());
        }
      }
      m.rowPtr.push_back(static_cast<int32_t>(m.colIdx.size()));
    }
  }
  BlockMaskView& v = m.view;
  v.seqQ = c.Sq;
  v.seqK = c.Sk;
  v.blockQ = bq;
  v.blockK = bk;
  v.numQBlocks = nqb;
  v.numKBlocks = nkb;
  v.heads = heads;
  v.wordsPerRow = wpr;
  v.rowPtr = m.rowPtr.data();
  v.rowPtrLen = m.rowPtr.size();
  v.colIdx = m.colIdx.data();
  v.partial = m.partial.data();
  v.nnz = m.colIdx.size();
  v.bits = m.bits.data();
  v.bitsLen = m.bits.size();
  return m;
}

// A tensor stored in the case's dtype and layout, with its values (as stored) in float64.
struct Operand4 {
  std::vector<unsigned char> bytes;
  std::vector<double> values;  // logical [B][H][S][D]
  int64_t strides[4];
};

Operand4 makeOperand(const Case& c, int H, int S, std::mt19937& rng) {
  Operand4 o;
  const size_t n = static_cast<size_t>(c.B) * H * S * c.D;
  const size_t elt = dtypeSize(c.dtype);
  o.bytes.assign(n * elt, 0);
  o.values.resize(n);
  const int64_t D = c.D;
  if (c.bshd) {
    o.strides[0] = static_cast<int64_t>(S) * H * D;
    o.strides[1] = D;
    o.strides[2] = static_cast<int64_t>(H) * D;
  } else {
    o.strides[0] = static_cast<int64_t>(H) * S * D;
    o.strides[1] = static_cast<int64_t>(S) * D;
    o.strides[2] = D;
  }
  o.strides[3] = 1;
  std::normal_distribution<float> normal(0.f, 1.f);
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < H; ++h)
      for (int s = 0; s < S; ++s)
        for (int d = 0; d < c.D; ++d) {
          const float x = normal(rng);
          const int64_t at = b * o.strides[0] + h * o.strides[1] + s * o.strides[2] + d;
          double stored;
          if (c.dtype == DType::F32) {
            std::memcpy(&o.bytes[at * 4], &x, 4);
            stored = x;
          } else {
            const uint16_t bits = c.dtype == DType::F16 ? cpu::floatToHalf(x) : cpu::floatToBf16(x);
            std::memcpy(&o.bytes[at * 2], &bits, 2);
            stored = c.dtype == DType::F16 ? cpu::halfToFloat(bits) : cpu::bf16ToFloat(bits);
          }
          o.values[((static_cast<size_t>(b) * H + h) * S + s) * c.D + d] = stored;
        }
  return o;
}

void setElement(const Case& c, Operand4& o, int H, int S, int b, int h, int s, int d, float x) {
  const int64_t at = b * o.strides[0] + h * o.strides[1] + s * o.strides[2] + d;
  double stored;
  if (c.dtype == DType::F32) {
    std::memcpy(&o.bytes[at * 4], &x, 4);
    stored = x;
  } else {
    const uint16_t bits = c.dtype == DType::F16 ? cpu::floatToHalf(x) : cpu::floatToBf16(x);
    std::memcpy(&o.bytes[at * 2], &bits, 2);
    stored = c.dtype == DType::F16 ? cpu::halfToFloat(bits) : cpu::bf16ToFloat(bits);
  }
  o.values[((static_cast<size_t>(b) * H + h) * S + s) * c.D + d] = stored;
}

void inject(const Case& c, Operand4& q, Operand4& k, Operand4& v) {
  if (c.colOnes) {
    for (int b = 0; b < c.B; ++b)
      for (int h = 0; h < c.Hkv; ++h)
        for (int s = 0; s < c.Sk; ++s) setElement(c, k, c.Hkv, c.Sk, b, h, s, 0, 1.f);
  }
  for (const Case::Poke& pk : c.pokes) {
    if (pk.t == 'q') setElement(c, q, c.Hq, c.Sq, pk.b, pk.h, pk.s, pk.d, pk.value);
    if (pk.t == 'k') setElement(c, k, c.Hkv, c.Sk, pk.b, pk.h, pk.s, pk.d, pk.value);
    if (pk.t == 'v') setElement(c, v, c.Hkv, c.Sk, pk.b, pk.h, pk.s, pk.d, pk.value);
  }
}

TensorView viewOf(const Case& c, Operand4& o, int H, int S) {
  TensorView t;
  t.data = o.bytes.data();
  t.dtype = c.dtype;
  t.shape[0] = c.B;
  t.shape[1] = H;
  t.shape[2] = S;
  t.shape[3] = c.D;
  for (int a = 0; a < 4; ++a) t.strides[a] = o.strides[a];
  t.capacity = o.bytes.size() / dtypeSize(c.dtype);
  return t;
}

void ropeRow(std::vector<double>& x, int64_t pos, const RopeParams& r) {
  const int half = r.dims / 2;
  std::vector<double> y = x;
  for (int t = 0; t < half; ++t) {
    const double ang = static_cast<double>(pos + r.offset) * std::pow(static_cast<double>(r.base), -2.0 * t / r.dims);
    const double cs = std::cos(ang), sn = std::sin(ang);
    const int i0 = r.interleaved ? 2 * t : t, i1 = r.interleaved ? 2 * t + 1 : t + half;
    y[i0] = x[i0] * cs - x[i1] * sn;
    y[i1] = x[i0] * sn + x[i1] * cs;
  }
  x = y;
}

struct Reference {
  std::vector<double> out, lse, keyMass;
};

Reference reference(const Case& c, const Operand4& q, const Operand4& k, const Operand4& v, const std::vector<double>& slopes) {
  Reference r;
  const int D = c.D, group = c.Hq / c.Hkv;
  const double scale = c.scale > 0 ? c.scale : 1.0 / std::sqrt(static_cast<double>(D));
  r.keyMass.assign(static_cast<size_t>(c.B) * c.Hkv * c.Sk, 0.0);
  r.out.assign(static_cast<size_t>(c.B) * c.Hq * c.Sq * D, 0.0);
  r.lse.assign(static_cast<size_t>(c.B) * c.Hq * c.Sq, -INFINITY);
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.Hq; ++h) {
      const int hk = h / group;
      for (int i = 0; i < c.Sq; ++i) {
        const int64_t p = c.qpos(i);
        std::vector<double> qi(q.values.begin() + ((static_cast<size_t>(b) * c.Hq + h) * c.Sq + i) * D,
                               q.values.begin() + ((static_cast<size_t>(b) * c.Hq + h) * c.Sq + i + 1) * D);
        if (c.rope.enabled) ropeRow(qi, p, c.rope);
        // IEEE evaluation of the naive formula over the allowed keys (the semantics of
        // native/cpu/kernel_body.h): a NaN or +inf score makes the row NaN, a -inf score has
        // weight 0 (0 * NaN/inf in v still NaN), a row whose allowed scores are all -inf (or that
        // has none) is empty (zeros, lse -inf); masked keys never reach the row.
        std::vector<double> s(c.Sk, -INFINITY);
        std::vector<char> allowed(c.Sk, 0);
        double mx = -INFINITY;
        bool nanRow = false;
        for (int j = 0; j < c.Sk; ++j) {
          if (!c.allowed(h, i, j)) continue;
          allowed[j] = 1;
          const int64_t kp = c.kpos(hk, j);
          std::vector<double> kj(k.values.begin() + ((static_cast<size_t>(b) * c.Hkv + hk) * c.Sk + j) * D,
                                 k.values.begin() + ((static_cast<size_t>(b) * c.Hkv + hk) * c.Sk + j + 1) * D);
          if (c.rope.enabled) ropeRow(kj, kp, c.rope);
          double dot = 0;
          for (int d = 0; d < D; ++d) dot += qi[d] * kj[d];
          double x = dot * scale;
          if (c.softcap > 0) x = c.softcap * std::tanh(x / c.softcap);
          if (c.alibi) x -= slopes[h] * std::fabs(static_cast<double>(p - kp));
          s[j] = x;
          if (std::isnan(x)) nanRow = true;
          else mx = std::max(mx, x);
        }
        double* o = &r.out[((static_cast<size_t>(b) * c.Hq + h) * c.Sq + i) * D];
        if (nanRow || mx == INFINITY) {
          for (int d = 0; d < D; ++d) o[d] = NAN;
          r.lse[(static_cast<size_t>(b) * c.Hq + h) * c.Sq + i] = NAN;
          continue;
        }
        if (mx == -INFINITY) continue;
        double l = 0;
        for (int j = 0; j < c.Sk; ++j) l += allowed[j] ? std::exp(s[j] - mx) : 0;
        for (int j = 0; j < c.Sk; ++j) {
          if (!allowed[j]) continue;
          const double w = std::exp(s[j] - mx) / l;
          r.keyMass[(static_cast<size_t>(b) * c.Hkv + hk) * c.Sk + j] += w;
          const double* vj = &v.values[((static_cast<size_t>(b) * c.Hkv + hk) * c.Sk + j) * D];
          for (int d = 0; d < D; ++d) o[d] += w * vj[d];
        }
        r.lse[(static_cast<size_t>(b) * c.Hq + h) * c.Sq + i] = mx + std::log(l);
      }
    }
  return r;
}

double relError(const std::vector<double>& a, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    // the pattern of non-finite values must match exactly (NaN where the reference has NaN,
    // the same infinity where it has one); the finite ones are measured
    if (std::isnan(a[i]) || std::isnan(ref[i])) {
      if (std::isnan(a[i]) && std::isnan(ref[i])) continue;
      return NAN;
    }
    if (!std::isfinite(ref[i]) || !std::isfinite(a[i])) {
      if (a[i] != ref[i]) return INFINITY;
      continue;
    }
    num += (a[i] - ref[i]) * (a[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

template <typename T>
void runRope(const Operand& src, int B, int H, int S, int D, int64_t posShift, const RopeParams& rope, void* dst,
             const int32_t* positions, int64_t posStride) {
  const int64_t rows = static_cast<int64_t>(B) * H * S;
  if (rows == 0) return;
  // The launcher's grid is min(rows, 65535 * 16); a smaller grid exercises the grid-stride loop.
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(rows, 7));
  emu::launch(grid, 128, 0, [&] {
    gen::ropeKernel<T>(src, B, H, S, D, posShift, rope.dims, rope.interleaved,
                       std::log2(static_cast<double>(rope.base)), rope.offset, static_cast<T*>(dst), positions,
                       posStride);
  });
}

template <typename T>
void runGeneral(const KernelParams& kp, int sms, int* splitsOut, const int32_t* hostRowPtr) {
  int64_t count = 0;
  gen::Items items = gen::planItems(kp, sms, &count);
  *splitsOut = items.splits;
  if (count <= 0) return;
  std::vector<float> ws;
  if (items.splits > 1) {
    ws.assign(static_cast<size_t>(count) * items.splits * kTileQ * (kp.D + 2), NAN);
    items.ws = ws.data();
  }
  std::vector<int64_t> off;
  std::vector<float> massP, massM, finalML;
  if (kp.keyMass != nullptr) {
    off.resize(static_cast<size_t>(count * items.splits));
    const int64_t slots = gen::massOffsets(kp, items, count, hostRowPtr, off.data());
    massP.assign(static_cast<size_t>(slots) * kTileQ + 1, NAN);  // poisoned: unrecorded slots must not be read
    massM.assign(static_cast<size_t>(slots) / gen::kHalf * kTileQ + 1, NAN);
    finalML.assign(static_cast<size_t>(count) * 2 * kTileQ, NAN);
    items.massP = massP.data();
    items.massM = massM.data();
    items.finalML = finalML.data();
    items.massOff = off.data();
  }
  emu::launch(static_cast<unsigned>(count * items.splits), gen::kThreads, gen::generalSmemBytes(kp.D),
              [&] { gen::generalKernel<T>(kp, items); });
  if (items.splits > 1) {
    emu::launch(static_cast<unsigned>(count), gen::kThreads, 0, [&] { gen::combineKernel<T>(kp, items); });
  }
  if (kp.keyMass != nullptr) {
    emu::launch(static_cast<unsigned>(count * items.splits), gen::kThreads, 0, [&] { gen::massKernel(kp, items); });
  }
}

template <typename T>
void runFa2(const KernelParams& kp) {
  const unsigned blocks = static_cast<unsigned>(static_cast<int64_t>(kp.numQBlocks) * kp.Hq * kp.B);
  if (kp.D == 64) {
    emu::launch(blocks, fa2::kThreads, fa2::smemBytes<64>(), [&] { fa2::forwardKernel<T, 64>(kp); });
  } else {
    emu::launch(blocks, fa2::kThreads, fa2::smemBytes<128>(), [&] { fa2::forwardKernel<T, 128>(kp); });
  }
}

int failures = 0;

void runCase(const Case& c, unsigned seed) {
  std::mt19937 rng(seed);
  Operand4 q = makeOperand(c, c.Hq, c.Sq, rng), k = makeOperand(c, c.Hkv, c.Sk, rng), v = makeOperand(c, c.Hkv, c.Sk, rng);
  inject(c, q, k, v);
  Operand4 out;
  out.bytes.assign(q.bytes.size(), 0xff);  // poisoned: NaN in every dtype
  for (int a = 0; a < 4; ++a) out.strides[a] = q.strides[a];
  std::vector<float> lse(static_cast<size_t>(c.B) * c.Hq * c.Sq, NAN);
  Mask mask = buildMask(c);
  std::vector<double> slopes(c.Hq);
  std::vector<float> slopesF(c.Hq);
  for (int h = 0; h < c.Hq; ++h) slopes[h] = slopesF[h] = std::exp2(-8.0 * (h + 1) / c.Hq);

  AttentionParams p;
  p.q = viewOf(c, q, c.Hq, c.Sq);
  p.k = viewOf(c, k, c.Hkv, c.Sk);
  p.v = viewOf(c, v, c.Hkv, c.Sk);
  p.out = viewOf(c, out, c.Hq, c.Sq);
  p.lse = lse.data();
  p.lseLen = lse.size();
  p.mask = mask.view;
  p.scale = c.scale > 0 ? c.scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.D)));
  p.softcap = c.softcap;
  p.rope = c.rope;
  if (c.alibi) {
    p.alibiSlopes = slopesF.data();
    p.alibiLen = slopesF.size();
  }
  p.queryStart = c.queryStart;
  if (!c.queryPos.empty()) {
    p.queryPositions = c.queryPos.data();
    p.queryPositionsLen = c.queryPos.size();
  }
  if (!c.keyPos.empty()) {
    p.keyPositions = c.keyPos.data();
    p.keyPositionsLen = c.keyPos.size();
  }
  std::vector<float> keyMass;
  if (c.keyMass) {
    keyMass.assign(static_cast<size_t>(c.B) * c.Hkv * c.Sk, NAN);  // poisoned: the launcher zeroes it
    p.keyMass = keyMass.data();
    p.keyMassLen = keyMass.size();
  }
  Status st = validateAttention(p);
  if (!st.ok) {
    std::printf("FAIL %s: validateAttention: %s\n", c.name.c_str(), st.message.c_str());
    ++failures;
    return;
  }
  CudaMaskArrays dm{mask.rowPtr.data(), mask.colIdx.data(), mask.partial.data(), mask.bits.data()};
  KernelParams kp = kernelParams(p, dm);
  std::vector<float> alibi2(c.Hq);
  if (c.alibi) {
    for (int h = 0; h < c.Hq; ++h) alibi2[h] = static_cast<float>(slopesF[h] * kLog2e);
    kp.alibi2 = alibi2.data();
  }
  // the emulator's "device" memory is host memory: the positions need no upload
  kp.qpos = c.queryPos.empty() ? nullptr : c.queryPos.data();
  kp.kpos = c.keyPos.empty() ? nullptr : c.keyPos.data();
  kp.kposStride = c.keyPos.size() == static_cast<size_t>(c.Hkv) * c.Sk ? c.Sk : 0;
  if (c.keyMass) std::fill(keyMass.begin(), keyMass.end(), 0.f);  // launchGeneral's cudaMemsetAsync
  emu::gGlobals = {{q.bytes.data(), q.bytes.size()}, {k.bytes.data(), k.bytes.size()}, {v.bytes.data(), v.bytes.size()}};
  std::vector<unsigned char> qr, kr;
  if (c.rope.enabled) {
    const size_t elt = dtypeSize(c.dtype);
    qr.assign(static_cast<size_t>(c.B) * c.Hq * c.Sq * c.D * elt, 0xff);
    kr.assign(static_cast<size_t>(c.B) * c.Hkv * c.Sk * c.D * elt, 0xff);
    switch (c.dtype) {
      case DType::F32:
        runRope<float>(kp.q, c.B, c.Hq, c.Sq, c.D, kp.shift, c.rope, qr.data(), kp.qpos, 0);
        runRope<float>(kp.k, c.B, c.Hkv, c.Sk, c.D, 0, c.rope, kr.data(), kp.kpos, kp.kposStride);
        break;
      case DType::F16:
        runRope<__half>(kp.q, c.B, c.Hq, c.Sq, c.D, kp.shift, c.rope, qr.data(), kp.qpos, 0);
        runRope<__half>(kp.k, c.B, c.Hkv, c.Sk, c.D, 0, c.rope, kr.data(), kp.kpos, kp.kposStride);
        break;
      case DType::BF16:
        runRope<__nv_bfloat16>(kp.q, c.B, c.Hq, c.Sq, c.D, kp.shift, c.rope, qr.data(), kp.qpos, 0);
        runRope<__nv_bfloat16>(kp.k, c.B, c.Hkv, c.Sk, c.D, 0, c.rope, kr.data(), kp.kpos, kp.kposStride);
        break;
    }
    const int64_t D = c.D;
    kp.q = Operand{qr.data(), static_cast<int64_t>(c.Hq) * c.Sq * D, static_cast<int64_t>(c.Sq) * D, D, 1};
    kp.k = Operand{kr.data(), static_cast<int64_t>(c.Hkv) * c.Sk * D, static_cast<int64_t>(c.Sk) * D, D, 1};
    emu::gGlobals.push_back({qr.data(), qr.size()});
    emu::gGlobals.push_back({kr.data(), kr.size()});
  }
  const bool fa2 = useFa2(kp, c.dtype, c.forced);
  int splits = 1;
  switch (c.dtype) {
    case DType::F32: runGeneral<float>(kp, c.sms, &splits, mask.rowPtr.data()); break;
    case DType::F16: fa2 ? runFa2<__half>(kp) : runGeneral<__half>(kp, c.sms, &splits, mask.rowPtr.data()); break;
    case DType::BF16:
      fa2 ? runFa2<__nv_bfloat16>(kp) : runGeneral<__nv_bfloat16>(kp, c.sms, &splits, mask.rowPtr.data());
      break;
  }

  // Compare.
  Reference ref = reference(c, q, k, v, slopes);
  std::vector<double> got(ref.out.size()), gotLse(lse.begin(), lse.end());
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.Hq; ++h)
      for (int i = 0; i < c.Sq; ++i)
        for (int d = 0; d < c.D; ++d) {
          const int64_t at = b * out.strides[0] + h * out.strides[1] + i * out.strides[2] + d;
          double x;
          if (c.dtype == DType::F32) {
            float f;
            std::memcpy(&f, &out.bytes[at * 4], 4);
            x = f;
          } else {
            uint16_t bits;
            std::memcpy(&bits, &out.bytes[at * 2], 2);
            x = c.dtype == DType::F16 ? cpu::halfToFloat(bits) : cpu::bf16ToFloat(bits);
          }
          got[((static_cast<size_t>(b) * c.Hq + h) * c.Sq + i) * c.D + d] = x;
        }
  const double bar = c.dtype == DType::F32 ? 1e-5 : c.dtype == DType::F16 ? 2e-3 : 1e-2;
  const double lseBar = c.dtype == DType::F32 ? 1e-5 : !c.rope.enabled ? 1e-4 : c.dtype == DType::F16 ? 2e-3 : 1e-2;
  const double e = relError(got, ref.out), el = relError(gotLse, ref.lse);
  double em = 0;
  if (c.keyMass) em = relError(std::vector<double>(keyMass.begin(), keyMass.end()), ref.keyMass);
  const bool ok = e <= bar && el <= lseBar && em <= 1e-5;  // NaN (pattern mismatch) fails
  if (!ok) ++failures;
  char mass[32] = "";
  if (c.keyMass) std::snprintf(mass, sizeof mass, "  keyMass %.2e", em);
  std::printf("%s %-58s %-7s splits %2d  out %.2e (bar %.0e)  lse %.2e%s\n", ok ? "ok  " : "FAIL", c.name.c_str(),
              fa2 ? "fa2" : "general", splits, e, bar, el, mass);
}

bool causal(int, int64_t p, int64_t j) { return j <= p; }

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  std::vector<Case> cases;
  auto add = [&](Case c) { cases.push_back(std::move(c)); };
  {
    Case c;
    c.name = "fa2 f16 d64 causal GQA 2:1, partial last tiles (130x150)";
    c.Hq = 2, c.Hkv = 1, c.Sq = 130, c.Sk = 150, c.D = 64, c.dtype = DType::F16, c.allow = causal;
    add(c);
  }
  {
    Case c;
    c.name = "fa2 bf16 d128 per-head (sliding / random) + ALiBi + softcap";
    c.Hq = 2, c.Hkv = 2, c.Sq = 70, c.Sk = 200, c.D = 128, c.dtype = DType::BF16, c.perHead = true;
    c.allow = [](int h, int64_t p, int64_t j) {
      if (h == 0) return j <= p && j > p - 33;
      return ((p * 7919 + j * 104729) % 5) < 2;  // a scattered pattern
    };
    c.alibi = true, c.softcap = 8.f;
    add(c);
  }
  {
    Case c;
    c.name = "fa2 f16 d64 bshd, seqQ > seqK (empty rows), RoPE half";
    c.Hq = 2, c.Hkv = 2, c.Sq = 100, c.Sk = 70, c.D = 64, c.dtype = DType::F16, c.bshd = true, c.allow = causal;
    c.rope.enabled = true, c.rope.dims = 64, c.rope.base = 10000.f;
    add(c);
  }
  {
    Case c;
    c.name = "fa2 forced onto decode: bf16 d128 seqQ 1";
    c.Hq = 4, c.Hkv = 1, c.Sq = 1, c.Sk = 130, c.D = 128, c.dtype = DType::BF16, c.allow = causal, c.forced = 1;
    add(c);
  }
  {
    Case c;
    c.name = "fa2 f16 d64 empty pattern";
    c.Hq = 1, c.Hkv = 1, c.Sq = 64, c.Sk = 64, c.D = 64, c.dtype = DType::F16;
    c.allow = [](int, int64_t, int64_t) { return false; };
    add(c);
  }
  {
    Case c;
    c.name = "general f32 d40 causal (70x130)";
    c.Hq = 2, c.Hkv = 1, c.Sq = 70, c.Sk = 130, c.D = 40, c.dtype = DType::F32, c.allow = causal, c.sms = 1000;
    add(c);
  }
  {
    Case c;
    c.name = "general f16 d64 decode seqQ 3, GQA 8:2 packed, split-KV";
    c.B = 1, c.Hq = 8, c.Hkv = 2, c.Sq = 3, c.Sk = 300, c.D = 64, c.dtype = DType::F16, c.sms = 4;
    c.allow = [](int, int64_t p, int64_t j) { return j <= p && (j > p - 200 || j < 2); };
    add(c);
  }
  {
    Case c;
    c.name = "general bf16 d80 decode seqQ 1, RoPE interleaved + offset, split";
    c.B = 2, c.Hq = 2, c.Hkv = 2, c.Sq = 1, c.Sk = 200, c.D = 80, c.dtype = DType::BF16, c.sms = 2, c.allow = causal;
    c.rope.enabled = true, c.rope.dims = 64, c.rope.base = 500.f, c.rope.interleaved = true, c.rope.offset = 7;
    add(c);
  }
  {
    Case c;
    c.name = "general f32 d128 per-head decode (no packing), ALiBi, softcap";
    c.B = 1, c.Hq = 4, c.Hkv = 2, c.Sq = 2, c.Sk = 150, c.D = 128, c.dtype = DType::F32, c.sms = 3, c.perHead = true;
    c.allow = [](int h, int64_t p, int64_t j) { return j <= p && (h % 2 == 0 || j % 3 == 0); };
    c.alibi = true, c.softcap = 5.f;
    add(c);
  }
  {
    Case c;
    c.name = "general forced: f16 d64 prefill with empty rows (100x40)";
    c.Hq = 2, c.Hkv = 2, c.Sq = 100, c.Sk = 40, c.D = 64, c.dtype = DType::F16, c.allow = causal, c.forced = 2;
    c.sms = 1000;
    add(c);
  }
  {
    Case c;
    c.name = "general f32 d256 bshd full";
    c.Hq = 1, c.Hkv = 1, c.Sq = 20, c.Sk = 33, c.D = 256, c.dtype = DType::F32, c.bshd = true, c.sms = 1000;
    add(c);
  }
  // Explicit positions (a KV cache after eviction: keys at scattered positions, empty slots), top-left
  // alignment, and key masses.
  auto scattered = [](int Hkv, int Sk, int span, int empties, bool perHead, unsigned seed) {
    std::mt19937 g(seed);
    std::vector<int32_t> out;
    for (int h = 0; h < (perHead ? Hkv : 1); ++h) {
      std::vector<int32_t> all(span);
      for (int i = 0; i < span; ++i) all[i] = i;
      std::shuffle(all.begin(), all.end(), g);
      std::vector<int32_t> keep(all.begin(), all.begin() + (Sk - empties));
      for (int e = 0; e < empties; ++e) keep.push_back(-1);
      std::shuffle(keep.begin(), keep.end(), g);
      out.insert(out.end(), keep.begin(), keep.end());
    }
    return out;
  };
  {
    Case c;
    c.name = "positions general f32 d64 decode GQA 8:2 per-kv-head keys, keyMass, split";
    c.B = 2, c.Hq = 8, c.Hkv = 2, c.Sq = 1, c.Sk = 300, c.D = 64, c.dtype = DType::F32, c.sms = 3, c.allow = causal;
    c.keyPos = scattered(c.Hkv, c.Sk, 1000, 9, true, 7);
    c.queryStart = 1000;  // the newest position
    c.maskPerKvHead = true, c.keyMass = true, c.alibi = true;
    c.rope.enabled = true, c.rope.dims = 64, c.rope.base = 10000.f;
    add(c);
  }
  {
    Case c;
    c.name = "positions general f16 d64 prefill 100x200, sliding on true positions, keyMass";
    c.B = 1, c.Hq = 2, c.Hkv = 1, c.Sq = 100, c.Sk = 200, c.D = 64, c.dtype = DType::F16, c.sms = 1000;
    c.allow = [](int, int64_t p, int64_t j) { return j <= p && j > p - 150; };
    c.keyPos = scattered(1, c.Sk, 400, 5, false, 8);
    c.queryPos.resize(c.Sq);
    for (int i = 0; i < c.Sq; ++i) c.queryPos[i] = 300 + i;
    c.keyMass = true;
    add(c);
  }
  {
    Case c;
    c.name = "positions general bf16 d128 shared keys, ALiBi, keyMass, no split";
    c.B = 1, c.Hq = 4, c.Hkv = 2, c.Sq = 5, c.Sk = 130, c.D = 128, c.dtype = DType::BF16, c.sms = 1000, c.allow = causal;
    c.keyPos = scattered(c.Hkv, c.Sk, 500, 0, false, 9);
    c.queryStart = 495;
    c.alibi = true, c.keyMass = true;
    add(c);
  }
  {
    Case c;
    c.name = "general f32 d32 keyMass plain (GQA 4:1 packed decode, split)";
    c.B = 1, c.Hq = 4, c.Hkv = 1, c.Sq = 2, c.Sk = 500, c.D = 32, c.dtype = DType::F32, c.sms = 2, c.allow = causal;
    c.keyMass = true;
    add(c);
  }
  {
    Case c;
    c.name = "fa2 f16 d64 top-left causal (70x150)";
    c.Hq = 2, c.Hkv = 1, c.Sq = 70, c.Sk = 150, c.D = 64, c.dtype = DType::F16, c.allow = causal;
    c.queryStart = 0;
    c.rope.enabled = true, c.rope.dims = 64, c.rope.base = 10000.f;
    add(c);
  }
  // Non-finite inputs (NaN / +inf / -inf in q, k, v at attended and masked positions, in partial
  // tiles, the sequence tail, split-KV), against the IEEE semantics of the reference.
  const float kNaN = NAN, kInf = INFINITY;
  {
    Case c;
    c.name = "nonfinite fa2 f16 d64 causal GQA 4:2 (130x150)";
    c.Hq = 4, c.Hkv = 2, c.Sq = 130, c.Sk = 150, c.D = 64, c.dtype = DType::F16, c.allow = causal;
    c.colOnes = true;  // with q[h3][3][0] = -inf: row 3 of head 3 has only -inf scores (empty row)
    c.pokes = {{'v', 0, 0, 100, 3, kNaN},   // masked for rows 0..79 (partial tiles), reaches rows 80..
               {'v', 0, 0, 149, 5, kInf},   // the tail tile: only row 129 attends key 149
               {'v', 0, 0, 70, 7, -kInf},   //
               {'q', 0, 0, 50, 4, kInf},    // scores +-inf: a NaN row
               {'k', 0, 1, 110, 0, kNaN},   // rows at position >= 110 of heads 2, 3: NaN
               {'k', 0, 1, 30, 1, kInf},    // +inf or -inf scores depending on the sign of q
               {'q', 0, 2, 5, 2, kNaN},     // a NaN row
               {'q', 0, 3, 3, 0, -kInf},    // all scores -inf: empty row
               {'v', 0, 1, 10, 0, kNaN}};   // attended by every row of heads 2, 3 (not the empty one)
    add(c);
  }
  auto sliding = [](int, int64_t p, int64_t j) { return j <= p && j > p - 40; };
  {
    Case c;
    c.name = "nonfinite fa2 bf16 d128 sliding window 40 (100x100)";
    c.Hq = 2, c.Hkv = 2, c.Sq = 100, c.Sk = 100, c.D = 128, c.dtype = DType::BF16, c.allow = sliding;
    c.pokes = {{'v', 0, 0, 70, 9, kNaN}, {'v', 0, 0, 20, 1, kInf}, {'v', 0, 0, 63, 100, -kInf},
               {'k', 0, 1, 50, 3, kNaN}, {'q', 0, 1, 10, 0, kNaN},  {'q', 0, 0, 90, 2, -kInf}};
    add(c);
  }
  {
    Case c;
    c.name = "nonfinite general f16 d64 sliding window 40 forced (100x100)";
    c.Hq = 2, c.Hkv = 2, c.Sq = 100, c.Sk = 100, c.D = 64, c.dtype = DType::F16, c.allow = sliding, c.forced = 2;
    c.sms = 1000;
    c.pokes = {{'v', 0, 0, 70, 9, kNaN}, {'v', 0, 0, 20, 1, kInf}, {'v', 0, 0, 63, 60, -kInf},
               {'k', 0, 1, 50, 3, kNaN}, {'q', 0, 1, 10, 0, kNaN},  {'q', 0, 0, 90, 2, -kInf}};
    add(c);
  }
  {
    Case c;
    c.name = "nonfinite general f32 d40 causal (70x130)";
    c.Hq = 2, c.Hkv = 1, c.Sq = 70, c.Sk = 130, c.D = 40, c.dtype = DType::F32, c.allow = causal, c.sms = 1000;
    c.colOnes = true;
    c.pokes = {{'v', 0, 0, 100, 3, kNaN}, {'v', 0, 0, 129, 5, kInf}, {'k', 0, 0, 120, 2, kNaN},
               {'q', 0, 1, 7, 1, kNaN},   {'q', 0, 1, 9, 0, -kInf},  {'q', 0, 0, 20, 6, kInf}};
    add(c);
  }
  {
    Case c;
    c.name = "nonfinite general bf16 d64 decode seqQ 2, GQA 4:2, split-KV";
    c.B = 1, c.Hq = 4, c.Hkv = 2, c.Sq = 2, c.Sk = 300, c.D = 64, c.dtype = DType::BF16, c.sms = 2;
    c.allow = [](int, int64_t p, int64_t j) { return j <= p && (j > p - 200 || j < 2); };
    c.colOnes = true;
    c.pokes = {{'q', 0, 0, 0, 5, kNaN},     // NaN in every split (splits with m = -inf, l = NaN)
               {'v', 0, 0, 50, 2, kNaN},    // masked for every row
               {'v', 0, 0, 1, 4, kNaN},     // attended by every row of heads 0, 1
               {'q', 0, 1, 1, 0, -kInf},    // empty row (all splits l = 0) despite the NaN above
               {'v', 0, 1, 1, 3, kInf},     // attended: inf column for heads 2, 3
               {'k', 0, 1, 299, 7, kNaN}};  // only row 1 attends key 299
    add(c);
  }
  {
    Case c;
    c.name = "nonfinite general f32 d64 decode seqQ 1, split-KV";
    c.B = 1, c.Hq = 2, c.Hkv = 1, c.Sq = 1, c.Sk = 260, c.D = 64, c.dtype = DType::F32, c.sms = 2;
    c.allow = [](int, int64_t p, int64_t j) { return j > p - 100; };  // keys 0..159 masked (128..159: a partial tile)
    c.pokes = {{'v', 0, 0, 150, 0, kNaN}, {'k', 0, 0, 140, 0, kNaN}, {'v', 0, 0, 200, 1, -kInf},
               {'q', 0, 1, 0, 2, kInf}};
    add(c);
  }
  // EMU_FILTER=substring runs only the cases whose name contains it.
  const char* filter = std::getenv("EMU_FILTER");
  if (filter != nullptr) {
    std::vector<Case> kept;
    for (Case& c : cases)
      if (c.name.find(filter) != std::string::npos) kept.push_back(std::move(c));
    cases = std::move(kept);
  }
  int n = 0;
  for (int mode = 0; mode < 2; ++mode) {
    emu::gDeferred = mode == 1;
    std::printf("-- cp.async %s\n", emu::gDeferred ? "deferred to wait_group" : "immediate");
    for (const Case& c : cases) {
      if (mode == 1 && (!c.name.starts_with("fa2") || (quick && n > 2))) continue;  // cp.async only matters to fa2
      runCase(c, 1234 + n++);
    }
  }
  if (failures) {
    std::printf("emulator_test: %d failures\n", failures);
    return 1;
  }
  std::printf("emulator_test: ok (%d runs)\n", n);
  return 0;
}
