/**
 * ONNX Runtime (onnxruntime-node, an optional package) as a benchmark peer. Loaded lazily: where
 * it is not installed or its binary does not load, `loadOrt()` says why (naming the command that
 * adds it) and the peers are skipped.
 */
import { gqaDecodeModel, matmulAttentionModel, matmulModel, mhaModel, type AttentionShape } from './onnx/index.js';

/**
 * The part of onnxruntime-node's API used here, typed locally so that the harness builds whether
 * or not the optional package is installed.
 */
interface OrtTensor {
  readonly data: unknown;
}
interface OrtSession {
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
  Tensor: {
    new (type: 'float32', data: Float32Array, dims: readonly number[]): OrtTensor;
    new (type: 'int32', data: Int32Array, dims: readonly number[]): OrtTensor;
  };
  env: { versions?: { node?: string; common?: string } };
}

let cached: Promise<{ ort: OrtModule } | { error: string }> | undefined;

/** onnxruntime-node, or the reason it is unavailable. */
export function loadOrt(): Promise<{ ort: OrtModule } | { error: string }> {
  // a variable specifier: the optional package needs no type declarations to build
  const name = 'onnxruntime-node';
  cached ??= (import(name) as Promise<unknown>).then(
    (m) => {
      // ESM/CJS interop: the namespace may carry the API on `default`
      const ort = ((m as unknown as { InferenceSession?: unknown }).InferenceSession ? m : (m as unknown as { default: OrtModule }).default) as OrtModule;
      return { ort };
    },
    (e: unknown) => ({ error: ortLoadError(e) }),
  );
  return cached;
}

/** Why onnxruntime-node did not load: not installed (and the command that adds it), or its own error. */
export function ortLoadError(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes("'onnxruntime-node'")) {
    return 'onnxruntime-node is not installed; add it with: npm install --no-save --ignore-scripts onnxruntime-node@^1.30';
  }
  return `onnxruntime-node does not load: ${message}`;
}

/** The onnxruntime-node version, or null. */
export async function ortVersion(): Promise<string | null> {
  const r = await loadOrt();
  if ('error' in r) return null;
  return r.ort.env.versions?.node ?? r.ort.env.versions?.common ?? null;
}

export interface OrtRunner {
  /** runs the model once on the bound inputs; resolves to the first output's data */
  run(): Promise<Float32Array>;
  release(): Promise<void>;
}

export interface OrtSessionOptions {
  /** intra-op threads (default: ORT's own choice, the physical cores) */
  threads?: number;
}

async function session(model: Uint8Array, opts: OrtSessionOptions): Promise<{ ort: OrtModule; s: OrtSession }> {
  const r = await loadOrt();
  if ('error' in r) throw new Error(`onnxruntime-node is unavailable: ${r.error}`);
  const s = await r.ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    interOpNumThreads: 1,
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
    logSeverityLevel: 3,
  });
  return { ort: r.ort, s };
}

function runner(ort: OrtModule, s: OrtSession, feeds: Record<string, { data: Float32Array; dims: number[] }>): OrtRunner {
  const tensors: Record<string, OrtTensor> = {};
  for (const [k, v] of Object.entries(feeds)) tensors[k] = new ort.Tensor('float32', v.data, v.dims);
  const outName = s.outputNames[0];
  return {
    async run() {
      const out = await s.run(tensors);
      return out[outName].data as Float32Array;
    },
    release: () => s.release(),
  };
}

/**
 * ORT MultiHeadAttention on q, k, v given as float32 [B, S, H·D] buffers (attnflow's 'bshd'
 * layout), output [B, S, H·D].
 */
export async function ortMha(
  shape: AttentionShape & { causal?: boolean },
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  opts: OrtSessionOptions = {},
): Promise<OrtRunner> {
  const { ort, s } = await session(mhaModel(shape), opts);
  const dims = [shape.batch, shape.seq, shape.heads * shape.headDim];
  return runner(ort, s, { query: { data: q, dims }, key: { data: k, dims }, value: { data: v, dims } });
}

