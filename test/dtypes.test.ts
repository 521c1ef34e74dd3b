import { describe, it, expect } from 'vitest';
import {
  DTYPES,
  isDType,
  dtypeSize,
  float32ToFloat16Bits,
  float32ToBfloat16Bits,
  float16BitsToFloat32,
  bfloat16BitsToFloat32,
  encode16,
  decode16,
  elementReader,
  roundToDType,
} from '../lib/dtypes.js';

// ---------------------------------------------------------------------------------------------
// An independent, slow reference: exact arithmetic on BigInts.
// Every finite double is an integer multiple of 2^-1074, so |x|·2^1074 is an exact BigInt, and so
// is every float16/bfloat16 value. Positive 16-bit patterns 0 … inf are ordered like their values;
// the infinity pattern stands for 2^(emax+1) — the value IEEE 754 rounds against for overflow.
// ---------------------------------------------------------------------------------------------

interface Fmt {
  name: 'float16' | 'bfloat16';
  mantBits: number;
  bias: number;
  infBits: number;
}
const F16: Fmt = { name: 'float16', mantBits: 10, bias: 15, infBits: 0x7c00 };
const BF16: Fmt = { name: 'bfloat16', mantBits: 7, bias: 127, infBits: 0x7f80 };

const dv = new DataView(new ArrayBuffer(8));

function doubleBits(x: number): bigint {
  dv.setFloat64(0, x);
  return dv.getBigUint64(0);
}
function bitsToDouble(b: bigint): number {
  dv.setBigUint64(0, BigInt.asUintN(64, b));
  return dv.getFloat64(0);
}

/** |x| · 2^1074, exactly (x finite). */
function scaled(x: number): bigint {
  const b = doubleBits(Math.abs(x));
  const e = Number(b >> 52n);
  const m = b & ((1n << 52n) - 1n);
  if (e === 0) return m;
  return (m | (1n << 52n)) << BigInt(e - 1);
}

/** Value of a positive 16-bit pattern (0 … infBits) · 2^1074, exactly. */
function patternScaled(bits: number, f: Fmt): bigint {
  const exp = bits >>> f.mantBits;
  const mant = bits & ((1 << f.mantBits) - 1);
  if (exp === 0) return BigInt(mant) << BigInt(1074 + 1 - f.bias - f.mantBits);
  return BigInt((1 << f.mantBits) + mant) << BigInt(exp - f.bias - f.mantBits + 1074);
}

/** Correctly rounded (nearest, ties to even) 16-bit pattern of x; 'nan' for NaN. */
function refBits(x: number, f: Fmt): number | 'nan' {
  if (Number.isNaN(x)) return 'nan';
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  if (!Number.isFinite(x)) return sign | f.infBits;
  const X = scaled(x);
  // Largest pattern whose value is ≤ X.
  let lo = 0;
  let hi = f.infBits;
  if (X >= patternScaled(hi, f)) return sign | f.infBits;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (patternScaled(mid, f) <= X) lo = mid;
    else hi = mid;
  }
  const vlo = patternScaled(lo, f);
  if (vlo === X) return sign | lo;
  const dlo = X - vlo;
  const dhi = patternScaled(lo + 1, f) - X;
  if (dlo < dhi) return sign | lo;
  if (dhi < dlo) return sign | (lo + 1);
  return sign | (lo % 2 === 0 ? lo : lo + 1);
}

/** Value of a 16-bit pattern computed independently of lib/dtypes.ts. */
function refValue(bits: number, f: Fmt): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const b = bits & 0x7fff;
  const exp = b >>> f.mantBits;
  const mant = b & ((1 << f.mantBits) - 1);
  const expMax = f.infBits >>> f.mantBits;
  if (exp === expMax) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** (1 - f.bias - f.mantBits);
  return sign * (1 + mant / 2 ** f.mantBits) * 2 ** (exp - f.bias);
}

const enc = (f: Fmt) => (f === F16 ? float32ToFloat16Bits : float32ToBfloat16Bits);
const dec = (f: Fmt) => (f === F16 ? float16BitsToFloat32 : bfloat16BitsToFloat32);

function isNaNBits(bits: number, f: Fmt): boolean {
  return (bits & f.infBits) === f.infBits && (bits & ((1 << f.mantBits) - 1)) !== 0;
}
function isQuietNaNBits(bits: number, f: Fmt): boolean {
  return isNaNBits(bits, f) && (bits & (1 << (f.mantBits - 1))) !== 0;
}

