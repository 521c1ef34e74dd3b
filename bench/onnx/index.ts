/** A tiny ONNX writer (no onnx library needed) and the peer models the benchmarks run. */
export { ProtoWriter, littleEndianBytes } from './protobuf.js';
export { DataType, encodeModel } from './model.js';
export type { AttributeValue, GraphSpec, ModelSpec, NodeSpec, TensorValue, ValueInfoSpec } from './model.js';
export { gqaDecodeModel, mhaModel, matmulAttentionModel, matmulModel } from './attention-models.js';
export type { AttentionShape, GqaDecodeShape } from './attention-models.js';
