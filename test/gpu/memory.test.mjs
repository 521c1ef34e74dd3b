// Device tensors and the allocator: transfers, dispose, freeing by the garbage collector,
// statistics, out-of-memory errors (and recovery), concurrent calls, dispose while in flight.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  SKIP,
  Tensor,
  TOLERANCE,
  attention,
  device,
  gc,
  inputs,
  oracle,
  relError,
  settle,
  toBhsd,
} from './helpers.mjs';

const { cuda } = device;

describe('CUDA device tensors and memory', { skip: SKIP }, () => {
  it('round trips keep every bit, for every dtype and layout', async () => {
    for (const dtype of ['float32', 'float16', 'bfloat16']) {
      for (const layout of ['bhsd', 'bshd']) {
        const t = Tensor.randn([2, 3, 5, 7], { dtype, layout, seed: 11 });
        const g = t.to('cuda');
        assert.equal(g.device, 'cuda:0');
        assert.equal(g.dtype, dtype);
        assert.equal(g.layout, layout);
        assert.throws(() => g.data, /cuda:0/);
        const back = g.to('cpu');
        assert.deepEqual(Array.from(back.data), Array.from(t.data));
        assert.deepEqual(Array.from(g.toFloat32()), Array.from(t.toFloat32()));
        const g2 = g.to('cuda:0'); // device to device
        g.dispose();
        assert.deepEqual(Array.from(g2.to('cpu').data), Array.from(t.data));
        assert.throws(() => g.toFloat32(), /disposed/);
        g2.dispose();
        const a = await device.toDeviceAsync(t, 'cuda');
        assert.deepEqual(Array.from(await a.deviceStorage.toHostAsync()), Array.from(t.data));
        a.dispose();
      }
    }
    const empty = Tensor.zeros([0, 4]).to('cuda');
    assert.equal(empty.toFloat32().length, 0);
    empty.dispose();
  });

  it('a device that does not exist is a clean error', () => {
    const n = cuda.deviceCount();
    assert.throws(() => Tensor.zeros([2]).to(`cuda:${n}`), new RegExp(`cuda:${n}: no such device`));
  });

  it('dispose() and the garbage collector both free device memory', async () => {
    cuda.synchronize();
    const base = cuda.memoryStats();
    const kept = [];
    for (let i = 0; i < 20; i++) kept.push(Tensor.zeros([1 << 18]).to('cuda')); // 1 MiB each
    const during = cuda.memoryStats();
    assert.ok(during.allocatedBytes >= base.allocatedBytes + 20 * (1 << 20));
    assert.ok(during.peakAllocatedBytes >= during.allocatedBytes);
    assert.ok(during.reservedBytes >= during.allocatedBytes);
    for (const t of kept.splice(0, 10)) t.dispose();
    assert.equal(cuda.memoryStats().allocatedBytes, during.allocatedBytes - 10 * (1 << 20));
    kept.length = 0; // the other 10 are left to the garbage collector
    (function drop() {
      for (let i = 0; i < 30; i++) Tensor.zeros([1 << 16]).to('cuda');
    })();
    for (let i = 0; i < 10 && cuda.memoryStats().allocatedBytes > base.allocatedBytes; i++) {
      gc();
      await settle(10);
    }
    assert.equal(cuda.memoryStats().allocatedBytes, base.allocatedBytes);
    cuda.emptyCache();
    assert.ok(cuda.memoryStats().reservedBytes <= during.reservedBytes);
  });

  it('out of memory is an Error naming the device and the bytes, and the device stays usable', async () => {
    const total = cuda.memoryStats().totalBytes;
    const tooBig = Math.floor((total * 2) / 4) * 4;
    assert.throws(
      () => device.emptyDeviceTensor('cuda:0', [tooBig / 4], 'float32'),
      (e) => e instanceof Error && /^cuda:0: out of memory: cannot allocate/.test(e.message) && e.message.includes(`(${tooBig} bytes)`),
    );
    // Fill the device in 1 GiB blocks until the allocator says no.
    const blocks = [];
    let error = null;
    const limit = Math.ceil(total / 2 ** 30) + 4;
    for (let i = 0; i < limit && error === null; i++) {
      try {
        blocks.push(device.emptyDeviceTensor('cuda:0', [2 ** 28], 'float32'));
      } catch (e) {
        error = e;
      }
    }
    assert.ok(error instanceof Error, 'the device never ran out of memory');
    assert.match(error.message, /^cuda:0: out of memory: cannot allocate 1\.00 GiB \(1073741824 bytes\)/);
    for (const b of blocks) b.dispose();
    cuda.emptyCache();
    // Still works.
    const { q, k, v } = inputs({ hq: 2, sq: 64, sk: 64, d: 64, dtype: 'float16' });
    const out = await attention(q.to('cuda'), k.to('cuda'), v.to('cuda'), { causal: true });
    assert.ok(relError(toBhsd(out), oracle(q, k, v, { causal: true }).out) <= TOLERANCE.float16);
  });

  it('concurrent calls are safe and each gets its own result', async () => {
    const cases = [];
    for (let i = 0; i < 16; i++) {
      const dtype = ['float32', 'float16', 'bfloat16'][i % 3];
      const c = { hq: 4, hkv: [1, 2, 4][i % 3], sq: 40 + 17 * i, sk: 60 + 23 * i, d: [64, 128, 80][i % 3], dtype };
      const options = { pattern: ['causal', 'full', 'sliding(30)', 'random(5, 1)'][i % 4] };
      const { q, k, v } = inputs(c);
      cases.push({ c, options, q, k, v, dev: [q.to('cuda'), k.to('cuda'), v.to('cuda')] });
    }
    const results = await Promise.all(cases.map(({ options, dev }) => attention(dev[0], dev[1], dev[2], options)));
    results.forEach((out, i) => {
      const { c, options, q, k, v } = cases[i];
      const err = relError(toBhsd(out), oracle(q, k, v, options).out);
      assert.ok(err <= TOLERANCE[c.dtype], `case ${i}: ${err}`);
    });
  });

  it('disposing inputs while a call is in flight is safe (freed after the call)', async () => {
    const { q, k, v } = inputs({ hq: 8, sq: 512, sk: 2048, d: 128, dtype: 'bfloat16' });
    const [qd, kd, vd] = [q.to('cuda'), k.to('cuda'), v.to('cuda')];
    const pending = attention(qd, kd, vd, { causal: true });
    qd.dispose();
    kd.dispose();
    vd.dispose();
    const out = await pending;
    const err = relError(toBhsd(out), oracle(q, k, v, { causal: true }).out);
    assert.ok(err <= TOLERANCE.bfloat16, String(err));
  });

  it('mixing devices or disposed inputs is an error', async () => {
    const { q, k, v } = inputs({ hq: 2, sq: 8, sk: 8, d: 64 });
    const qd = q.to('cuda');
    await assert.rejects(attention(qd, k, v), /one device/);
    const kd = k.to('cuda');
    const vd = v.to('cuda');
    vd.dispose();
    await assert.rejects(attention(qd, kd, vd), /disposed/);
  });
});
