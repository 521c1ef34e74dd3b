/**
 * Summary and help text of `attnflow bench`, in a module with no imports, so that the CLI can
 * show them without loading the benchmark (tinybench, onnxruntime-node).
 */
export const DEFAULT_PATTERNS: readonly string[] = ['dense', 'causal', 'causal & sliding(256)', 'causal & sliding(1024) | sink(4)'];
export const QUICK_PATTERNS: readonly string[] = ['dense', 'causal', 'causal & sliding(256)'];
const BACKENDS = 'cpu,cuda,reference,ort-mha,ort-matmul';

export const BENCH_SUMMARY = 'benchmark the backends against ONNX Runtime; writes JSON, Markdown and SVG';

export const BENCH_HELP = `Usage: attnflow bench [options]

Times attention on the native CPU backend (the CUDA backend where a device is usable, and the
TypeScript reference at small N), over sequence lengths, head dims, patterns and dtypes, against
ONNX Runtime's MultiHeadAttention contrib op and an unfused MatMul/Softmax graph where their
harness is built (a clone of the repository: npm run build:bench) and onnxruntime-node is
installed (npm install --no-save --ignore-scripts onnxruntime-node@^1.30). One small call per
backend is timed first; every estimate of a call's time comes from measured rates. Writes DIR/bench.json, DIR/bench.md and
DIR/bench.svg and prints their paths; progress goes to stderr.

Options:
  --quick               a small matrix that finishes in under a minute on 2 cores
  --out DIR             output directory (default: a new folder in the system's temporary directory)
  --seq LIST            sequence lengths, e.g. 512,1024,2048 (default 512,...,16384; quick 512,...,4096)
  --patterns LIST       patterns separated by ';' (they contain commas), 'dense' = full
                        (default "${DEFAULT_PATTERNS.join(';')}")
  --backends LIST       any of ${BACKENDS} (default: all that can run here)
  --dtypes LIST         float32,float16,bfloat16 (default float32; ORT peers run float32 only)
  --head-dim LIST       head dims (default 64,128; quick 64)
  --heads N             heads (default 8)
  --batch N             batch size (default 1)
  --time MS             tinybench time per case in ms (default 200; quick 100)
  --iterations N        minimum timed calls per case (default 2)
  --max-call-ms MS      skip cases whose one call is estimated (from measured rates) to take
                        longer (default 1500; quick 1200)
  --budget S            wall-clock budget in seconds, the memory probe included; cases left
                        when it is spent are skipped (default 100; quick 45)
  --reference-max-seq N largest N the reference backend runs (default 512)
  --threads N           ONNX Runtime intra-op threads (default: attnflow's CPU thread count)
  --memory-seq N        sequence length of the peak-memory probe (default 65536; quick 16384)
  --memory-pattern P    pattern of the peak-memory probe (default "causal & sliding(1024)")
  --no-memory           skip the peak-memory probe
  -h, --help            this text

FLOPs are counted on computed edges: 4·B·H·D·(allowed query-key pairs).`;
