#!/usr/bin/env bash
# The hot CUDA kernels must keep everything in registers: compiles them with `ptxas -v` for the
# architectures the addon ships (sm_80, sm_90a: CMakeLists.txt) and fails when one of them has a
# stack frame or spills (local memory in an inner loop costs far more than it looks). Prints each
# kernel's register count. No GPU needed; without nvcc there are no CUDA kernels to check.
# Usage: native/cuda/test/ptxas_check.sh   (run by run.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
nvcc=${NVCC:-$(command -v nvcc || true)}
if [ -z "$nvcc" ]; then
  echo "ptxas_check: skipped: nvcc not found (the addon is built without CUDA kernels)"
  exit 0
fi
out=${TMPDIR:-/tmp}/attnflow-ptxas-check
mkdir -p "$out"
# The kernels that must not touch local memory (RoPE's pre-pass calls sincos(double), whose slow
# path has a stack frame of its own: it runs once per element, outside any loop over keys).
hot='forwardKernel|generalKernel|combineKernel|linearScanKernel|checkGatesKernel'
jobs=()
for arch in sm_80 sm_90a; do
  for src in fa2_f16 fa2_bf16 general linear_scan; do jobs+=("$arch $src"); done
done
printf '%s\n' "${jobs[@]}" | xargs -P "$(nproc 2>/dev/null || echo 2)" -L 1 sh -c \
  '"$0" -cubin -arch="$1" -O3 -DNDEBUG --use_fast_math -std=c++17 -Inative/include -DATTNFLOW_HAVE_CUDA=1 -Xptxas -v \
     "native/cuda/$2.cu" -o "'"$out"'/$2.$1.cubin" > "'"$out"'/$2.$1.log" 2>&1 || { cat "'"$out"'/$2.$1.log"; exit 255; }' "$nvcc"
status=0
for job in "${jobs[@]}"; do
  set -- $job
  # ptxas prints, per entry: "Compiling entry function 'NAME' for 'ARCH'", then the stack/spill
  # line, then "Used N registers".
  awk -v arch="$1" -v hot="$hot" '
    /Compiling entry function/ { name = $0; sub(/.*function .?/, "", name); sub(/.? for .*/, "", name); next }
    /bytes stack frame/ { stack = $1; spillS = $5; spillL = $9; next }
    /Used [0-9]+ registers/ {
      if (name ~ hot) {
        match($0, /Used [0-9]+ registers/); regs = substr($0, RSTART + 5, RLENGTH - 15)
        bad = (stack != 0 || spillS != 0 || spillL != 0)
        printf "%s %-7s %3s registers, %s bytes stack, %s/%s bytes spilled  %s\n", bad ? "FAIL" : "ok  ", arch, regs, stack, spillS, spillL, name
      }
      name = ""
    }' "$out/$2.$1.log" | sort -u
done | tee "$out/summary.txt"
if grep -q '^FAIL' "$out/summary.txt"; then
  echo "ptxas_check: a hot kernel has a stack frame or spills (see above)" >&2
  exit 1
fi
echo "ptxas_check: ok (no stack frame, no spills in the hot kernels)"
