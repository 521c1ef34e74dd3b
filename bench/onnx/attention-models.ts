/**
 * The ONNX graphs that attnflow is compared with:
 *  - `mhaModel`: ONNX Runtime's fused `com.microsoft.MultiHeadAttention` contrib op on
 *    query/key/value of shape [B, S, H·D] (= attnflow's 'bshd' layout, no copy needed);
 *    causal via the op's `unidirectional` attribute.
 *  - `matmulAttentionModel`: the plain graph softmax(Q·Kᵀ·scale)·V on [B, H, S, D] (= 'bhsd'),
 *    materializing the [B, H, S, S] score matrix, as an unfused framework would.
 *  - `matmulModel`: one [M, K]·[K, N] float32 MatMul, an sgemm throughput probe.
 *  - `gqaDecodeModel`: ONNX Runtime's `com.microsoft.GroupQueryAttention` for one decoding step:
 *    new query/key/value [B, 1, H·D] and a BNSH KV cache (past_key/past_value).
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

function f32(name: string, shape: readonly (number | string)[]) {
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

export interface GqaDecodeShape {
  batch: number;
  /** query heads */
  heads: number;
  kvHeads: number;
  headDim: number;
  /** cache length the past tensors are declared with: the keys before this step, or with a shared cache, its capacity */
  pastSeq: number;
}

/**
 * com.microsoft.GroupQueryAttention, one decoding step: query [B, 1, Hq·D], key/value [B, 1, Hkv·D],
 * past_key/past_value [B, Hkv, pastSeq, D] (BNSH), seqlens_k [B] int32 (keys in the cache after this
 * step, minus one), total_sequence_length [1] int32; outputs the attention [B, 1, Hq·D] and the
 * present cache [B, Hkv, ·, D]. The op is causal (the new query sees every cached key and itself).
 */
export function gqaDecodeModel(s: GqaDecodeShape): Uint8Array {
  const q = [s.batch, 1, s.heads * s.headDim];
  const kv = [s.batch, 1, s.kvHeads * s.headDim];
  const past = [s.batch, s.kvHeads, s.pastSeq, s.headDim];
  const present = [s.batch, s.kvHeads, 'present', s.headDim];
  return encodeModel({
    opsets: { '': OPSET, 'com.microsoft': 1 },
    graph: {
      name: 'gqa_decode',
      nodes: [
        {
          opType: 'GroupQueryAttention',
          domain: 'com.microsoft',
          name: 'gqa',
          inputs: ['query', 'key', 'value', 'past_key', 'past_value', 'seqlens_k', 'total_sequence_length'],
          outputs: ['output', 'present_key', 'present_value'],
          attributes: { num_heads: { int: s.heads }, kv_num_heads: { int: s.kvHeads } },
        },
      ],
      inputs: [
        f32('query', q),
        f32('key', kv),
        f32('value', kv),
        f32('past_key', past),
        f32('past_value', past),
        { name: 'seqlens_k', elemType: DataType.INT32, shape: [s.batch] },
        { name: 'total_sequence_length', elemType: DataType.INT32, shape: [1] },
      ],
      outputs: [f32('output', q), f32('present_key', present), f32('present_value', present)],
    },
  });
}
