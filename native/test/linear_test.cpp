// cpuLinearAttention on every CPU kernel against a float64 recurrent reference: every feature map
// and kind of decay, GQA, dtypes and layouts, lengths that are not a multiple of the chunk, the
// state in and out. (test/linear-attention.test.ts checks the same through the public API.)
#include "harness.h"

namespace nativetest {

namespace {

struct LinCase {
  std::string name;
  int B = 1, Hq = 2, Hkv = 1, N = 100, Dk = 16, Dv = 12;
  DType dt = DType::F32;
  Layout layout = Layout::BHSD;
  LinearFeatureMap fm = LinearFeatureMap::Elu1;
  int features = 0;  // favor
  LinearDecay decay = LinearDecay::None;
  bool normalize = true;
  bool init = false;
  int chunk = 64;
};

double phi(LinearFeatureMap fm, double x) {
  switch (fm) {
    case LinearFeatureMap::Identity: return x;
    case LinearFeatureMap::Elu1: return x > 0 ? x + 1 : std::exp(x);
    case LinearFeatureMap::Relu: return x > 0 ? x : 0;
    default: return 0;
  }
}

double relErr(const std::vector<double>& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (got[i] - ref[i]) * (got[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

void runLinearCase(const LinCase& c, uint64_t seed, const Kernels& kernels) {
  Rng rng(seed);
  const int Df = c.fm == LinearFeatureMap::Favor ? c.features : c.Dk;
  Tensor q = makeTensor(c.B, c.Hq, c.N, c.Dk, c.dt, c.layout, rng, 0.5);
  Tensor k = makeTensor(c.B, c.Hkv, c.N, c.Dk, c.dt, c.layout, rng, 0.5);
  Tensor v = makeTensor(c.B, c.Hkv, c.N, c.Dv, c.dt, c.layout, rng);
  Tensor out = makeTensor(c.B, c.Hq, c.N, c.Dv, c.dt, c.layout, rng);
  std::vector<float> W(static_cast<size_t>(Df) * c.Dk), decayHead(c.Hq);
  for (float& w : W) w = static_cast<float>(rng.normal());
  for (float& g : decayHead) g = static_cast<float>(0.8 + 0.2 * rng.uniform());
  const int F = c.decay == LinearDecay::PerStepFeature ? Df : 1;
  std::vector<float> gates(static_cast<size_t>(c.B) * c.Hq * c.N * F);
  for (float& g : gates) g = static_cast<float>(0.7 + 0.3 * rng.uniform());
  const size_t sLen = static_cast<size_t>(c.B) * c.Hq * Df * c.Dv, zLen = static_cast<size_t>(c.B) * c.Hq * Df;
  std::vector<float> initS(sLen), initZ(zLen), stateS(sLen), stateZ(zLen);
  for (float& x : initS) x = static_cast<float>(0.3 * rng.normal());
  for (float& x : initZ) x = static_cast<float>(0.5 + rng.uniform());

  // The reference, in float64 on the inputs as stored.
  const int group = c.Hq / c.Hkv;
  const double xs = std::pow(static_cast<double>(c.Dk), -0.25), norm = 1.0 / std::sqrt(static_cast<double>(Df));
  std::vector<double> refOut(static_cast<size_t>(c.B) * c.Hq * c.N * c.Dv), refS(sLen), refZ(zLen);
  auto features = [&](const Tensor& t, int b, int h, int n, std::vector<double>& f) {
    if (c.fm != LinearFeatureMap::Favor) {
      for (int d = 0; d < c.Dk; ++d) f[d] = phi(c.fm, t.get(b, h, n, d));
      return;
    }
    double sq = 0;
    for (int d = 0; d < c.Dk; ++d) sq += t.get(b, h, n, d) * xs * t.get(b, h, n, d) * xs;
    for (int m = 0; m < Df; ++m) {
      double dot = 0;
      for (int d = 0; d < c.Dk; ++d) dot += W[m * c.Dk + d] * t.get(b, h, n, d) * xs;
      f[m] = std::exp(dot - sq / 2) * norm;
    }
  };
  std::vector<double> fq(Df), fk(Df);
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.Hq; ++h) {
      const size_t head = static_cast<size_t>(b) * c.Hq + h;
      std::vector<double> S(static_cast<size_t>(Df) * c.Dv, 0.0), z(Df, 0.0);
      if (c.init) {
        for (size_t i = 0; i < S.size(); ++i) S[i] = initS[head * Df * c.Dv + i];
        for (int f = 0; f < Df; ++f) z[f] = initZ[head * Df + f];
      }
      for (int n = 0; n < c.N; ++n) {
        features(q, b, h, n, fq);
        features(k, b, h / group, n, fk);
        for (int f = 0; f < Df; ++f) {
          double g = 1;
          if (c.decay == LinearDecay::PerHead) g = decayHead[h];
          if (c.decay == LinearDecay::PerStep) g = gates[(head * c.N + n)];
          if (c.decay == LinearDecay::PerStepFeature) g = gates[(head * c.N + n) * Df + f];
          for (int e = 0; e < c.Dv; ++e) S[f * c.Dv + e] = g * S[f * c.Dv + e] + fk[f] * v.get(b, h / group, n, e);
          z[f] = g * z[f] + fk[f];
        }
        double den = 0;
        for (int f = 0; f < Df; ++f) den += fq[f] * z[f];
        for (int e = 0; e < c.Dv; ++e) {
          double y = 0;
          for (int f = 0; f < Df; ++f) y += fq[f] * S[f * c.Dv + e];
          refOut[((head * c.N) + n) * c.Dv + e] = c.normalize ? y / (den + 1e-6) : y;
        }
      }
      for (size_t i = 0; i < S.size(); ++i) refS[head * Df * c.Dv + i] = S[i];
      for (int f = 0; f < Df; ++f) refZ[head * Df + f] = z[f];
    }

  for (const cpu::CpuKernel* kernel : kernels) {
    cpu::forceKernel(kernel);
    out.poison();
    LinearAttentionParams p;
    p.q = q.view();
    p.k = k.view();
    p.v = v.view();
    p.out = out.view();
    p.featureMap = c.fm;
    if (c.fm == LinearFeatureMap::Favor) {
      p.favorW = W.data();
      p.favorWLen = W.size();
      p.features = Df;
    }
    p.decay = c.decay;
    if (c.decay == LinearDecay::PerHead) {
      p.decayHead = decayHead.data();
      p.decayHeadLen = decayHead.size();
    } else if (c.decay != LinearDecay::None) {
      p.gates = gates.data();
      p.gatesLen = gates.size();
      const int64_t s2 = F, s1 = static_cast<int64_t>(c.N) * F, s0 = static_cast<int64_t>(c.Hq) * s1;
      p.gateStrides[0] = s0;
      p.gateStrides[1] = s1;
      p.gateStrides[2] = s2;
      p.gateStrides[3] = F > 1 ? 1 : 0;
    }
    p.normalize = c.normalize;
    p.eps = 1e-6f;
    if (c.init) {
      p.initS = initS.data();
      p.initSLen = sLen;
      p.initZ = initZ.data();
      p.initZLen = zLen;
    }
    p.stateS = stateS.data();
    p.stateSLen = sLen;
    p.stateZ = stateZ.data();
    p.stateZLen = zLen;
    p.chunk = c.chunk;
    const Status s = cpuLinearAttention(p);
    CHECK(s.ok, "[%s] linear %s: %s", kernel->name, c.name.c_str(), s.message.c_str());
    if (!s.ok) continue;
    std::vector<double> got(refOut.size());
    for (int b = 0; b < c.B; ++b)
      for (int h = 0; h < c.Hq; ++h)
        for (int n = 0; n < c.N; ++n)
          for (int e = 0; e < c.Dv; ++e)
            got[((static_cast<size_t>(b) * c.Hq + h) * c.N + n) * c.Dv + e] = out.get(b, h, n, e);
    const double eo = relErr(got, refOut);
    const double es = relErr(std::vector<double>(stateS.begin(), stateS.end()), refS);
    const double ez = relErr(std::vector<double>(stateZ.begin(), stateZ.end()), refZ);
    const double bar = tolerance(c.dt);
    CHECK(eo <= bar && es <= 1e-5 && ez <= 1e-5, "[%s] linear %s: out %.3g (bar %.0e), S %.3g, z %.3g", kernel->name,
          c.name.c_str(), eo, bar, es, ez);
  }
  cpu::forceKernel(nullptr);
}

}  // namespace

void testLinear(const Kernels& kernels, bool quick) {
  std::vector<LinCase> cases;
  auto add = [&](LinCase c) { cases.push_back(std::move(c)); };
  {
    LinCase c;
    c.name = "elu1, GQA 2:1, N not a multiple of the chunk";
    add(c);
  }
  {
    LinCase c;
    c.name = "identity, unnormalized, per-head decay, bshd, odd dims";
    c.fm = LinearFeatureMap::Identity, c.normalize = false, c.decay = LinearDecay::PerHead;
    c.layout = Layout::BSHD, c.Dk = 13, c.Dv = 7, c.N = 70, c.Hkv = 2;
    add(c);
  }
  {
    LinCase c;
    c.name = "relu, per-step gates, initial state, chunk 16";
    c.fm = LinearFeatureMap::Relu, c.decay = LinearDecay::PerStep, c.init = true, c.chunk = 16, c.N = 90;
    add(c);
  }
  {
    LinCase c;
    c.name = "elu1, per-feature gates, padded layout, Dk 20";
    c.decay = LinearDecay::PerStepFeature, c.layout = Layout::Padded, c.Dk = 20, c.Dv = 33, c.N = 75, c.B = 2;
    add(c);
  }
  {
    LinCase c;
    c.name = "favor 24 features, per-step gates, strided headDim";
    c.fm = LinearFeatureMap::Favor, c.features = 24, c.decay = LinearDecay::PerStep, c.layout = Layout::StridedD;
    c.Dk = 8, c.N = 66;
    add(c);
  }
  {
    LinCase c;
    c.name = "elu1 float16, per-head decay, initial state";
    c.dt = DType::F16, c.decay = LinearDecay::PerHead, c.init = true, c.Dk = 32, c.Dv = 32;
    add(c);
  }
  {
    LinCase c;
    c.name = "relu bfloat16, per-feature gates, chunk 1";
    c.dt = DType::BF16, c.fm = LinearFeatureMap::Relu, c.decay = LinearDecay::PerStepFeature, c.chunk = 1, c.N = 20;
    add(c);
  }
  if (!quick) {
    LinCase c;
    c.name = "elu1, long (N 700), chunk 256, per-head decay, GQA 4:1";
    c.N = 700, c.chunk = 256, c.decay = LinearDecay::PerHead, c.Hq = 4, c.Dk = 64, c.Dv = 64;
    add(c);
  }
  uint64_t seed = 9000;
  for (const LinCase& c : cases) runLinearCase(c, seed++, kernels);
}

}  // namespace nativetest
