/**
 * ONNX ModelProto encoding on top of the protobuf writer: the handful of messages a small
 * inference graph needs (ModelProto, OperatorSetIdProto, GraphProto, NodeProto, AttributeProto,
 * ValueInfoProto with tensor types and fixed shapes, TensorProto initializers).
 *
 * Field numbers follow onnx/onnx.proto (IR version 3 and later; stable since).
 */
import { ProtoWriter, littleEndianBytes } from './protobuf.js';

/** TensorProto.DataType values used here. */
export const DataType = {
  FLOAT: 1,
  INT32: 6,
  INT64: 7,
  FLOAT16: 10,
  BFLOAT16: 16,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values used here. */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** A constant tensor (graph initializer or TENSOR attribute). */
export type TensorValue =
  | { name?: string; dataType: typeof DataType.FLOAT; dims: readonly number[]; data: Float32Array }
  | { name?: string; dataType: typeof DataType.INT64; dims: readonly number[]; data: BigInt64Array | readonly number[] }
  | { name?: string; dataType: typeof DataType.INT32; dims: readonly number[]; data: Int32Array };

/** A node attribute; the type is inferred from the JS value unless given. */
export type AttributeValue =
  | number
  | string
  | { float: number }
  | { int: number }
  | { floats: readonly number[] }
  | { ints: readonly number[] }
  | { tensor: TensorValue };

export interface NodeSpec {
  opType: string;
  /** '' (default) for the standard ONNX domain, 'com.microsoft' for contrib ops */
  domain?: string;
  name?: string;
  /** input value names; '' marks an omitted optional input */
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, AttributeValue>>;
}

export interface ValueInfoSpec {
  name: string;
  elemType: DataType;
  /** fixed dimensions (a string is a symbolic dim_param) */
  shape: readonly (number | string)[];
}

export interface GraphSpec {
  name: string;
  nodes: readonly NodeSpec[];
  inputs: readonly ValueInfoSpec[];
  outputs: readonly ValueInfoSpec[];
  initializers?: readonly (TensorValue & { name: string })[];
}

export interface ModelSpec {
  /** default 8 (ONNX 1.10+), understood by every ONNX Runtime 1.x of the last years */
  irVersion?: number;
  /** operator sets, e.g. { '': 17, 'com.microsoft': 1 } */
  opsets: Readonly<Record<string, number>>;
  producerName?: string;
  producerVersion?: string;
  graph: GraphSpec;
}

function writeTensor(w: ProtoWriter, t: TensorValue): void {
  w.packedInts(1, t.dims); // dims
  w.int(2, t.dataType); // data_type
  if (t.name !== undefined) w.string(8, t.name); // name
  let raw: Uint8Array;
  if (t.dataType === DataType.INT64) {
    const d = t.data instanceof BigInt64Array ? t.data : BigInt64Array.from(t.data, (x) => BigInt(x));
    raw = littleEndianBytes(d);
  } else {
    raw = littleEndianBytes(t.data);
  }
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (raw.length !== count * (t.dataType === DataType.INT64 ? 8 : 4)) {
    throw new RangeError(`onnx tensor ${t.name ?? ''}: ${raw.length} bytes do not match dims [${t.dims.join(', ')}]`);
  }
  w.bytes(9, raw); // raw_data
}

function writeAttribute(w: ProtoWriter, name: string, v: AttributeValue): void {
  w.string(1, name);
  if (typeof v === 'number') v = Number.isInteger(v) ? { int: v } : { float: v };
  if (typeof v === 'string') {
    w.string(4, v).int(20, AttrType.STRING);
  } else if ('float' in v) {
    w.float(2, v.float).int(20, AttrType.FLOAT);
  } else if ('int' in v) {
    w.int(3, v.int).int(20, AttrType.INT);
  } else if ('floats' in v) {
    w.packedFloats(7, v.floats).int(20, AttrType.FLOATS);
  } else if ('ints' in v) {
    w.packedInts(8, v.ints).int(20, AttrType.INTS);
  } else {
    const t = v.tensor;
    w.message(5, (m) => writeTensor(m, t)).int(20, AttrType.TENSOR);
  }
}

function writeNode(w: ProtoWriter, n: NodeSpec): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, (a) => writeAttribute(a, k, v));
  if (n.domain) w.string(7, n.domain);
}

function writeValueInfo(w: ProtoWriter, v: ValueInfoSpec): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    // TypeProto.tensor_type
    type.message(1, (tt) => {
      tt.int(1, v.elemType); // elem_type
      tt.message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

function writeGraph(w: ProtoWriter, g: GraphSpec): void {
  for (const n of g.nodes) w.message(1, (m) => writeNode(m, n));
  w.string(2, g.name);
  for (const t of g.initializers ?? []) w.message(5, (m) => writeTensor(m, t));
  for (const i of g.inputs) w.message(11, (m) => writeValueInfo(m, i));
  for (const o of g.outputs) w.message(12, (m) => writeValueInfo(m, o));
}

/** Serializes a ModelProto. */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, spec.irVersion ?? 8); // ir_version
  w.string(2, spec.producerName ?? 'attnflow-bench'); // producer_name
  if (spec.producerVersion) w.string(3, spec.producerVersion);
  w.message(7, (g) => writeGraph(g, spec.graph)); // graph
  for (const [domain, version] of Object.entries(spec.opsets)) {
    w.message(8, (o) => {
      if (domain) o.string(1, domain);
      o.int(2, version);
    });
  }
  return w.finish();
}
