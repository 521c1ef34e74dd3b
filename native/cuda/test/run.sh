#!/usr/bin/env bash
# Host-side checks of the CUDA kernels, no GPU needed (run from anywhere; about 6 minutes on 2 cores):
#   1. ptxas_check: the hot kernels compiled for sm_80 / sm_90a keep everything in registers (no
#      stack frame, no spills; prints their register counts);
#   2. fragments_test: the tensor-core kernel's ldmatrix / mma.sync fragment geometry;
#   3. emulator_test: the attention kernels and the linear-attention scan run on an emulated GPU
#      (one thread per CUDA thread) against float64 references, plain, with AddressSanitizer + UBSan
#      (out-of-bounds global / shared accesses: memcheck's role) and with ThreadSanitizer
#      (shared-memory races: racecheck's role).
# Usage: native/cuda/test/run.sh [--quick]   (--quick: skip the ThreadSanitizer build)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
out=${TMPDIR:-/tmp}/attnflow-cuda-host-tests
mkdir -p "$out"
cxx=${CXX:-g++}
inc=(-DATTNFLOW_CUDA_EMULATOR -I native/cuda/test/shim -I native/cuda/test -I native/cuda -I native/include -I native/cpu)
src=(native/cuda/test/emulator_test.cpp native/cuda/test/emu_runtime.cpp native/cuda/test/attention_check.cpp
  native/cuda/test/attention_cases.cpp native/cuda/test/linear_cases.cpp native/core/validate.cpp
  native/core/resolve.cpp native/cpu/linear_validate.cpp)

echo "== ptxas_check"
bash native/cuda/test/ptxas_check.sh

echo "== fragments_test"
"$cxx" -std=c++17 -O1 -Wall -Wextra -I native/cuda native/cuda/test/fragments_test.cpp -o "$out/fragments_test"
"$out/fragments_test"

echo "== emulator_test"
"$cxx" -std=c++20 -O2 -pthread -Wall -Wextra -Wno-unknown-pragmas "${inc[@]}" "${src[@]}" -o "$out/emulator_test"
"$out/emulator_test"

echo "== emulator_test (AddressSanitizer + UndefinedBehaviorSanitizer)"
"$cxx" -std=c++20 -O1 -g -pthread -Wno-unknown-pragmas -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -fno-omit-frame-pointer "${inc[@]}" "${src[@]}" -o "$out/emulator_test_asan"
"$out/emulator_test_asan" | tail -1

if [ "${1:-}" != "--quick" ]; then
  echo "== emulator_test (ThreadSanitizer)"
  "$cxx" -std=c++20 -O1 -g -pthread -Wno-unknown-pragmas -fsanitize=thread "${inc[@]}" "${src[@]}" -o "$out/emulator_test_tsan"
  TSAN_OPTIONS=halt_on_error=1 "$out/emulator_test_tsan" | tail -1
fi
echo "host CUDA checks: ok"
