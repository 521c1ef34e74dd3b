/** Small argument helpers shared by the bench CLI and scripts. */
import type { DType } from '../dtypes.js';

/** Splits on `sep`, trims, drops empty items. */
export function parseList(v: string, sep: string): string[] {
  return v
    .split(sep)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function isDTypeName(s: string): s is DType {
  return s === 'float32' || s === 'float16' || s === 'bfloat16';
}
