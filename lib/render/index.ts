/** renderMask (contract): a pattern drawn as the ✔ grid, a 0/1 bit matrix, or an SVG picture. */
import type { Pattern } from '../patterns/pattern.js';
import { toPattern } from '../patterns/index.js';
import { MAX_MASK_TILE_BITS } from '../mask/compile.js';
import { describeValue } from '../describe.js';
import { renderBits, renderGrid } from './grid.js';
import { renderSvg } from './svg.js';

export type RenderFormat = 'grid' | 'bits' | 'svg';

export interface RenderOptions {
  /** sequence length: seqQ = seqK = seqLen unless seqQ / seqK are given */
  seqLen?: number;
  /** number of queries; they are the last seqQ positions (bottom-right alignment). Default seqK. */
  seqQ?: number;
  /** number of keys. Default seqLen. */
  seqK?: number;
  /** default 'grid' */
  format?: RenderFormat;
  /** head to draw (patterns built with perHead); default 0 */
  head?: number;
  /** svg only: outline the tiles of this shape that the mask compiler visits */
  tile?: { blockQ: number; blockK: number };
}

/** the largest side drawn as text */
export const MAX_GRID_SIDE = 1024;
export const MAX_BITS_SIDE = 4096;
const MAX_SVG_SIDE = 1 << 22;

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`renderMask: ${name} must be an integer in [${min}, ${max}], got ${describeValue(v)}`);
  }
  return v;
}

/**
 * Draws a pattern. 'grid': the ✔ table (key indices on top, query indices on the left);
 * 'bits': seqQ lines of seqK characters '1' (allowed) / '0'; 'svg': a standalone SVG document.
 * Rows are query indices i at positions i + seqK − seqQ. The text has no trailing newline.
 */
export function renderMask(pattern: Pattern | string, options: RenderOptions): string {
  if (options === null || typeof options !== 'object') throw new TypeError('renderMask: options { seqLen } are required');
  const format = options.format ?? 'grid';
  if (format !== 'grid' && format !== 'bits' && format !== 'svg') {
    throw new RangeError(`renderMask: format must be 'grid', 'bits' or 'svg', got ${describeValue(format)}`);
  }
  const limit = format === 'grid' ? MAX_GRID_SIDE : format === 'bits' ? MAX_BITS_SIDE : MAX_SVG_SIDE;
  const kIn = options.seqK ?? options.seqLen;
  if (kIn === undefined) throw new TypeError('renderMask: seqLen (or seqK) is required');
  const seqK = checkInt(options.seqK !== undefined ? 'seqK' : 'seqLen', kIn, 1, limit);
  const seqQ = checkInt('seqQ', options.seqQ ?? seqK, 1, limit);
  if (seqQ > seqK) throw new RangeError(`renderMask: seqQ (${seqQ}) must not exceed seqK (${seqK})`);
  const head = checkInt('head', options.head ?? 0, 0, 2 ** 31 - 1);
  const tile = options.tile ?? undefined; // null: no tile, as in analyze
  if (tile !== undefined) {
    const blockQ = checkInt('tile.blockQ', tile.blockQ, 1, 1 << 16);
    const blockK = checkInt('tile.blockK', tile.blockK, 1, 1 << 16);
    if (blockQ * 32 * Math.ceil(blockK / 32) > MAX_MASK_TILE_BITS) {
      throw new RangeError(`renderMask: a tile of tile.blockQ × tile.blockK = ${blockQ} × ${blockK} is larger than the ${MAX_MASK_TILE_BITS} bits a bit tile may hold`);
    }
  }
  const p = toPattern(pattern);
  if (format === 'bits') return renderBits(p, { seqQ, seqK, head });
  if (format === 'grid') return renderGrid(p, { seqQ, seqK, head });
  return renderSvg(p, { seqQ, seqK, head, tile });
}

export { renderBits, renderGrid } from './grid.js';
export { renderSvg } from './svg.js';
