/**
 * Parts of the test environment that a plain `npm install` does not provide: the benchmark peers
 * (onnxruntime-node, @ruvector/attention), the release prebuilds of scripts/prebuild-linux.sh and
 * the arm64 emulator. A suite that needs one runs where it is present and is reported as skipped,
 * with the reason, where it is not, unless the environment variable ATTNFLOW_REQUIRE names it (a
 * comma-separated list, or `all`): then its absence fails the run. CI installs them all and sets
 * ATTNFLOW_REQUIRE=all, so nothing there can pass by being absent.
 */
import { describe, it } from 'vitest';

export const OPTIONAL = ['ort', 'ruvector', 'release', 'arm64'] as const;
export type Optional = (typeof OPTIONAL)[number];

function requiredSet(): Set<string> {
  const raw = (process.env.ATTNFLOW_REQUIRE ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const r of raw) {
    if (r !== 'all' && !(OPTIONAL as readonly string[]).includes(r)) {
      throw new Error(`ATTNFLOW_REQUIRE: unknown part '${r}' (expected a comma-separated list of ${OPTIONAL.join(', ')}, or all)`);
    }
  }
  return new Set(raw.includes('all') ? OPTIONAL : raw);
}

/** Whether ATTNFLOW_REQUIRE makes `part` mandatory. */
export function isRequired(part: Optional): boolean {
  return requiredSet().has(part);
}

/**
 * describe(title, body) when `unavailable` is null; otherwise a skipped suite that says why, or,
 * when `part` is required, a suite with one failing test that says why.
 */
export function describeWith(part: Optional, unavailable: string | null, title: string, body: () => void): void {
  if (unavailable === null) {
    describe(title, body);
  } else if (isRequired(part)) {
    describe(title, () => {
      it(`needs ${part}, which ATTNFLOW_REQUIRE requires`, () => {
        throw new Error(`${part} is required (ATTNFLOW_REQUIRE=${process.env.ATTNFLOW_REQUIRE}) but unavailable: ${unavailable}`);
      });
    });
  } else {
    const why = `skipped: ${unavailable}; ATTNFLOW_REQUIRE=${part} turns this into a failure`;
    // printed as well: the default reporter counts skipped tests but does not name them
    console.warn(`attnflow tests: "${title}" ${why}`);
    describe.skip(`${title} [${why}]`, body);
  }
}
