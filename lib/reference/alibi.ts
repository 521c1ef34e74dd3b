/**
 * ALiBi (Press et al.): head h (0-based) of H gets slope 2^(−8(h+1)/H), so for H = 8 the slopes
 * are 1/2, 1/4, …, 1/256. The bias added to a score is −slope·|pos(i) − j|.
 */
export function alibiSlopes(heads: number): Float64Array {
  if (!Number.isInteger(heads) || heads <= 0) throw new RangeError(`heads must be a positive integer, got ${heads}`);
  const s = new Float64Array(heads);
  for (let h = 0; h < heads; h++) s[h] = Math.pow(2, (-8 * (h + 1)) / heads);
  return s;
}
