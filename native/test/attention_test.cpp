// The CPU attention kernels against the float64 reference: fixed and random shapes, dtypes,
// layouts, patterns and options; decoding; rows split across threads and GQA heads packed into a
// tile; long sequences (--long); calls in flight at once. Each problem runs on every kernel.
#include <thread>

#include "harness.h"

namespace nativetest {

void testFixedCases(const Kernels& kernels) {
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
      runCase(c, seed++, kernels);
    }
}

// Calls with at least four query tiles read float32 K rotated by RoPE, and float32 V whose head
// dimension is not a whole number of vectors, through a copy made once per call (plan.cpp); the
// items then read the copy in place. Layouts, RoPE styles, partial tiles and GQA through it.
void testCallCopies(const Kernels& kernels) {
  const char* kinds[] = {"causal", "sliding", "random"};
  const Layout lays[] = {Layout::BHSD, Layout::BSHD, Layout::StridedD};
  uint64_t seed = 900;
  for (int t = 0; t < 6; ++t) {
    Case c;
    c.name = std::string("call copy ") + kinds[t % 3];
    c.B = 1 + t % 2;
    c.Hkv = 2;
    c.Hq = t % 2 ? 4 : 2;
    c.Sq = 260 + 7 * t;
    c.Sk = 300;
    c.D = t < 3 ? 64 : 40;
    c.lq = c.lo = Layout::BSHD;
    c.lk = lays[t % 3];
    c.lv = lays[(t + 1) % 3];
    c.maskHeads = std::string(kinds[t % 3]) == "random" ? c.Hq : 1;
    c.allowed = makePattern(kinds[t % 3], c.Sq, c.Sk, seed, 90);
    c.opt.rope.enabled = t != 4;  // one case copies V alone
    c.opt.rope.interleaved = t % 2 == 1;
    c.opt.rope.dims = t == 5 ? 16 : c.D;
    runCase(c, seed++, kernels);
  }
}

void testRandomCases(const Kernels& kernels, int count, uint64_t seed0) {
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
    const double w = runCase(c, rng.next(), kernels);
    const int di = dt == DType::F32 ? 0 : dt == DType::F16 ? 1 : 2;
    if (c.kd == dt && c.vd == dt) worst[di] = std::max(worst[di], w);
  }
  std::printf("random cases: %d, worst relative error f32 %.2e, f16 %.2e, bf16 %.2e\n", count, worst[0], worst[1],
              worst[2]);
}

void testDecode(const Kernels& kernels, bool quick) {
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
      runCase(c, rng.next(), kernels);
    }
}

// Prefill rows split across threads (few rows, long keys) and GQA groups packed into one tile
// (heads per tile that do not divide the group).
void testSplitAndPacking(const Kernels& kernels, bool quick) {
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
    runCase(c, rng.next(), kernels);
  }
}

// A few long sequences (slow reference: only with --long).
void testLong(const Kernels& kernels) {
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
    const double w = runCase(c, rng.next(), kernels);
    std::printf("  %s: worst relative error %.2e\n", describe(c).c_str(), w);
  }
}

// Several calls in flight at once from different threads share the pool and stay correct.
void testConcurrent() {
  const int T = 4;
  std::vector<std::thread> ts;
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

}  // namespace nativetest
