#!/usr/bin/env bash
# The linux binaries npm ships, built so that they load on old distributions:
#   prebuilds/linux-x64/attnflow.glibc.node    CPU backends + CUDA (where nvcc is found)
#   prebuilds/linux-arm64/attnflow.glibc.node  CPU backends, cross-compiled with Debian's aarch64 gcc
# Both are compiled inside a Debian bullseye chroot made by debootstrap from Debian's own
# packages (the manylinux approach): its gcc 10 and glibc 2.31 decide which libc symbols the
# binary asks for, and native/core/glibc_floor.h pins the few whose version bullseye bumped
# after 2.28, so the result needs GLIBC_2.28 at most (Debian 10, Ubuntu 18.10, RHEL/Alma 8,
# Amazon Linux 2023). libstdc++ and libgcc are linked statically. The script checks every binary's
# symbol versions and fails above the floor; test/pack.test.ts checks them again in the tarball.
#
#   scripts/prebuild-linux.sh [--arch x64,arm64] [--no-cuda] [--jobs N]
#   ATTNFLOW_CHROOT=dir     the chroot (default build/chroot-bullseye; made when missing, reused after)
#   ATTNFLOW_DEBIAN_MIRROR  Debian mirror for debootstrap (default http://deb.debian.org/debian)
#
# Needs root (debootstrap, chroot) on a Debian or Ubuntu host (debootstrap is installed with
# apt-get when missing), node and node_modules (the Node-API headers), and for CUDA an nvcc on
# PATH: its toolkit is copied into the chroot (hard links where possible) and drives the chroot's
# gcc. Writes build/prebuild-linux.json (what was built, from which sources) for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

suite=bullseye
floor=2.28
arches=x64,arm64
cuda=1
jobs="$(nproc 2>/dev/null || echo 2)"
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arches="$2"; shift 2 ;;
    --arch=*) arches="${1#--arch=}"; shift ;;
    --no-cuda) cuda=0; shift ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "prebuild-linux: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" = 0 ] || { echo "prebuild-linux: needs root (debootstrap and chroot)" >&2; exit 2; }
root="${ATTNFLOW_CHROOT:-$repo/build/chroot-$suite}"
mirror="${ATTNFLOW_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages="g++,make,cmake,binutils,g++-aarch64-linux-gnu,binutils-aarch64-linux-gnu"
t0=$(date +%s)
since() { echo "$(( $(date +%s) - $1 )) s"; }

# 1. The chroot, made once. A marker names what it holds, so a changed package list remakes it.
marker="$root/.attnflow-chroot"
if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "$suite $packages" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  rm -rf "$root" "$root.partial"
  mkdir -p "$(dirname "$root")"
  start=$(date +%s)
  debootstrap --variant=minbase --include="$packages" "$suite" "$root.partial" "$mirror" >"$root.log" 2>&1 ||
    { tail -30 "$root.log" >&2; echo "prebuild-linux: debootstrap failed (log: $root.log)" >&2; exit 1; }
  echo "$suite $packages" >"$root.partial/.attnflow-chroot"
  mv "$root.partial" "$root"
  echo "prebuild-linux: debootstrap $suite: $(since "$start")"
fi
in_root() { chroot "$root" /usr/bin/env -i PATH=/opt/cuda/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LC_ALL=C "$@"; }
echo "prebuild-linux: $(in_root g++ --version | head -1); $(in_root cmake --version | head -1); $(in_root ldd --version | head -1)"

