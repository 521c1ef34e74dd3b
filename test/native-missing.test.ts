/**
 * Where no native binary loads (a platform without a prebuild, a failed build), `backend: 'auto'`
 * and 'cpu' throw NativeUnavailableError saying how to get one, for attention and linear
 * attention alike; nothing silently runs the pure-TypeScript backend. 'reference' still works
 * when asked for by name. The loader is replaced by one that fails as node-gyp-build does.
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

const { attention, attentionSync, linearAttention, linearAttentionSync, NativeUnavailableError, Tensor, info } = await import('../lib/index.js');

function qkv() {
  const shape = [1, 2, 16, 8];
  return [Tensor.randn(shape, { seed: 1 }), Tensor.randn(shape, { seed: 2 }), Tensor.randn(shape, { seed: 3 })] as const;
}

function expectHowToGetOne(e: unknown): void {
  expect(e).toBeInstanceOf(NativeUnavailableError);
  const m = (e as Error).message;
  expect(m).toContain('arch=riscv64'); // the loader's reason
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
      await attention(q, k, v, options).then(
        () => expect.unreachable('attention resolved without a native binary'),
        expectHowToGetOne,
      );
      let thrown: unknown;
      try {
        attentionSync(q, k, v, options);
      } catch (e) {
        thrown = e;
      }
      expectHowToGetOne(thrown);
    }
  });

  it("linearAttention with backend 'auto' and 'cpu' throws the same error", async () => {
    const [q, k, v] = qkv();
    for (const options of [{}, { backend: 'cpu' as const }]) {
      await linearAttention(q, k, v, options).then(
        () => expect.unreachable('linearAttention resolved without a native binary'),
        expectHowToGetOne,
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
  });
});
