/**
 * The ONNX graphs that attnflow is compared with:
 *  - `mhaModel`: ONNX Runtime's fused `com.microsoft.MultiHeadAttention` contrib op on
 *    query/key/value of shape [B, S, H·D] (= attnflow's 'bshd' layout, no copy needed);
 *    causal via the op's `unidirectional` attribute.
 *  - `matmulAttentionModel`: the plain graph softmax(Q·Kᵀ·scale)·V on [B, H, S, D] (= 'bhsd'),
 *    materializing the [B, H, S, S] score matrix, as an unfused framework would.
 *  - `matmulModel`: one [M, K]·[K, N] float32 MatMul, an sgemm throughput probe.
 */
import { DataType, encodeModel } from './model.js';

export interface AttentionShape {
  batch: number;
  heads: number;
  seq: number;
  headDim: number;
  /** default 1/sqrt(headDim) */
  scale?: number;
}

const OPSET = 17;

function f32(name: string, shape: readonly number[]) {
  return { name, elemType: DataType.FLOAT, shape };
}

/** com.microsoft.MultiHeadAttention: inputs query, key, value [B, S, H·D]; output [B, S, H·D]. */
export function mhaModel(s: AttentionShape & { causal?: boolean }): Uint8Array {
  const hidden = s.heads * s.headDim;
  const io = [s.batch, s.seq, hidden];
  const attributes: Record<string, { int: number } | { float: number }> = { num_heads: { int: s.heads } };
  if (s.scale !== undefined) attributes.scale = { float: s.scale };
  if (s.causal) attributes.unidirectional = { int: 1 };
  return encodeModel({
    opsets: { '': OPSET, 'com.microsoft': 1 },
    graph: {
      name: 'mha',
      nodes: [{ opType: 'MultiHeadAttention', domain: 'com.microsoft', name: 'mha', inputs: ['query', 'key', 'value'], outputs: ['output'], attributes }],
      inputs: [f32('query', io), f32('key', io), f32('value', io)],
      outputs: [f32('output', io)],
    },
  });
}

/** Transpose(K) → MatMul(Q, Kᵀ) → Mul(scale) → Softmax(-1) → MatMul(·, V), all on [B, H, S, D]. */
export function matmulAttentionModel(s: AttentionShape): Uint8Array {
  const shape = [s.batch, s.heads, s.seq, s.headDim];
  const scale = s.scale ?? 1 / Math.sqrt(s.headDim);
  return encodeModel({
    opsets: { '': OPSET },
    graph: {
      name: 'matmul_attention',
      nodes: [
        { opType: 'Transpose', inputs: ['k'], outputs: ['kt'], attributes: { perm: { ints: [0, 1, 3, 2] } } },
        { opType: 'MatMul', inputs: ['q', 'kt'], outputs: ['scores'] },
        { opType: 'Mul', inputs: ['scores', 'scale'], outputs: ['scaled'] },
        { opType: 'Softmax', inputs: ['scaled'], outputs: ['probs'], attributes: { axis: { int: -1 } } },
        { opType: 'MatMul', inputs: ['probs', 'v'], outputs: ['out'] },
      ],
      initializers: [{ name: 'scale', dataType: DataType.FLOAT, dims: [], data: new Float32Array([scale]) }],
      inputs: [f32('q', shape), f32('k', shape), f32('v', shape)],
      outputs: [f32('out', shape)],
    },
  });
}

/** C = A·B with A [m, k], B [k, n] float32. */
export function matmulModel(m: number, k: number, n: number): Uint8Array {
  return encodeModel({
    opsets: { '': OPSET },
    graph: {
      name: 'sgemm',
      nodes: [{ opType: 'MatMul', inputs: ['a', 'b'], outputs: ['c'] }],
      inputs: [f32('a', [m, k]), f32('b', [k, n])],
      outputs: [f32('c', [m, n])],
    },
  });
}
