/**
 * The call each backend makes for one case, ready to time: attnflow's backends through
 * attention() with a preallocated out (the pattern parsed once, so steady-state calls hit the
 * mask cache), the peers through their harness on the same values.
 */
import { attention, attentionSync } from '../attention/run.js';
import type { DType } from '../dtypes.js';
import type { Pattern } from '../patterns/pattern.js';
import type { BackendId } from './config.js';
import { addBshd, addDevice, type Inputs } from './inputs.js';
import type { PeerHarness, PeerRunner } from './peers.js';

export interface CallSpec {
  backend: BackendId;
  pattern: Pattern;
  canonical: string;
  batch: number;
  heads: number;
  seq: number;
  headDim: number;
  dtype: DType;
}

export interface PreparedCall {
  fn: () => unknown;
  /** frees what the call holds beyond its inputs (a peer's session) */
  release(): Promise<void>;
}

export interface CallContext {
  /** the peers' harness with its runtime loaded, or null */
  peers: PeerHarness | null;
  /** the peers' intra-op threads */
  peerThreads: number;
}

const nothing = async (): Promise<void> => undefined;

function peerCall(runner: PeerRunner): PreparedCall {
  return { fn: () => runner.run(), release: () => runner.release().catch(() => undefined) };
}

/** The call of `spec` on `x`, ready to time. */
export async function prepareCall(spec: CallSpec, x: Inputs, ctx: CallContext): Promise<PreparedCall> {
  const { backend, pattern } = spec;
  if (backend === 'cpu') return { fn: () => attention(x.q, x.k, x.v, { pattern, backend: 'cpu', out: x.out }), release: nothing };
  if (backend === 'cuda') {
    // Resolves once the kernel has finished (the worker waits on the stream): wall time per call.
    const d = addDevice(x);
    return { fn: () => attention(d.q, d.k, d.v, { pattern, backend: 'cuda', out: d.out }), release: nothing };
  }
  if (backend === 'reference') return { fn: () => attentionSync(x.q, x.k, x.v, { pattern, backend: 'reference', out: x.out }), release: nothing };
  if (ctx.peers === null) throw new Error(`${backend}: the peer harness is not loaded`);
  const shape = { batch: spec.batch, heads: spec.heads, seq: spec.seq, headDim: spec.headDim };
  const opts = { threads: ctx.peerThreads };
  if (backend === 'ort-mha') {
    addBshd(x, spec.batch, spec.heads, spec.seq, spec.headDim);
    return peerCall(await ctx.peers.mha({ ...shape, causal: spec.canonical === 'causal' }, x.qs!, x.ks!, x.vs!, opts));
  }
  return peerCall(await ctx.peers.matmulAttention(shape, x.q.data as Float32Array, x.k.data as Float32Array, x.v.data as Float32Array, opts));
}
