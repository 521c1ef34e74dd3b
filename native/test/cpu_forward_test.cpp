// attnflow_native_tests: the CPU backend against a naive float64 reference, without Node.
//   attnflow_native_tests            run the tests (exit status 1 on any failure)
//   attnflow_native_tests --bench    print timings (GFLOP/s) of a few float32 problems
//   attnflow_native_tests --quick    a shorter test run
//   attnflow_native_tests --long     also a few long sequences (slow float64 reference)
// Masks are built here by brute force from C++ predicates into the BlockMask CSR format, so the
// kernel is checked against the definition, not against the TypeScript mask compiler.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/resource.h>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "../cpu/half.h"
#include "../cpu/kernel.h"
#include "attnflow.h"

using namespace attnflow;

namespace {

int gFailures = 0;
int gChecks = 0;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    ++gChecks;                                             \
    if (!(cond)) {                                         \
      ++gFailures;                                         \
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

uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull ^ c * 0x94D049BB133111EBull;
  z ^= z >> 31;
  z *= 0xD6E8FEB86659FD93ull;
  z ^= z >> 32;
  return z;
}

// --- tensors ------------------------------------------------------------------------------------

enum class Layout { BHSD, BSHD, Padded, StridedD };
const char* layoutName(Layout l) {
  switch (l) {
    case Layout::BHSD: return "bhsd";
    case Layout::BSHD: return "bshd";
    case Layout::Padded: return "padded";
    case Layout::StridedD: return "stridedD";
  }
  return "?";
}
const char* dtypeName(DType t) { return t == DType::F32 ? "f32" : t == DType::F16 ? "f16" : "bf16"; }

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

Tensor makeTensor(int64_t B, int64_t H, int64_t S, int64_t D, DType dt, Layout layout, Rng& rng, double amp = 1.0) {
  Tensor t;
  t.dt = dt;
  t.shape[0] = B;
  t.shape[1] = H;
  t.shape[2] = S;
  t.shape[3] = D;
  switch (layout) {
    case Layout::BHSD:
      t.strides[3] = 1, t.strides[2] = D, t.strides[1] = S * D, t.strides[0] = H * S * D;
      break;
    case Layout::BSHD:
      t.strides[3] = 1, t.strides[1] = D, t.strides[2] = H * D, t.strides[0] = S * H * D;
      break;
    case Layout::Padded:
      t.strides[3] = 1, t.strides[2] = D + 5, t.strides[1] = S * (D + 5) + 3, t.strides[0] = H * (S * (D + 5) + 3) + 7;
      break;
    case Layout::StridedD:  // headDim interleaved with another tensor: element stride 2
      t.strides[3] = 2, t.strides[2] = 2 * D, t.strides[1] = 2 * S * D, t.strides[0] = 2 * H * S * D;
      break;
  }
  int64_t maxOff = 0;
  for (int a = 0; a < 4; ++a) maxOff += (t.shape[a] - 1) * t.strides[a];
  t.capacity = static_cast<size_t>(maxOff + 1 + rng.range(0, 3));
  if (dt == DType::F32) {
    t.f.resize(t.capacity);
    for (float& x : t.f) x = static_cast<float>(amp * rng.normal());
  } else {
    t.u.resize(t.capacity);
    for (uint16_t& x : t.u) {
      const float v = static_cast<float>(amp * rng.normal());
      x = dt == DType::F16 ? cpu::floatToHalf(v) : cpu::floatToBf16(v);
    }
  }
  return t;
}

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

void ropeDouble(std::vector<double>& x, int64_t pos, const RopeParams& r) {
  const int half = r.dims / 2;
  for (int t = 0; t < half; ++t) {
    const double a = static_cast<double>(pos + r.offset) * std::pow(static_cast<double>(r.base), -2.0 * t / r.dims);
    const double c = std::cos(a), s = std::sin(a);
    const int i0 = r.interleaved ? 2 * t : t;
    const int i1 = r.interleaved ? 2 * t + 1 : t + half;
    const double x0 = x[i0], x1 = x[i1];
    x[i0] = x0 * c - x1 * s;
    x[i1] = x0 * s + x1 * c;
  }
}

std::vector<float> alibiSlopes(int H) {
  std::vector<float> s(H);
  for (int h = 0; h < H; ++h) s[h] = static_cast<float>(std::pow(2.0, -8.0 * (h + 1) / H));
  return s;
}

Result reference(const Tensor& q, const Tensor& k, const Tensor& v, const Pred& allowed, const Options& o,
                 float scale, const std::vector<float>& slopes) {
  const int64_t B = q.shape[0], Hq = q.shape[1], Sq = q.shape[2], D = q.shape[3];
  const int64_t Hkv = k.shape[1], Sk = k.shape[2];
  const int64_t group = Hq / Hkv;
  Result r;
  r.out.assign(B * Hq * Sq * D, 0.0);
  r.lse.assign(B * Hq * Sq, 0.0);
  std::vector<double> keys(Sk * D), qr(D), sc(Sk), row(D);
  std::vector<char> ok(Sk);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t hk = h / group;
      for (int64_t j = 0; j < Sk; ++j) {
        for (int64_t d = 0; d < D; ++d) row[d] = k.get(b, hk, j, d);
        if (o.rope.enabled) ropeDouble(row, j, o.rope);
        for (int64_t d = 0; d < D; ++d) keys[j * D + d] = row[d];
      }
      for (int64_t i = 0; i < Sq; ++i) {
        const int64_t pos = i + Sk - Sq;
        for (int64_t d = 0; d < D; ++d) qr[d] = q.get(b, h, i, d);
        if (o.rope.enabled) ropeDouble(qr, pos, o.rope);
        double mx = -INFINITY;
        for (int64_t j = 0; j < Sk; ++j) {
          ok[j] = allowed(static_cast<int>(h), i, j);
          if (!ok[j]) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += qr[d] * keys[j * D + d];
          double s = static_cast<double>(scale) * dot;
          if (o.softcap > 0) s = o.softcap * std::tanh(s / o.softcap);
          if (o.alibi) s -= slopes[h] * std::fabs(static_cast<double>(pos - j));
          sc[j] = s;
          if (s > mx || std::isnan(s)) mx = s;  // IEEE: a NaN score makes the row NaN
        }
        const int64_t ri = (b * Hq + h) * Sq + i;
        if (mx == -INFINITY) {  // no allowed key, or only -inf scores (sum of exp = 0)
          r.lse[ri] = -INFINITY;
          continue;
        }
        double sum = 0;
        double* out = &r.out[ri * D];
        for (int64_t j = 0; j < Sk; ++j) {
          if (!ok[j]) continue;
          const double w = std::exp(sc[j] - mx);
          sum += w;
          for (int64_t d = 0; d < D; ++d) out[d] += w * v.get(b, hk, j, d);
        }
        for (int64_t d = 0; d < D; ++d) out[d] /= sum;
        r.lse[ri] = mx + std::log(sum);
      }
    }
  return r;
}

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

