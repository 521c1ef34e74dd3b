/** What this installation can run: backends, devices, CPU features. */
import type { NativeCpuKernel, NativeCudaDevice } from './native/bindings.js';
import { packageVersion, tryLoadNative } from './native/load.js';
import { describeValue } from './describe.js';
import { autoHostChoice } from './backends/auto.js';
import { wasmStatus } from './wasm/index.js';
import type { WasmStatus } from './wasm/status.js';

export interface BackendStatus {
  available: boolean;
  /** why the backend is unavailable (absent when available) */
  reason?: string;
}

export interface AttnflowInfo {
  version: string;
  node: string;
  platform: string;
  arch: string;
  /** what `backend: 'auto'` runs host tensors on ('cpu' native, 'wasm', null: neither can run and calls throw), and why */
  auto: { backend: 'cpu' | 'wasm' | null; reason: string };
  backends: {
    reference: BackendStatus;
    cpu: BackendStatus & {
      threads?: number;
      /** CPU features of the machine */
      simd?: string[];
      /** the kernel calls run on (chosen from the CPU's features, or by ATTNFLOW_CPU_ISA) and its vector width */
      kernel?: string;
      lanes?: number;
      /** every CPU kernel of this build, and whether this CPU can run it */
      kernels?: NativeCpuKernel[];
      tile?: { blockQ: number; blockK: number };
    };
    cuda: BackendStatus & { compiled: boolean; runtimeVersion?: number; driverVersion?: number; devices: NativeCudaDevice[] };
    /** the CPU kernels in WebAssembly (SIMD128), for platforms without a native binary */
    wasm: WasmStatus;
  };
}

/** Reports the package version and each backend's availability, with the reason when it is not. */
export function info(): AttnflowInfo {
  const base = {
    version: packageVersion,
    node: process.versions.node,
    platform: process.platform,
    arch: process.arch,
    auto: autoHostChoice(),
  };
  const native = tryLoadNative();
  if ('error' in native) {
    const reason = `native addon not loaded: ${native.error}`;
    return {
      ...base,
      backends: {
        reference: { available: true },
        cpu: { available: false, reason },
        cuda: { available: false, compiled: false, reason, devices: [] },
        wasm: wasmStatus(),
      },
    };
  }
  const n = native.addon.info();
  const simd = (['avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512bf16', 'neon'] as const).filter((f) => n.cpu[f]);
  const kernels = n.cpu.kernels ? { kernels: n.cpu.kernels } : {};
  // ATTNFLOW_CPU_ISA naming a kernel that cannot run makes every CPU call fail: say so here too.
  const cpu =
    n.cpu.kernel === null
      ? { available: false, reason: n.cpu.kernelError ?? 'no CPU kernel can run', threads: n.cpu.threads, simd, ...kernels, tile: n.cpu.tile }
      : { available: true, threads: n.cpu.threads, simd, kernel: n.cpu.kernel, ...(n.cpu.kernelLanes ? { lanes: n.cpu.kernelLanes } : {}), ...kernels, tile: n.cpu.tile };
  return {
    ...base,
    backends: {
      reference: { available: true },
      cpu,
      cuda: {
        available: n.cuda.available,
        compiled: n.cuda.compiled,
        ...(n.cuda.available ? {} : { reason: n.cuda.reason }),
        runtimeVersion: n.cuda.runtimeVersion,
        driverVersion: n.cuda.driverVersion,
        devices: n.cuda.devices,
      },
      wasm: wasmStatus(),
    },
  };
}

