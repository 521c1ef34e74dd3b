// Shared parts of attnflow_native_tests: checks, random numbers, strided tensors in every dtype
// and layout, BlockMasks built by brute force from C++ predicates (so kernels are checked
// against the definition, not against the TypeScript mask compiler), the float64 reference, and
// runCase, which runs one problem on every CPU kernel of the registry this machine supports.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "../cpu/half.h"
#include "../cpu/isa.h"
#include "../cpu/kernel.h"
#include "attnflow.h"

namespace nativetest {

using namespace attnflow;

extern int gFailures;
extern int gChecks;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    ++::nativetest::gChecks;                               \
    if (!(cond)) {                                         \
      ++::nativetest::gFailures;                           \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__);     \
      std::printf(__VA_ARGS__);                            \
      std::printf("\n");                                   \
    }                                                      \
  } while (0)

// --- random numbers -----------------------------------------------------------------------------

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x1234567ull) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
  int range(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1)); }
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

inline uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull ^ c * 0x94D049BB133111EBull;
  z ^= z >> 31;
  z *= 0xD6E8FEB86659FD93ull;
  z ^= z >> 32;
  return z;
}

// --- tensors ------------------------------------------------------------------------------------

enum class Layout { BHSD, BSHD, Padded, StridedD };
inline const char* layoutName(Layout l) {
  switch (l) {
    case Layout::BHSD: return "bhsd";
    case Layout::BSHD: return "bshd";
    case Layout::Padded: return "padded";
    case Layout::StridedD: return "stridedD";
  }
  return "?";
}
inline const char* dtypeName(DType t) { return t == DType::F32 ? "f32" : t == DType::F16 ? "f16" : "bf16"; }

struct Tensor {
  DType dt = DType::F32;
  int64_t shape[4] = {0, 0, 0, 0};
  int64_t strides[4] = {0, 0, 0, 0};
  std::vector<float> f;
  std::vector<uint16_t> u;
  size_t capacity = 0;

  void* data() { return dt == DType::F32 ? static_cast<void*>(f.data()) : static_cast<void*>(u.data()); }
  int64_t offset(int64_t b, int64_t h, int64_t s, int64_t d) const {
    return b * strides[0] + h * strides[1] + s * strides[2] + d * strides[3];
  }
  double get(int64_t b, int64_t h, int64_t s, int64_t d) const {
    const int64_t o = offset(b, h, s, d);
    if (dt == DType::F32) return f[o];
    if (dt == DType::F16) return cpu::halfToFloat(u[o]);
    return cpu::bf16ToFloat(u[o]);
  }
  TensorView view() {
    TensorView v;
    v.data = data();
    v.dtype = dt;
    for (int a = 0; a < 4; ++a) {
      v.shape[a] = shape[a];
      v.strides[a] = strides[a];
    }
    v.capacity = capacity;
    return v;
  }
  void poison() {
    if (dt == DType::F32) {
      for (float& x : f) x = std::numeric_limits<float>::quiet_NaN();
    } else {
      for (uint16_t& x : u) x = dt == DType::F16 ? 0x7e00 : 0x7fc0;
    }
  }
  bool isPoison(size_t o) const {
    if (dt == DType::F32) return std::isnan(f[o]);
    return u[o] == (dt == DType::F16 ? 0x7e00 : 0x7fc0);
  }
};

Tensor makeTensor(int64_t B, int64_t H, int64_t S, int64_t D, DType dt, Layout layout, Rng& rng, double amp = 1.0);

// --- masks --------------------------------------------------------------------------------------

using Pred = std::function<bool(int h, int64_t i, int64_t j)>;  // query index i, key index j

struct Mask {
  int heads = 1;
  BlockMaskView v;
  std::vector<int32_t> rowPtr, colIdx, partial;
  std::vector<uint32_t> bits;
  BlockMaskView view() {
    v.rowPtr = rowPtr.data();
    v.rowPtrLen = rowPtr.size();
    v.colIdx = colIdx.data();
    v.partial = partial.data();
    v.nnz = colIdx.size();
    v.bits = bits.data();
    v.bitsLen = bits.size();
    return v;
  }
};

struct AllKeyBlocks {
  int lo(int) const { return 0; }
  int hi(int, int numKBlocks) const { return numKBlocks - 1; }
};

