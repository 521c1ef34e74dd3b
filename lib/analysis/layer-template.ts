/**
 * Layer stacks written as text, for the command line: patterns separated by a separator, cycled
 * over layers, with placeholders that give every layer its own pattern.
 *
 *   {l}      the layer's index, 0-based         random(8, {l})   redraws the mask at every layer
 *   {l+N}    the index plus N                   random(8, {l+100})
 *   {N^l}    N to the power of the index        dilated(16, {16^l}): dilation 1, 16, 256, … (capped at 2^53 − 1)
 *
 * A stack without placeholders stays a cycle of its entries; with one, it becomes `layers`
 * patterns, layer l taking entry l mod m with the placeholders replaced by l.
 */

const PLACEHOLDER = /\{([^{}]*)\}/g;

function value(expr: string, l: number, where: string): number {
  const e = expr.replace(/\s+/g, '');
  if (e === 'l') return l;
  let m = /^l\+(\d+)$/.exec(e);
  if (m) return l + Number(m[1]);
  m = /^(\d+)\^l$/.exec(e);
  if (m) return Math.min(Number(m[1]) ** l, Number.MAX_SAFE_INTEGER);
  throw new RangeError(`unknown layer placeholder {${expr}} in '${where}' (use {l}, {l+N} or {N^l})`);
}

/** Whether a pattern text holds a layer placeholder. */
export function hasLayerPlaceholder(s: string): boolean {
  return /\{[^{}]*\}/.test(s);
}

/** Replaces the placeholders of one pattern text for layer index l (0-based). */
export function instantiate(s: string, l: number): string {
  return s.replace(PLACEHOLDER, (_, expr: string) => String(value(expr, l, s)));
}

/** Splits a stack text into its trimmed, non-empty entries; a RangeError for an empty entry. */
export function splitStack(text: string, separator: string): string[] {
  const parts = text.split(separator).map((x) => x.trim());
  if (parts.length === 1 && parts[0] === '') throw new RangeError('a stack of layer patterns needs at least one pattern');
  parts.forEach((x, k) => {
    if (x === '') throw new RangeError(`layer pattern #${k} of '${text}' is empty`);
  });
  return parts;
}

/**
 * The stack analyze receives for these entries over `layers` layers: the entries themselves
 * (cycled) without placeholders, else one instantiated pattern per layer (at least one).
 */
export function expandStack(entries: readonly string[], layers: number): string[] {
  if (!entries.some(hasLayerPlaceholder)) return [...entries];
  const out: string[] = [];
  for (let l = 0; l < Math.max(1, layers); l++) out.push(instantiate(entries[l % entries.length], l));
  return out;
}
