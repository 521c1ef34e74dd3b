/**
 * The layer-by-layer driver shared by the methods that advance every query's receptive field one
 * layer at a time (translation-invariant causal, interval, bit matrix), and the result they give.
 *
 * Saturation with a stack of m patterns (cycled over layers): the receptive fields after layer l
 * stop growing for good exactly when none of the next m layers grows any of them — those m layers
 * apply every pattern of the stack once, so every later layer finds the fields closed already.
 * The driver therefore runs up to m layers past `layers` when that is what decides the answer,
 * and stops as soon as m layers in a row leave everything unchanged (the rest is constant).
 */

/** Per-layer receptive-field statistics over a set of queries (all of them, or a sample). */
export interface FlowResult {
  /** |RF_l(T−1)| for l = 1..layers */
  last: number[];
  /** min over the queries of |RF_l(t)| */
  min: number[];
  /** min over the queries of |RF_l(t) ∩ [0, t]| / (t + 1) */
  minCoverage: number[];
  /** first l ≤ layers after which no receptive field of these queries grows any more, else null */
  saturationDepth: number | null;
  /** how many queries min, minCoverage and saturationDepth range over */
  queries: number;
}

/** A method that advances all receptive fields by one layer. */
export interface LayerStepper {
  /** applies stack entry `entry`; returns whether any receptive field grew */
  step(entry: number): boolean;
  /** statistics of the current receptive fields */
  record(): { last: number; min: number; minCoverage: number };
}

/** Runs `stepper` over `layers` layers of a stack of `period` entries (layer l uses entry (l−1) mod period). */
export function drive(stepper: LayerStepper, layers: number, period: number, queries: number): FlowResult {
  const last: number[] = [];
  const min: number[] = [];
  const minCoverage: number[] = [];
  let lastGrowth = 0;
  let quiet = 0; // layers in a row that grew nothing
  for (let l = 1; ; l++) {
    if (quiet >= period) {
      // closed under every pattern of the stack: constant from here on
      if (l <= layers) {
        const r = stepper.record();
        while (last.length < layers) {
          last.push(r.last);
          min.push(r.min);
          minCoverage.push(r.minCoverage);
        }
      }
      return { last, min, minCoverage, saturationDepth: lastGrowth <= layers ? lastGrowth : null, queries };
    }
    const grew = stepper.step((l - 1) % period);
    if (grew) {
      lastGrowth = l;
      quiet = 0;
      if (l > layers) return { last, min, minCoverage, saturationDepth: null, queries };
    } else quiet++;
    if (l <= layers) {
      const r = stepper.record();
      last.push(r.last);
      min.push(r.min);
      minCoverage.push(r.minCoverage);
    }
  }
}
