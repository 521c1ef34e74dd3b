// The CUDA linear-attention scan (linear_scan.cuh) on the emulated GPU: the launcher's own plan
// (lin::planScan, lin::scanParams), the gate check kernel and the scan kernel (WMMA 3xTF32
// products emulated with tf32 operands), against a float64 recurrent reference: every feature map
// and kind of decay, GQA, dtypes, both layouts, several chunks with a partial last one, value
// slices narrower than Dv, the state in and out, and a gate outside (0, 1] found on the device.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "emu.h"
#include "half.h"
#include "linear_scan.cuh"

namespace emutest {

namespace {

using namespace attnflow;
using namespace attnflow::cudaimpl;

struct LinCase {
  std::string name;
  int B = 1, Hq = 2, Hkv = 1, N = 70, Dk = 16, Dv = 16;
  DType dtype = DType::F32;
  bool bshd = false;
  LinearFeatureMap fm = LinearFeatureMap::Elu1;
  int features = 0;
  LinearDecay decay = LinearDecay::None;
  bool normalize = true;
  bool init = false;
  int maxChunk = 16;
  int sms = 1000;           // multiprocessors the slice heuristic assumes (many: narrow slices)
  long long badGate = -1;   // flat index of a gate set to 1.5 (the check must report it)
};

// A [B, H, N, D] tensor in the case's dtype and layout, and its values as stored.
struct Tensor4 {
  std::vector<unsigned char> bytes;
  std::vector<double> values;  // logical [B][H][N][D]
  int64_t strides[4];
  TensorView view(DType dt, int B, int H, int N, int D) {
    TensorView t;
    t.data = bytes.data();
    t.dtype = dt;
    t.shape[0] = B, t.shape[1] = H, t.shape[2] = N, t.shape[3] = D;
    for (int a = 0; a < 4; ++a) t.strides[a] = strides[a];
    t.capacity = bytes.size() / dtypeSize(dt);
    return t;
  }
};

Tensor4 makeTensor(const LinCase& c, int H, int D, double scale, std::mt19937& rng) {
  Tensor4 t;
  const size_t n = static_cast<size_t>(c.B) * H * c.N * D, elt = dtypeSize(c.dtype);
  t.bytes.assign(n * elt, 0xff);
  t.values.resize(n);
  if (c.bshd) {
    t.strides[0] = static_cast<int64_t>(c.N) * H * D, t.strides[1] = D, t.strides[2] = static_cast<int64_t>(H) * D;
  } else {
    t.strides[0] = static_cast<int64_t>(H) * c.N * D, t.strides[1] = static_cast<int64_t>(c.N) * D, t.strides[2] = D;
  }
  t.strides[3] = 1;
  std::normal_distribution<float> normal(0.f, 1.f);
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < H; ++h)
      for (int s = 0; s < c.N; ++s)
        for (int d = 0; d < D; ++d) {
          const float x = static_cast<float>(scale * normal(rng));
          const int64_t at = b * t.strides[0] + h * t.strides[1] + s * t.strides[2] + d;
          double stored = x;
          if (c.dtype == DType::F32) {
            std::memcpy(&t.bytes[at * 4], &x, 4);
          } else {
            const uint16_t bits = c.dtype == DType::F16 ? cpu::floatToHalf(x) : cpu::floatToBf16(x);
            std::memcpy(&t.bytes[at * 2], &bits, 2);
            stored = c.dtype == DType::F16 ? cpu::halfToFloat(bits) : cpu::bf16ToFloat(bits);
          }
          t.values[((static_cast<size_t>(b) * H + h) * c.N + s) * D + d] = stored;
        }
  return t;
}

double relErr(const std::vector<double>& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (got[i] - ref[i]) * (got[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

double phi(LinearFeatureMap fm, double x) {
  if (fm == LinearFeatureMap::Identity) return x;
  if (fm == LinearFeatureMap::Elu1) return x > 0 ? x + 1 : std::exp(x);
  return x > 0 ? x : 0;
}

bool runLinearCase(const LinCase& c, unsigned seed) {
  std::mt19937 rng(seed);
  const int Df = c.fm == LinearFeatureMap::Favor ? c.features : c.Dk;
  Tensor4 q = makeTensor(c, c.Hq, c.Dk, 0.5, rng), k = makeTensor(c, c.Hkv, c.Dk, 0.5, rng),
          v = makeTensor(c, c.Hkv, c.Dv, 1.0, rng), out = makeTensor(c, c.Hq, c.Dv, 1.0, rng);
  std::fill(out.bytes.begin(), out.bytes.end(), 0xff);  // poisoned: NaN in every dtype
  std::uniform_real_distribution<float> uni(0.f, 1.f);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> W(static_cast<size_t>(Df) * c.Dk), decayHead(c.Hq);
  for (float& w : W) w = normal(rng);
  for (float& g : decayHead) g = 0.8f + 0.2f * uni(rng);
  const int F = c.decay == LinearDecay::PerStepFeature ? Df : 1;
  std::vector<float> gates(static_cast<size_t>(c.B) * c.Hq * c.N * F);
  for (float& g : gates) g = 0.7f + 0.3f * uni(rng);
  if (c.badGate >= 0) gates[static_cast<size_t>(c.badGate)] = 1.5f;
  const size_t sLen = static_cast<size_t>(c.B) * c.Hq * Df * c.Dv, zLen = static_cast<size_t>(c.B) * c.Hq * Df;
  std::vector<float> initS(sLen), initZ(zLen), stateS(sLen, NAN), stateZ(zLen, NAN);
  for (float& x : initS) x = 0.3f * normal(rng);
  for (float& x : initZ) x = 0.5f + uni(rng);

  LinearAttentionParams p;
  p.q = q.view(c.dtype, c.B, c.Hq, c.N, c.Dk);
  p.k = k.view(c.dtype, c.B, c.Hkv, c.N, c.Dk);
  p.v = v.view(c.dtype, c.B, c.Hkv, c.N, c.Dv);
  p.out = out.view(c.dtype, c.B, c.Hq, c.N, c.Dv);
  p.featureMap = c.fm;
  if (c.fm == LinearFeatureMap::Favor) p.favorW = W.data(), p.favorWLen = W.size(), p.features = Df;
  p.decay = c.decay;
  if (c.decay == LinearDecay::PerHead) p.decayHead = decayHead.data(), p.decayHeadLen = decayHead.size();
  if (c.decay == LinearDecay::PerStep || c.decay == LinearDecay::PerStepFeature) {
    p.gates = gates.data();
    p.gatesLen = gates.size();
    p.gateStrides[0] = static_cast<int64_t>(c.Hq) * c.N * F, p.gateStrides[1] = static_cast<int64_t>(c.N) * F;
    p.gateStrides[2] = F, p.gateStrides[3] = F > 1 ? 1 : 0;
  }
  p.normalize = c.normalize;
  if (c.init) p.initS = initS.data(), p.initSLen = sLen, p.initZ = initZ.data(), p.initZLen = zLen;
  p.stateS = stateS.data(), p.stateSLen = sLen, p.stateZ = stateZ.data(), p.stateZLen = zLen;
  const Status st = validateLinearAttention(p);
  if (!st.ok) {
    std::printf("FAIL linear %s: validateLinearAttention: %s\n", c.name.c_str(), st.message.c_str());
    return false;
  }

  // The launcher's path: plan, gate check, scan.
  lin::Geo geo{};
  int VS = 0;
  if (!lin::planScan(p, Df, c.sms, 227 * 1024, c.maxChunk, &geo, &VS)) {
    std::printf("FAIL linear %s: no chunk fits\n", c.name.c_str());
    return false;
  }
  lin::ScanParams kp = lin::scanParams(p, Df, geo);
  kp.W = W.data();
  kp.decayHead = decayHead.data();
  if (p.gates != nullptr) {
    unsigned long long flag = ~0ull;
    const long long count = static_cast<long long>(gates.size());
    emu::launch(3, 256, 0, [&] {
      lin::checkGatesKernel(p.gates, p.gateStrides[0], p.gateStrides[1], p.gateStrides[2], p.gateStrides[3], c.Hq, c.N, F,
                            count, &flag);
    });
    const unsigned long long want = c.badGate >= 0 ? static_cast<unsigned long long>(c.badGate) : ~0ull;
    if (flag != want) {
      std::printf("FAIL linear %s: the gate check reports %llu, expected %llu\n", c.name.c_str(), flag, want);
      return false;
    }
    if (c.badGate >= 0) {
      std::printf("ok   linear %-60s gate check found [%lld]\n", c.name.c_str(), c.badGate);
      return true;
    }
  }
  dim3 grid;
  grid.x = static_cast<unsigned>(c.B * c.Hq);
  grid.y = static_cast<unsigned>((c.Dv + VS - 1) / VS);
  emu::launch(grid, lin::kThreads, geo.floats * sizeof(float), [&] { lin::linearScanKernel(kp); });

  // The float64 recurrence on the inputs as stored.
  const int group = c.Hq / c.Hkv;
  const double xs = std::pow(static_cast<double>(c.Dk), -0.25), norm = 1.0 / std::sqrt(static_cast<double>(Df));
  std::vector<double> refOut(static_cast<size_t>(c.B) * c.Hq * c.N * c.Dv), refS(sLen), refZ(zLen), fq(Df), fk(Df);
  auto features = [&](const Tensor4& t, int H, size_t row, std::vector<double>& f) {
    (void)H;
    const double* x = &t.values[row * c.Dk];
    if (c.fm != LinearFeatureMap::Favor) {
      for (int d = 0; d < c.Dk; ++d) f[d] = phi(c.fm, x[d]);
      return;
    }
    double sq = 0;
    for (int d = 0; d < c.Dk; ++d) sq += x[d] * xs * x[d] * xs;
    for (int m = 0; m < Df; ++m) {
      double dot = 0;
      for (int d = 0; d < c.Dk; ++d) dot += W[m * c.Dk + d] * x[d] * xs;
      f[m] = std::exp(dot - sq / 2) * norm;
    }
  };
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.Hq; ++h) {
      const size_t head = static_cast<size_t>(b) * c.Hq + h, kvHead = static_cast<size_t>(b) * c.Hkv + h / group;
      std::vector<double> S(static_cast<size_t>(Df) * c.Dv, 0.0), z(Df, 0.0);
      if (c.init) {
        for (size_t i = 0; i < S.size(); ++i) S[i] = initS[head * Df * c.Dv + i];
        for (int f = 0; f < Df; ++f) z[f] = initZ[head * Df + f];
      }
      for (int n = 0; n < c.N; ++n) {
        features(q, c.Hq, head * c.N + n, fq);
        features(k, c.Hkv, kvHead * c.N + n, fk);
        const double* vr = &v.values[(kvHead * c.N + n) * c.Dv];
        for (int f = 0; f < Df; ++f) {
          double g = 1;
          if (c.decay == LinearDecay::PerHead) g = decayHead[h];
          if (c.decay == LinearDecay::PerStep) g = gates[head * c.N + n];
          if (c.decay == LinearDecay::PerStepFeature) g = gates[(head * c.N + n) * Df + f];
          for (int e = 0; e < c.Dv; ++e) S[f * c.Dv + e] = g * S[f * c.Dv + e] + fk[f] * vr[e];
          z[f] = g * z[f] + fk[f];
        }
        double den = 0;
        for (int f = 0; f < Df; ++f) den += fq[f] * z[f];
        for (int e = 0; e < c.Dv; ++e) {
          double y = 0;
          for (int f = 0; f < Df; ++f) y += fq[f] * S[f * c.Dv + e];
          refOut[(head * c.N + n) * c.Dv + e] = c.normalize ? y / (den + 1e-6) : y;
        }
      }
      for (size_t i = 0; i < S.size(); ++i) refS[head * Df * c.Dv + i] = S[i];
      for (int f = 0; f < Df; ++f) refZ[head * Df + f] = z[f];
    }

  std::vector<double> got(refOut.size());
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.Hq; ++h)
      for (int n = 0; n < c.N; ++n)
        for (int e = 0; e < c.Dv; ++e) {
          const int64_t at = b * out.strides[0] + h * out.strides[1] + n * out.strides[2] + e;
          got[((static_cast<size_t>(b) * c.Hq + h) * c.N + n) * c.Dv + e] = emu::storedValue(out.bytes, at, c.dtype);
        }
  const double bar = c.dtype == DType::F32 ? 1e-5 : c.dtype == DType::F16 ? 2e-3 : 1e-2;
  const double eo = relErr(got, refOut);
  const double es = relErr(std::vector<double>(stateS.begin(), stateS.end()), refS);
  const double ez = relErr(std::vector<double>(stateZ.begin(), stateZ.end()), refZ);
  const bool ok = eo <= bar && es <= 1e-5 && ez <= 1e-5;
  std::printf("%s linear %-60s chunk %2d VS %2d x %d  out %.2e (bar %.0e)  S %.2e  z %.2e\n", ok ? "ok  " : "FAIL",
              c.name.c_str(), geo.C, VS, static_cast<int>(grid.y), eo, bar, es, ez);
  return ok;
}

}  // namespace

int runLinearCases(bool quick, const char* filter, int* runs) {
  std::vector<LinCase> cases;
  auto add = [&](LinCase c) { cases.push_back(std::move(c)); };
  {
    LinCase c;
    c.name = "elu1 f32, GQA 2:1, 5 chunks (last partial), Dv 40 in 3 slices";
    c.Dv = 40;
    add(c);
  }
  {
    LinCase c;
    c.name = "relu bf16 bshd, per-step gates, initial state, chunk 32";
    c.dtype = DType::BF16, c.bshd = true, c.fm = LinearFeatureMap::Relu, c.decay = LinearDecay::PerStep;
    c.init = true, c.maxChunk = 32, c.Hkv = 2, c.N = 45;
    add(c);
  }
  {
    LinCase c;
    c.name = "identity f16 unnormalized, per-head decay, chunk 64, Dk 20";
    c.dtype = DType::F16, c.fm = LinearFeatureMap::Identity, c.normalize = false, c.decay = LinearDecay::PerHead;
    c.maxChunk = 64, c.N = 50, c.Dk = 20, c.Dv = 24, c.B = 2, c.Hq = 1;
    add(c);
  }
  {
    LinCase c;
    c.name = "favor 24 features f32, per-feature gates, Dk 8";
    c.fm = LinearFeatureMap::Favor, c.features = 24, c.decay = LinearDecay::PerStepFeature, c.Dk = 8, c.N = 37;
    add(c);
  }
  if (!quick) {
    LinCase c;
    c.name = "elu1 f32, per-feature gates, initial state, Dk 32, Dv 64, chunk 64, N 130";
    c.decay = LinearDecay::PerStepFeature, c.init = true, c.Dk = 32, c.Dv = 64, c.maxChunk = 64, c.N = 130, c.sms = 1;
    add(c);
  }
  {
    LinCase c;
    c.name = "a per-step gate outside (0, 1] is reported";
    c.decay = LinearDecay::PerStep, c.badGate = 97;
    add(c);
  }
  int failures = 0, n = 0;
  std::printf("-- linear attention\n");
  for (const LinCase& c : cases) {
    if (filter != nullptr && c.name.find(filter) == std::string::npos) continue;
    if (!runLinearCase(c, 4321 + n++)) ++failures;
  }
  *runs = n;
  return failures;
}

}  // namespace emutest
