/** Text renderings of a mask: the ✔ grid and the 0/1 bit matrix. */
import type { Pattern } from '../patterns/pattern.js';

export interface TextShape {
  seqQ: number;
  seqK: number;
  head: number;
}

/**
 * seqQ lines of seqK characters, '1' where query i (at position i + seqK − seqQ) may read key j,
 * '0' elsewhere; lines joined by '\n', no trailing newline.
 */
export function renderBits(p: Pattern, { seqQ, seqK, head }: TextShape): string {
  const off = seqK - seqQ;
  const lines = new Array<string>(seqQ);
  const row = new Uint8Array(seqK);
  const dec = new TextDecoder();
  for (let i = 0; i < seqQ; i++) {
    for (let j = 0; j < seqK; j++) row[j] = p.allows(i + off, j, head) ? 0x31 : 0x30;
    lines[i] = dec.decode(row);
  }
  return lines.join('\n');
}

/**
 * The ✔ grid: key indices across the top, query indices down the left, ✔ where allowed and blank
 * elsewhere. Trailing spaces are trimmed; lines joined by '\n', no trailing newline.
 *
 *      │ 0 1 2
 *   ───┼──────
 *    0 │ ✔
 *    1 │ ✔ ✔
 *    2 │   ✔ ✔
 */
export function renderGrid(p: Pattern, { seqQ, seqK, head }: TextShape): string {
  const off = seqK - seqQ;
  const rw = String(Math.max(0, seqQ - 1)).length;
  const cw = String(Math.max(0, seqK - 1)).length;
  const header: string[] = [];
  for (let j = 0; j < seqK; j++) header.push(String(j).padStart(cw));
  const headerText = header.join(' ');
  const lines = [`${' '.repeat(rw)} │ ${headerText}`.trimEnd(), `${'─'.repeat(rw + 1)}┼${'─'.repeat(headerText.length + 1)}`];
  const yes = '✔'.padStart(cw);
  const no = ' '.repeat(cw);
  const cells = new Array<string>(seqK);
  for (let i = 0; i < seqQ; i++) {
    for (let j = 0; j < seqK; j++) cells[j] = p.allows(i + off, j, head) ? yes : no;
    lines.push(`${String(i).padStart(rw)} │ ${cells.join(' ')}`.trimEnd());
  }
  return lines.join('\n');
}
