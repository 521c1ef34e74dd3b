/**
 * Element types and their conversions. 16-bit values are held as raw bits in a Uint16Array;
 * every conversion to a narrower type rounds to nearest, ties to even, as the hardware does.
 */

export type DType = 'float32' | 'float16' | 'bfloat16';

export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'float16' || x === 'bfloat16';
}

/** Bytes per element. */
export function dtypeSize(dtype: DType): number {
  return dtype === 'float32' ? 4 : 2;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Rounds a float64 to float32 with "round to odd": the result is exact or has an odd mantissa.
 * Rounding that result once more to a format with at least two fewer mantissa bits gives the
 * correctly rounded value, which a plain float64 → float32 → float16 chain does not always do.
 */
function float32BitsRoundToOdd(x: number): number {
  f32[0] = x;
  const r = f32[0];
  let bits = u32[0];
  if (r !== x && r === r && Number.isFinite(r) && (bits & 1) === 0) {
    // Inexact with an even mantissa: step one ulp towards x.
    bits += Math.abs(r) < Math.abs(x) ? 1 : -1;
  }
  return bits >>> 0;
}

/** float32/float64 value → float16 bits, round to nearest even. */
export function float32ToFloat16Bits(x: number): number {
  const b = float32BitsRoundToOdd(x);
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return mant ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00;
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent, up to infinity.
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/** float32/float64 value → bfloat16 bits, round to nearest even; NaN stays a quiet NaN. */
export function float32ToBfloat16Bits(x: number): number {
  const b = float32BitsRoundToOdd(x);
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) & 0x8000) | 0x7fc0;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | undefined;

function float16Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) t[h] = mant ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  f16Table = t;
  return t;
}

/** float16 bits → value (exact). */
export function float16BitsToFloat32(h: number): number {
  return float16Table()[h & 0xffff];
}

/** bfloat16 bits → value (exact). */
export function bfloat16BitsToFloat32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

/** Encodes numbers into a 16-bit dtype's bits. */
export function encode16(src: ArrayLike<number>, dtype: 'float16' | 'bfloat16', out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const conv = dtype === 'float16' ? float32ToFloat16Bits : float32ToBfloat16Bits;
  for (let i = 0; i < src.length; i++) out[i] = conv(src[i]);
  return out;
}

/** Decodes a 16-bit dtype's bits into float32 values. */
export function decode16(bits: Uint16Array, dtype: 'float16' | 'bfloat16', out: Float32Array = new Float32Array(bits.length)): Float32Array {
  if (dtype === 'float16') {
    const t = float16Table();
    for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  } else {
    const o32 = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < bits.length; i++) o32[i] = bits[i] << 16;
  }
  return out;
}

/** Reads element i of storage of any dtype as a number. */
export function elementReader(data: Float32Array | Uint16Array, dtype: DType): (i: number) => number {
  if (dtype === 'float32') {
    const d = data as Float32Array;
    return (i) => d[i];
  }
  const d = data as Uint16Array;
  if (dtype === 'float16') {
    const t = float16Table();
    return (i) => t[d[i]];
  }
  return (i) => bfloat16BitsToFloat32(d[i]);
}

/** Rounds a value to what the dtype can hold (the value a store then a load would give). */
export function roundToDType(x: number, dtype: DType): number {
  if (dtype === 'float32') return Math.fround(x);
  if (dtype === 'float16') return float16BitsToFloat32(float32ToFloat16Bits(x));
  return bfloat16BitsToFloat32(float32ToBfloat16Bits(x));
}
