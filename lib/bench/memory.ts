/** Runs the peak-memory probe (memory-child.ts) in a fresh Node process and parses its report. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { MemoryProbeResult, MemoryProbeSpec } from './memory-child.js';

export type { MemoryProbeResult, MemoryProbeSpec } from './memory-child.js';

/** The compiled child script next to this module (dist/bench/memory-child.js in the package). */
export function memoryChildPath(): string {
  return fileURLToPath(new URL('./memory-child.js', import.meta.url));
}

export function runMemoryProbe(spec: MemoryProbeSpec, timeoutMs = 300_000): Promise<MemoryProbeResult> {
  const script = memoryChildPath();
  if (!existsSync(script)) return Promise.reject(new Error(`memory probe script not found at ${script} (run the compiled bench from dist/)`));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', script, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(last) as MemoryProbeResult | { error: string };
        if ('error' in r) reject(new Error(r.error));
        else resolve(r);
      } catch {
        const why = signal ? `killed by ${signal}` : `exit code ${code}`;
        reject(new Error(`memory probe failed (${why}): ${(err.trim().split('\n').pop() ?? '').slice(0, 300)}`));
      }
    });
  });
}
