/** What this installation can run: backends, devices, CPU features. */
import { packageVersion, tryLoadNative, type NativeCudaDevice } from './native.js';

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
  backends: {
    reference: BackendStatus;
    cpu: BackendStatus & { threads?: number; simd?: string[]; tile?: { blockQ: number; blockK: number } };
    cuda: BackendStatus & { compiled: boolean; runtimeVersion?: number; driverVersion?: number; devices: NativeCudaDevice[] };
  };
}

/** Reports the package version and each backend's availability, with the reason when it is not. */
export function info(): AttnflowInfo {
  const base = {
    version: packageVersion,
    node: process.versions.node,
    platform: process.platform,
    arch: process.arch,
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
      },
    };
  }
  const n = native.addon.info();
  const simd = (['avx2', 'fma', 'f16c', 'avx512f', 'neon'] as const).filter((f) => n.cpu[f]);
  return {
    ...base,
    backends: {
      reference: { available: true },
      cpu: { available: true, threads: n.cpu.threads, simd, tile: n.cpu.tile },
      cuda: {
        available: n.cuda.available,
        compiled: n.cuda.compiled,
        ...(n.cuda.available ? {} : { reason: n.cuda.reason }),
        runtimeVersion: n.cuda.runtimeVersion,
        driverVersion: n.cuda.driverVersion,
        devices: n.cuda.devices,
      },
    },
  };
}

function cudaVersion(v: number | undefined): string {
  return v ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'none';
}

/** Human-readable text of info(), as `attnflow info` prints it. */
export function formatInfo(i: AttnflowInfo): string {
  const lines = [`attnflow ${i.version} (node ${i.node}, ${i.platform}-${i.arch})`, 'backends:'];
  lines.push('  reference: available (pure TypeScript)');
  const cpu = i.backends.cpu;
  lines.push(
    cpu.available
      ? `  cpu:       available, ${cpu.threads} threads, SIMD ${cpu.simd?.length ? cpu.simd.join(' ') : 'none (portable path)'}, tile ${cpu.tile?.blockQ}x${cpu.tile?.blockK}`
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
  return lines.join('\n');
}
