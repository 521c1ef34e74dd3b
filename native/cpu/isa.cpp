// The registry of CPU kernels (isa.h). Compiled for the baseline instruction set: nothing here
// runs a kernel, it only decides which one runs.
#include "isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

namespace attnflow {
namespace cpu {

// The kernels of each instruction set (kernel_<isa>.cpp, linear_<isa>.cpp).
namespace portable {
extern const AttentionKernel kAttentionKernel;
extern const linear::LinearKernel kLinearKernel;
}  // namespace portable
#if defined(__x86_64__) || defined(_M_X64)
namespace avx2 {
extern const AttentionKernel kAttentionKernel;
extern const linear::LinearKernel kLinearKernel;
}  // namespace avx2
namespace avx512 {
extern const AttentionKernel kAttentionKernel;
extern const linear::LinearKernel kLinearKernel;
}  // namespace avx512
namespace avx512bf16 {
extern const AttentionKernel kAttentionKernel;
}  // namespace avx512bf16
#endif
#if defined(__aarch64__)
namespace neon {
extern const AttentionKernel kAttentionKernel;
extern const linear::LinearKernel kLinearKernel;
}  // namespace neon
#endif

namespace {

bool always() { return true; }

#if defined(__x86_64__) || defined(_M_X64)
bool avx2Supported() {
  const CpuInfo c = cpuInfo();
  return c.avx2 && c.fma && c.f16c;
}
bool avx512Supported() {
  const CpuInfo c = cpuInfo();
  return avx2Supported() && c.avx512f && c.avx512bw && c.avx512dq && c.avx512vl;
}
bool avx512Bf16Supported() { return avx512Supported() && cpuInfo().avx512bf16; }
// CPUs with AVX512-BF16 differ by 4x in its throughput against the FMA: measured once (~0.1 ms).
bool bf16DotPays() {
  static const bool pays = bf16DotMacRatio() >= 1.3;
  return pays;
}
#endif

const CpuKernel kKernels[] = {
#if defined(__x86_64__) || defined(_M_X64)
    {"avx512bf16", "AVX-512 F, BW, DQ, VL and BF16, FMA and F16C", &avx512Bf16Supported, &bf16DotPays,
     &avx512bf16::kAttentionKernel, &avx512::kLinearKernel, &questScoresAvx2},
    {"avx512", "AVX-512 F, BW, DQ and VL, FMA and F16C", &avx512Supported, nullptr, &avx512::kAttentionKernel,
     &avx512::kLinearKernel, &questScoresAvx2},
    {"avx2", "AVX2, FMA and F16C", &avx2Supported, nullptr, &avx2::kAttentionKernel, &avx2::kLinearKernel,
     &questScoresAvx2},
#endif
#if defined(__aarch64__)
    // NEON, FMA and half-precision conversion are part of the AArch64 base architecture.
    {"neon", "AArch64 (NEON is baseline there)", &always, nullptr, &neon::kAttentionKernel, &neon::kLinearKernel,
     &questScoresPortable},
#endif
    {"portable", "nothing beyond the baseline instruction set", &always, nullptr, &portable::kAttentionKernel,
     &portable::kLinearKernel, &questScoresPortable},
};
constexpr size_t kCount = sizeof(kKernels) / sizeof(kKernels[0]);

std::string kernelNames() {
  std::string s;
  for (size_t i = 0; i < kCount; ++i) s += std::string(i ? ", " : "") + kKernels[i].name;
  return s;
}

// The choice the environment makes, resolved once: a kernel, or the error every call reports.
struct EnvChoice {
  const CpuKernel* kernel = nullptr;
  std::string error;
};

EnvChoice chooseFromEnvironment() {
  EnvChoice c;
  const char* name = std::getenv("ATTNFLOW_CPU_ISA");
  if (name == nullptr || *name == '\0') {
    for (size_t i = 0; i < kCount && c.kernel == nullptr; ++i)
      if (kKernels[i].supported() && (!kKernels[i].preferred || kKernels[i].preferred())) c.kernel = &kKernels[i];
    return c;
  }
  for (size_t i = 0; i < kCount; ++i) {
    if (std::strcmp(name, kKernels[i].name) != 0) continue;
    if (kKernels[i].supported()) {
      c.kernel = &kKernels[i];
    } else {
      c.error = std::string("ATTNFLOW_CPU_ISA=") + name + ": this CPU cannot run the " + name + " kernel (it needs " +
                kKernels[i].needs + "); unset it to use the best kernel this CPU supports";
    }
    return c;
  }
  c.error = std::string("ATTNFLOW_CPU_ISA=") + name + " names no CPU kernel of this build (it has " + kernelNames() + ")";
  return c;
}

std::atomic<const CpuKernel*> gForced{nullptr};

}  // namespace

const CpuKernel* cpuKernels(size_t* count) {
  *count = kCount;
  return kKernels;
}

Status activeKernel(const CpuKernel** out) {
  *out = nullptr;
  if (const CpuKernel* forced = gForced.load()) {
    *out = forced;
    return Status::Ok();
  }
  static const EnvChoice choice = chooseFromEnvironment();
  if (choice.kernel == nullptr) return Status::Error(choice.error);
  *out = choice.kernel;
  return Status::Ok();
}

void forceKernel(const CpuKernel* k) { gForced.store(k); }

}  // namespace cpu

CpuKernelInfo cpuKernelInfo() {
  CpuKernelInfo info;
  const cpu::CpuKernel* active = nullptr;
  const Status s = cpu::activeKernel(&active);
  if (s.ok) {
    info.active = active->name;
    info.activeLanes = active->lanes();
  } else {
    info.error = s.message;
  }
  size_t n = 0;
  const cpu::CpuKernel* all = cpu::cpuKernels(&n);
  for (size_t i = 0; i < n; ++i) {
    const cpu::CpuKernel& k = all[i];
    const bool supported = k.supported();
    info.kernels.push_back(
        CpuKernelInfo::Kernel{k.name, k.needs, k.lanes(), supported, supported && (!k.preferred || k.preferred())});
  }
  return info;
}
}  // namespace attnflow