std::string describe(const Case& c) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s B=%d Hq=%d Hkv=%d Sq=%d Sk=%d D=%d q=%s/%s k=%s/%s v=%s/%s out=%s maskHeads=%d softcap=%g alibi=%d "
                "rope=%d(%s,dims=%d,off=%d) lse=%d",
                c.name.c_str(), c.B, c.Hq, c.Hkv, c.Sq, c.Sk, c.D, dtypeName(c.qd), layoutName(c.lq), dtypeName(c.kd),
                layoutName(c.lk), dtypeName(c.vd), layoutName(c.lv), layoutName(c.lo), c.maskHeads, c.opt.softcap,
                c.opt.alibi, c.opt.rope.enabled, c.opt.rope.interleaved ? "interleaved" : "half", c.opt.rope.dims,
                c.opt.rope.offset, c.opt.lse);
  return buf;
}

double tolerance(DType t) { return t == DType::F32 ? 1e-5 : t == DType::F16 ? 2e-3 : 1e-2; }

// Writes x (converted to the tensor's dtype) at (b, h, s, d).
void setValue(Tensor& t, int64_t b, int64_t h, int64_t s, int64_t d, float x) {
  const int64_t o = t.offset(b, h, s, d);
  if (t.dt == DType::F32) {
    t.f[o] = x;
  } else {
    t.u[o] = t.dt == DType::F16 ? cpu::floatToHalf(x) : cpu::floatToBf16(x);
  }
}

// Edits the random inputs of a case before it runs (non-finite values).
using Inject = std::function<void(Tensor& q, Tensor& k, Tensor& v)>;

// Runs a case with every requested SIMD path; returns the worst relative error seen. Output
// elements must be finite exactly where the reference's are (everywhere, unless `inject` puts
// non-finite values in); the finite ones are held to the dtype's tolerance, lse NaN / -inf where
// the reference's is.
double runCase(const Case& c, uint64_t seed, const std::vector<cpu::Simd>& paths, const Inject& inject = nullptr) {
  Rng rng(seed);
  Tensor q = makeTensor(c.B, c.Hq, c.Sq, c.D, c.qd, c.lq, rng);
  Tensor k = makeTensor(c.B, c.Hkv, c.Sk, c.D, c.kd, c.lk, rng);
  Tensor v = makeTensor(c.B, c.Hkv, c.Sk, c.D, c.vd, c.lv, rng);
  if (inject) inject(q, k, v);
  Tensor out = makeTensor(c.B, c.Hq, c.Sq, c.D, c.qd, c.lo, rng);
  const float scale = c.opt.scale != 0 ? c.opt.scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.D)));
  std::vector<float> slopes = alibiSlopes(c.Hq);
  Mask mask = buildMask(c.Sq, c.Sk, c.maskHeads, c.allowed);
  Result ref = reference(q, k, v, c.allowed, c.opt, scale, slopes);
  std::vector<float> lse(static_cast<size_t>(c.B) * c.Hq * c.Sq);

  double worst = 0;
  for (cpu::Simd path : paths) {
    cpu::forceSimd(path);
    out.poison();
    for (float& x : lse) x = std::numeric_limits<float>::quiet_NaN();
    AttentionParams p;
    p.q = q.view();
    p.k = k.view();
    p.v = v.view();
    p.out = out.view();
    if (c.opt.lse) {
      p.lse = lse.data();
      p.lseLen = lse.size();
    }
    p.mask = mask.view();
    p.scale = scale;
    p.softcap = c.opt.softcap;
    if (c.opt.alibi) {
      p.alibiSlopes = slopes.data();
      p.alibiLen = slopes.size();
    }
    p.rope = c.opt.rope;
    Status s = cpuAttentionForward(p);
    const char* pathName = cpu::activeSimd();
    CHECK(s.ok, "[%s] %s: error %s", pathName, describe(c).c_str(), s.message.c_str());
    if (!s.ok) continue;

    // output: finite where the reference is, within tolerance; buffer elements outside the view
    // untouched
    std::vector<char> inView(out.capacity, 0);
    double num = 0, den = 0;
    int64_t mismatched = 0, firstRow = -1;
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t h = 0; h < c.Hq; ++h)
        for (int64_t i = 0; i < c.Sq; ++i)
          for (int64_t d = 0; d < c.D; ++d) {
            inView[out.offset(b, h, i, d)] = 1;
            const double x = out.get(b, h, i, d);
            const double y = ref.out[((b * c.Hq + h) * c.Sq + i) * c.D + d];
            if (std::isfinite(x) != std::isfinite(y)) {
              if (mismatched++ == 0) firstRow = (b * c.Hq + h) * c.Sq + i;
              continue;
            }
            if (!std::isfinite(y)) continue;
            num += (x - y) * (x - y);
            den += y * y;
          }
    CHECK(mismatched == 0, "[%s] %s: %lld output elements finite in one of kernel / reference only (first in row %lld)",
          pathName, describe(c).c_str(), static_cast<long long>(mismatched), static_cast<long long>(firstRow));
    size_t touched = 0;
    for (size_t o = 0; o < out.capacity; ++o)
      if (!inView[o] && !out.isPoison(o)) ++touched;
    CHECK(touched == 0, "[%s] %s: %zu elements outside the output view were written", pathName, describe(c).c_str(),
          touched);
    const double rel = den > 0 ? std::sqrt(num) / std::sqrt(den) : std::sqrt(num);
    worst = std::max(worst, rel);
    CHECK(rel <= tolerance(c.qd), "[%s] %s: relative error %.3g > %.3g", pathName, describe(c).c_str(), rel,
          tolerance(c.qd));
    if (c.opt.lse) {
      int bad = 0;
      double worstLse = 0;
      for (size_t i = 0; i < lse.size(); ++i) {
        const double y = ref.lse[i];
        if (std::isnan(y)) {
          if (!std::isnan(lse[i])) ++bad;
        } else if (std::isinf(y)) {
          if (!(static_cast<double>(lse[i]) == y)) ++bad;
        } else {
          const double e = std::fabs(lse[i] - y) / (1 + std::fabs(y));
          if (!(e <= 2e-5)) ++bad;
          worstLse = std::max(worstLse, e);
        }
      }
      CHECK(bad == 0, "[%s] %s: %d lse values off (worst finite %.3g)", pathName, describe(c).c_str(), bad, worstLse);
    }
  }
  cpu::forceSimd(cpu::Simd::Auto);
  return worst;
}

std::vector<cpu::Simd> allPaths() {
  std::vector<cpu::Simd> p = {cpu::Simd::Portable};
  cpu::forceSimd(cpu::Simd::Avx2);
  if (std::string(cpu::activeSimd()) == "avx2") p.push_back(cpu::Simd::Avx2);
  cpu::forceSimd(cpu::Simd::Neon);
  if (std::string(cpu::activeSimd()) == "neon") p.push_back(cpu::Simd::Neon);
  cpu::forceSimd(cpu::Simd::Auto);
  return p;
}

// --- patterns -----------------------------------------------------------------------------------

