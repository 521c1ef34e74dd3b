// The bfloat16 dot-product path of the kernels that have one (avx512bf16): the oracle grid runs it
// already (runCase on every kernel); here, that it really is the path taken where it applies (its
// output differs from the f32 body's, which converts bf16 to f32 and keeps P in f32) and not where
// it does not (RoPE, odd headDim, strided headDim, mixed dtypes: the output equals the avx512
// kernel's bit for bit), each case also against the float64 reference.
#include <cstring>

#include "harness.h"

namespace nativetest {

namespace {

const cpu::CpuKernel* kernelNamed(const char* name) {
  size_t n = 0;
  const cpu::CpuKernel* all = cpu::cpuKernels(&n);
  for (size_t i = 0; i < n; ++i)
    if (std::strcmp(all[i].name, name) == 0) return &all[i];
  return nullptr;
}

// Runs one problem on `kernel`; returns the output as float64.
std::vector<double> outputOf(const cpu::CpuKernel* kernel, Tensor& q, Tensor& k, Tensor& v, Tensor& out,
                             const Mask& mask, const Options& opt) {
  cpu::forceKernel(kernel);
  out.poison();
  AttentionParams p;
  p.q = q.view();
  p.k = k.view();
  p.v = v.view();
  p.out = out.view();
  p.mask = const_cast<Mask&>(mask).view();
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(q.shape[3])));
  p.rope = opt.rope;
  const Status s = cpuAttentionForward(p);
  cpu::forceKernel(nullptr);
  CHECK(s.ok, "[%s] bf16 dot-product case: %s", kernel->name, s.message.c_str());
  std::vector<double> r;
  for (int64_t b = 0; b < out.shape[0]; ++b)
    for (int64_t h = 0; h < out.shape[1]; ++h)
      for (int64_t i = 0; i < out.shape[2]; ++i)
        for (int64_t d = 0; d < out.shape[3]; ++d) r.push_back(out.get(b, h, i, d));
  return r;
}

}  // namespace

void testBf16DotPath(const Kernels& kernels) {
  const cpu::CpuKernel* f32Body = kernelNamed("avx512");
  for (const cpu::CpuKernel* kernel : kernels) {
    if (!kernel->attention->bf16Dot) continue;
    CHECK(f32Body != nullptr && f32Body->supported(), "a kernel with the bf16 path runs where avx512 does");
    if (f32Body == nullptr || !f32Body->supported()) return;
    struct C {
      const char* name;
      int Hq, Hkv, Sq, Sk, D;
      const char* pattern;
      DType kd;
      Layout lk;
      bool rope;
      bool dotPath;  // whether the bf16 dot-product path applies
    };
    const C cases[] = {
        {"full", 2, 2, 130, 150, 64, "full", DType::BF16, Layout::BHSD, false, true},
        {"causal, partial tiles", 2, 1, 200, 200, 96, "causal", DType::BF16, Layout::BSHD, false, true},
        {"sliding, odd keys", 2, 2, 77, 201, 40, "sliding", DType::BF16, Layout::BHSD, false, true},
        {"decode GQA", 8, 2, 1, 777, 128, "causal", DType::BF16, Layout::BHSD, false, true},
        {"RoPE", 2, 2, 100, 100, 64, "causal", DType::BF16, Layout::BHSD, true, false},
        {"odd headDim", 2, 2, 100, 100, 63, "causal", DType::BF16, Layout::BHSD, false, false},
        {"strided headDim", 2, 2, 100, 100, 64, "causal", DType::BF16, Layout::StridedD, false, false},
        {"f32 keys", 2, 2, 100, 100, 64, "causal", DType::F32, Layout::BHSD, false, false},
    };
    uint64_t seed = 77;
    for (const C& c : cases) {
      Case rc;
      rc.name = std::string("bf16 dot path: ") + c.name;
      rc.Hq = c.Hq;
      rc.Hkv = c.Hkv;
      rc.Sq = c.Sq;
      rc.Sk = c.Sk;
      rc.D = c.D;
      rc.qd = rc.vd = DType::BF16;
      rc.kd = c.kd;
      rc.lk = c.lk;
      rc.allowed = makePattern(c.pattern, c.Sq, c.Sk, seed, 37);
      if (c.rope) {
        rc.opt.rope.enabled = true;
        rc.opt.rope.dims = c.D;
      }
      runCase(rc, seed, {kernel, f32Body});

      Rng rng(seed++);
      Tensor q = makeTensor(1, c.Hq, c.Sq, c.D, DType::BF16, Layout::BHSD, rng);
      Tensor k = makeTensor(1, c.Hkv, c.Sk, c.D, c.kd, c.lk, rng);
      Tensor v = makeTensor(1, c.Hkv, c.Sk, c.D, DType::BF16, Layout::BHSD, rng);
      Tensor out = makeTensor(1, c.Hq, c.Sq, c.D, DType::BF16, Layout::BHSD, rng);
      const Mask mask = buildMask(c.Sq, c.Sk, 1, rc.allowed);
      const std::vector<double> dot = outputOf(kernel, q, k, v, out, mask, rc.opt);
      const std::vector<double> f32 = outputOf(f32Body, q, k, v, out, mask, rc.opt);
      size_t differ = 0;
      for (size_t i = 0; i < dot.size(); ++i)
        if (!(dot[i] == f32[i])) ++differ;
      if (c.dotPath) {
        CHECK(differ > 0, "[%s] %s: the output equals the f32 body's: the dot-product path did not run", kernel->name,
              c.name);
      } else {
        CHECK(differ == 0, "[%s] %s: %zu outputs differ from the f32 body's, which should have run", kernel->name, c.name,
              differ);
      }
    }
  }
}

}  // namespace nativetest
