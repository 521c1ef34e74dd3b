/**
 * The pattern language:
 *
 *   expr   := term (('|' | '-') term)*        union and difference: one level, left-associative
 *   term   := factor ('&' factor)*            intersection binds tighter
 *   factor := '(' expr ')' | name | name '(' args? ')'
 *   args   := arg (',' arg)*                  integers, or patterns for union/intersect/difference/perHead
 *
 * Whitespace is free; numbers are decimal integers (a leading '-' is read so that a negative
 * argument gets a range error at its position rather than a syntax error).
 */
import { PatternSyntaxError, isArgError } from './errors.js';
import { MAX_PATTERN_DEPTH, type PatternNode } from './node.js';
import { buildCombinator, PATTERN_NAMES, PATTERN_SPECS, type NumSpec } from './registry.js';

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

function suggest(name: string): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of PATTERN_NAMES) {
    const dist = k.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name, k);
    if (dist < bestD) {
      bestD = dist;
      best = k;
    }
  }
  return bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : null;
}

function describe(ch: string | undefined): string {
  return ch === undefined ? 'end of input' : `'${ch}'`;
}

function paramList(spec: NumSpec): string {
  return spec.params.join(', ');
}

/** the deepest nesting of parentheses and pattern arguments parsePattern reads */
const MAX_NESTING = MAX_PATTERN_DEPTH;

class Parser {
  private i = 0;
  /** current nesting of '(' and pattern arguments */
  private depth = 0;
  constructor(private readonly s: string) {}

