/**
 * Call records and arenas (native/wasm/calls.h). The module names each record's fields in memory
 * order (af_call_fields), so the index of a field is looked up by name here, never hard-coded.
 * An ArenaBuilder lays out one call: the record first, then every buffer it names, each at an
 * offset from the arena's start; what is copied in, what is copied back, and what starts zeroed.
 */

export type CallKind = 'attention' | 'linear';

export interface RecordLayout {
  /** field name → index of its 4-byte slot, and its type letter (U uint32, I int32, F float32) */
  readonly fields: ReadonlyMap<string, { index: number; type: 'U' | 'I' | 'F' }>;
  readonly count: number;
}

/** Parses "U arenaBytes I B …" as af_call_fields returns it. */
export function parseFields(text: string): RecordLayout {
  const words = text.trim().split(/\s+/);
  const fields = new Map<string, { index: number; type: 'U' | 'I' | 'F' }>();
  for (let i = 0; i + 1 < words.length; i += 2) {
    const type = words[i];
    if (type !== 'U' && type !== 'I' && type !== 'F') throw new Error(`wasm backend: bad field list from the module: ${text}`);
    fields.set(words[i + 1], { index: i / 2, type });
  }
  return { fields, count: fields.size };
}

const ALIGN = 64;

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** A typed array's bytes, without copying. */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export interface Arena {
  readonly kind: CallKind;
  readonly bytes: number;
  /** the record, to copy to the arena's start */
  readonly record: Uint8Array;
  /** copied in before the call */
  readonly inputs: readonly { offset: number; data: Uint8Array }[];
  /** copied back after the call (into `data`, where the arena has its destinations) */
  readonly outputs: readonly { offset: number; bytes: number; data?: Uint8Array }[];
  /** zero-filled before the call */
  readonly zeroed: readonly { offset: number; bytes: number }[];
  /** offset of one int32 work counter per phase (zeroed) */
  readonly counters: number;
  /** offset of the int32 cancel flag (zeroed; 1 stops the call at its next work item) */
  readonly cancel: number;
  /** indices each phase hands out (for attention: RoPE table columns, work items, split rows to merge) */
  readonly phases: readonly number[];
  /** the head dimension that sizes attention scratch */
  readonly headDim: number;
}

export class ArenaBuilder {
  private size: number;
  private readonly raw: ArrayBuffer;
  private readonly u32: Uint32Array;
  private readonly i32: Int32Array;
  private readonly f32: Float32Array;
  private readonly inputs: { offset: number; data: Uint8Array }[] = [];
  private readonly outputs: { offset: number; bytes: number; data: Uint8Array }[] = [];
  private readonly zeroed: { offset: number; bytes: number }[] = [];

  constructor(
    readonly kind: CallKind,
    private readonly layout: RecordLayout,
  ) {
    this.raw = new ArrayBuffer(layout.count * 4);
    this.u32 = new Uint32Array(this.raw);
    this.i32 = new Int32Array(this.raw);
    this.f32 = new Float32Array(this.raw);
    this.size = alignUp(layout.count * 4, ALIGN);
  }

  /** Sets a field of the record (int32, uint32 or float32, as the module declares it). */
  set(name: string, value: number | boolean): this {
    const f = this.layout.fields.get(name);
    if (!f) throw new Error(`wasm backend: the module's ${this.kind} record has no field ${name}`);
    const x = typeof value === 'boolean' ? Number(value) : value;
    if (f.type === 'F') this.f32[f.index] = x;
    else if (f.type === 'U') {
      if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new RangeError(`wasm backend: ${this.kind} field ${name} = ${x} is not a uint32`);
      this.u32[f.index] = x;
    } else {
      if (!Number.isInteger(x) || x < -(2 ** 31) || x > 2 ** 31 - 1) throw new RangeError(`wasm backend: ${this.kind} field ${name} = ${x} is not an int32`);
      this.i32[f.index] = x;
    }
    return this;
  }

  /** Reserves `bytes` in the arena (uninitialised); returns its offset. */
  reserve(bytes: number): number {
    const offset = this.size;
    this.size = alignUp(offset + Math.max(bytes, 1), ALIGN);
    if (this.size > 2 ** 32 - 2 ** 26) {
      throw new RangeError(`wasm backend: the call needs more than 4 GiB of WebAssembly memory (${this.size} bytes); use smaller inputs or the native backend`);
    }
    return offset;
  }

  /** A region copied in from `data`, named by fields `name` and `name + 'Bytes'`. */
  input(name: string, data: ArrayBufferView): number {
    const offset = this.reserve(data.byteLength);
    this.inputs.push({ offset, data: bytesOf(data) });
    this.set(name, offset).set(`${name}Bytes`, data.byteLength);
    return offset;
  }

  /** A region the call writes, copied back into `data` afterwards. */
  output(name: string, data: ArrayBufferView): number {
    const offset = this.reserve(data.byteLength);
    this.outputs.push({ offset, bytes: data.byteLength, data: bytesOf(data) });
    this.set(name, offset).set(`${name}Bytes`, data.byteLength);
    return offset;
  }

  /** A region the call reads and writes (uninitialised), named by `name` and `name + 'Bytes'`. */
  workspace(name: string, bytes: number): number {
    const offset = this.reserve(bytes);
    this.set(name, offset).set(`${name}Bytes`, bytes);
    return offset;
  }

  finish(phases: number[], headDim: number): Arena {
    const counters = this.reserve(4 * phases.length);
    this.zeroed.push({ offset: counters, bytes: 4 * phases.length });
    const cancel = this.reserve(4);
    this.zeroed.push({ offset: cancel, bytes: 4 });
    this.set('cancel', cancel);
    this.set('arenaBytes', this.size);
    return {
      kind: this.kind,
      bytes: this.size,
      record: new Uint8Array(this.raw),
      inputs: this.inputs,
      outputs: this.outputs,
      zeroed: this.zeroed,
      counters,
      cancel,
      phases,
      headDim,
    };
  }
}
