#!/usr/bin/env bash
# Builds the WebAssembly backend (native/wasm + the CPU kernel bodies of native/cpu) into
#   prebuilds/wasm/attnflow-threads.wasm  shared memory + atomics: one module, many worker threads
#   prebuilds/wasm/attnflow.wasm          its own memory: for runtimes without wasm threads
# Both use SIMD128. `npm pack` ships them (prepack runs this script); the tests build them when
# they are stale (test/setup). Toolchain: Debian's clang + lld with the wasm32 target and wasi-libc
# (for libm), no C++ standard library:
#   apt-get install clang lld wasi-libc libclang-rt-dev-wasm32
# Usage: scripts/build-wasm.sh [--if-stale]   (--if-stale: do nothing when the outputs are newer
# than every input). CLANG, WASI_SYSROOT override the compiler and the wasi-libc root.
set -euo pipefail
cd "$(dirname "$0")/.."

out=prebuilds/wasm
inputs=(scripts/build-wasm.sh native/wasm native/include/attnflow_views.h native/core/call.h native/core/hd.h
  native/cpu/kernel.h native/cpu/kernel_body.h native/cpu/kernel_micro.h native/cpu/kernel_mass.h native/cpu/half.h native/cpu/linear_kernel.h
  native/cpu/linear_body.h native/cpu/plan_rules.h native/cpu/schedule_cut.h native/cpu/simd_wasm.h native/cpu/scratch_layout.cpp)
sources=(native/wasm/attention.cpp native/wasm/linear.cpp native/wasm/check.cpp native/wasm/fields.cpp
  native/wasm/schedule.cpp native/wasm/positions.cpp native/wasm/kernel_wasm.cpp native/wasm/linear_wasm.cpp native/cpu/scratch_layout.cpp)

if [[ "${1:-}" == "--if-stale" && -f $out/attnflow.wasm && -f $out/attnflow-threads.wasm ]]; then
  if [[ -z "$(find "${inputs[@]}" -newer $out/attnflow.wasm -print -quit)" &&
        -z "$(find "${inputs[@]}" -newer $out/attnflow-threads.wasm -print -quit)" ]]; then
    exit 0
  fi
fi

CLANG=${CLANG:-clang}
SYSROOT=${WASI_SYSROOT:-/usr}
libdir=$SYSROOT/lib/wasm32-wasi
if ! command -v "$CLANG" >/dev/null || [[ ! -f $libdir/libm.a ]]; then
  echo "build-wasm: needs clang with the wasm32 target, lld and wasi-libc (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)" >&2
  exit 1
fi
builtins=$("$CLANG" --target=wasm32-wasi -print-libgcc-file-name)

common=(--target=wasm32-wasi --sysroot="$SYSROOT" -O3 -std=c++17 -fno-exceptions -fno-rtti -msimd128 -mbulk-memory -mmutable-globals
  -mnontrapping-fptoint -msign-ext -nostdinc++ -isystem native/wasm/shim -Inative/include -Inative/cpu -Inative/wasm
  -Wall -Wextra -Werror -Wno-unused-function)
link=(-nostdlib -fuse-ld=lld -Wl,--no-entry -Wl,--import-memory -Wl,--max-memory=4294967296 -Wl,--stack-first
  -Wl,-z,stack-size=131072 -Wl,--export=__heap_base -Wl,--export=__stack_pointer -Wl,--strip-all
  "$libdir/libm.a" "$libdir/libc.a" "$builtins")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p $out
"$CLANG" "${common[@]}" "${sources[@]}" "${link[@]}" -o "$tmp/attnflow.wasm"
"$CLANG" "${common[@]}" -matomics "${sources[@]}" "${link[@]}" -Wl,--shared-memory -o "$tmp/attnflow-threads.wasm"
mv "$tmp/attnflow.wasm" "$tmp/attnflow-threads.wasm" $out/
echo "build-wasm: $out/attnflow.wasm $(wc -c <$out/attnflow.wasm) bytes, $out/attnflow-threads.wasm $(wc -c <$out/attnflow-threads.wasm) bytes"
