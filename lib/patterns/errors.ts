/**
 * Errors of the pattern layer: argument checks shared by the factory functions and the parser,
 * and the syntax error of parsePattern.
 */
import { describeValue } from '../describe.js';

/** A RangeError or TypeError that remembers which argument of a pattern call was wrong. */
export interface ArgError extends Error {
  /** 0-based index of the offending argument, or −1 when it concerns the argument list */
  argIndex: number;
  /** what would have been accepted, in words */
  expected: string;
}

function argError(
  Ctor: RangeErrorConstructor | TypeErrorConstructor,
  message: string,
  argIndex: number,
  expected: string,
): ArgError {
  const e = new Ctor(message) as ArgError;
  e.argIndex = argIndex;
  e.expected = expected;
  return e;
}

export function isArgError(e: unknown): e is ArgError {
  return e instanceof Error && typeof (e as Partial<ArgError>).argIndex === 'number';
}

const show = describeValue;

/**
 * Checks that argument `index` (named `name`) of `fn` is an integer ≥ min (and ≤ max) and returns
 * it. TypeError when it is not a number at all, RangeError for NaN, ±Infinity, fractions and values
 * out of range.
 */
export function checkInt(fn: string, name: string, index: number, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const expected =
    max !== Number.MAX_SAFE_INTEGER
      ? `an integer from ${min} to ${max}`
      : min === 0
        ? 'a non-negative integer'
        : min === 1
          ? 'a positive integer'
          : `an integer ≥ ${min}`;
  if (typeof v !== 'number') {
    throw argError(TypeError, `${fn}: ${name} must be ${expected}, got ${typeof v} ${show(v)}`, index, expected);
  }
  if (!Number.isInteger(v)) {
    throw argError(RangeError, `${fn}: ${name} must be ${expected}, got ${show(v)}`, index, expected);
  }
  if (v < min || v > max) {
    throw argError(RangeError, `${fn}: ${name} must be ${expected}, got ${v}`, index, expected);
  }
  return v;
}

/** A RangeError about argument `index` with a custom message. */
export function rangeArg(fn: string, message: string, index: number, expected: string): ArgError {
  return argError(RangeError, `${fn}: ${message}`, index, expected);
}

/** A TypeError about argument `index`. */
export function typeArg(fn: string, message: string, index: number, expected: string): ArgError {
  return argError(TypeError, `${fn}: ${message}`, index, expected);
}

/**
 * A pattern string that does not parse. `position` is the 0-based offset (UTF-16 code units) of the
 * offending character in `source`; the message quotes the source with a caret under it and says
 * what was expected there.
 */
export class PatternSyntaxError extends SyntaxError {
  readonly position: number;
  readonly source: string;
  readonly expected: string;

  constructor(source: string, position: number, problem: string, expected: string) {
    const shown = source.replace(/[\t\n\r\v\f]/g, ' ');
    super(
      `Invalid pattern at position ${position}: ${problem}; expected ${expected}\n` +
        `  ${shown}\n` +
        `  ${' '.repeat(position)}^`,
    );
    this.name = 'PatternSyntaxError';
    this.position = position;
    this.source = source;
    this.expected = expected;
  }
}