/** The unfused MatMul/Softmax graph on float32 [B, H, S, D] buffers ('bhsd'), output [B, H, S, D]. */
export async function ortMatmulAttention(shape: AttentionShape, q: Float32Array, k: Float32Array, v: Float32Array, opts: OrtSessionOptions = {}): Promise<OrtRunner> {
  const { ort, s } = await session(matmulAttentionModel(shape), opts);
  const dims = [shape.batch, shape.heads, shape.seq, shape.headDim];
  return runner(ort, s, { q: { data: q, dims }, k: { data: k, dims }, v: { data: v, dims } });
}

/** A float32 [n, n]·[n, n] MatMul on fresh inputs (2·n³ FLOPs per run). */
export async function ortSgemm(n: number, opts: OrtSessionOptions = {}): Promise<OrtRunner> {
  const { ort, s } = await session(matmulModel(n, n, n), opts);
  const a = new Float32Array(n * n);
  const b = new Float32Array(n * n);
  for (let i = 0; i < a.length; i++) {
    a[i] = ((i * 7919) % 1000) / 1000 - 0.5;
    b[i] = ((i * 104729) % 1000) / 1000 - 0.5;
  }
  return runner(ort, s, { a: { data: a, dims: [n, n] }, b: { data: b, dims: [n, n] } });
}

/**
 * ORT GroupQueryAttention for one decoding step against a cache of `keys` keys (the last one is the
 * step's own key/value, the rest come from the cache). q [B, 1, Hq·D], cache k/v [B, Hkv, keys, D]
 * (BNSH, attnflow's 'bhsd'): the op reads the first keys − 1 rows as past_key/past_value and
 * appends the new row, writing present_key/present_value (a copy of the cache: ORT's cost of a
 * step when the cache buffers are not shared). Output [B, 1, Hq·D].
 */
export async function ortGqaDecode(
  shape: { batch: number; heads: number; kvHeads: number; headDim: number; keys: number },
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  opts: OrtSessionOptions = {},
): Promise<OrtRunner> {
  const { batch: B, heads, kvHeads: Hkv, headDim: D, keys } = shape;
  const past = keys - 1;
  const { ort, s } = await session(gqaDecodeModel({ batch: B, heads, kvHeads: Hkv, headDim: D, pastSeq: past }), opts);
  const pastK = new Float32Array(B * Hkv * past * D);
  const pastV = new Float32Array(pastK.length);
  const newK = new Float32Array(B * Hkv * D);
  const newV = new Float32Array(newK.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hkv; h++) {
      const src = (b * Hkv + h) * keys * D;
      const dst = (b * Hkv + h) * past * D;
      pastK.set(k.subarray(src, src + past * D), dst);
      pastV.set(v.subarray(src, src + past * D), dst);
      newK.set(k.subarray(src + past * D, src + keys * D), (b * Hkv + h) * D);
      newV.set(v.subarray(src + past * D, src + keys * D), (b * Hkv + h) * D);
    }
  const tensors = {
    query: new ort.Tensor('float32', q, [B, 1, heads * D]),
    key: new ort.Tensor('float32', newK, [B, 1, Hkv * D]),
    value: new ort.Tensor('float32', newV, [B, 1, Hkv * D]),
    past_key: new ort.Tensor('float32', pastK, [B, Hkv, past, D]),
    past_value: new ort.Tensor('float32', pastV, [B, Hkv, past, D]),
    seqlens_k: new ort.Tensor('int32', new Int32Array(B).fill(keys - 1), [B]),
    total_sequence_length: new ort.Tensor('int32', new Int32Array([keys]), [1]),
  };
  return {
    async run() {
      const out = await s.run(tensors);
      return out.output.data as Float32Array;
    },
    release: () => s.release(),
  };
}