function cudaVersion(v: number | undefined): string {
  return v ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'none';
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** What is wrong with `x` as a value info() returned, or null when nothing formatInfo reads is. */
function infoProblem(x: unknown): string | null {
  if (!isObject(x)) return describeValue(x);
  const bad = (path: string, v: unknown): string => `an object whose ${path} is ${describeValue(v)}`;
  const optional = (v: unknown, type: 'string' | 'number'): boolean => v === undefined || typeof v === type;
  for (const k of ['version', 'node', 'platform', 'arch'] as const) {
    if (typeof x[k] !== 'string') return bad(k, x[k]);
  }
  const b = x.backends;
  if (!isObject(b)) return bad('backends', b);
  const cpu = b.cpu;
  if (!isObject(cpu)) return bad('backends.cpu', cpu);
  if (typeof cpu.available !== 'boolean') return bad('backends.cpu.available', cpu.available);
  if (!optional(cpu.reason, 'string')) return bad('backends.cpu.reason', cpu.reason);
  if (!optional(cpu.threads, 'number')) return bad('backends.cpu.threads', cpu.threads);
  if (!optional(cpu.kernel, 'string')) return bad('backends.cpu.kernel', cpu.kernel);
  if (!optional(cpu.lanes, 'number')) return bad('backends.cpu.lanes', cpu.lanes);
  if (cpu.simd !== undefined && !(Array.isArray(cpu.simd) && cpu.simd.every((f) => typeof f === 'string'))) return bad('backends.cpu.simd', cpu.simd);
  if (cpu.tile !== undefined && !(isObject(cpu.tile) && typeof cpu.tile.blockQ === 'number' && typeof cpu.tile.blockK === 'number')) {
    return bad('backends.cpu.tile', cpu.tile);
  }
  const cuda = b.cuda;
  if (!isObject(cuda)) return bad('backends.cuda', cuda);
  if (typeof cuda.available !== 'boolean') return bad('backends.cuda.available', cuda.available);
  if (!optional(cuda.reason, 'string')) return bad('backends.cuda.reason', cuda.reason);
  for (const k of ['runtimeVersion', 'driverVersion'] as const) {
    if (!optional(cuda[k], 'number')) return bad(`backends.cuda.${k}`, cuda[k]);
  }
  if (cuda.available) {
    if (!Array.isArray(cuda.devices)) return bad('backends.cuda.devices', cuda.devices);
    for (let d = 0; d < cuda.devices.length; d++) {
      const dev: unknown = cuda.devices[d];
      if (!isObject(dev)) return bad(`backends.cuda.devices[${d}]`, dev);
      for (const k of ['index', 'totalMemory', 'multiprocessors'] as const) {
        if (typeof dev[k] !== 'number') return bad(`backends.cuda.devices[${d}].${k}`, dev[k]);
      }
      for (const k of ['name', 'computeCapability'] as const) {
        if (typeof dev[k] !== 'string' && typeof dev[k] !== 'number') return bad(`backends.cuda.devices[${d}].${k}`, dev[k]);
      }
    }
  }
  const auto = x.auto;
  if (auto !== undefined) {
    if (!isObject(auto)) return bad('auto', auto);
    if (auto.backend !== null && auto.backend !== 'cpu' && auto.backend !== 'wasm') return bad('auto.backend', auto.backend);
    if (typeof auto.reason !== 'string') return bad('auto.reason', auto.reason);
  }
  const wasm = b.wasm;
  if (wasm !== undefined) {
    if (!isObject(wasm)) return bad('backends.wasm', wasm);
    if (typeof wasm.available !== 'boolean') return bad('backends.wasm.available', wasm.available);
    for (const k of ['reason', 'sharedReason', 'module'] as const) {
      if (!optional(wasm[k], 'string')) return bad(`backends.wasm.${k}`, wasm[k]);
    }
    for (const k of ['threads', 'lanes', 'moduleBytes'] as const) {
      if (!optional(wasm[k], 'number')) return bad(`backends.wasm.${k}`, wasm[k]);
    }
  }
  return null;
}

function formatWasm(w: WasmStatus): string {
  if (!w.available) return `  wasm:      unavailable: ${w.reason}`;
  const threads = w.shared ? `${w.threads} threads` : `1 thread (no WebAssembly threads: ${w.sharedReason})`;
  return `  wasm:      available, ${threads}, SIMD128 (${w.lanes} lanes), module ${((w.moduleBytes ?? 0) / 1024).toFixed(0)} KiB`;
}

/** Human-readable text of info(), as `attnflow info` prints it. */
export function formatInfo(i: AttnflowInfo): string {
  const problem = infoProblem(i);
  if (problem !== null) throw new TypeError(`formatInfo: expected the object info() returns, got ${problem}`);
  const lines = [`attnflow ${i.version} (node ${i.node}, ${i.platform}-${i.arch})`];
  if (i.auto) lines.push(`auto (host tensors): ${i.auto.backend ?? 'nothing (calls throw)'} — ${i.auto.reason}`);
  lines.push('backends:');
  lines.push('  reference: available (pure TypeScript)');
  const cpu = i.backends.cpu;
  lines.push(
    cpu.available
      ? `  cpu:       available, ${cpu.threads} threads, SIMD ${cpu.simd?.length ? cpu.simd.join(' ') : 'none'}, kernel ${cpu.kernel ?? 'portable'}${cpu.lanes ? ` (${cpu.lanes} lanes)` : ''}, tile ${cpu.tile?.blockQ}x${cpu.tile?.blockK}`
      : `  cpu:       unavailable: ${cpu.reason}`,
  );
  const cuda = i.backends.cuda;
  if (cuda.available) {
    lines.push(`  cuda:      available (runtime ${cudaVersion(cuda.runtimeVersion)}, driver ${cudaVersion(cuda.driverVersion)})`);
    for (const d of cuda.devices) {
      lines.push(`    cuda:${d.index}: ${d.name}, compute capability ${d.computeCapability}, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, ${d.multiprocessors} SMs`);
    }
  } else {
    lines.push(`  cuda:      unavailable: ${cuda.reason}`);
  }
  if (i.backends.wasm) lines.push(formatWasm(i.backends.wasm));
  return lines.join('\n');
}
