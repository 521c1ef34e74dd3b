/**
 * @ruvector/attention (an optional peer, not installed by default:
 * `npm install --no-save @ruvector/attention@^2.2`) as a second CPU peer. Its API computes one
 * query row at a time — `new DotProductAttention(D).compute(query, keys[], values[])`, scaled by
 * 1/√D — so the harness loops over batch, heads and query rows, and causal attention hands each
 * row its prefix of keys. Dense and causal, float32, 'bhsd' buffers. (It ships linux-x64 binaries
 * needing glibc 2.34; its linux-arm64 package stops at version 0.1.32.)
 */

interface RuvectorDotProduct {
  compute(query: Float32Array, keys: Float32Array[], values: Float32Array[]): Float32Array;
}
interface RuvectorModule {
  DotProductAttention: new (dim: number) => RuvectorDotProduct;
  version?: () => string;
}
// A variable specifier: attnflow compiles whether or not the package is installed.
const RUVECTOR_PACKAGE: string = '@ruvector/attention';

let cached: Promise<{ ru: RuvectorModule } | { error: string }> | undefined;

/** @ruvector/attention, or the reason it is unavailable. */
export function loadRuvector(): Promise<{ ru: RuvectorModule } | { error: string }> {
  cached ??= (import(RUVECTOR_PACKAGE) as Promise<unknown>).then(
    (m) => {
      // a CommonJS package: the API is the namespace's default export
      const ns = m as { DotProductAttention?: unknown; default?: RuvectorModule };
      const ru = (ns.DotProductAttention ? ns : ns.default) as RuvectorModule | undefined;
      if (typeof ru?.DotProductAttention !== 'function') return { error: `${RUVECTOR_PACKAGE} has no DotProductAttention` };
      return { ru };
    },
    (e: unknown) => ({ error: e instanceof Error ? e.message.split('\n')[0] : String(e) }),
  );
  return cached;
}

/** The @ruvector/attention version, or null. */
export async function ruvectorVersion(): Promise<string | null> {
  const r = await loadRuvector();
  return 'error' in r ? null : (r.ru.version?.() ?? null);
}

export interface RuvectorShape {
  batch: number;
  heads: number;
  seq: number;
  headDim: number;
  causal?: boolean;
  /** default 1/√headDim (the library's own); other scales are folded into q */
  scale?: number;
}

export interface RuvectorRunner {
  /** attention over the bound inputs; resolves to the output, float32 [B, H, S, D] */
  run(): Promise<Float32Array>;
}

/** Dense or causal attention on float32 [B, H, S, D] buffers through @ruvector/attention, row by row. */
export async function ruvectorAttention(shape: RuvectorShape, q: Float32Array, k: Float32Array, v: Float32Array): Promise<RuvectorRunner> {
  const r = await loadRuvector();
  if ('error' in r) throw new Error(`${RUVECTOR_PACKAGE} is unavailable: ${r.error}`);
  const { batch: B, heads: H, seq: S, headDim: D } = shape;
  const n = B * H * S * D;
  for (const [name, x] of [['q', q], ['k', k], ['v', v]] as const) {
    if (x.length !== n) throw new RangeError(`ruvectorAttention: ${name} has ${x.length} elements, expected ${n} (B·H·S·D)`);
  }
  const fold = shape.scale === undefined ? 1 : shape.scale * Math.sqrt(D);
  const qs = fold === 1 ? q : q.map((x) => x * fold);
  const op = new r.ru.DotProductAttention(D);
  // row views, made once: the library copies what it is given on every call
  const rows = (x: Float32Array, base: number) => Array.from({ length: S }, (_, i) => x.subarray(base + i * D, base + (i + 1) * D));
  const heads = Array.from({ length: B * H }, (_, bh) => ({ q: rows(qs, bh * S * D), k: rows(k, bh * S * D), v: rows(v, bh * S * D) }));
  return {
    async run() {
      const out = new Float32Array(n);
      heads.forEach((h, bh) => {
        for (let i = 0; i < S; i++) {
          const keys = shape.causal ? h.k.slice(0, i + 1) : h.k;
          const values = shape.causal ? h.v.slice(0, i + 1) : h.v;
          out.set(op.compute(h.q[i], keys, values), (bh * S + i) * D);
        }
      });
      return out;
    },
  };
}
