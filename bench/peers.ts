/**
 * The benchmark's peer harness: ONNX Runtime's MultiHeadAttention contrib op and an unfused
 * MatMul/Softmax graph (ort.ts, models written by onnx/), behind the interface the bench command
 * expects (lib/bench/peers.ts). Built with `npm run build:bench` into dist-bench/bench/peers.js,
 * where `attnflow bench` finds it at run time; never shipped in the npm package. It imports
 * nothing of attnflow at run time, so it serves any build of the bench command.
 */
import type { PeerHarness } from '../lib/bench/peers.js';
import { loadOrt, ortMatmulAttention, ortMha, ortVersion } from './ort.js';

export const harness: PeerHarness = {
  async load() {
    const r = await loadOrt();
    return 'error' in r ? r : { version: await ortVersion() };
  },
  mha: (shape, q, k, v, opts) => ortMha(shape, q, k, v, opts),
  matmulAttention: (shape, q, k, v, opts) => ortMatmulAttention(shape, q, k, v, opts),
};
