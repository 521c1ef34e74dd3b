/**
 * Speed of decoding with a bounded KV cache, CPU backend, float32, B=1, Hq=32, Hkv=8, D=128
 * (Llama-3-8B's attention shape):
 *
 *  - a cache at `seen` positions with `budget` keys per kv head: time per decode step (append,
 *    attend, evict) for window, streaming and h2o, against full attention over `budget` keys (the
 *    floor: what the step computes) and over all `seen` keys (what it replaces);
 *  - query-aware selection at `seen` positions: `blocks` blocks of 64 selected per step from a
 *    cache that keeps everything (bounds kept incrementally), against full attention over `seen`.
 *
 * Caches reach `seen` positions by prefill chunks whose attention uses only the chunk's last query
 * (cheap, and what a prefill that keeps only the last logits does); their contents are random.
 * Rounds interleave the contenders and the medians are reported (the machine is shared).
 */
import { attentionSync, KVCache, Tensor, type PolicyName } from '../lib/index.js';

export interface SpeedConfig {
  seen: number;
  budget: number;
  blocks: number;
  rounds: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

export interface SpeedReport {
  seen: number;
  budget: number;
  /** ms per decode step */
  policies: { policy: string; ms: number; vsFullBudget: number; speedupVsFullSeen: number }[];
  fullBudgetMs: number;
  fullSeenMs: number;
  select: { blocks: number; ms: number; speedupVsFullSeen: number } | null;
}

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1];

function time(fn: () => unknown): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

/** Brings a cache to `seen` positions in chunks of `chunk` keys (queries: the chunk's last row). */
function fill(cache: KVCache, seen: number, chunk: number, kvHeads: number, heads: number, D: number, select?: { blocks: number }): void {
  const k = Tensor.randn([1, kvHeads, chunk, D], { seed: 11 });
  const v = Tensor.randn([1, kvHeads, chunk, D], { seed: 12 });
  const q = Tensor.randn([1, heads, 1, D], { seed: 13 });
  for (let at = 0; at < seen; at += chunk) {
    const n = Math.min(chunk, seen - at);
    const kk = n === chunk ? k : Tensor.randn([1, kvHeads, n, D], { seed: 14 });
    cache.attentionSync(q, kk, n === chunk ? v : kk, select ? { select } : undefined);
  }
}

export function runSpeed(cfg: SpeedConfig, log: (s: string) => void): SpeedReport {
  const { seen, budget, heads: Hq, kvHeads: Hkv, headDim: D } = cfg;
  const q1 = Tensor.randn([1, Hq, 1, D], { seed: 1 });
  const k1 = Tensor.randn([1, Hkv, 1, D], { seed: 2 });
  const kBudget = Tensor.randn([1, Hkv, budget, D], { seed: 3 });
  const vBudget = Tensor.randn([1, Hkv, budget, D], { seed: 4 });
  log(`  speed: allocating full K/V over ${seen} positions`);
  const kSeen = Tensor.randn([1, Hkv, seen, D], { seed: 5 });
  const vSeen = Tensor.randn([1, Hkv, seen, D], { seed: 6 });

  const policies: PolicyName[] = ['window', 'streaming', 'h2o'];
  const caches = policies.map((policy) => {
    log(`  speed: filling a ${policy} cache to ${seen} positions`);
    const c = new KVCache({ batch: 1, kvHeads: Hkv, headDim: D, budget, policy, maxChunk: 512 });
    fill(c, seen, 512, Hkv, Hq, D);
    return c;
  });
  const t: Record<string, number[]> = { fullBudget: [], fullSeen: [] };
  for (const p of policies) t[p] = [];
  log(`  speed: ${cfg.rounds} interleaved rounds`);
  for (let r = 0; r < cfg.rounds; r++) {
    t.fullBudget.push(time(() => attentionSync(q1, kBudget, vBudget, { causal: true })));
    policies.forEach((p, i) => t[p].push(time(() => caches[i].attentionSync(q1, k1, k1))));
    if (r % 4 === 0) t.fullSeen.push(time(() => attentionSync(q1, kSeen, vSeen, { causal: true })));
  }
  const fullBudgetMs = median(t.fullBudget);
  const fullSeenMs = median(t.fullSeen);
  const rows = policies.map((p) => {
    const ms = median(t[p]);
    return { policy: p, ms, vsFullBudget: ms / fullBudgetMs, speedupVsFullSeen: fullSeenMs / ms };
  });
  caches.length = 0;

  let select: SpeedReport['select'] = null;
  if (cfg.blocks > 0) {
    log(`  speed: filling a cache that keeps all ${seen} positions (select)`);
    const all = new KVCache({ batch: 1, kvHeads: Hkv, headDim: D, budget: seen + 64, policy: 'window', maxChunk: 2048 });
    fill(all, seen, 2048, Hkv, Hq, D, { blocks: cfg.blocks });
    const ts: number[] = [];
    const tf: number[] = [];
    for (let r = 0; r < Math.max(3, cfg.rounds >> 1); r++) {
      ts.push(time(() => all.attentionSync(q1, k1, k1, { select: { blocks: cfg.blocks } })));
      if (r % 2 === 0) tf.push(time(() => attentionSync(q1, kSeen, vSeen, { causal: true })));
    }
    const ms = median(ts);
    select = { blocks: cfg.blocks, ms, speedupVsFullSeen: median([...t.fullSeen, ...tf]) / ms };
  }
  return { seen, budget, policies: rows, fullBudgetMs, fullSeenMs, select };
}
