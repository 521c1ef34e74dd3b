/**
 * The contract every neighborhood pattern meets. A pattern says, for a query at absolute
 * position p and a key at position j (both 0-based), whether j ∈ N(p); the mask compiler also
 * asks it to classify whole tiles so that only partial tiles are evaluated element by element.
 */

/**
 * How a rectangle of (query position, key position) pairs relates to a pattern. (An object
 * rather than a const enum, so declaration files work under isolatedModules.)
 */
export const TileClass = {
  /** no pair allowed */
  Empty: 0,
  /** some pairs allowed, some not (or not known analytically) */
  Partial: 1,
  /** every pair allowed */
  Full: 2,
} as const;
export type TileClass = (typeof TileClass)[keyof typeof TileClass];

export interface Pattern {
  /** Canonical text; parsePattern(p.toString()) yields an equal pattern. */
  toString(): string;
  /** j ∈ N(p) for the given head. */
  allows(p: number, j: number, head: number): boolean;
  /**
   * Classifies query positions [p0, p1) × key positions [j0, j1) for a head (both ranges
   * non-empty). Returning Partial is always correct; Empty and Full must be exact.
   */
  classify(p0: number, p1: number, j0: number, j1: number, head: number): TileClass;
  /**
   * 1 when the pattern is the same for every head; otherwise the period n with which it repeats
   * over heads (head h behaves as head h mod n).
   */
  readonly headPeriod: number;
}