const hex = (b: number) => '0x' + b.toString(16).padStart(4, '0');

/** Small deterministic PRNG local to this file (mulberry32), independent of lib/rng.ts. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function expectBits(got: number, want: number, x: number) {
  if (got !== want) {
    throw new Error(`x = ${x} (bits ${doubleBits(x).toString(16)}): expected ${hex(want)}, got ${hex(got)}`);
  }
}

// ---------------------------------------------------------------------------------------------

describe('dtype helpers', () => {
  it('lists dtypes and sizes', () => {
    expect(DTYPES).toEqual(['float32', 'float16', 'bfloat16']);
    expect(DTYPES.every(isDType)).toBe(true);
    expect(isDType('float64')).toBe(false);
    expect(isDType(undefined)).toBe(false);
    expect(dtypeSize('float32')).toBe(4);
    expect(dtypeSize('float16')).toBe(2);
    expect(dtypeSize('bfloat16')).toBe(2);
  });

  it('the reference agrees with itself on known values', () => {
    expect(refBits(1, F16)).toBe(0x3c00);
    expect(refBits(65504, F16)).toBe(0x7bff);
    expect(refBits(65520, F16)).toBe(0x7c00);
    expect(refBits(2 ** -24, F16)).toBe(0x0001);
    expect(refBits(1, BF16)).toBe(0x3f80);
    expect(refBits(-2, BF16)).toBe(0xc000);
    expect(refValue(0x7bff, F16)).toBe(65504);
    expect(refValue(0x7f7f, BF16)).toBe((2 - 2 ** -7) * 2 ** 127);
  });
});

describe('float16 conversion', () => {
  const cases: [string, number, number][] = [
    ['+0', 0, 0x0000],
    ['-0', -0, 0x8000],
    ['1', 1, 0x3c00],
    ['-2', -2, 0xc000],
    ['0.5', 0.5, 0x3800],
    ['1/3', 1 / 3, 0x3555],
    ['smallest subnormal 2^-24', 2 ** -24, 0x0001],
    ['-smallest subnormal', -(2 ** -24), 0x8001],
    ['largest subnormal 1023·2^-24', 1023 * 2 ** -24, 0x03ff],
    ['smallest normal 2^-14', 2 ** -14, 0x0400],
    ['max finite 65504', 65504, 0x7bff],
    ['-65504', -65504, 0xfbff],
    ['just below overflow tie', 65519.99, 0x7bff],
    ['overflow tie 65520 → Inf', 65520, 0x7c00],
    ['-65520 → -Inf', -65520, 0xfc00],
    ['65536 → Inf', 65536, 0x7c00],
    ['1e10 → Inf', 1e10, 0x7c00],
    ['f32 max → Inf', 3.4028234663852886e38, 0x7c00],
    ['Infinity', Infinity, 0x7c00],
    ['-Infinity', -Infinity, 0xfc00],
    ['Number.MAX_VALUE → Inf', Number.MAX_VALUE, 0x7c00],
    // underflow
    ['2^-26 → 0', 2 ** -26, 0x0000],
    ['-2^-26 → -0', -(2 ** -26), 0x8000],
    ['half of smallest subnormal (tie) → 0', 2 ** -25, 0x0000],
    ['-2^-25 → -0', -(2 ** -25), 0x8000],
    ['just above 2^-25 → smallest subnormal', 2 ** -25 * (1 + 2 ** -20), 0x0001],
    ['Number.MIN_VALUE → 0', Number.MIN_VALUE, 0x0000],
    ['-Number.MIN_VALUE → -0', -Number.MIN_VALUE, 0x8000],
    ['1e-30 → 0', 1e-30, 0x0000],
    // ties to even, normal
    ['1 + 2^-11 (tie) → 1', 1 + 2 ** -11, 0x3c00],
    ['1 + 3·2^-11 (tie) → 1 + 2^-9', 1 + 3 * 2 ** -11, 0x3c02],
    ['2049 (tie) → 2048', 2049, 0x6800],
    ['2051 (tie) → 2052', 2051, 0x6802],
    ['-2051 → -2052', -2051, 0xe802],
    ['1 + 2^-11 + 2^-23 → up', 1 + 2 ** -11 + 2 ** -23, 0x3c01],
    ['1 + 2^-11 - 2^-23 → down', 1 + 2 ** -11 - 2 ** -23, 0x3c00],
    // ties to even, subnormal
    ['3·2^-25 (tie) → 2·2^-24', 3 * 2 ** -25, 0x0002],
    ['5·2^-25 (tie) → 2·2^-24', 5 * 2 ** -25, 0x0002],
    ['7·2^-25 (tie) → 4·2^-24', 7 * 2 ** -25, 0x0004],
    // rounding out of the subnormal range
    ['2^-14 - 2^-25 (tie, 0x3ff odd) → 2^-14', 2 ** -14 - 2 ** -25, 0x0400],
    ['2^-14 - 2^-25 - 2^-40 → largest subnormal', 2 ** -14 - 2 ** -25 - 2 ** -40, 0x03ff],
    ['2^-14 - 2^-26 → 2^-14', 2 ** -14 - 2 ** -26, 0x0400],
    // carry across a binade
    ['2 - 2^-12 → 2', 2 - 2 ** -12, 0x4000],
    ['2 - 2^-11 (tie, 0x3bff odd) → 2', 2 - 2 ** -11, 0x4000],
  ];
  for (const [name, x, want] of cases) {
    it(`${name}: ${x} → ${hex(want)}`, () => {
      expect(hex(float32ToFloat16Bits(x))).toBe(hex(want));
      expect(hex(refBits(x, F16) as number)).toBe(hex(want));
    });
  }

  it('NaN stays a quiet NaN', () => {
    for (const x of [NaN, -NaN, bitsToDouble(0x7ff0000000000001n), bitsToDouble(0xfff8000000000123n)]) {
      const b = float32ToFloat16Bits(x);
      expect(isQuietNaNBits(b, F16), hex(b)).toBe(true);
      expect(float16BitsToFloat32(b)).toBeNaN();
    }
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    u[0] = 0x7f800001; // a signaling NaN payload in float32
    expect(isQuietNaNBits(float32ToFloat16Bits(f[0]), F16)).toBe(true);
  });

  it('double rounding: float64 values a float64→float32→float16 chain would get wrong', () => {
    // 1 + 2^-11 is a float16 tie; 1 + 2^-11 + 2^-40 rounds to that tie in float32 (ulp 2^-23),
    // whence ties-to-even would give 1. Correctly rounded it is above the tie: 1 + 2^-10.
    const above = 1 + 2 ** -11 + 2 ** -40;
    expect(Math.fround(above)).toBe(1 + 2 ** -11); // the trap is real
    expectBits(float32ToFloat16Bits(above), 0x3c01, above);
    expectBits(float32ToFloat16Bits(-above), 0xbc01, -above);
    const below = 1 + 3 * 2 ** -11 - 2 ** -40; // tie between 0x3c01 (odd) and 0x3c02
    expect(Math.fround(below)).toBe(1 + 3 * 2 ** -11);
    expectBits(float32ToFloat16Bits(below), 0x3c01, below);
    // Subnormal: 2^-25 is the tie between 0 and 2^-24; 2^-25 + 2^-60 rounds to it in float32.
    const sub = 2 ** -25 + 2 ** -60;
    expect(Math.fround(sub)).toBe(2 ** -25);
    expectBits(float32ToFloat16Bits(sub), 0x0001, sub);
    // Overflow boundary: 65520 - tiny rounds to 65520 in float32, but is below the tie.
    const big = 65520 - 2 ** -20;
    expect(Math.fround(big)).toBe(65520);
    expectBits(float32ToFloat16Bits(big), 0x7bff, big);
    const bigger = 65520 + 2 ** -20;
    expectBits(float32ToFloat16Bits(bigger), 0x7c00, bigger);
  });

  it('exhaustive round trip of all 65536 bit patterns', () => {
    let nans = 0;
    for (let h = 0; h < 65536; h++) {
      const v = float16BitsToFloat32(h);
      const ref = refValue(h, F16);
      if (Number.isNaN(ref)) {
        nans++;
        expect(v).toBeNaN();
        const back = float32ToFloat16Bits(v);
        if (!isNaNBits(back, F16)) throw new Error(`${hex(h)} decoded to NaN re-encodes to ${hex(back)}`);
        continue;
      }
      if (!Object.is(v, ref)) throw new Error(`${hex(h)} decodes to ${v}, expected ${ref}`);
      const back = float32ToFloat16Bits(v);
      if (back !== h) throw new Error(`${hex(h)} → ${v} → ${hex(back)}`);
    }
    expect(nans).toBe(2 * 1023);
  });
});

describe('bfloat16 conversion', () => {
  const MAX = (2 - 2 ** -7) * 2 ** 127; // 0x7f7f
  const TIE = (2 - 2 ** -8) * 2 ** 127; // halfway between MAX and 2^128
  const cases: [string, number, number][] = [
    ['+0', 0, 0x0000],
    ['-0', -0, 0x8000],
    ['1', 1, 0x3f80],
    ['-1', -1, 0xbf80],
    ['pi', Math.PI, 0x4049],
    ['1/3', 1 / 3, 0x3eab],
    ['smallest subnormal 2^-133', 2 ** -133, 0x0001],
    ['-smallest subnormal', -(2 ** -133), 0x8001],
    ['largest subnormal 127·2^-133', 127 * 2 ** -133, 0x007f],
    ['smallest normal 2^-126', 2 ** -126, 0x0080],
    ['max finite', MAX, 0x7f7f],
    ['-max finite', -MAX, 0xff7f],
    ['overflow tie → Inf', TIE, 0x7f80],
    ['-overflow tie → -Inf', -TIE, 0xff80],
    ['just below the overflow tie → max', TIE * (1 - 2 ** -30), 0x7f7f],
    ['f32 max → Inf', 3.4028234663852886e38, 0x7f80],
    ['1e39 → Inf', 1e39, 0x7f80],
    ['Number.MAX_VALUE → Inf', Number.MAX_VALUE, 0x7f80],
    ['Infinity', Infinity, 0x7f80],
    ['-Infinity', -Infinity, 0xff80],
    ['65520 is finite in bf16', 65520, 0x4780],
    // underflow
    ['2^-134 (tie) → 0', 2 ** -134, 0x0000],
    ['-2^-134 → -0', -(2 ** -134), 0x8000],
    ['2^-134·(1 + 2^-10) → smallest subnormal', 2 ** -134 * (1 + 2 ** -10), 0x0001],
    ['3·2^-134 (tie) → 2·2^-133', 3 * 2 ** -134, 0x0002],
    ['5·2^-134 (tie) → 2·2^-133', 5 * 2 ** -134, 0x0002],
    ['2^-149 → 0', 2 ** -149, 0x0000],
    ['Number.MIN_VALUE → 0', Number.MIN_VALUE, 0x0000],
    ['-1e-50 → -0', -1e-50, 0x8000],
    // rounding out of the subnormal range
    ['2^-126 - 2^-134 (tie, 0x7f odd) → 2^-126', 2 ** -126 - 2 ** -134, 0x0080],
    ['2^-126 - 2^-134 - 2^-140 → largest subnormal', 2 ** -126 - 2 ** -134 - 2 ** -140, 0x007f],
    // ties to even, normal
    ['1 + 2^-8 (tie) → 1', 1 + 2 ** -8, 0x3f80],
    ['1 + 3·2^-8 (tie) → 1 + 2^-6', 1 + 3 * 2 ** -8, 0x3f82],
    ['257 (tie) → 256', 257, 0x4380],
    ['259 (tie) → 260', 259, 0x4382],
    ['2 - 2^-8 (tie, odd) → 2', 2 - 2 ** -8, 0x4000],
  ];
  for (const [name, x, want] of cases) {
    it(`${name}: ${x} → ${hex(want)}`, () => {
      expect(hex(float32ToBfloat16Bits(x))).toBe(hex(want));
      expect(hex(refBits(x, BF16) as number)).toBe(hex(want));
    });
  }

  it('NaN stays a quiet NaN', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    u[0] = 0x7f800001; // float32 NaN whose payload lives only in the low 16 bits
    const inputs = [NaN, -NaN, f[0], bitsToDouble(0x7ff0000000000001n)];
    u[0] = 0xff800001;
    inputs.push(f[0]);
    for (const x of inputs) {
      const b = float32ToBfloat16Bits(x);
      expect(isQuietNaNBits(b, BF16), hex(b)).toBe(true);
      expect(bfloat16BitsToFloat32(b)).toBeNaN();
    }
  });

  it('double rounding: float64 values a float64→float32→bfloat16 chain would get wrong', () => {
    const above = 1 + 2 ** -8 + 2 ** -40; // float32 rounds it to the bf16 tie 1 + 2^-8
    expect(Math.fround(above)).toBe(1 + 2 ** -8);
    expectBits(float32ToBfloat16Bits(above), 0x3f81, above);
    expectBits(float32ToBfloat16Bits(-above), 0xbf81, -above);
    const below = 1 + 3 * 2 ** -8 - 2 ** -40;
    expect(Math.fround(below)).toBe(1 + 3 * 2 ** -8);
    expectBits(float32ToBfloat16Bits(below), 0x3f81, below);
    // In float32's subnormal range: 2^-134 + 2^-160 rounds to the tie 2^-134 in float32.
    const sub = 2 ** -134 + 2 ** -160;
    expect(Math.fround(sub)).toBe(2 ** -134);
    expectBits(float32ToBfloat16Bits(sub), 0x0001, sub);
    // Below float32's smallest subnormal, but above half of it: float32 gives 2^-149 or 0.
    expectBits(float32ToBfloat16Bits(2 ** -150 + 2 ** -170), 0x0000, 2 ** -150 + 2 ** -170);
  });

  it('exhaustive round trip of all 65536 bit patterns', () => {
    let nans = 0;
    for (let h = 0; h < 65536; h++) {
      const v = bfloat16BitsToFloat32(h);
      const ref = refValue(h, BF16);
      if (Number.isNaN(ref)) {
        nans++;
        expect(v).toBeNaN();
        const back = float32ToBfloat16Bits(v);
        if (!isNaNBits(back, BF16)) throw new Error(`${hex(h)} decoded to NaN re-encodes to ${hex(back)}`);
        continue;
      }
      if (!Object.is(v, ref)) throw new Error(`${hex(h)} decodes to ${v}, expected ${ref}`);
      const back = float32ToBfloat16Bits(v);
      if (back !== h) throw new Error(`${hex(h)} → ${v} → ${hex(back)}`);
    }
    expect(nans).toBe(2 * 127);
  });
});

describe.each([F16, BF16])('$name against an exact reference', (f) => {
  const conv = enc(f);
  const rand = mulberry32(f === F16 ? 1234 : 5678);
  const expMax = f.infBits >>> f.mantBits; // biased exponent field of Inf in the 16-bit format
  // Unbiased exponent range of interest: from below the smallest subnormal to beyond overflow.
  const eLo = 1 - f.bias - f.mantBits - 3;
  const eHi = expMax - f.bias + 2;

  function randomDouble(): number {
    const e = eLo + Math.floor(rand() * (eHi - eLo + 1));
    const mant = BigInt(Math.floor(rand() * 2 ** 26)) * 2n ** 26n + BigInt(Math.floor(rand() * 2 ** 26));
    const bits = (BigInt(e + 1023) << 52n) | mant;
    const x = bitsToDouble(bits);
    return rand() < 0.5 ? -x : x;
  }

  /** A value within a few float64 ulps (or a random distance) of a 16-bit rounding midpoint. */
  function nearMidpoint(): number {
    const b = Math.floor(rand() * f.infBits); // pattern b and b + 1 (b + 1 may be Inf's 2^(emax+1))
    const lo = b === 0 ? 0 : refValue(b, f);
    const hi = b + 1 === f.infBits ? 2 ** (expMax - f.bias) : refValue(b + 1, f);
    const mid = (lo + hi) / 2; // exact: needs one more bit than the format
    const r = rand();
    let k: bigint;
    if (r < 0.25) k = 0n;
    else if (r < 0.5) k = BigInt(1 + Math.floor(rand() * 3));
    else if (r < 0.75) k = BigInt(Math.floor(rand() * 2 ** 30));
    else k = BigInt(Math.floor(rand() * 2 ** 40));
    if (rand() < 0.5) k = -k;
    let x = bitsToDouble(doubleBits(mid) + k);
    if (!(x > 0) || !Number.isFinite(x)) x = mid;
    return rand() < 0.5 ? -x : x;
  }

  function check(xs: number[]) {
    let bad = 0;
    const msgs: string[] = [];
    for (const x of xs) {
      const want = refBits(x, f) as number;
      const got = conv(x);
      if (got !== want) {
        bad++;
        if (msgs.length < 5) msgs.push(`${x} (0x${doubleBits(x).toString(16)}): expected ${hex(want)}, got ${hex(got)}`);
      }
    }
    expect(msgs, `${bad} of ${xs.length} wrong`).toEqual([]);
  }

  it('random float64 values over the whole range', () => {
    check(Array.from({ length: 6000 }, randomDouble));
  });

  it('random float64 values at and near rounding midpoints', () => {
    check(Array.from({ length: 6000 }, nearMidpoint));
  });

  it('random float32 values (as the kernels produce)', () => {
    check(Array.from({ length: 4000 }, () => Math.fround(randomDouble())));
  });

  it('every 16-bit midpoint exactly (ties to even) and ±1 float64 ulp around it', () => {
    const xs: number[] = [];
    for (let b = 0; b < f.infBits; b += f === F16 ? 7 : 5) {
      const lo = b === 0 ? 0 : refValue(b, f);
      const hi = b + 1 === f.infBits ? 2 ** (expMax - f.bias) : refValue(b + 1, f);
      const mid = (lo + hi) / 2;
      xs.push(mid, bitsToDouble(doubleBits(mid) + 1n), bitsToDouble(doubleBits(mid) - 1n), -mid);
    }
    check(xs);
  });
});

