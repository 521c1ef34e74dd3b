/**
 * Peers: other libraries timed on the same cases (ONNX Runtime's MultiHeadAttention contrib op and
 * an unfused MatMul/Softmax graph). Their harness (bench/peers.ts, with the ONNX model writers) is
 * a development tool of the repository, not part of the npm package: the bench command finds its
 * compiled form at run time, and the harness loads onnxruntime-node, an optional package, itself.
 * Where either is missing, the peers are skipped with a reason that says how to add them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../native/load.js';

export interface PeerShape {
  batch: number;
  heads: number;
  seq: number;
  headDim: number;
}

/** A peer's session on bound inputs. */
export interface PeerRunner {
  /** runs the model once */
  run(): Promise<unknown>;
  release(): Promise<void>;
}

export interface PeerOptions {
  /** intra-op threads (default: the peer's own choice) */
  threads?: number;
}

/** What bench/peers.ts exports as `harness`. */
export interface PeerHarness {
  /** The peer runtime's version, or why it is unavailable (naming the command that adds it). */
  load(): Promise<{ version: string | null } | { error: string }>;
  /** MultiHeadAttention on float32 [B, N, H·D] q, k, v (attnflow's 'bshd' layout). */
  mha(shape: PeerShape & { causal: boolean }, q: Float32Array, k: Float32Array, v: Float32Array, opts: PeerOptions): Promise<PeerRunner>;
  /** The unfused MatMul/Softmax graph on float32 [B, H, N, D] q, k, v ('bhsd'). */
  matmulAttention(shape: PeerShape, q: Float32Array, k: Float32Array, v: Float32Array, opts: PeerOptions): Promise<PeerRunner>;
}

/** Finds and loads the peer harness, or says why it cannot. */
export type PeerLoader = () => Promise<PeerHarness | { error: string }>;

/** Where `npm run build:bench` puts the compiled harness in a clone of the repository. */
export function peerHarnessPath(): string {
  return join(packageRoot, 'dist-bench', 'bench', 'peers.js');
}

/** Whether the compiled harness is there (a development checkout after `npm run build:bench`). */
export function peerHarnessBuilt(): boolean {
  return existsSync(peerHarnessPath());
}

export const HARNESS_MISSING =
  'the ONNX Runtime peers run through a development harness that the npm package does not ship: ' +
  'in a clone of the attnflow repository, `npm run build:bench` builds it and `npm install --no-save --ignore-scripts onnxruntime-node@^1.30` adds the runtime';

/** Loads the compiled harness from peerHarnessPath(). */
export const loadPeerHarness: PeerLoader = async () => {
  const path = peerHarnessPath();
  if (!existsSync(path)) return { error: HARNESS_MISSING };
  try {
    const m = (await import(pathToFileURL(path).href)) as { harness?: PeerHarness };
    if (typeof m.harness?.load !== 'function') return { error: `${path} does not export a peer harness` };
    return m.harness;
  } catch (e) {
    return { error: `the peer harness at ${path} does not load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
};

/** The harness with its runtime loaded and the runtime's version, or why the peers cannot run. */
export async function openPeers(loader: PeerLoader): Promise<{ harness: PeerHarness; version: string | null } | { error: string }> {
  const harness = await loader();
  if ('error' in harness) return harness;
  const runtime = await harness.load();
  if ('error' in runtime) return runtime;
  return { harness, version: runtime.version };
}