  fail(pos: number, problem: string, expected: string): never {
    throw new PatternSyntaxError(this.s, pos, problem, expected);
  }

  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++;
  }

  private peek(): string | undefined {
    this.ws();
    return this.i < this.s.length ? this.s[this.i] : undefined;
  }

  private unexpected(expected: string): never {
    const ch = this.peek();
    this.fail(this.i, ch === undefined ? 'unexpected end of input' : `unexpected ${describe(ch)}`, expected);
  }

  parseAll(): PatternNode {
    if (this.peek() === undefined) this.fail(this.i, 'empty pattern', 'a pattern such as causal or sliding(256)');
    const e = this.expr();
    if (this.peek() !== undefined) {
      this.unexpected(this.s[this.i] === ')' ? "an operator ('|', '&', '-') or the end (unbalanced ')')" : "an operator ('|', '&', '-') or the end");
    }
    return e;
  }

  // `a | b | c` is built as one union of [a, b, c] (and `a & b & c` as one intersection), not
  // pair by pair: the constructors flatten nested unions by copying, which would make a long chain
  // cost quadratic time. `|` and `-` associate left, so a difference closes the union before it.
  private expr(): PatternNode {
    let run: PatternNode[] = [this.term()];
    let at = -1; // the first '|' of the run
    for (;;) {
      const c = this.peek();
      if (c !== '|' && c !== '-') return this.union(run, at);
      const op = this.i++;
      const right = this.term();
      if (c === '|') {
        if (run.length === 1) at = op;
        run.push(right);
      } else {
        const left = this.union(run, at);
        run = [this.combine(op, () => buildCombinator('difference', [left, right]))];
      }
    }
  }

  private term(): PatternNode {
    const parts = [this.factor()];
    let at = -1; // the first '&'
    while (this.peek() === '&') {
      if (at < 0) at = this.i;
      this.i++;
      parts.push(this.factor());
    }
    return parts.length === 1 ? parts[0] : this.combine(at, () => buildCombinator('intersect', parts));
  }

  private union(parts: PatternNode[], at: number): PatternNode {
    return parts.length === 1 ? parts[0] : this.combine(at, () => buildCombinator('union', parts));
  }

  /** build() of an operator at `pos`, its argument errors (nesting too deep) as syntax errors there. */
  private combine(pos: number, build: () => PatternNode): PatternNode {
    try {
      return build();
    } catch (e) {
      if (isArgError(e)) this.fail(pos, e.message.replace(/^\w+: /, ''), e.expected);
      throw e;
    }
  }

  /** Enters one level of nesting at the '(' at `pos`; PatternSyntaxError past MAX_NESTING. */
  private nest(pos: number): void {
    if (++this.depth > MAX_NESTING) {
      this.fail(pos, `parentheses and pattern arguments nested more than ${MAX_NESTING} deep`, `at most ${MAX_NESTING} levels of nesting`);
    }
  }

  private factor(): PatternNode {
    const c = this.peek();
    if (c === '(') {
      this.nest(this.i);
      this.i++;
      const e = this.expr();
      if (this.peek() !== ')') this.unexpected("')' or an operator ('|', '&', '-')");
      this.i++;
      this.depth--;
      return e;
    }
    if (c !== undefined && /[A-Za-z_]/.test(c)) return this.call();
    this.unexpected("a pattern (a name such as causal or sliding(w), or '(')");
  }

  private call(): PatternNode {
    const start = this.i;
    while (this.i < this.s.length && /[A-Za-z0-9_]/.test(this.s[this.i])) this.i++;
    const name = this.s.slice(start, this.i);
    const spec = Object.prototype.hasOwnProperty.call(PATTERN_SPECS, name) ? PATTERN_SPECS[name] : undefined;
    if (spec === undefined) {
      const hint = suggest(name);
      this.fail(start, `unknown pattern '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}`, `one of ${PATTERN_NAMES.join(', ')}`);
    }
    if (this.peek() !== '(') {
      if (spec.kind === 'num' && spec.min === 0) return spec.build([]);
      this.fail(this.i, `${name} needs arguments`, `'(' after ${name}`);
    }
    if (spec.kind === 'pat') this.nest(this.i);
    this.i++; // '('
    const positions: number[] = [];
    const nums: number[] = [];
    const pats: PatternNode[] = [];
    if (this.peek() !== ')') {
      for (;;) {
        this.ws();
        positions.push(this.i);
        if (spec.kind === 'num') {
          const k = nums.length;
          const variadic = spec.params.length > 0 && spec.params[spec.params.length - 1].endsWith('…');
          if (!variadic && k >= spec.params.length) {
            this.fail(
              this.i,
              spec.params.length === 0
                ? `${name} takes no arguments`
                : `${name} takes at most ${spec.params.length} argument${spec.params.length === 1 ? '' : 's'} (${paramList(spec)})`,
              "')'",
            );
          }
          const pname = spec.params[Math.min(k, spec.params.length - 1)].replace('…', '');
          nums.push(this.number(`an integer (${pname} of ${name})`));
        } else {
          if (pats.length >= spec.max) this.fail(this.i, `${name} takes ${spec.max} patterns`, "')'");
          pats.push(this.expr());
        }
        const c = this.peek();
        if (c === ',') {
          this.i++;
          continue;
        }
        if (c === ')') break;
        this.unexpected(spec.kind === 'num' ? "',' or ')'" : "',', ')' or an operator ('|', '&', '-')");
      }
    }
    const close = this.i;
    this.i++; // ')'
    if (spec.kind === 'pat') this.depth--;
    const count = spec.kind === 'num' ? nums.length : pats.length;
    if (count < spec.min) {
      if (spec.kind === 'num') {
        const missing = spec.params[count].replace('…', '');
        this.fail(
          close,
          `${name} takes ${spec.min === spec.params.length && !spec.params[spec.params.length - 1].endsWith('…') ? '' : 'at least '}${spec.min} argument${spec.min === 1 ? '' : 's'} (${paramList(spec)}), got ${count}`,
          count === 0 ? `an integer (${missing} of ${name})` : `',' and an integer (${missing} of ${name})`,
        );
      }
      this.fail(close, `${name} takes at least ${spec.min} pattern${spec.min === 1 ? '' : 's'}, got ${count}`, count === 0 ? 'a pattern' : "',' and a pattern");
    }
    try {
      return spec.kind === 'num' ? spec.build(nums) : spec.build(pats);
    } catch (e) {
      if (isArgError(e)) {
        const pos = e.argIndex >= 0 && e.argIndex < positions.length ? positions[e.argIndex] : start;
        this.fail(pos, e.message, e.expected);
      }
      throw e;
    }
  }

  private number(expected: string): number {
    this.ws();
    const start = this.i;
    if (this.s[this.i] === '-') this.i++;
    const digitsStart = this.i;
    while (this.i < this.s.length && this.s[this.i] >= '0' && this.s[this.i] <= '9') this.i++;
    if (this.i === digitsStart) {
      this.i = digitsStart;
      this.unexpected(expected);
    }
    const c = this.s[this.i];
    if (c === '.' || c === 'e' || c === 'E' || c === 'x' || c === '_' || (c !== undefined && /[A-Za-z]/.test(c))) {
      this.fail(this.i, `unexpected '${c}' in a number`, `${expected}; numbers are decimal integers`);
    }
    const v = Number(this.s.slice(start, this.i));
    if (!Number.isSafeInteger(v)) this.fail(start, `number ${this.s.slice(start, this.i)} is too large`, `${expected} below 2^53`);
    return v;
  }
}

/**
 * Parses a pattern string (see the grammar at the top of this file and SPEC.md's table).
 * Throws PatternSyntaxError (a SyntaxError with `.position`) when the string is malformed or an
 * argument is out of range, TypeError when `s` is not a string.
 */
export function parseNode(s: string): PatternNode {
  if (typeof s !== 'string') throw new TypeError(`parsePattern: expected a string, got ${s === null ? 'null' : typeof s}`);
  return new Parser(s).parseAll();
}
