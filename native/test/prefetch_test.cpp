// The prefetch steps of the CPU kernels (prefetch_steps.h): the lines requested are exactly the
// lines of the runs' rows, in order, each once, and `steps` steps request them all. A wrong line
// changes no result, only the speed, so the kernels' own tests cannot see it.
#include <cstdint>
#include <vector>

#include "harness.h"

namespace nativetest {

namespace {

#include "../cpu/prefetch_steps.h"

struct RunSpec {
  int64_t offset, groupStride, stride;
  int rowsPerGroup, rows;
  int64_t rowBytes;
};

// The lines of a run, by its definition: row r of group g starts at g * groupStride + r * stride.
void expectedLines(const char* base, const RunSpec& s, std::vector<const char*>& out) {
  for (int done = 0, g = 0; done < s.rows; ++g)
    for (int r = 0; r < s.rowsPerGroup && done < s.rows; ++r, ++done)
      for (int64_t x = 0; x < s.rowBytes; x += 64) out.push_back(base + s.offset + g * s.groupStride + r * s.stride + x);
}

void testRuns(const char* what, const std::vector<RunSpec>& specs, int steps) {
  static char arena[1 << 22];
  PrefetchSteps f;
  std::vector<const char*> want;
  for (const RunSpec& s : specs) {
    addPrefetchRun(f, arena + s.offset, s.groupStride, s.stride, s.rowsPerGroup, s.rows, s.rowBytes);
    expectedLines(arena, s, want);
  }
  spreadPrefetches(f, steps);
  PrefetchSteps walk = f;
  std::vector<const char*> got;
  for (const char* line; (line = nextLine(walk)) != nullptr && got.size() <= want.size();) got.push_back(line);
  CHECK(got == want, "prefetch steps, %s: %zu lines in order (got %zu)", what, want.size(), got.size());
  for (int n = 0; n < steps; ++n) prefetchStep(f);
  CHECK(nextLine(f) == nullptr, "prefetch steps, %s: %d steps request every line", what, steps);
}

}  // namespace

void testPrefetchSteps() {
  // a query tile of 64 rows of 64 floats, contiguous (bhsd): one run of lines
  testRuns("contiguous rows", {{0, 0, 256, 64, 64, 256}}, 22);
  // bshd rows: 256 bytes every 2 KiB
  testRuns("strided rows", {{128, 0, 2048, 64, 64, 256}}, 22);
  // GQA-packed heads: 4 groups of 16 rows a head apart, of whole lines (float32, 64 elements) and
  // not (16-bit, 80 elements: 3 lines)
  testRuns("groups of rows", {{0, 65536, 256, 16, 64, 256}}, 22);
  testRuns("groups of ragged rows", {{64, 65536, 160, 16, 64, 160}}, 7);
  // a partial last group, rows not a whole number of lines, groups adjacent but rows strided
  testRuns("partial group", {{0, 1536, 512, 3, 7, 200}}, 3);
  // groups that follow each other without a gap: one run of lines again
  testRuns("adjacent groups", {{4096, 4 * 256, 256, 4, 12, 256}}, 5);
  // an item's three runs (next Q, next K/V tile) and its output rows, fewer steps than lines
  testRuns("several runs",
           {{0, 0, 256, 64, 64, 256}, {65536, 0, 256, 64, 64, 256}, {131072, 0, 512, 64, 64, 256},
            {262144, 0, 256, 64, 64, 256}},
           110);
  testRuns("one step", {{0, 0, 2048, 8, 8, 256}}, 1);
}

}  // namespace nativetest
