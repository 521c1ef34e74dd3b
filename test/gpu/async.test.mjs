// Async behaviour of the CUDA backend (native/binding/worker.h): options.signal on device
// attention, on host inputs staged through the device, and on the async copies; worker threads
// terminated while their CUDA calls run (in a child process, so that a crash is reported, not
// suffered); device memory back to where it was after all of it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

import { SKIP, Tensor, TOLERANCE, attention, device, gc, inputs, oracle, relError, settle, toBhsd } from './helpers.mjs';

const { cuda } = device;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const isAbortError = (e) => e instanceof DOMException && e.name === 'AbortError';

async function allocatedAfterGc() {
  gc();
  await settle();
  cuda.synchronize();
  return cuda.memoryStats('cuda:0').allocatedBytes;
}

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
import(workerData.index).then(async ({ Tensor, attention, linearAttention }) => {
  const shape = [1, 16, 4096, 128];
  const [q, k, v] = [1, 2, 3].map((seed) => Tensor.randn(shape, { dtype: 'bfloat16', seed }).to('cuda'));
  const host = Tensor.randn([1, 8, 8192, 64], { seed: 4 });
  const calls = [];
  for (let i = 0; i < 6; i++) calls.push(attention(q, k, v, { causal: true }));
  calls.push(attention(host, host, host, { backend: 'cuda' }));         // staged copies
  calls.push(linearAttention(host, host, host, { backend: 'cuda' }));   // staged, linear
  parentPort.postMessage('started');
  if (workerData.exit) setTimeout(() => process.exit(0), 5);
  await Promise.allSettled(calls);
  parentPort.postMessage('settled');
});
`;

const CHILD = `
const { Worker } = require('node:worker_threads');
(async () => {
  const { cuda } = await import(${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)});
  const before = cuda.memoryStats('cuda:0').allocatedBytes;
  for (let r = 0; r < 8; r++) {
    const w = new Worker(${JSON.stringify(WORKER)}, { eval: true, workerData: { index: ${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)}, exit: r % 2 === 1 } });
    const exited = new Promise((resolve, reject) => { w.on('exit', resolve); w.on('error', reject); });
    await Promise.race([new Promise((resolve) => w.on('message', (m) => m === 'started' && resolve())), exited]);
    if (r % 2 === 0) { await new Promise((res) => setTimeout(res, 5)); await w.terminate(); }
    await exited;
  }
  cuda.synchronize();
  console.log(JSON.stringify({ before, after: cuda.memoryStats('cuda:0').allocatedBytes, rss: process.memoryUsage().rss }));
})();
`;

describe('CUDA async calls: cancellation and teardown', { skip: SKIP }, () => {
  it('an already-aborted signal rejects at once, on device inputs, staged host inputs and the copies', async () => {
    const { q, k, v } = inputs({ hq: 4, sq: 256, sk: 256, d: 64, dtype: 'float16' });
    const dev = [q.to('cuda'), k.to('cuda'), v.to('cuda')];
    const baseline = await allocatedAfterGc();
    for (const [what, run] of [
      ['device attention', () => attention(dev[0], dev[1], dev[2], { signal: AbortSignal.abort() })],
      ['staged attention', () => attention(q, k, v, { backend: 'cuda', signal: AbortSignal.abort() })],
      ['toDeviceAsync', () => device.toDeviceAsync(q, 'cuda', AbortSignal.abort())],
      ['toHostAsync', () => dev[0].deviceStorage.toHostAsync(AbortSignal.abort())],
    ]) {
      await assert.rejects(run(), isAbortError, what);
    }
    assert.equal(await allocatedAfterGc(), baseline, 'device memory after the aborted calls');
    for (const t of dev) t.dispose();
  });

  it('aborting calls in flight: each rejects with AbortError or completes whole; device memory returns to its baseline', async () => {
    const { q, k, v } = inputs({ hq: 16, sq: 4096, sk: 4096, d: 128, dtype: 'bfloat16' });
    const dev = [q.to('cuda'), k.to('cuda'), v.to('cuda')];
    const small = inputs({ hq: 2, sq: 100, sk: 130, d: 64, dtype: 'float32' });
    const want = oracle(small.q, small.k, small.v, { causal: true }).out;
    const baseline = await allocatedAfterGc();
    const controller = new AbortController();
    // more calls than the CUDA lane runs at once, so that some wait in its queue
    const calls = [];
    for (let i = 0; i < 8; i++) calls.push(attention(dev[0], dev[1], dev[2], { causal: true, signal: controller.signal }));
    calls.push(attention(small.q, small.k, small.v, { backend: 'cuda', causal: true, signal: controller.signal }));
    const bystander = attention(small.q, small.k, small.v, { backend: 'cuda', causal: true });
    controller.abort();
    const outcomes = await Promise.allSettled(calls);
    let aborted = 0;
    for (const o of outcomes) {
      if (o.status === 'rejected') {
        assert.ok(isAbortError(o.reason), String(o.reason));
        aborted++;
      } else o.value.dispose?.();
    }
    assert.ok(aborted > 0, 'no call was aborted');
    const b = await bystander;
    assert.ok(relError(toBhsd(b), want) <= TOLERANCE.float32, 'the call beside the aborted ones');
    assert.equal(await allocatedAfterGc(), baseline, 'device memory after the aborted calls');
    for (const t of dev) t.dispose();
  });

  it('aborting a large host-to-device copy stops between its pieces and frees the storage', async () => {
    const t = Tensor.zeros([1, 64, 1 << 16, 64]); // 1 GiB
    const baseline = await allocatedAfterGc();
    const controller = new AbortController();
    const copy = device.toDeviceAsync(t, 'cuda', controller.signal);
    setTimeout(() => controller.abort(), 1);
    const r = await copy.then((d) => d, (e) => e);
    if (r instanceof Tensor) r.dispose(); // the copy won the race
    else assert.ok(isAbortError(r), String(r));
    assert.equal(await allocatedAfterGc(), baseline);
  });

  it('workers terminated or exiting while their CUDA calls run: the process lives, device memory is freed', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', CHILD], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split('\n').pop());
    // every worker's device tensors are freed with it (their handles' finalizers run at teardown)
    assert.ok(report.after - report.before < 64 * 2 ** 20, JSON.stringify(report));
  });
});
