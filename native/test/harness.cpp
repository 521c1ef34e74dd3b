// The shared parts of attnflow_native_tests declared in harness.h.
#include "harness.h"

#include <limits>

namespace nativetest {

int gFailures = 0;
int gChecks = 0;

Tensor makeTensor(int64_t B, int64_t H, int64_t S, int64_t D, DType dt, Layout layout, Rng& rng, double amp) {
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

void setValue(Tensor& t, int64_t b, int64_t h, int64_t s, int64_t d, float x) {
  const int64_t o = t.offset(b, h, s, d);
  if (t.dt == DType::F32) {
    t.f[o] = x;
  } else {
    t.u[o] = t.dt == DType::F16 ? cpu::floatToHalf(x) : cpu::floatToBf16(x);
  }
}

Kernels supportedKernels() {
  size_t n = 0;
  const cpu::CpuKernel* all = cpu::cpuKernels(&n);
  Kernels k;
  for (size_t i = 0; i < n; ++i)
    if (all[i].supported()) k.push_back(&all[i]);
  return k;
}

double runCase(const Case& c, uint64_t seed, const Kernels& kernels, const Inject& inject) {
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
  for (const cpu::CpuKernel* kernel : kernels) {
    cpu::forceKernel(kernel);
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
    const char* pathName = kernel->name;
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
  cpu::forceKernel(nullptr);
  return worst;
}

Pred makePattern(const std::string& kind, int Sq, int Sk, uint64_t seed, int param) {
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

}  // namespace nativetest
