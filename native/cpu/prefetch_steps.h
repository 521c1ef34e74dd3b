// Prefetches spread over a stretch of arithmetic, shared by the attention and linear-attention
// bodies (included inside their unnamed namespace, as kernel_micro.h is). What the next piece of
// work (an attention item, a linear-scan chunk) will read first from memory, or what this piece
// will write, is listed as runs of rows and requested a few cache lines per step, a step between
// register blocks of this piece's products. A prefetch that misses holds a line-fill buffer as a
// load does, so a burst of them stalls as the loads would; spread out, they overlap the arithmetic.

// GCC deems a function whose only effect is __builtin_prefetch free of side effects and drops the
// calls to it (ipa-pure-const; also the loop that fnsplit cuts out of an inlined one), prefetches
// and all: such functions are kept out of interprocedural analysis.
#if defined(__GNUC__) && !defined(__clang__)
#define ATTNFLOW_PREFETCHES __attribute__((noipa))
#else
#define ATTNFLOW_PREFETCHES __attribute__((noinline))
#endif

struct PrefetchRun {
  const char* base = nullptr;
  int64_t groupBytes = 0, rowBytes = 0;  // rows come in groups (a query tile's packed heads)
  int rowsPerGroup = 1, rows = 0, linesPerRow = 0;
};
struct PrefetchSteps {
  PrefetchRun run[4];
  int runs = 0, perStep = 0;
  int r = 0, group = 0, row = 0, line = 0;  // the next line to request: run r, row `row` of group `group`
  int done = 0;                              // rows of run r in the groups before `group`
  const char* at = nullptr;                  // that line's row
};

// Adds `rows` rows of `rowBytes` bytes each (row stride `stride`, groups of rowsPerGroup rows
// groupStride bytes apart) from `base`. Contiguous rows of whole lines are one run of lines.
static void addPrefetchRun(PrefetchSteps& f, const void* base, int64_t groupStride, int64_t stride, int rowsPerGroup,
                           int rows, int64_t rowBytes) {
  if (rows <= 0 || f.runs == 4) return;
  PrefetchRun& r = f.run[f.runs++];
  r.base = static_cast<const char*>(base);
  r.groupBytes = groupStride;
  r.rowBytes = stride;
  r.rowsPerGroup = rowsPerGroup;
  r.rows = rows;
  r.linesPerRow = static_cast<int>((rowBytes + 63) / 64);
  if (stride == rowBytes && rowBytes % 64 == 0 && (rowsPerGroup >= rows || groupStride == rowsPerGroup * stride)) {
    r.linesPerRow *= rows;
    r.rowsPerGroup = r.rows = 1;
  }
}

// Spreads the runs' lines over `steps` calls of prefetchStep.
static void spreadPrefetches(PrefetchSteps& f, int steps) {
  int lines = 0;
  for (int r = 0; r < f.runs; ++r) lines += f.run[r].rows * f.run[r].linesPerRow;
  f.perStep = steps > 0 ? (lines + steps - 1) / steps : lines;
  f.at = f.runs ? f.run[0].base : nullptr;
}

// The next line to request, in run order (row by row, group by group), or null after the last.
static inline const char* nextLine(PrefetchSteps& f) {
  if (f.r >= f.runs) return nullptr;
  const char* line = f.at + 64 * f.line;
  const PrefetchRun& r = f.run[f.r];
  if (++f.line < r.linesPerRow) return line;
  f.line = 0;
  if (++f.row < r.rowsPerGroup && f.done + f.row < r.rows) {
    f.at += r.rowBytes;
    return line;
  }
  f.done += f.row, f.row = 0, ++f.group;
  if (f.done == r.rows) {
    f.done = 0, f.group = 0;
    if (++f.r < f.runs) f.at = f.run[f.r].base;
  } else {
    f.at = r.base + f.group * r.groupBytes;
  }
  return line;
}

ATTNFLOW_PREFETCHES static void prefetchStep(PrefetchSteps& f) {
  for (int n = 0; n < f.perStep; ++n) {
    const char* line = nextLine(f);
    if (!line) return;
    __builtin_prefetch(line, 0, 2);
  }
}