describe('array helpers', () => {
  const values = [0, -0, 1, -1.5, 0.1, 65504, 70000, 1e-8, -3.3e38, NaN, Infinity, -Infinity, 2 ** -24, 1 + 2 ** -11 + 2 ** -40];

  it.each(['float16', 'bfloat16'] as const)('encode16/decode16 agree with the scalar conversions (%s)', (dtype) => {
    const f = dtype === 'float16' ? F16 : BF16;
    const src = Float64Array.from(values);
    const bits = encode16(src, dtype);
    expect(bits).toBeInstanceOf(Uint16Array);
    expect(bits.length).toBe(values.length);
    for (let i = 0; i < values.length; i++) expect(bits[i]).toBe(enc(f)(values[i]));
    const back = decode16(bits, dtype);
    expect(back).toBeInstanceOf(Float32Array);
    const read = elementReader(bits, dtype);
    for (let i = 0; i < values.length; i++) {
      const v = dec(f)(bits[i]);
      expect(Object.is(back[i], v) || (Number.isNaN(back[i]) && Number.isNaN(v))).toBe(true);
      expect(Object.is(read(i), v) || (Number.isNaN(read(i)) && Number.isNaN(v))).toBe(true);
      expect(Object.is(roundToDType(values[i], dtype), v) || Number.isNaN(v)).toBe(true);
    }
    expect(src).toEqual(Float64Array.from(values)); // input untouched
  });

  it('encode16/decode16 write into a given output (including a subarray view)', () => {
    const out = new Uint16Array(6).fill(0xffff);
    const r = encode16([1, 2], 'float16', out.subarray(2, 4));
    expect(Array.from(out)).toEqual([0xffff, 0xffff, 0x3c00, 0x4000, 0xffff, 0xffff]);
    expect(r.buffer).toBe(out.buffer);
    const f = new Float32Array(5).fill(7);
    decode16(Uint16Array.of(0x3f80, 0x4000), 'bfloat16', f.subarray(1, 3));
    expect(Array.from(f)).toEqual([7, 1, 2, 7, 7]);
    decode16(Uint16Array.of(0x3c00, 0xc000), 'float16', f.subarray(3, 5));
    expect(Array.from(f)).toEqual([7, 1, 2, 1, -2]);
  });

  it('elementReader and roundToDType for float32', () => {
    const d = Float32Array.of(0.1, -2);
    const read = elementReader(d, 'float32');
    expect(read(0)).toBe(Math.fround(0.1));
    expect(read(1)).toBe(-2);
    expect(roundToDType(0.1, 'float32')).toBe(Math.fround(0.1));
    expect(roundToDType(1 + 2 ** -11 + 2 ** -40, 'float16')).toBe(1 + 2 ** -10);
    expect(roundToDType(1 + 2 ** -8 + 2 ** -40, 'bfloat16')).toBe(1 + 2 ** -7);
    expect(roundToDType(1e6, 'float16')).toBe(Infinity);
  });
});