Pred makePattern(const std::string& kind, int Sq, int Sk, uint64_t seed, int param = 0) {
  const int64_t shift = static_cast<int64_t>(Sk) - Sq;
  if (kind == "full") return [](int, int64_t, int64_t) { return true; };
  if (kind == "causal") return [shift](int, int64_t i, int64_t j) { return j <= i + shift; };
  if (kind == "sliding")
    return [shift, param](int, int64_t i, int64_t j) { return j <= i + shift && j > i + shift - param; };
  if (kind == "window")  // window(param, param/3)
    return [shift, param](int, int64_t i, int64_t j) {
      const int64_t p = i + shift;
      return j >= p - param && j <= p + param / 3;
    };
  if (kind == "random")  // per-element, ~param% density
    return [seed, param](int h, int64_t i, int64_t j) {
      return static_cast<int>(hash3(seed + h, static_cast<uint64_t>(i), static_cast<uint64_t>(j)) % 100) < param;
    };
  if (kind == "perhead")  // head-dependent: causal, sliding(8 + 24h), strided(h+2), full
    return [shift](int h, int64_t i, int64_t j) {
      const int64_t p = i + shift;
      switch (h % 4) {
        case 0: return j <= p;
        case 1: return j <= p && j > p - (8 + 24 * h);
        case 2: return j <= p && (p - j) % (h + 2) == 0;
        default: return true;
      }
    };
  if (kind == "emptyrows")  // causal, but every 7th query row (and rows 64..80) sees nothing
    return [shift](int, int64_t i, int64_t j) { return i % 7 != 3 && !(i >= 64 && i < 80) && j <= i + shift; };
  if (kind == "sink+sliding")
    return [shift, param](int, int64_t i, int64_t j) {
      const int64_t p = i + shift;
      return j <= p && (j < 4 || j > p - param);
    };
  std::fprintf(stderr, "unknown pattern %s\n", kind.c_str());
  std::abort();
}

// --- tests --------------------------------------------------------------------------------------

void testHalfConversions() {
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = cpu::halfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    if (cpu::floatToHalf(f) != h) ++bad;
  }
  CHECK(bad == 0, "float16 round trip: %d mismatches", bad);
  // ties to even between neighbours, and overflow / underflow
  int badTies = 0;
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    const double a = cpu::halfToFloat(static_cast<uint16_t>(h)), b = cpu::halfToFloat(static_cast<uint16_t>(h + 1));
    const float mid = static_cast<float>((a + b) / 2);
    if (static_cast<double>(mid) != (a + b) / 2) continue;
    const uint16_t want = (h & 1) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h);
    if (cpu::floatToHalf(mid) != want) ++badTies;
  }
  CHECK(badTies == 0, "float16 ties to even: %d mismatches", badTies);
  CHECK(cpu::floatToHalf(65519.f) == 0x7bff, "65519 -> max half");
  CHECK(cpu::floatToHalf(65520.f) == 0x7c00, "65520 -> inf");
  CHECK(cpu::floatToHalf(-1e-9f) == 0x8000, "tiny negative -> -0");
  CHECK(cpu::floatToBf16(1.00390625f) == 0x3f80, "bf16 tie to even (down)");
  CHECK(cpu::floatToBf16(1.01171875f) == 0x3f82, "bf16 tie to even (up)");
}

void testCpuInfo() {
  const CpuInfo c = cpuInfo();
  CHECK(c.threads >= 1, "cpuInfo().threads >= 1");
  std::printf("cpu: avx2=%d fma=%d f16c=%d avx512f=%d neon=%d threads=%u pool=%u kernels=%s\n", c.avx2, c.fma, c.f16c,
              c.avx512f, c.neon, c.threads, cpu::poolThreads(), cpu::activeSimd());
  const TileShape t = cpuTileShape();
  CHECK(t.blockQ == cpu::kBQ && t.blockK == cpu::kBK, "cpuTileShape");
}

void testFixedCases(const std::vector<cpu::Simd>& paths) {
  struct P {
    const char* kind;
    int param;
  };
  const P patterns[] = {{"full", 0},    {"causal", 0},  {"sliding", 37},   {"window", 50},
                        {"random", 30}, {"perhead", 0}, {"emptyrows", 0}, {"sink+sliding", 70}};
  const int shapes[][3] = {{130, 130, 64}, {77, 200, 32}, {200, 77, 80}, {64, 64, 128}, {1, 1, 64}, {65, 129, 24}};
  uint64_t seed = 1;
  for (const auto& sh : shapes)
    for (const P& pat : patterns) {
      Case c;
      c.name = pat.kind;
      c.B = 1;
      c.Hq = 4;
      c.Hkv = 2;
      c.Sq = sh[0];
      c.Sk = sh[1];
      c.D = sh[2];
      const bool perHead = std::string(pat.kind) == "perhead" || std::string(pat.kind) == "random";
      c.maskHeads = perHead ? c.Hq : 1;
      c.allowed = makePattern(pat.kind, c.Sq, c.Sk, seed, pat.param);
      runCase(c, seed++, paths);
    }
}

void testRandomCases(const std::vector<cpu::Simd>& paths, int count, uint64_t seed0) {
  Rng rng(seed0);
  const int dims[] = {32, 64, 80, 128, 1, 7, 33, 100, 16, 40};
  const char* kinds[] = {"full", "causal", "sliding", "window", "random", "perhead", "emptyrows", "sink+sliding"};
  const DType dts[] = {DType::F32, DType::F16, DType::BF16};
  const Layout lays[] = {Layout::BHSD, Layout::BSHD, Layout::Padded, Layout::StridedD};
  double worst[3] = {0, 0, 0};
  for (int n = 0; n < count; ++n) {
    Case c;
    const int kind = rng.range(0, 7);
    c.name = kinds[kind];
    c.B = rng.range(1, 2);
    c.Hkv = rng.range(1, 3);
    c.Hq = c.Hkv * (rng.range(0, 2) == 0 ? 1 : rng.range(2, 4));
    c.D = dims[rng.range(0, 9)];
    c.Sq = rng.range(1, 300);
    c.Sk = rng.range(1, 300);
    const DType dt = dts[rng.range(0, 2)];
    c.qd = dt;
    c.kd = rng.range(0, 4) == 0 ? dts[rng.range(0, 2)] : dt;
    c.vd = rng.range(0, 4) == 0 ? dts[rng.range(0, 2)] : dt;
    c.lq = lays[rng.range(0, 3)];
    c.lk = rng.range(0, 1) ? c.lq : lays[rng.range(0, 3)];
    c.lv = rng.range(0, 1) ? c.lk : lays[rng.range(0, 3)];
    c.lo = rng.range(0, 1) ? c.lq : lays[rng.range(0, 3)];
    const bool perHead = kind == 4 || kind == 5 || rng.range(0, 3) == 0;
    c.maskHeads = perHead ? c.Hq : 1;
    const int param = kind == 4 ? rng.range(3, 90) : rng.range(1, 150);
    c.allowed = makePattern(kinds[kind], c.Sq, c.Sk, rng.next(), param);
    if (rng.range(0, 2) == 0) c.opt.scale = static_cast<float>(0.05 + rng.uniform() * 0.3);
    if (rng.range(0, 2) == 0) c.opt.softcap = static_cast<float>(rng.range(0, 1) ? 2.5 : 30.0);
    c.opt.alibi = rng.range(0, 2) == 0;
    if (rng.range(0, 2) == 0 && c.D >= 2) {
      c.opt.rope.enabled = true;
      c.opt.rope.interleaved = rng.range(0, 1) == 1;
      c.opt.rope.dims = rng.range(0, 1) ? c.D - c.D % 2 : 2 * rng.range(1, c.D / 2);
      c.opt.rope.offset = rng.range(0, 2) == 0 ? rng.range(0, 5000) : 0;
      c.opt.rope.base = rng.range(0, 1) ? 10000.f : 500.f;
    }
    c.opt.lse = rng.range(0, 3) != 0;
    const double w = runCase(c, rng.next(), paths);
    const int di = dt == DType::F32 ? 0 : dt == DType::F16 ? 1 : 2;
    if (c.kd == dt && c.vd == dt) worst[di] = std::max(worst[di], w);
  }
  std::printf("random cases: %d, worst relative error f32 %.2e, f16 %.2e, bf16 %.2e\n", count, worst[0], worst[1],
              worst[2]);
}

