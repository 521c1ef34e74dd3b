// attnflow_native_tests: the CPU backend against a naive float64 reference, without Node.
//   attnflow_native_tests            run the tests (exit status 1 on any failure)
//   attnflow_native_tests --bench    print timings (GFLOP/s) of a few float32 problems
//   attnflow_native_tests --quick    a shorter test run
//   attnflow_native_tests --long     also a few long sequences (slow float64 reference)
// Every problem runs on each CPU kernel of the registry (native/cpu/isa.h) this machine supports
// (the others are listed as skipped, with what they need), and on test-only kernels of 4 and 16
// lanes (lanes_kernels.cpp).
#include <chrono>
#include <cstring>

#include "harness.h"

using namespace nativetest;

int main(int argc, char** argv) {
  bool quick = false, longCases = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--long") == 0) longCases = true;
    if (std::strcmp(argv[i], "--bench") == 0) {
      bench();
      return 0;
    }
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
  }
  const auto t0 = std::chrono::steady_clock::now();
  testCpuInfo();
  testHalfConversions();
  testKernelRegistry();
  size_t n = 0;
  const cpu::CpuKernel* all = cpu::cpuKernels(&n);
  for (size_t i = 0; i < n; ++i) {
    if (all[i].supported()) {
      std::printf("kernel %s (%d lanes): tested\n", all[i].name, all[i].lanes());
    } else {
      std::printf("kernel %s (%d lanes): skipped: this CPU lacks %s\n", all[i].name, all[i].lanes(), all[i].needs);
    }
  }
  Kernels kernels = supportedKernels();
  for (const cpu::CpuKernel* k : laneTestKernels()) {
    std::printf("kernel %s (%d lanes, test only): tested\n", k->name, k->lanes());
    kernels.push_back(k);
  }
  testValidation();
  testFixedCases(kernels);
  testCallCopies(kernels);
  testRandomCases(kernels, quick ? 40 : 150, 2024);
  testDecode(kernels, quick);
  testSplitAndPacking(kernels, quick);
  testNonFinite(kernels, quick);
  testPositionsAndKeyMass(kernels, quick);
  testConcurrent();
  testSchedule();
  testPrefetchSteps();
  testLinear(kernels, quick);
  testBf16DotPath(kernels);
  if (longCases) testLong(kernels);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d checks, %d failures (%.1f s)\n", gChecks, gFailures, dt);
  return gFailures == 0 ? 0 : 1;
}
