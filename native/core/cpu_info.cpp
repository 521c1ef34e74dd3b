// cpuInfo(): run-time CPU feature detection. On x86-64 it asks cpuid directly (and xgetbv, so a
// feature only counts when the operating system saves the wider registers); on aarch64 NEON is
// part of the base architecture. Nothing here needs special compiler flags.
#include <thread>

#include "attnflow.h"

#if defined(__linux__)
#include <sched.h>
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <cpuid.h>
#define ATTNFLOW_X86 1
#endif

namespace attnflow {

namespace {

#if defined(ATTNFLOW_X86)
unsigned long long readXcr0() {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}
#endif

CpuInfo detect() {
  CpuInfo c;
#if defined(ATTNFLOW_X86)
  unsigned a = 0, b = 0, cx = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &cx, &d)) {
    const bool osxsave = (cx >> 27) & 1;
    const bool avx = (cx >> 28) & 1;
    const unsigned long long xcr0 = osxsave ? readXcr0() : 0;
    const bool ymmState = (xcr0 & 0x6) == 0x6;            // SSE and AVX state enabled by the OS
    const bool zmmState = ymmState && (xcr0 & 0xE0) == 0xE0;  // opmask, ZMM0-15 high, ZMM16-31
    const bool avxUsable = avx && ymmState;
    c.fma = avxUsable && ((cx >> 12) & 1);
    c.f16c = avxUsable && ((cx >> 29) & 1);
    unsigned maxLeaf = __get_cpuid_max(0, nullptr);
    if (maxLeaf >= 7) {
      unsigned a7 = 0, b7 = 0, c7 = 0, d7 = 0;
      __cpuid_count(7, 0, a7, b7, c7, d7);
      c.avx2 = avxUsable && ((b7 >> 5) & 1);
      c.avx512f = zmmState && ((b7 >> 16) & 1);
      c.avx512dq = c.avx512f && ((b7 >> 17) & 1);
      c.avx512bw = c.avx512f && ((b7 >> 30) & 1);
      c.avx512vl = c.avx512f && ((b7 >> 31) & 1);
      if (a7 >= 1) {  // leaf 7 sub-leaf 1: AVX512_BF16 in eax bit 5
        unsigned a71 = 0, b71 = 0, c71 = 0, d71 = 0;
        __cpuid_count(7, 1, a71, b71, c71, d71);
        c.avx512bf16 = c.avx512f && ((a71 >> 5) & 1);
      }
    }
  }
#elif defined(__aarch64__) || defined(__ARM_NEON)
  c.neon = true;
#endif
  unsigned n = std::thread::hardware_concurrency();
#if defined(__linux__)
  // Respect the CPUs this process may run on (taskset, cpusets of containers).
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int allowed = CPU_COUNT(&set);
    if (allowed > 0 && (n == 0 || static_cast<unsigned>(allowed) < n)) n = static_cast<unsigned>(allowed);
  }
#endif
  c.threads = n > 0 ? n : 1;
  return c;
}

}  // namespace

CpuInfo cpuInfo() {
  static const CpuInfo info = detect();
  return info;
}

}  // namespace attnflow
