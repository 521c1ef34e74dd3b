// cpuAttentionForward with explicit query and key positions and key masses, against a float64
// reference: keys scattered over a long sequence (one list per kv head, or one shared list), empty
// slots, masks per kv head (GQA heads packed into one tile), RoPE and ALiBi on the true positions,
// decode rows split across threads (key masses finished in mergeRow) and prefill tiles, on every
// kernel main.cpp tests (registry and test-only lane widths); under the sanitizer build it also
// checks the kernels' record buffers. bfloat16 cases (no RoPE) take the bf16 dot-product path of
// the kernels that have one (avx512bf16), with its own partial tiles and key-mass records.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "harness.h"

namespace nativetest {

namespace {

struct Problem {
  int B, Hq, Hkv, Sq, Sk, D;
  bool perHeadKeys, rope, alibi, bf16;
  int window;  // causal & sliding(window) on positions
  std::vector<float> q, k, v;  // bf16: the values as rounded (what the kernel reads)
  std::vector<int32_t> kpos;  // Sk (shared) or Hkv * Sk
  int64_t qstart;
  int32_t keyPos(int hk, int j) const { return perHeadKeys ? kpos[static_cast<size_t>(hk) * Sk + j] : kpos[j]; }
  bool allowed(int64_t p, int32_t j) const { return j >= 0 && j <= p && j > p - window; }
};

void rope(std::vector<double>& x, int64_t pos) {
  const int half = static_cast<int>(x.size()) / 2;
  std::vector<double> y = x;
  for (int t = 0; t < half; ++t) {
    const double a = static_cast<double>(pos) * std::pow(10000.0, -2.0 * t / static_cast<double>(x.size()));
    y[t] = x[t] * std::cos(a) - x[t + half] * std::sin(a);
    y[t + half] = x[t] * std::sin(a) + x[t + half] * std::cos(a);
  }
  x = y;
}

double relErr(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isinf(b[i]) && a[i] == b[i]) continue;
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

bool runOne(const Problem& P, const char* kernel, int index) {
  const int group = P.Hq / P.Hkv, D = P.D;
  // mask: one row per kv head, brute force on positions
  const int nqb = (P.Sq + 63) / 64, nkb = (P.Sk + 63) / 64;
  std::vector<int32_t> rowPtr{0}, colIdx, partial;
  std::vector<uint32_t> bits;
  for (int hk = 0; hk < P.Hkv; ++hk)
    for (int qb = 0; qb < nqb; ++qb) {
      for (int kb = 0; kb < nkb; ++kb) {
        std::vector<uint32_t> tile(64 * 2, 0);
        int n = 0, total = 0;
        for (int r = 0; r < 64 && qb * 64 + r < P.Sq; ++r)
          for (int c = 0; c < 64 && kb * 64 + c < P.Sk; ++c) {
            ++total;
            if (P.allowed(P.qstart + qb * 64 + r, P.keyPos(hk, kb * 64 + c))) {
              ++n;
              tile[r * 2 + (c >> 5)] |= 1u << (c & 31);
            }
          }
        if (n == 0) continue;
        colIdx.push_back(kb);
        partial.push_back(n == total ? -1 : static_cast<int32_t>(bits.size() / tile.size()));
        if (n != total) bits.insert(bits.end(), tile.begin(), tile.end());
      }
      rowPtr.push_back(static_cast<int32_t>(colIdx.size()));
    }
  std::vector<float> out(P.q.size(), NAN), lse(static_cast<size_t>(P.B) * P.Hq * P.Sq, NAN);
  std::vector<uint16_t> q16, k16, v16, out16(P.bf16 ? P.q.size() : 0, 0x7fc0);  // poisoned: NaN
  if (P.bf16)
    for (auto [src, dst] : {std::pair{&P.q, &q16}, std::pair{&P.k, &k16}, std::pair{&P.v, &v16}})
      for (float x : *src) dst->push_back(cpu::floatToBf16(x));
  auto view = [&](const std::vector<float>& data, int H, int S) {
    TensorView t;
    const std::vector<uint16_t>* half = &data == &P.q   ? &q16
                                        : &data == &P.k ? &k16
                                        : &data == &P.v ? &v16
                                        : &out16;
    const bool b16 = P.bf16;
    t.data = b16 ? static_cast<void*>(const_cast<uint16_t*>(half->data())) : const_cast<float*>(data.data());
    t.dtype = b16 ? DType::BF16 : DType::F32;
    t.shape[0] = P.B, t.shape[1] = H, t.shape[2] = S, t.shape[3] = D;
    t.strides[0] = static_cast<int64_t>(H) * S * D, t.strides[1] = static_cast<int64_t>(S) * D, t.strides[2] = D,
    t.strides[3] = 1;
    t.capacity = data.size();
    return t;
  };
  std::vector<float> mass(static_cast<size_t>(P.B) * P.Hkv * P.Sk, NAN);
  std::vector<float> slopes(P.Hq);
  for (int h = 0; h < P.Hq; ++h) slopes[h] = static_cast<float>(std::pow(2.0, -8.0 * (h + 1) / P.Hq));
  AttentionParams p;
  p.q = view(P.q, P.Hq, P.Sq);
  p.k = view(P.k, P.Hkv, P.Sk);
  p.v = view(P.v, P.Hkv, P.Sk);
  p.out = view(out, P.Hq, P.Sq);
  p.lse = lse.data(), p.lseLen = lse.size();
  p.mask.seqQ = P.Sq, p.mask.seqK = P.Sk, p.mask.blockQ = 64, p.mask.blockK = 64;
  p.mask.numQBlocks = nqb, p.mask.numKBlocks = nkb, p.mask.heads = P.Hkv, p.mask.wordsPerRow = 2;
  p.mask.rowPtr = rowPtr.data(), p.mask.rowPtrLen = rowPtr.size();
  p.mask.colIdx = colIdx.data(), p.mask.partial = partial.data(), p.mask.nnz = colIdx.size();
  p.mask.bits = bits.data(), p.mask.bitsLen = bits.size();
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  if (P.alibi) p.alibiSlopes = slopes.data(), p.alibiLen = slopes.size();
  if (P.rope) p.rope.enabled = true, p.rope.dims = D, p.rope.base = 10000.f;
  p.queryStart = P.qstart;
  p.keyPositions = P.kpos.data(), p.keyPositionsLen = P.kpos.size();
  p.keyMass = mass.data(), p.keyMassLen = mass.size();
  Status st = cpuAttentionForward(p);
  if (!st.ok) {
    std::printf("FAIL %s keymass case %d: %s\n", kernel, index, st.message.c_str());
    return false;
  }
  if (P.bf16)
    for (size_t x = 0; x < out.size(); ++x) out[x] = cpu::bf16ToFloat(out16[x]);
  // reference
  std::vector<double> refOut(out.size(), 0.0), refLse(lse.size()), refMass(mass.size(), 0.0);
  for (int b = 0; b < P.B; ++b)
    for (int h = 0; h < P.Hq; ++h) {
      const int hk = h / group;
      for (int i = 0; i < P.Sq; ++i) {
        const int64_t pos = P.qstart + i;
        std::vector<double> qi(P.q.begin() + ((static_cast<size_t>(b) * P.Hq + h) * P.Sq + i) * D,
                               P.q.begin() + ((static_cast<size_t>(b) * P.Hq + h) * P.Sq + i + 1) * D);
        if (P.rope) rope(qi, pos);
        std::vector<double> s(P.Sk, -INFINITY);
        double mx = -INFINITY;
        for (int j = 0; j < P.Sk; ++j) {
          const int32_t kp = P.keyPos(hk, j);
          if (!P.allowed(pos, kp)) continue;
          std::vector<double> kj(P.k.begin() + ((static_cast<size_t>(b) * P.Hkv + hk) * P.Sk + j) * D,
                                 P.k.begin() + ((static_cast<size_t>(b) * P.Hkv + hk) * P.Sk + j + 1) * D);
          if (P.rope) rope(kj, kp);
          double dot = 0;
          for (int d = 0; d < D; ++d) dot += qi[d] * kj[d];
          s[j] = dot / std::sqrt(static_cast<double>(D)) - (P.alibi ? slopes[h] * std::fabs(static_cast<double>(pos - kp)) : 0.0);
          mx = std::max(mx, s[j]);
        }
        const size_t row = (static_cast<size_t>(b) * P.Hq + h) * P.Sq + i;
        refLse[row] = -INFINITY;
        if (mx == -INFINITY) continue;
        double z = 0;
        for (int j = 0; j < P.Sk; ++j) z += std::exp(s[j] - mx);
        refLse[row] = mx + std::log(z);
        for (int j = 0; j < P.Sk; ++j) {
          if (s[j] == -INFINITY) continue;
          const double w = std::exp(s[j] - mx) / z;
          refMass[(static_cast<size_t>(b) * P.Hkv + hk) * P.Sk + j] += w;
          for (int d = 0; d < D; ++d) refOut[row * D + d] += w * P.v[((static_cast<size_t>(b) * P.Hkv + hk) * P.Sk + j) * D + d];
        }
      }
    }
  const double eo = relErr(std::vector<double>(out.begin(), out.end()), refOut);
  const double el = relErr(std::vector<double>(lse.begin(), lse.end()), refLse);
  const double em = relErr(std::vector<double>(mass.begin(), mass.end()), refMass);
  // bf16: P is rounded to bf16 for P V on the dot-product path; the scores and masses stay f32
  const double tol = P.bf16 ? 1e-2 : 1e-5;
  const bool ok = eo <= tol && el <= 1e-5 && em <= (P.bf16 ? 1e-4 : 1e-5);
  if (!ok || std::getenv("ATTNFLOW_TEST_VERBOSE")) {
    std::printf("%s %s keymass case %d: B=%d Hq=%d Hkv=%d Sq=%d Sk=%d D=%d%s%s%s%s: out %.2e lse %.2e keyMass %.2e\n", ok ? "ok  " : "FAIL",
                kernel, index, P.B, P.Hq, P.Hkv, P.Sq, P.Sk, D, P.perHeadKeys ? " per-head keys" : "", P.rope ? " rope" : "",
                P.alibi ? " alibi" : "", P.bf16 ? " bf16" : "", eo, el, em);
  }
  return ok;
}

void testPositionsAndKeyMassOn(const char* kernel, bool quick) {
  std::mt19937 g(1616);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  std::normal_distribution<float> normal(0.f, 1.f);
  int failures = 0;
  const int n = quick ? 8 : 24, nBf16 = quick ? 4 : 8;
  for (int c = 0; c < n + nBf16; ++c) {
    Problem P;
    P.B = uni(1, 2);
    P.Hkv = uni(1, 3);
    P.Hq = P.Hkv * uni(1, 4);
    P.Sq = c % 3 == 0 ? uni(30, 140) : uni(1, 4);
    P.Sk = c % 2 ? uni(1500, 3000) : uni(1, 400);
    P.D = c % 4 == 0 ? 128 : c % 4 == 1 ? 64 : 40;
    P.perHeadKeys = c % 2 == 0;
    P.bf16 = c >= n;
    P.rope = c % 3 == 1 && !P.bf16;
    P.alibi = c % 4 == 2;
    P.window = uni(50, 5000);
    const int span = P.Sk * 3 + 10;
    P.qstart = span - P.Sq + uni(0, 5);
    for (int h = 0; h < (P.perHeadKeys ? P.Hkv : 1); ++h) {
      std::vector<int32_t> all(span);
      for (int i = 0; i < span; ++i) all[i] = i;
      std::shuffle(all.begin(), all.end(), g);
      for (int j = 0; j < P.Sk; ++j) P.kpos.push_back(j % 17 == 3 ? -1 : all[j]);
    }
    for (auto* t : {&P.q, &P.k, &P.v}) {
      const size_t n2 = static_cast<size_t>(P.B) * (t == &P.q ? P.Hq : P.Hkv) * (t == &P.q ? P.Sq : P.Sk) * P.D;
      t->resize(n2);
      for (float& x : *t) x = P.bf16 ? cpu::bf16ToFloat(cpu::floatToBf16(normal(g))) : normal(g);
    }
    ++gChecks;
    if (!runOne(P, kernel, c)) ++failures;
  }
  gFailures += failures;
  std::printf("positions and key masses on %s: %d cases (%d bf16), %d failures\n", kernel, n + nBf16, nBf16, failures);
}

}  // namespace

void testPositionsAndKeyMass(const Kernels& kernels, bool quick) {
  for (const cpu::CpuKernel* kernel : kernels) {
    cpu::forceKernel(kernel);
    testPositionsAndKeyMassOn(kernel->name, quick);
  }
  cpu::forceKernel(nullptr);
}

}  // namespace nativetest