void testDecode(const std::vector<cpu::Simd>& paths, bool quick) {
  Rng rng(99);
  const char* kinds[] = {"full", "causal", "sliding", "window", "random", "perhead", "sink+sliding"};
  const int sks[] = {1, 63, 64, 65, 1000, 4097, 8192};
  int n = 0;
  for (int sq = 1; sq <= 16; sq += (quick ? 5 : 3))
    for (const char* kind : kinds) {
      Case c;
      c.name = std::string("decode-") + kind;
      c.Sq = sq;
      c.Sk = sks[(n++) % 7];
      if (c.Sk < sq) c.Sk = sq + 3;
      c.Hkv = rng.range(1, 2);
      c.Hq = c.Hkv * rng.range(1, 4);
      c.D = (n % 3 == 0) ? 128 : 64;
      c.qd = c.kd = c.vd = n % 5 == 0 ? DType::F16 : DType::F32;
      c.lq = c.lo = Layout::BSHD;
      c.lk = c.lv = n % 2 ? Layout::BSHD : Layout::BHSD;
      const bool perHead = std::string(kind) == "perhead" || std::string(kind) == "random";
      c.maskHeads = perHead ? c.Hq : 1;
      c.allowed = makePattern(kind, c.Sq, c.Sk, rng.next(), std::string(kind) == "random" ? 20 : 300);
      c.opt.alibi = n % 4 == 1;
      if (n % 3 == 2) {
        c.opt.rope.enabled = true;
        c.opt.rope.dims = c.D;
      }
      runCase(c, rng.next(), paths);
    }
}

// Prefill rows split across threads (few rows, long keys) and GQA groups packed into one tile
// (heads per tile that do not divide the group).
void testSplitAndPacking(const std::vector<cpu::Simd>& paths, bool quick) {
  Rng rng(4242);
  const char* kinds[] = {"full", "causal", "sliding", "window", "sink+sliding", "emptyrows"};
  const int n = quick ? 8 : 20;
  for (int t = 0; t < n; ++t) {
    Case c;
    const char* kind = kinds[t % 6];
    c.name = std::string(t % 2 ? "split-" : "packed-") + kind;
    if (t % 2) {  // split: one or two rows of many key tiles
      c.Hkv = 1;
      c.Hq = rng.range(1, 2);
      c.Sq = rng.range(1, 130);
      c.Sk = rng.range(1500, 5000);
    } else {  // packed GQA: group of 3..8 heads, few queries
      c.Hkv = rng.range(1, 2);
      c.Hq = c.Hkv * rng.range(3, 8);
      c.Sq = rng.range(1, 32);
      c.Sk = rng.range(c.Sq, 700);
    }
    c.B = rng.range(1, 2);
    c.D = t % 3 == 0 ? 128 : t % 3 == 1 ? 64 : 33;
    const DType dts[] = {DType::F32, DType::F16, DType::BF16};
    c.qd = c.kd = c.vd = dts[rng.range(0, 2)];
    const Layout lays[] = {Layout::BHSD, Layout::BSHD, Layout::Padded};
    c.lq = c.lo = lays[rng.range(0, 2)];
    c.lk = c.lv = lays[rng.range(0, 2)];
    c.allowed = makePattern(kind, c.Sq, c.Sk, rng.next(), rng.range(20, 900));
    c.opt.alibi = rng.range(0, 1) == 1;
    if (rng.range(0, 2) == 0) c.opt.softcap = 20.f;
    if (rng.range(0, 1)) {
      c.opt.rope.enabled = true;
      c.opt.rope.dims = c.D % 2 ? c.D - 1 : c.D;
      c.opt.rope.interleaved = rng.range(0, 1) == 1;
    }
    runCase(c, rng.next(), paths);
  }
}

