// Compiled by test/types.test.ts against the package's published declarations (dist/*.d.ts,
// through the package's own name): every public function, used as a user would.
import {
  analyze,
  attention,
  attentionSync,
  clearMaskCache,
  compileMask,
  cuda,
  formatInfo,
  info,
  KVCache,
  linearAttention,
  linearAttentionSync,
  mergeAttention,
  NativeUnavailableError,
  parsePattern,
  patterns,
  PatternSyntaxError,
  renderMask,
  Tensor,
  toPattern,
  type Alignment,
  type Analysis,
  type AsyncOptions,
  type AttentionOptions,
  type AttentionWithKeyMass,
  type AttentionWithLse,
  type BlockMask,
  type CudaMemoryStats,
  type DType,
  type KVCacheOptions,
  type LinearAttentionWithState,
  type LinearState,
  type Pattern,
  type PolicyName,
  type SelectOptions,
} from 'attnflow';

export async function usage(): Promise<void> {
  const dtype: DType = 'bfloat16';
  const q = Tensor.randn([1, 8, 128, 64], { dtype, seed: 1 });
  const kv = Tensor.from(new Uint16Array(2 * 128 * 64), [1, 2, 128, 64], { dtype });
  const host: Float32Array = q.toFloat32();
  const shape: readonly number[] = q.shape;

  const options: AttentionOptions = { pattern: 'causal & sliding(32) | sink(4)', rope: { base: 10000, style: 'half' }, softcap: 30 };
  const either: Tensor | AttentionWithLse = await attention(q, kv, kv, options);
  const out: Tensor = await attention(q, kv, kv, { pattern: 'causal & sliding(32) | sink(4)', rope: { base: 10000, style: 'half' }, softcap: 30 });
  const sync: Tensor = attentionSync(q, kv, kv, { causal: true, alibi: true, layout: 'bhsd', backend: 'cpu' });
  const withLse: AttentionWithLse = await attention(q, kv, kv, { returnLse: true });
  const merged: { out: Tensor; lse: Tensor } = mergeAttention([withLse, attentionSync(q, kv, kv, { returnLse: true })]);

  const p: Pattern = patterns.union(patterns.intersect(patterns.causal(), patterns.sliding(64)), patterns.sink(4));
  const parsed: Pattern = parsePattern(p.toString());
  const again: Pattern = toPattern('longformer(64, 0)');
  const mask: BlockMask = compileMask(parsed, { seqQ: 128, seqK: 128, blockQ: 64, blockK: 64 });
  const rows: Int32Array = mask.rowPtr;
  clearMaskCache();
  const a: Analysis = analyze(again, { seqLen: 256, layers: 4 });
  const depth: number | null = a.fullDepth;
  const stacked: Analysis = analyze(['sliding(64)', 'sliding(64)', patterns.causal()], { seqLen: 256, layers: 6, sampleQueries: 16 });
  const worst: number[] = stacked.receptiveField.minCoverage;
  const saturation: number | null = stacked.saturationDepth;
  const svg: string = renderMask('log', { seqLen: 16, format: 'svg' });
  const text: string = formatInfo(info());
  const err: Error = new NativeUnavailableError('x');
  const syntax: SyntaxError = new PatternSyntaxError('causal &', 8, 'unexpected end', 'a pattern');
  // linear attention: a scan continued from its state
  const scan: LinearAttentionWithState = await linearAttention(q, kv, kv, { featureMap: 'elu1', decay: 0.95, returnState: true });
  const state: LinearState = scan.state;
  const next: Tensor = linearAttentionSync(q, kv, kv, { featureMap: { favor: 32, seed: 1 }, initialState: state, normalize: true, eps: 1e-6 });
  // cancellation of the async functions
  const controller = new AbortController();
  const cancellable: AsyncOptions = { signal: controller.signal };
  const aborted: Tensor = await attention(q, kv, kv, { causal: true, ...cancellable });
  const abortedScan: LinearAttentionWithState = await linearAttention(q, kv, kv, { returnState: true, signal: AbortSignal.timeout(1000) });
  void [aborted, abortedScan];

  // device tensors (guarded: a user's code runs on machines without a GPU too)
  if (cuda.isAvailable()) {
    const dq: Tensor = q.to('cuda:0');
    const stats: CudaMemoryStats = cuda.memoryStats('cuda:0');
    const back: Tensor = (await attention(dq, dq, dq, { causal: true })).to('cpu');
    dq.dispose();
    cuda.synchronize();
    cuda.emptyCache();
    const onDevice = new KVCache({ batch: 1, kvHeads: 2, headDim: 64, budget: 64, policy: 'window', device: 'cuda:0' });
    const x = Tensor.randn([1, 2, 1, 64], { seed: 1 }).to('cuda:0');
    const deviceOut: Tensor = await onDevice.attention(x, x, x, { select: { blocks: 2 } });
    const held: number = onDevice.deviceBytes;
    const where: string = onDevice.device;
    onDevice.dispose();
    void [deviceOut, held, where];
    void [stats, back];
  }
  const why: string | null = cuda.unavailableReason('cuda');
  const devices: number = cuda.deviceCount();
  void [scan, next, why, devices];

  void [host, shape, either, out, sync, merged, rows, depth, worst, saturation, svg, text, err, syntax];

  // a bounded KV cache, key masses, explicit positions, top-left alignment, selection
  const cache = new KVCache({ batch: 1, kvHeads: 2, headDim: 64, dtype, budget: 64, policy: 'h2o', sinks: 4, recent: 16 });
  const step: Tensor = await cache.attention(q, kv, kv, { rope: { base: 10000 } });
  const stepLse: AttentionWithLse = cache.attentionSync(q, kv, kv, { returnLse: true, select: { blocks: 4 } });
  const kept: Int32Array = cache.positions(0);
  const counts: number[] = [cache.seen, cache.length, cache.bytes];
  const options2: KVCacheOptions = { batch: 1, kvHeads: 2, headDim: 64, budget: [32, 48], policy: { type: 'streaming', sinks: 2 } };
  const policy: PolicyName = 'adaptive';
  const masses: AttentionWithKeyMass = await attention(q, kv, kv, { returnKeyMass: true, keyPositions: new Int32Array(128), alignment: 'bottom-right' });
  const km: Tensor = masses.keyMass;
  const topLeft: Tensor = attentionSync(q, kv, kv, { causal: true, alignment: 'top-left' as Alignment });
  const sel: SelectOptions = { blocks: 8, blockSize: 64 };
  void [step, stepLse, kept, counts, options2, policy, km, topLeft, sel];
  // @ts-expect-error the cache decides key positions
  await cache.attention(q, kv, kv, { keyPositions: new Int32Array(1) });

  // @ts-expect-error a pattern is a Pattern or a string
  await attention(q, kv, kv, { pattern: 42 });
  // @ts-expect-error the synchronous functions take no signal
  attentionSync(q, kv, kv, { signal: controller.signal });
  // @ts-expect-error dtypes are named
  Tensor.randn([2], { dtype: 'float64', seed: 1 });
}
