// Non-finite inputs (NaN / ±inf in q, k, v) on every CPU kernel, against the reference's IEEE
// semantics.
#include <limits>

#include "harness.h"

namespace nativetest {

// NaN / ±inf in q, k and v, on every path and dtype, against the reference's IEEE semantics: a NaN
// (or +inf) score makes the rows that attend the key NaN, a key a row does not attend never
// reaches it (also when it sits in a partial tile the row visits), NaN / inf in v reaches exactly
// the rows attending it, a row with no allowed key (or only -inf scores) is empty. Prefill tiles,
// decoding through the split-KV merge, GQA-packed heads, softcap and ALiBi.
void testNonFinite(const Kernels& kernels, bool quick) {
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
      runCase(c, seed++, kernels, [&nf](Tensor& q, Tensor& k, Tensor& v) {
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
    runCase(c, seed++, kernels, [](Tensor& q, Tensor& k, Tensor&) {
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
    runCase(c, rng.next(), kernels, [injSeed](Tensor& q, Tensor& k, Tensor& v) {
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

}  // namespace nativetest