// Brute force over every element of every candidate tile; `range` limits the key blocks tried
// per query block (all by default) so large banded masks build quickly.
template <class P, class R = AllKeyBlocks>
Mask buildMask(int Sq, int Sk, int heads, const P& allowed, int BQ = cpu::kBQ, int BK = cpu::kBK, R range = R()) {
  Mask m;
  m.heads = heads;
  m.v.seqQ = Sq;
  m.v.seqK = Sk;
  m.v.blockQ = BQ;
  m.v.blockK = BK;
  m.v.numQBlocks = (Sq + BQ - 1) / BQ;
  m.v.numKBlocks = (Sk + BK - 1) / BK;
  m.v.heads = heads;
  const int wpr = (BK + 31) / 32;
  m.v.wordsPerRow = wpr;
  m.rowPtr.push_back(0);
  std::vector<uint32_t> tile(static_cast<size_t>(BQ) * wpr);
  for (int h = 0; h < heads; ++h) {
    for (int qb = 0; qb < m.v.numQBlocks; ++qb) {
      const int kbLo = std::max(0, range.lo(qb)), kbHi = std::min(m.v.numKBlocks - 1, range.hi(qb, m.v.numKBlocks));
      for (int kb = kbLo; kb <= kbHi; ++kb) {
        std::fill(tile.begin(), tile.end(), 0u);
        int64_t count = 0, total = 0;
        for (int r = 0; r < BQ; ++r) {
          const int64_t i = static_cast<int64_t>(qb) * BQ + r;
          if (i >= Sq) break;
          for (int c = 0; c < BK; ++c) {
            const int64_t j = static_cast<int64_t>(kb) * BK + c;
            if (j >= Sk) break;
            ++total;
            if (allowed(h, i, j)) {
              ++count;
              tile[r * wpr + (c >> 5)] |= 1u << (c & 31);
            }
          }
        }
        if (count == 0) continue;
        m.colIdx.push_back(kb);
        if (count == total) {
          m.partial.push_back(-1);
        } else {
          m.partial.push_back(static_cast<int32_t>(m.bits.size() / tile.size()));
          m.bits.insert(m.bits.end(), tile.begin(), tile.end());
        }
      }
      m.rowPtr.push_back(static_cast<int32_t>(m.colIdx.size()));
    }
  }
  return m;
}

// --- the reference ------------------------------------------------------------------------------

struct Options {
  float scale = 0;  // 0: 1/sqrt(D)
  float softcap = 0;
  bool alibi = false;
  RopeParams rope;
  bool lse = true;
};

struct Result {
  std::vector<double> out;  // contiguous [B, Hq, Sq, D]
  std::vector<double> lse;
};

void ropeDouble(std::vector<double>& x, int64_t pos, const RopeParams& r);
std::vector<float> alibiSlopes(int H);
Result reference(const Tensor& q, const Tensor& k, const Tensor& v, const Pred& allowed, const Options& o,
                 float scale, const std::vector<float>& slopes);

// --- running one case ---------------------------------------------------------------------------

struct Case {
  std::string name;
  int B = 1, Hq = 1, Hkv = 1, Sq = 1, Sk = 1, D = 64;
  DType qd = DType::F32, kd = DType::F32, vd = DType::F32;
  Layout lq = Layout::BHSD, lk = Layout::BHSD, lv = Layout::BHSD, lo = Layout::BHSD;
  int maskHeads = 1;
  Pred allowed;
  Options opt;
};

std::string describe(const Case& c);
inline double tolerance(DType t) { return t == DType::F32 ? 1e-5 : t == DType::F16 ? 2e-3 : 1e-2; }

// Writes x (converted to the tensor's dtype) at (b, h, s, d).
void setValue(Tensor& t, int64_t b, int64_t h, int64_t s, int64_t d, float x);

// Edits the random inputs of a case before it runs (non-finite values).
using Inject = std::function<void(Tensor& q, Tensor& k, Tensor& v)>;

// The CPU kernels of the registry that this machine can run (the others are reported as skipped,
// with the reason, by main).
using Kernels = std::vector<const cpu::CpuKernel*>;
Kernels supportedKernels();
// Test-only kernels of 4 and 16 lanes (lanes_kernels.cpp): the bodies at other vector widths.
Kernels laneTestKernels();

// Runs a case on every kernel in `kernels`; returns the worst relative error seen. Output
// elements must be finite exactly where the reference's are (everywhere, unless `inject` puts
// non-finite values in); the finite ones are held to the dtype's tolerance, lse NaN / -inf where
// the reference's is.
double runCase(const Case& c, uint64_t seed, const Kernels& kernels, const Inject& inject = nullptr);

// Allow-predicates by name (full, causal, sliding, window, random, perhead, emptyrows,
// sink+sliding); `param` is the window / density.
Pred makePattern(const std::string& kind, int Sq, int Sk, uint64_t seed, int param = 0);

// The test groups (one file each).
void testHalfConversions();
void testCpuInfo();
void testKernelRegistry();
void testValidation();
void testFixedCases(const Kernels& kernels);
void testCallCopies(const Kernels& kernels);
void testRandomCases(const Kernels& kernels, int count, uint64_t seed0);
void testDecode(const Kernels& kernels, bool quick);
void testSplitAndPacking(const Kernels& kernels, bool quick);
void testNonFinite(const Kernels& kernels, bool quick);
void testLong(const Kernels& kernels);
void testConcurrent();
void testSchedule();  // schedule_test.cpp
void testPrefetchSteps();  // prefetch_test.cpp
void testLinear(const Kernels& kernels, bool quick);
void testBf16DotPath(const Kernels& kernels);
void testPositionsAndKeyMass(const Kernels& kernels, bool quick);  // keymass_test.cpp
void bench();

}  // namespace nativetest
