// validateAttention through cpuAttentionForward: every malformed call is rejected with a message
// and leaves its output untouched; empty problems succeed.
#include <cstdlib>

#include "harness.h"

namespace nativetest {

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

}  // namespace nativetest
