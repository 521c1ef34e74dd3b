// attnflow_native_tests --bench: timings (GFLOP/s) of a few problems on the kernel calls use
// (ATTNFLOW_CPU_ISA selects another).
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <ctime>

#include "harness.h"

namespace nativetest {

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
  const cpu::CpuKernel* kernel = nullptr;
  const Status ks = cpu::activeKernel(&kernel);
  if (!ks.ok) {
    std::printf("bench error: %s\n", ks.message.c_str());
    return;
  }
  std::printf("bench: B=1, bhsd, kernel=%s (%d lanes), threads=%u; GFLOP/s counts 4*Hq*D*(allowed pairs)\n",
              kernel->name, kernel->lanes(), cpu::poolThreads());
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

}  // namespace nativetest