// NaN / ±inf in q, k and v, on every path and dtype, against the reference's IEEE semantics: a NaN
// (or +inf) score makes the rows that attend the key NaN, a key a row does not attend never
// reaches it (also when it sits in a partial tile the row visits), NaN / inf in v reaches exactly
// the rows attending it, a row with no allowed key (or only -inf scores) is empty. Prefill tiles,
// decoding through the split-KV merge, GQA-packed heads, softcap and ALiBi.
void testNonFinite(const std::vector<cpu::Simd>& paths, bool quick) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  struct NF {
    const char* kind;
    int param, Sq, Sk, D, Hq, Hkv;
    char where;  // 'q' 'k' 'v'
    int row;     // query row (q) or key (k, v); negative: from the end (Sk + row)
    float value;
    bool softcap, alibi;
  };
  // Sliding(300) decoding with Sq = 4 over Sk = 5000: key Sk - 4 - 299 = 4697 is attended by query
  // row 0 only, inside a partial tile shared with the other rows; key Sk - 1 by the last row only.
  const NF cases[] = {
      {"causal", 0, 150, 150, 64, 2, 1, 'v', 70, nan, false, false},
      {"causal", 0, 150, 150, 64, 2, 1, 'v', 70, inf, false, false},
      {"causal", 0, 150, 150, 64, 2, 1, 'v', 70, -inf, false, true},
      {"causal", 0, 150, 150, 64, 2, 1, 'k', 70, nan, false, false},
      {"causal", 0, 150, 150, 64, 2, 1, 'k', 70, inf, false, false},
      {"causal", 0, 150, 150, 64, 2, 1, 'k', 70, -inf, false, false},
      {"causal", 0, 150, 150, 64, 2, 1, 'k', 70, nan, true, false},
      {"causal", 0, 150, 150, 64, 2, 1, 'k', 70, inf, true, true},  // tanh(±inf) = ±1: finite
      {"causal", 0, 150, 150, 64, 2, 1, 'q', 100, nan, false, false},
      {"causal", 0, 150, 150, 64, 2, 1, 'q', 100, inf, false, false},
      {"causal", 0, 150, 150, 64, 2, 1, 'q', 100, -inf, false, false},
      {"causal", 0, 150, 150, 64, 2, 1, 'q', 100, nan, true, true},
      {"sliding", 40, 300, 300, 33, 1, 1, 'v', 150, nan, false, false},
      {"sliding", 40, 300, 300, 64, 1, 1, 'k', 150, nan, false, true},
      {"sliding", 40, 300, 300, 64, 1, 1, 'v', 150, inf, false, false},
      {"emptyrows", 0, 150, 150, 64, 1, 1, 'q', 73, nan, false, false},  // row 73 is empty: stays empty
      {"full", 0, 3, 5000, 64, 1, 1, 'v', 1234, nan, false, false},
      {"causal", 0, 4, 5000, 64, 1, 1, 'v', -1, nan, false, false},
      {"causal", 0, 4, 5000, 64, 1, 1, 'k', -1, nan, false, false},
      {"sliding", 300, 4, 5000, 64, 1, 1, 'v', 4697, nan, false, false},
      {"sliding", 300, 4, 5000, 64, 1, 1, 'v', 4697, -inf, false, true},
      {"sliding", 300, 4, 5000, 64, 1, 1, 'k', 4697, nan, false, false},
      {"sliding", 300, 1, 5000, 64, 1, 1, 'v', 4699, nan, false, false},  // not attended: no effect
      {"sliding", 300, 1, 5000, 64, 1, 1, 'k', 4699, nan, false, false},
      {"sliding", 300, 4, 5000, 128, 4, 1, 'v', 4697, nan, true, false},  // GQA heads packed
      {"sliding", 300, 4, 5000, 64, 4, 1, 'q', 2, nan, false, false},
      {"full", 0, 2, 5000, 64, 1, 1, 'q', 1, inf, false, false},
  };
  const DType dts[] = {DType::F32, DType::F16, DType::BF16};
  uint64_t seed = 555;
  int n = 0;
  for (const NF& nf : cases)
    for (DType dt : dts) {
      if (quick && dt != DType::F32 && (n++ % 2)) continue;
      Case c;
      c.name = std::string("nonfinite-") + nf.kind + "-" + nf.where + "@" + std::to_string(nf.row) + "=" +
               (std::isnan(nf.value) ? "nan" : nf.value > 0 ? "inf" : "-inf");
      c.Sq = nf.Sq;
      c.Sk = nf.Sk;
      c.D = nf.D;
      c.Hq = nf.Hq;
      c.Hkv = nf.Hkv;
      c.qd = c.kd = c.vd = dt;
      c.lk = c.lv = nf.Sq < 8 ? Layout::BSHD : Layout::BHSD;
      c.allowed = makePattern(nf.kind, c.Sq, c.Sk, 0, nf.param);
      if (nf.softcap) c.opt.softcap = 5.f;
      c.opt.alibi = nf.alibi;
      runCase(c, seed++, paths, [&nf](Tensor& q, Tensor& k, Tensor& v) {
        Tensor& t = nf.where == 'q' ? q : nf.where == 'k' ? k : v;
        const int64_t s = nf.row < 0 ? t.shape[2] + nf.row : nf.row;
        const int64_t h = nf.where == 'q' ? t.shape[1] - 1 : 0;
        setValue(t, 0, h, s, 1, nf.value);
      });
    }
  // A row whose allowed scores are all -inf (q[i][0] = -inf, k[:][0] > 0): empty, not NaN.
  for (DType dt : dts) {
    Case c;
    c.name = "nonfinite-all-minus-inf-scores";
    c.Sq = c.Sk = 130;
    c.D = 64;
    c.qd = c.kd = c.vd = dt;
    c.allowed = makePattern("causal", c.Sq, c.Sk, 0);
    runCase(c, seed++, paths, [](Tensor& q, Tensor& k, Tensor&) {
      for (int64_t j = 0; j < k.shape[2]; ++j) setValue(k, 0, 0, j, 0, 1.f + static_cast<float>(j % 3));
      setValue(q, 0, 0, 100, 0, -std::numeric_limits<float>::infinity());
    });
  }
  // Random problems with a few random non-finite values.
  Rng rng(31337);
  const char* kinds[] = {"full", "causal", "sliding", "window", "random", "emptyrows", "sink+sliding"};
  const Layout lays[] = {Layout::BHSD, Layout::BSHD, Layout::Padded};
  const int count = quick ? 30 : 120;
  for (int t = 0; t < count; ++t) {
    Case c;
    const int kind = rng.range(0, 6);
    c.name = std::string("nonfinite-random-") + kinds[kind];
    c.Hkv = rng.range(1, 2);
    c.Hq = c.Hkv * rng.range(1, 3);
    c.D = rng.range(0, 2) == 0 ? 33 : 64;
    const bool decode = rng.range(0, 2) == 0;
    c.Sq = decode ? rng.range(1, 4) : rng.range(1, 200);
    c.Sk = decode ? rng.range(300, 3000) : rng.range(1, 200);
    c.qd = c.kd = c.vd = dts[rng.range(0, 2)];
    c.lq = c.lo = lays[rng.range(0, 2)];
    c.lk = c.lv = lays[rng.range(0, 2)];
    c.maskHeads = kind == 4 ? c.Hq : 1;
    c.allowed = makePattern(kinds[kind], c.Sq, c.Sk, rng.next(), kind == 4 ? rng.range(5, 60) : rng.range(1, 120));
    if (rng.range(0, 3) == 0) c.opt.softcap = 10.f;
    c.opt.alibi = rng.range(0, 3) == 0;
    const uint64_t injSeed = rng.next();
    runCase(c, rng.next(), paths, [injSeed](Tensor& q, Tensor& k, Tensor& v) {
      Rng g(injSeed);
      const float vals[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()};
      for (int m = g.range(1, 3); m > 0; --m) {
        Tensor* ts[] = {&q, &k, &v};
        Tensor& t = *ts[g.range(0, 2)];
        setValue(t, g.range(0, static_cast<int>(t.shape[0]) - 1), g.range(0, static_cast<int>(t.shape[1]) - 1),
                 g.range(0, static_cast<int>(t.shape[2]) - 1), g.range(0, static_cast<int>(t.shape[3]) - 1),
                 vals[g.range(0, 2)]);
      }
    });
  }
}

