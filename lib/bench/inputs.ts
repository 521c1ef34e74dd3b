/**
 * Inputs of the benchmark cases: seeded random q, k, v (and out) per shape, with device copies and
 * the peers' float32 'bshd' buffers added when a case needs them, and released when no case left
 * needs that shape.
 */
import type { DType } from '../dtypes.js';
import { Tensor } from '../tensor.js';

export interface Inputs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  out: Tensor;
  /** device copies of q, k, v and out for the cuda backend (on cuda:0; once per shape) */
  device?: { q: Tensor; k: Tensor; v: Tensor; out: Tensor };
  /** float32 'bshd' copies for ORT MultiHeadAttention */
  qs?: Float32Array;
  ks?: Float32Array;
  vs?: Float32Array;
}

export function makeInputs(batch: number, heads: number, seq: number, headDim: number, dtype: DType, withBshd: boolean): Inputs {
  const shape = [batch, heads, seq, headDim];
  const q = Tensor.randn(shape, { dtype, seed: 1 });
  const k = Tensor.randn(shape, { dtype, seed: 2 });
  const v = Tensor.randn(shape, { dtype, seed: 3 });
  const out = Tensor.zeros(shape, { dtype });
  const inputs: Inputs = { q, k, v, out };
  if (withBshd) addBshd(inputs, batch, heads, seq, headDim);
  return inputs;
}

/** Adds device copies of the inputs (once). */
export function addDevice(inputs: Inputs): NonNullable<Inputs['device']> {
  inputs.device ??= { q: inputs.q.to('cuda'), k: inputs.k.to('cuda'), v: inputs.v.to('cuda'), out: inputs.out.to('cuda') };
  return inputs.device;
}

/** Frees the device copies of the inputs now rather than at garbage collection. */
export function releaseInputs(inputs: Inputs | undefined): void {
  const d = inputs?.device;
  if (d) for (const t of [d.q, d.k, d.v, d.out]) t.dispose();
}

/** Adds float32 [B, N, H·D] inputs for ORT MultiHeadAttention (once). */
export function addBshd(inputs: Inputs, batch: number, heads: number, seq: number, headDim: number): void {
  if (inputs.qs) return;
  const bshd = [batch, seq, heads, headDim];
  inputs.qs = Tensor.randn(bshd, { seed: 4, layout: 'bshd' }).data as Float32Array;
  inputs.ks = Tensor.randn(bshd, { seed: 5, layout: 'bshd' }).data as Float32Array;
  inputs.vs = Tensor.randn(bshd, { seed: 6, layout: 'bshd' }).data as Float32Array;
}

/** Inputs made once per shape key and released after the last case that needs them. */
export class InputCache {
  readonly #inputs = new Map<string, Inputs>();
  readonly #remaining = new Map<string, number>();

  /** Announces the cases that will ask for a shape. */
  expect(shapeKey: string): void {
    this.#remaining.set(shapeKey, (this.#remaining.get(shapeKey) ?? 0) + 1);
  }

  get(shapeKey: string, make: () => Inputs): Inputs {
    let inp = this.#inputs.get(shapeKey);
    if (!inp) {
      inp = make();
      this.#inputs.set(shapeKey, inp);
    }
    return inp;
  }

  /** One case that expected this shape is done (run or skipped). */
  done(shapeKey: string): void {
    const n = (this.#remaining.get(shapeKey) ?? 1) - 1;
    this.#remaining.set(shapeKey, n);
    if (n <= 0) {
      releaseInputs(this.#inputs.get(shapeKey));
      this.#inputs.delete(shapeKey);
    }
  }

  releaseAll(): void {
    for (const inp of this.#inputs.values()) releaseInputs(inp);
    this.#inputs.clear();
  }
}
