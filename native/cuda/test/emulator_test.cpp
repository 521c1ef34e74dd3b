// Runs the CUDA kernels without a GPU: the kernel sources (fa2_kernel.cuh, general.cuh,
// linear_scan.cuh) compiled as host C++ against the stand-in headers of shim/, on the emulated GPU
// of emu_runtime.cpp (one OS thread per CUDA thread, __syncthreads as a barrier of the block,
// warp shuffles, ldmatrix, mma.sync and WMMA as exchanges among the 32 threads of a warp with the
// PTX ISA's fragment layouts, cp.async copied either at once or at cp.async.wait_group). Results
// are checked against float64 references with the SPEC's bars.
//
// What it checks: the kernels' index arithmetic, masking (full / partial / out-of-sequence
// tiles, per-head and per-kv-head masks), online softmax, GQA, split-KV and its combine, the RoPE
// pre-pass, softcap, ALiBi, LSE, empty rows, explicit query and key positions (RoPE and ALiBi on
// true positions, empty key slots, top-left alignment), key masses (records, combine,
// massKernel), non-finite inputs (against the IEEE semantics of
// native/cpu/kernel_body.h: the pattern of non-finite outputs and lse must equal the
// reference's), K/V staging by 16-byte pieces and element by element; the linear-attention scan
// (chunks, value slices, every feature map and decay, the state) and its gate check; shared-memory
// bounds and alignment of every emulated ldmatrix / cp.async / WMMA access; cp.async sources
// inside their buffers. Built with -fsanitize=address it also catches out-of-bounds global reads
// and writes (memcheck's job); with -fsanitize=thread, shared-memory races between barriers
// (racecheck's job). What it cannot check: timing, occupancy, the real hardware's rounding inside
// mma, compiler or PTX issues (ptxas_check.sh looks at registers and local memory). See run.sh.
//   emulator_test [--quick]        EMU_FILTER=substring runs only the cases whose name contains it
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "attention_check.h"

namespace emutest {
int runLinearCases(bool quick, const char* filter, int* runs);
}  // namespace emutest

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const char* filter = std::getenv("EMU_FILTER");
  int attentionRuns = 0, linearRuns = 0;
  const int failures = emutest::runAttentionCases(quick, filter, &attentionRuns) +
                       emutest::runLinearCases(quick, filter, &linearRuns);
  if (failures) {
    std::printf("emulator_test: %d failures\n", failures);
    return 1;
  }
  std::printf("emulator_test: ok (%d attention runs, %d linear-attention runs)\n", attentionRuns, linearRuns);
  return 0;
}