# 2. Sources and headers, staged into the chroot (cp -p keeps modification times, so the build
# folders there stay incremental between runs).
stage="$root/attnflow"
rm -rf "$stage/src" "$stage/napi" "$stage/addon-api"
mkdir -p "$stage/src" "$stage/napi" "$stage/addon-api"
cp -rp CMakeLists.txt native "$stage/src/"
cp -rp "$(node -p "require('node-api-headers').include_dir")/." "$stage/napi/"
cp -p "$(node -p "require('node-addon-api').include_dir")"/*.h "$stage/addon-api/"

# 3. The CUDA toolkit, copied in when this host has one (the x64 binary includes the backend).
cuda_version=""
if [ "$cuda" = 1 ] && command -v nvcc >/dev/null; then
  # nvcc may be a wrapper script: ask the driver where its toolkit is.
  probe="$(mktemp -d)"
  touch "$probe/p.cu"
  toolkit="$(nvcc --dryrun -c "$probe/p.cu" -o "$probe/p.o" 2>&1 | sed -n 's/^#\$ TOP=//p' | head -1)"
  rm -rf "$probe"
  toolkit="$(cd "$toolkit" && pwd -P)"
  [ -x "$toolkit/bin/nvcc" ] && [ -f "$toolkit/include/cuda_runtime.h" ] ||
    { echo "prebuild-linux: cannot find the CUDA toolkit of $(command -v nvcc) (got '$toolkit')" >&2; exit 1; }
  cuda_version="$(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
  if [ "$(cat "$root/opt/cuda/.attnflow-from" 2>/dev/null)" != "$toolkit $cuda_version" ]; then
    rm -rf "$root/opt/cuda"
    mkdir -p "$root/opt"
    cp -al "$toolkit" "$root/opt/cuda" 2>/dev/null || { rm -rf "$root/opt/cuda"; cp -a "$toolkit" "$root/opt/cuda"; }
    echo "$toolkit $cuda_version" >"$root/opt/cuda/.attnflow-from"
  fi
fi

# Highest GLIBC_x.y among the binary's dynamic symbol versions.
glibc_needed() {
  in_root objdump -T "$1" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' | sed 's/GLIBC_//' | sort -uV | tail -1
}

# 4. One build per architecture.
manifest_targets=""
IFS=, read -r -a arch_list <<<"$arches"
for arch in "${arch_list[@]}"; do
  start=$(date +%s)
  flags=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_JS_VERSION=prebuild-linux -DCMAKE_JS_INC=/attnflow/napi
    -DNODE_ADDON_API_DIR=/attnflow/addon-api -DCMAKE_CXX_FLAGS=-DBUILDING_NODE_EXTENSION -DATTNFLOW_GLIBC_FLOOR=ON)
  case "$arch" in
    x64)
      strip=strip
      if [ -n "$cuda_version" ]; then flags+=(-DATTNFLOW_CUDA=ON -DCMAKE_CUDA_COMPILER=/opt/cuda/bin/nvcc); else flags+=(-DATTNFLOW_CUDA=OFF); fi ;;
    arm64)
      strip=aarch64-linux-gnu-strip
      flags+=(-DATTNFLOW_CUDA=OFF -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64
        -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ -DCMAKE_FIND_ROOT_PATH=/usr/aarch64-linux-gnu) ;;
    *) echo "prebuild-linux: unknown architecture '$arch' (x64, arm64)" >&2; exit 2 ;;
  esac
  build="/attnflow/build-$arch"
  in_root cmake -S /attnflow/src -B "$build" -G "Unix Makefiles" "${flags[@]}" >"$root$build.configure.log" 2>&1 ||
    { cat "$root$build.configure.log" >&2; exit 1; }
  grep -q 'attnflow: CUDA backend ON' "$root$build.configure.log" && has_cuda=true || has_cuda=false
  in_root cmake --build "$build" --target attnflow --parallel "$jobs"
  out="prebuilds/linux-$arch/attnflow.glibc.node"
  needed="$(glibc_needed "$build/attnflow.node")"
  if [ "$(printf '%s\n%s\n' "$needed" "$floor" | sort -V | tail -1)" != "$floor" ]; then
    echo "prebuild-linux: $out would need GLIBC_$needed, above the floor $floor:" >&2
    in_root objdump -T "$build/attnflow.node" | grep -E "GLIBC_$needed" >&2
    exit 1
  fi
  mkdir -p "prebuilds/linux-$arch"
  in_root "$strip" --strip-all -o /attnflow/attnflow.node "$build/attnflow.node"
  mv "$stage/attnflow.node" "$out"
  echo "prebuild-linux: $out ($(du -k "$out" | cut -f1) KiB, GLIBC_$needed, cuda $has_cuda): $(since "$start")"
  manifest_targets+="${manifest_targets:+,}\"linux-$arch\":{\"file\":\"$out\",\"sha256\":\"$(sha256sum "$out" | cut -d' ' -f1)\",\"glibc\":\"$needed\",\"cuda\":$([ "$has_cuda" = true ] && echo "\"$cuda_version\"" || echo false)}"
done

# What was built, merged into the record of earlier runs (an --arch x64 run keeps the arm64 entry).
ATTNFLOW_TARGETS="{$manifest_targets}" ATTNFLOW_ROOT="$root" ATTNFLOW_FLOOR="$floor" ATTNFLOW_SUITE="$suite" node -e '
  const fs = require("node:fs");
  const file = "build/prebuild-linux.json";
  let old = {};
  try { old = JSON.parse(fs.readFileSync(file, "utf8")); } catch {}
  const e = process.env;
  const sources = require("./scripts/source-hash.cjs").sourceHash(".");
  const built = Object.fromEntries(Object.entries(JSON.parse(e.ATTNFLOW_TARGETS)).map(([k, t]) => [k, { ...t, sources }]));
  const rec = { suite: e.ATTNFLOW_SUITE, chroot: e.ATTNFLOW_ROOT, glibcFloor: e.ATTNFLOW_FLOOR,
    targets: { ...(old.chroot === e.ATTNFLOW_ROOT ? old.targets : {}), ...built } };
  fs.writeFileSync(file, JSON.stringify(rec, null, 2) + "\n");
'
echo "prebuild-linux: done in $(since "$t0") (build/prebuild-linux.json)"