// A few long sequences (slow reference: only with --long).
void testLong(const std::vector<cpu::Simd>& paths) {
  struct L {
    const char* kind;
    int Sq, Sk, D;
    DType dt;
    bool extras;
  };
  const L cases[] = {{"full", 4096, 4096, 64, DType::F32, false},     {"causal", 4096, 4096, 64, DType::F32, true},
                     {"sliding", 2048, 16384, 128, DType::F32, true}, {"full", 16, 32768, 64, DType::F32, true},
                     {"causal", 3000, 3000, 80, DType::F16, true},    {"causal", 3000, 3000, 80, DType::BF16, false}};
  Rng rng(77);
  for (const L& l : cases) {
    Case c;
    c.name = std::string("long-") + l.kind;
    c.Hq = 2;
    c.Hkv = 1;
    c.Sq = l.Sq;
    c.Sk = l.Sk;
    c.D = l.D;
    c.qd = c.kd = c.vd = l.dt;
    c.allowed = makePattern(l.kind, c.Sq, c.Sk, 0, 1500);
    if (l.extras) {
      c.opt.alibi = true;
      c.opt.rope.enabled = true;
      c.opt.rope.dims = c.D;
      c.opt.softcap = 30.f;
    }
    const double w = runCase(c, rng.next(), paths);
    std::printf("  %s: worst relative error %.2e\n", describe(c).c_str(), w);
  }
}

// Several calls in flight at once from different threads share the pool and stay correct.
void testConcurrent(const std::vector<cpu::Simd>& paths) {
  const int T = 4;
  std::vector<std::thread> ts;
  (void)paths;  // uses the default kernels
  struct Job {
    Tensor q, k, v, out;
    Mask mask;
    Result ref;
    std::vector<float> lse;
    bool ok = false;
    double rel = 1;
  };
  std::vector<Job> jobs(T);
  for (int t = 0; t < T; ++t) {
    Rng rng(500 + t);
    Job& j = jobs[t];
    const int Sq = t % 2 ? 3 : 150, Sk = t % 2 ? 3000 : 180, D = 64;
    j.q = makeTensor(1, 2, Sq, D, DType::F32, Layout::BHSD, rng);
    j.k = makeTensor(1, 2, Sk, D, DType::F32, Layout::BHSD, rng);
    j.v = makeTensor(1, 2, Sk, D, DType::F32, Layout::BHSD, rng);
    j.out = makeTensor(1, 2, Sq, D, DType::F32, Layout::BHSD, rng);
    Pred pr = makePattern("causal", Sq, Sk, 0);
    j.mask = buildMask(Sq, Sk, 1, pr);
    Options o;
    j.ref = reference(j.q, j.k, j.v, pr, o, 0.125f, {});
    j.lse.resize(2 * Sq);
  }
  for (int t = 0; t < T; ++t)
    ts.emplace_back([&jobs, t] {
      Job& j = jobs[t];
      for (int rep = 0; rep < 5; ++rep) {
        j.out.poison();
        AttentionParams p;
        p.q = j.q.view();
        p.k = j.k.view();
        p.v = j.v.view();
        p.out = j.out.view();
        p.lse = j.lse.data();
        p.lseLen = j.lse.size();
        p.mask = j.mask.view();
        p.scale = 0.125f;
        Status s = cpuAttentionForward(p);
        double num = 0, den = 0;
        for (size_t i = 0; i < j.ref.out.size(); ++i) {
          num += (j.out.f[i] - j.ref.out[i]) * (j.out.f[i] - j.ref.out[i]);
          den += j.ref.out[i] * j.ref.out[i];
        }
        j.ok = s.ok;
        j.rel = std::sqrt(num / den);
        if (!j.ok || !(j.rel <= 1e-5)) return;
      }
    });
  for (auto& t : ts) t.join();
  for (int t = 0; t < T; ++t)
    CHECK(jobs[t].ok && jobs[t].rel <= 1e-5, "concurrent call %d: ok=%d rel=%.3g", t, jobs[t].ok, jobs[t].rel);
}

// A valid base call that each validation test breaks in one way.
struct ValidationFixture {
  Tensor q, k, v, out;
  Mask mask;
  std::vector<float> lse, slopes;
  ValidationFixture() {
    Rng rng(7);
    q = makeTensor(2, 4, 70, 32, DType::F32, Layout::BHSD, rng);
    k = makeTensor(2, 2, 90, 32, DType::F32, Layout::BSHD, rng);
    v = makeTensor(2, 2, 90, 32, DType::F32, Layout::BHSD, rng);
    out = makeTensor(2, 4, 70, 32, DType::F32, Layout::BHSD, rng);
    mask = buildMask(70, 90, 1, makePattern("causal", 70, 90, 0));
    lse.resize(2 * 4 * 70);
    slopes = alibiSlopes(4);
  }
  AttentionParams params() {
    AttentionParams p;
    p.q = q.view();
    p.k = k.view();
    p.v = v.view();
    p.out = out.view();
    p.lse = lse.data();
    p.lseLen = lse.size();
    p.mask = mask.view();
    p.scale = 0.2f;
    p.alibiSlopes = slopes.data();
    p.alibiLen = slopes.size();
    return p;
  }
};

