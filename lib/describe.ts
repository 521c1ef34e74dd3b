/**
 * How a bad argument or option appears in an error message. Shared by the modules that check user
 * input, so that every message shows a value the same way — and never throws while doing it
 * (String(v) does for Object.create(null) and for objects whose toString throws, and prints
 * "[object Object]" for the rest).
 */

/**
 * A short description of any value: numbers, booleans, null and undefined as themselves (-0 as
 * "-0"), strings quoted (JSON, at most 60 characters), bigints as "5n", symbols as "Symbol(x)",
 * functions as "a function", arrays as "an array", typed arrays as "a Float32Array", other objects
 * as "an object". Reads no property of an object that could run user code, and never throws.
 */
export function describeValue(x: unknown): string {
  switch (typeof x) {
    case 'number':
      return Object.is(x, -0) ? '-0' : String(x);
    case 'string': {
      const s = JSON.stringify(x);
      return s.length > 60 ? `${s.slice(0, 56)}…" (${x.length} characters)` : s;
    }
    case 'boolean':
      return String(x);
    case 'bigint':
      return `${x}n`;
    case 'symbol':
      return String(x); // a symbol's descriptive string: no user code runs
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    default:
      break;
  }
  if (x === null) return 'null';
  try {
    // Array.isArray throws for a revoked Proxy
    if (Array.isArray(x)) return 'an array';
    if (ArrayBuffer.isView(x)) {
      const tag = Object.prototype.toString.call(x).slice(8, -1); // e.g. 'Float32Array', 'DataView'
      if (!/^[A-Z]\w*$/.test(tag)) return 'an object';
      return /^[AEIOU]/.test(tag) ? `an ${tag}` : `a ${tag}`;
    }
  } catch {
    // fall through
  }
  return 'an object';
}
