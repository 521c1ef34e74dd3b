/**
 * The async calls leave libuv's thread pool to the rest of the application (native/binding/
 * worker.h): with 8 long attention() calls in flight, file and crypto work that runs on libuv's
 * pool still completes, before the first of those calls settles. When each call held one of
 * libuv's 4 threads for its whole duration, the read waited for a call to finish.
 *
 * The bound is an ordering, not a time: a small read (well under a millisecond alone, tens of
 * milliseconds on a badly overloaded machine) against the first of 8 calls of ≈ 17 GFLOP each
 * (≈ 0.5 s on 2 cores, and slower, not faster, when the machine is loaded). The latency itself is
 * measured by bench/responsiveness.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pbkdf2 } from 'node:crypto';
import os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { attention, Tensor } from '../lib/index.js';

describe("libuv's thread pool stays free", () => {
  it('fs.promises.readFile and crypto.pbkdf2 complete while 8 long attention() calls are in flight, before any of them settles', async () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'attnflow-loop-'));
    const file = join(dir, 'small.txt');
    writeFileSync(file, 'attnflow\n');
    const shape = [1, 8, 4096, 64];
    const [q, k, v] = [1, 2, 3].map((seed) => Tensor.randn(shape, { seed }));
    const controller = new AbortController();
    const order: string[] = [];
    try {
      const calls = Array.from({ length: 8 }, (_, i) =>
        attention(q, k, v, { signal: controller.signal }).then(
          () => order.push(`call ${i}`),
          () => order.push(`call ${i}`),
        ),
      );
      const io = [
        readFile(file, 'utf8').then((text) => {
          expect(text).toBe('attnflow\n');
          order.push('readFile');
        }),
        new Promise<void>((resolve, reject) =>
          pbkdf2('secret', 'salt', 1, 32, 'sha256', (err) => {
            if (err) reject(err);
            else {
              order.push('pbkdf2');
              resolve();
            }
          }),
        ),
      ];
      await Promise.all(io);
      expect(order.slice(0, 2).sort()).toEqual(['pbkdf2', 'readFile']);
      controller.abort(); // the calls are not needed any more
      await Promise.all(calls);
    } finally {
      controller.abort();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
