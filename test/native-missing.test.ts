/**
 * Where no native binary loads (a platform without a prebuild, a failed build) and the WebAssembly
 * backend cannot run either (its modules missing), `backend: 'auto'` and 'cpu' throw
 * NativeUnavailableError saying how to get a binary, for attention and linear attention alike;
 * nothing silently runs the pure-TypeScript backend. 'reference' still works when asked for by
 * name. The loader is replaced by one that fails as node-gyp-build does, the wasm status by one
 * that says the modules are missing. (With the wasm backend available, 'auto' runs it:
 * test/auto-backend.test.ts.)
 */
import { describe, expect, it, vi } from 'vitest';

vi.mock('../lib/native/load.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../lib/native/load.js')>();
  const error = 'No native build was found for platform=linux arch=riscv64 runtime=node abi=115 uv=1 libc=glibc node=20.19.0';
  return {
    ...real,
    tryLoadNative: () => ({ error }),
    loadNative: () => {
      throw new real.NativeUnavailableError(error);
    },
  };
});

vi.mock('../lib/wasm/index.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../lib/wasm/index.js')>();
  return { ...real, wasmStatus: () => ({ available: false, reason: 'prebuilds/wasm/attnflow-threads.wasm is missing' }) };
});

const { attention, attentionSync, linearAttention, linearAttentionSync, NativeUnavailableError, Tensor, info } = await import('../lib/index.js');

function qkv() {
  const shape = [1, 2, 16, 8];
  return [Tensor.randn(shape, { seed: 1 }), Tensor.randn(shape, { seed: 2 }), Tensor.randn(shape, { seed: 3 })] as const;
}

function expectHowToGetOne(e: unknown, auto = true): void {
  expect(e).toBeInstanceOf(NativeUnavailableError);
  const m = (e as Error).message;
  expect(m).toContain('arch=riscv64'); // the loader's reason
  // under 'auto', also why the WebAssembly backend cannot stand in
  if (auto) expect(m).toMatch(/WebAssembly backend is unavailable too: .*missing/);
  expect(m).toMatch(/Prebuilt binaries ship for [a-z0-9-]+(, [a-z0-9-]+)*/); // the platforms shipped
  expect(m).toContain('npm rebuild attnflow --foreground-scripts');
  expect(m).toMatch(/cmake-js/);
  expect(m).toMatch(/CMake >= 3\.18 and a C\+\+17 compiler/);
  expect(m).toContain("backend: 'reference'");
}

describe('without a native binary', () => {
  it("attention with backend 'auto' (the default) and 'cpu' throws, saying how to get a binary", async () => {
    const [q, k, v] = qkv();
    for (const options of [undefined, { backend: 'auto' as const }, { backend: 'cpu' as const }]) {
      const auto = options?.backend !== 'cpu';
      await attention(q, k, v, options).then(
        () => expect.unreachable('attention resolved without a native binary'),
        (e) => expectHowToGetOne(e, auto),
      );
      let thrown: unknown;
      try {
        attentionSync(q, k, v, options);
      } catch (e) {
        thrown = e;
      }
      expectHowToGetOne(thrown, auto);
    }
  });

  it("linearAttention with backend 'auto' and 'cpu' throws the same error", async () => {
    const [q, k, v] = qkv();
    for (const options of [{}, { backend: 'cpu' as const }]) {
      await linearAttention(q, k, v, options).then(
        () => expect.unreachable('linearAttention resolved without a native binary'),
        (e) => expectHowToGetOne(e, !('backend' in options)),
      );
      expect(() => linearAttentionSync(q, k, v, options)).toThrow(NativeUnavailableError);
    }
  });

  it("backend 'reference' still runs, on purpose, and info() says why cpu is unavailable", async () => {
    const [q, k, v] = qkv();
    const out = await attention(q, k, v, { backend: 'reference', causal: true });
    expect(out.shape).toEqual([1, 2, 16, 8]);
    expect(Number.isFinite(out.toFloat32()[0])).toBe(true);
    const lin = linearAttentionSync(q, k, v, { backend: 'reference' });
    expect(lin.shape).toEqual([1, 2, 16, 8]);
    const i = info();
    expect(i.backends.cpu.available).toBe(false);
    expect(i.backends.cpu.reason).toContain('arch=riscv64');
    expect(i.auto.backend).toBe(null);
    expect(i.auto.reason).toMatch(/arch=riscv64.*WebAssembly backend is unavailable too/);
  });
});
