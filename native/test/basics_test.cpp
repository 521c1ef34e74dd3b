// Scalar conversions, CPU detection and the registry of CPU kernels.
#include <cstdlib>
#include <cstring>
#include <set>

#include "harness.h"

namespace nativetest {

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
  const cpu::CpuKernel* active = nullptr;
  const Status s = cpu::activeKernel(&active);
  std::printf("cpu: avx2=%d fma=%d f16c=%d avx512f=%d neon=%d threads=%u pool=%u kernel=%s\n", c.avx2, c.fma, c.f16c,
              c.avx512f, c.neon, c.threads, cpu::poolThreads(), s.ok ? active->name : s.message.c_str());
  const TileShape t = cpuTileShape();
  CHECK(t.blockQ == cpu::kBQ && t.blockK == cpu::kBK, "cpuTileShape");
}

// The registry: unique names, vector widths the bodies support, portable last and always
// supported, activeKernel following forceKernel and (when set) ATTNFLOW_CPU_ISA.
void testKernelRegistry() {
  size_t n = 0;
  const cpu::CpuKernel* all = cpu::cpuKernels(&n);
  CHECK(n >= 1, "the registry has kernels");
  std::set<std::string> names;
  for (size_t i = 0; i < n; ++i) {
    const cpu::CpuKernel& k = all[i];
    CHECK(names.insert(k.name).second, "kernel name %s appears twice", k.name);
    CHECK(k.lanes() == 4 || k.lanes() == 8 || k.lanes() == 16, "kernel %s: %d lanes", k.name, k.lanes());
    CHECK(k.attention->lanes == k.linear->lanes, "kernel %s: attention and linear lanes differ", k.name);
    CHECK(k.needs != nullptr && *k.needs != '\0', "kernel %s says what it needs", k.name);
  }
  CHECK(std::strcmp(all[n - 1].name, "portable") == 0 && all[n - 1].supported(), "the last kernel is portable");
  const cpu::CpuKernel* active = nullptr;
  Status s = cpu::activeKernel(&active);
  const char* env = std::getenv("ATTNFLOW_CPU_ISA");
  if (env != nullptr && *env != '\0') {
    CHECK(!s.ok || std::strcmp(active->name, env) == 0, "ATTNFLOW_CPU_ISA=%s selects %s", env, s.ok ? active->name : "");
  } else {
    const cpu::CpuKernel* best = nullptr;
    for (size_t i = 0; i < n && best == nullptr; ++i)
      if (all[i].supported() && (!all[i].preferred || all[i].preferred())) best = &all[i];
    CHECK(s.ok && active == best, "without ATTNFLOW_CPU_ISA the best supported and preferred kernel runs (%s)",
          best->name);
  }
  for (const cpu::CpuKernel* k : supportedKernels()) {
    cpu::forceKernel(k);
    s = cpu::activeKernel(&active);
    CHECK(s.ok && active == k, "forceKernel(%s)", k->name);
  }
  cpu::forceKernel(nullptr);
}

}  // namespace nativetest