void testValidation() {
  ValidationFixture fx;
  {
    AttentionParams p = fx.params();
    fx.out.poison();
    Status s = cpuAttentionForward(p);
    CHECK(s.ok, "validation fixture must pass: %s", s.message.c_str());
  }
  struct Mut {
    const char* what;
    std::function<void(AttentionParams&, Mask&)> f;
  };
  const std::vector<Mut> muts = {
      {"q capacity one short", [](AttentionParams& p, Mask&) {
         size_t maxOff = 0;
         for (int a = 0; a < 4; ++a) maxOff += static_cast<size_t>((p.q.shape[a] - 1) * p.q.strides[a]);
         p.q.capacity = maxOff;  // the last element is one past the end
       }},
      {"k capacity too small", [](AttentionParams& p, Mask&) { p.k.capacity = 100; }},
      {"v capacity zero", [](AttentionParams& p, Mask&) { p.v.capacity = 0; }},
      {"out capacity too small", [](AttentionParams& p, Mask&) { p.out.capacity /= 2; }},
      {"q stride reaches outside", [](AttentionParams& p, Mask&) { p.q.strides[2] += 1; }},
      {"k huge stride overflow", [](AttentionParams& p, Mask&) { p.k.strides[0] = INT64_MAX / 2; }},
      {"negative stride", [](AttentionParams& p, Mask&) { p.v.strides[3] = -1; }},
      {"negative shape", [](AttentionParams& p, Mask&) { p.k.shape[2] = -5; }},
      {"null data", [](AttentionParams& p, Mask&) { p.q.data = nullptr; }},
      {"bad dtype", [](AttentionParams& p, Mask&) { p.k.dtype = static_cast<DType>(7); }},
      {"Hq not multiple of Hkv", [](AttentionParams& p, Mask&) {
         p.k.shape[1] = 3;
         p.v.shape[1] = 3;
       }},
      {"k/v heads differ", [](AttentionParams& p, Mask&) { p.v.shape[1] = 1; }},
      {"batch mismatch", [](AttentionParams& p, Mask&) { p.k.shape[0] = 1; }},
      {"v seq mismatch", [](AttentionParams& p, Mask&) { p.v.shape[2] = 89; }},
      {"headDim mismatch", [](AttentionParams& p, Mask&) { p.k.shape[3] = 16; }},
      {"out shape mismatch", [](AttentionParams& p, Mask&) { p.out.shape[2] = 69; }},
      {"out dtype mismatch", [](AttentionParams& p, Mask&) { p.out.dtype = DType::F16; }},
      {"lse length", [](AttentionParams& p, Mask&) { p.lseLen -= 1; }},
      {"lse null with length", [](AttentionParams& p, Mask&) { p.lse = nullptr; }},
      {"alibi length", [](AttentionParams& p, Mask&) { p.alibiLen = 2; }},
      {"alibi NaN", [](AttentionParams& p, Mask&) {
         static float bad[4] = {1, NAN, 1, 1};
         p.alibiSlopes = bad;
       }},
      {"scale NaN", [](AttentionParams& p, Mask&) { p.scale = NAN; }},
      {"scale inf", [](AttentionParams& p, Mask&) { p.scale = INFINITY; }},
      {"softcap negative", [](AttentionParams& p, Mask&) { p.softcap = -1; }},
      {"rope dims odd", [](AttentionParams& p, Mask&) {
         p.rope.enabled = true;
         p.rope.dims = 7;
       }},
      {"rope dims > D", [](AttentionParams& p, Mask&) {
         p.rope.enabled = true;
         p.rope.dims = 34;
       }},
      {"rope dims 0", [](AttentionParams& p, Mask&) {
         p.rope.enabled = true;
         p.rope.dims = 0;
       }},
      {"rope base", [](AttentionParams& p, Mask&) {
         p.rope.enabled = true;
         p.rope.dims = 8;
         p.rope.base = -1;
       }},
      {"mask seqQ", [](AttentionParams& p, Mask&) { p.mask.seqQ = 71; }},
      {"mask seqK", [](AttentionParams& p, Mask&) { p.mask.seqK = 91; }},
      {"mask tile zero", [](AttentionParams& p, Mask&) { p.mask.blockQ = 0; }},
      {"mask tile shape not the CPU's", [](AttentionParams& p, Mask& m) {
         Mask other = buildMask(70, 90, 1, makePattern("causal", 70, 90, 0), 32, 32);
         m = other;
         p.mask = m.view();
       }},
      {"numQBlocks", [](AttentionParams& p, Mask&) { p.mask.numQBlocks = 3; }},
      {"numKBlocks", [](AttentionParams& p, Mask&) { p.mask.numKBlocks = 1; }},
      {"mask heads", [](AttentionParams& p, Mask&) { p.mask.heads = 2; }},
      {"wordsPerRow", [](AttentionParams& p, Mask&) { p.mask.wordsPerRow = 1; }},
      {"rowPtr length", [](AttentionParams& p, Mask&) { p.mask.rowPtrLen -= 1; }},
      {"rowPtr null", [](AttentionParams& p, Mask&) { p.mask.rowPtr = nullptr; }},
      {"rowPtr[0] != 0", [](AttentionParams& p, Mask& m) {
         m.rowPtr[0] = 1;
         p.mask = m.view();
       }},
      {"rowPtr not monotone", [](AttentionParams& p, Mask& m) {
         m.rowPtr[1] = m.rowPtr[2] + 1;
         p.mask = m.view();
       }},
      {"rowPtr last != nnz", [](AttentionParams& p, Mask&) { p.mask.nnz -= 1; }},
      {"rowPtr beyond nnz", [](AttentionParams& p, Mask& m) {
         m.rowPtr[1] = 1000;
         p.mask = m.view();
       }},
      {"colIdx out of range", [](AttentionParams& p, Mask& m) {
         m.colIdx[0] = 2;
         p.mask = m.view();
       }},
      {"colIdx negative", [](AttentionParams& p, Mask& m) {
         m.colIdx.back() = -1;
         p.mask = m.view();
       }},
      {"colIdx not ascending", [](AttentionParams& p, Mask& m) {
         m.colIdx[m.rowPtr[1] + 1] = m.colIdx[m.rowPtr[1]];
         p.mask = m.view();
       }},
      {"partial out of range", [](AttentionParams& p, Mask& m) {
         m.partial[0] = static_cast<int32_t>(m.bits.size());
         p.mask = m.view();
       }},
      {"partial below -1", [](AttentionParams& p, Mask& m) {
         m.partial[0] = -2;
         p.mask = m.view();
       }},
      {"bitsLen not a multiple", [](AttentionParams& p, Mask&) { p.mask.bitsLen -= 1; }},
      {"bits null", [](AttentionParams& p, Mask&) { p.mask.bits = nullptr; }},
      {"colIdx null", [](AttentionParams& p, Mask&) { p.mask.colIdx = nullptr; }},
  };
  for (const Mut& m : muts) {
    ValidationFixture f;
    AttentionParams p = f.params();
    m.f(p, f.mask);
    f.out.poison();
    Status s = cpuAttentionForward(p);
    CHECK(!s.ok && !s.message.empty(), "validation must reject: %s", m.what);
    bool untouched = true;
    for (size_t o = 0; o < f.out.capacity; ++o)
      if (!f.out.isPoison(o)) untouched = false;
    CHECK(untouched, "rejected call wrote its output: %s", m.what);
    if (std::getenv("ATTNFLOW_TEST_VERBOSE")) std::printf("  %-32s -> %s\n", m.what, s.message.c_str());
  }
  // empty problems are fine
  {
    Rng rng(3);
    Tensor q = makeTensor(1, 2, 5, 16, DType::F32, Layout::BHSD, rng);
    Tensor k = makeTensor(1, 2, 1, 16, DType::F32, Layout::BHSD, rng);
    k.shape[2] = 0;
    Tensor v = k;
    Tensor out = makeTensor(1, 2, 5, 16, DType::F32, Layout::BHSD, rng);
    Mask m = buildMask(5, 0, 1, makePattern("full", 5, 0, 0));
    std::vector<float> lse(10, 0.f);
    AttentionParams p;
    p.q = q.view();
    p.k = k.view();
    p.v = v.view();
    p.out = out.view();
    p.lse = lse.data();
    p.lseLen = lse.size();
    p.mask = m.view();
    out.poison();
    Status s = cpuAttentionForward(p);
    CHECK(s.ok, "seqK = 0 must succeed: %s", s.message.c_str());
    bool zeros = true, inf = true;
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 5; ++i)
        for (int64_t d = 0; d < 16; ++d) zeros = zeros && out.get(0, h, i, d) == 0.0;
    for (float x : lse) inf = inf && std::isinf(x) && x < 0;
    CHECK(zeros && inf, "seqK = 0: zero output and -inf lse");
  }
}

// --- bench ---------------------------------------------------------------------------------------

long peakRssKb() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

double processCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void bench() {
  struct B {
    const char* name;
    int Sq, Sk, Hq, Hkv, D;
    DType dt;
    const char* kind;
    int param;
    bool rope;
  };
  const B cases[] = {
      {"dense", 4096, 4096, 8, 8, 64, DType::F32, "full", 0, false},
      {"causal", 4096, 4096, 8, 8, 64, DType::F32, "causal", 0, false},
      {"causal", 16384, 16384, 8, 8, 64, DType::F32, "causal", 0, false},
      {"sliding(256)", 16384, 16384, 8, 8, 64, DType::F32, "sliding", 256, false},
      {"sliding(1024)", 16384, 16384, 8, 8, 64, DType::F32, "sliding", 1024, false},
      {"dense-f16", 4096, 4096, 8, 8, 64, DType::F16, "full", 0, false},
      {"dense-bf16", 4096, 4096, 8, 8, 64, DType::BF16, "full", 0, false},
      {"dense-rope", 4096, 4096, 8, 8, 64, DType::F32, "full", 0, true},
      {"decode1-gqa", 1, 8192, 32, 8, 128, DType::F32, "causal", 0, false},
      {"decode16-gqa", 16, 8192, 32, 8, 128, DType::F32, "causal", 0, false},
      {"decode1-f16", 1, 8192, 32, 8, 128, DType::F16, "causal", 0, false},
      {"tiny", 1, 64, 1, 1, 64, DType::F32, "causal", 0, false},
      {"sliding(1024)", 65536, 65536, 8, 8, 64, DType::F32, "sliding", 1024, false},
  };
  const char* only = std::getenv("ATTNFLOW_BENCH_ONLY");
  const int hOverride = std::getenv("ATTNFLOW_BENCH_H") ? std::atoi(std::getenv("ATTNFLOW_BENCH_H")) : 0;
  std::printf("bench: B=1, bhsd, kernels=%s, threads=%u; GFLOP/s counts 4*Hq*D*(allowed pairs)\n", cpu::activeSimd(),
              cpu::poolThreads());
  for (const B& bc : cases) {
    if (only && std::string(only) != std::string(bc.name) + "@" + std::to_string(bc.Sk)) continue;
    const int Hq = hOverride ? hOverride : bc.Hq, Hkv = hOverride ? hOverride : bc.Hkv;
    const int Sq = bc.Sq, Sk = bc.Sk, D = bc.D;
    Rng rng(11);
    Tensor q = makeTensor(1, Hq, Sq, D, bc.dt, Layout::BHSD, rng);
    Tensor k = makeTensor(1, Hkv, Sk, D, bc.dt, Layout::BHSD, rng);
    Tensor v = makeTensor(1, Hkv, Sk, D, bc.dt, Layout::BHSD, rng);
    Tensor out = makeTensor(1, Hq, Sq, D, bc.dt, Layout::BHSD, rng);
    const std::string kind = bc.kind;
    const int64_t shift = static_cast<int64_t>(Sk) - Sq;
    const int w = bc.param;
    Mask mask;
    double pairs = 0;
    if (kind == "full") {
      mask = buildMask(Sq, Sk, 1, [](int, int64_t, int64_t) { return true; });
      pairs = static_cast<double>(Sq) * Sk;
    } else if (kind == "causal") {
      mask = buildMask(Sq, Sk, 1, [shift](int, int64_t i, int64_t j) { return j <= i + shift; });
      for (int64_t i = 0; i < Sq; ++i) pairs += static_cast<double>(i + shift + 1);
    } else {
      struct Band {
        int64_t shift, w;
        int lo(int qb) const { return static_cast<int>((qb * int64_t{cpu::kBQ} + shift - w + 1) / cpu::kBK) - 1; }
        int hi(int qb, int) const { return static_cast<int>((qb * int64_t{cpu::kBQ} + cpu::kBQ - 1 + shift) / cpu::kBK); }
      };
      mask = buildMask(
          Sq, Sk, 1, [shift, w](int, int64_t i, int64_t j) { return j <= i + shift && j > i + shift - w; }, cpu::kBQ,
          cpu::kBK, Band{shift, w});
      for (int64_t i = 0; i < Sq; ++i) pairs += static_cast<double>(std::min<int64_t>(w, i + shift + 1));
    }
    const double flops = 4.0 * Hq * D * pairs;
    const double kvBytes = 2.0 * Hkv * Sk * D * (bc.dt == DType::F32 ? 4 : 2);
    std::vector<float> lse(static_cast<size_t>(Hq) * Sq);
    AttentionParams p;
    p.q = q.view();
    p.k = k.view();
    p.v = v.view();
    p.out = out.view();
    p.lse = lse.data();
    p.lseLen = lse.size();
    p.mask = mask.view();
    p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
    if (bc.rope) {
      p.rope.enabled = true;
      p.rope.dims = D;
    }
    const long rss0 = peakRssKb();
    Status s = cpuAttentionForward(p);  // warm up
    const long rssDelta = peakRssKb() - rss0;
    if (!s.ok) {
      std::printf("bench error: %s\n", s.message.c_str());
      return;
    }
    const double work = flops / 1e9;
    int reps = std::getenv("ATTNFLOW_BENCH_REPS") ? std::atoi(std::getenv("ATTNFLOW_BENCH_REPS"))
                                                   : std::max(2, std::min(200, static_cast<int>(20 / work)));
    double best = 1e30, bestCpu = 1e30;
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const double c0 = processCpuSeconds();
      cpuAttentionForward(p);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::min(best, dt);
      bestCpu = std::min(bestCpu, processCpuSeconds() - c0);
    }
    std::printf(
        "  %-14s Sq=%-5d Sk=%-5d Hq=%-2d Hkv=%-2d D=%-3d %-4s %9.3f ms %7.1f GFLOP/s %6.1f GB/s(KV)  cpu %5.1f "
        "GFLOP/cpu-s  peak-RSS growth %ld KiB\n",
        bc.name, Sq, Sk, Hq, Hkv, D, dtypeName(bc.dt), best * 1e3, flops / best * 1e-9, kvBytes / best * 1e-9,
        flops / bestCpu * 1e-9, rssDelta);
  }
}

}  // namespace

namespace attnflow_test {
int testPositionsAndKeyMass(bool quick);  // cpu_keymass_test.cpp
}

int main(int argc, char** argv) {
  bool quick = false, longCases = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--long") == 0) longCases = true;
    if (std::strcmp(argv[i], "--bench") == 0) {
      bench();
      return 0;
    }
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
  }
  const auto t0 = std::chrono::steady_clock::now();
  testCpuInfo();
  testHalfConversions();
  const std::vector<cpu::Simd> paths = allPaths();
  std::printf("paths:");
  for (cpu::Simd s : paths) std::printf(" %s", s == cpu::Simd::Avx2 ? "avx2" : s == cpu::Simd::Neon ? "neon" : "portable");
  std::printf("\n");
  testValidation();
  testFixedCases(paths);
  testRandomCases(paths, quick ? 40 : 150, 2024);
  testDecode(paths, quick);
  testSplitAndPacking(paths, quick);
  testNonFinite(paths, quick);
  for (cpu::Simd s : paths) {
    cpu::forceSimd(s);
    gFailures += attnflow_test::testPositionsAndKeyMass(quick);
  }
  cpu::forceSimd(cpu::Simd::Auto);
  testConcurrent(paths);
  if (longCases) testLong(paths);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d checks, %d failures (%.1f s)\n", gChecks, gFailures, dt);
  return gFailures == 0 ? 0 : 1;
}
