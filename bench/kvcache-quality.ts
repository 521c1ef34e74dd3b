/**
 * Quality of bounded-KV-cache decoding on planted-structure data (kvcache-data.ts): for each
 * policy and budget, a prefill in chunks then decode steps; at every decode step the cache's output
 * is compared with full attention over every position so far (relative Frobenius error), and the
 * attention mass retained is the share of the full attention's probability that falls on the keys
 * the step attended (averaged over query heads). Query-aware selection (`select`, no eviction) is
 * measured the same way with as many keys selected as the budget.
 */
import { attentionSync, KVCache, Tensor, type PolicyName } from '../lib/index.js';
import { operandView } from '../lib/backends/operands.js';
import { selectBlocks } from '../lib/select/quest.js';
import { planAttention } from '../lib/attention/plan.js';
import { plantedSequence, rows, type PlantedData } from './kvcache-data.js';

export interface QualityConfig {
  prefill: number;
  decode: number;
  kvHeads: number;
  group: number;
  headDim: number;
  budgets: number[];
  chunk: number;
  seed: number;
}

export interface QualityRow {
  policy: string;
  budget: number;
  /** mean over decode steps of ‖out − full‖ / ‖full‖ */
  relError: number;
  /** mean over decode steps and query heads of the full attention mass on the attended keys */
  massRetained: number;
}

function relError(a: Tensor, b: Tensor): number {
  const x = a.toFloat32();
  const y = b.toFloat32();
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num += (x[i] - y[i]) ** 2;
    den += y[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** Full attention of decode step t (position t) over positions 0..t: out and the key masses. */
function full(data: PlantedData, t: number): { out: Tensor; keyMass: Float32Array } {
  const r = attentionSync(rows(data.q, t, t + 1), rows(data.k, 0, t + 1), rows(data.v, 0, t + 1), { causal: true, returnKeyMass: true });
  return { out: r.out, keyMass: r.keyMass.data as Float32Array };
}

/** Share of the full mass on the kept positions of each kv head (`kept(h)`), averaged over query heads. */
function retained(keyMass: Float32Array, t: number, kvHeads: number, group: number, kept: (h: number) => Iterable<number>): number {
  let sum = 0;
  for (let h = 0; h < kvHeads; h++) for (const p of kept(h)) sum += keyMass[h * (t + 1) + p];
  return sum / (kvHeads * group);
}

function runPolicy(data: PlantedData, cfg: QualityConfig, policy: PolicyName, budget: number): QualityRow {
  const cache = new KVCache({
    batch: 1,
    kvHeads: cfg.kvHeads,
    headDim: cfg.headDim,
    budget: policy === 'adaptive' ? budget * cfg.kvHeads : budget,
    policy,
    maxChunk: cfg.chunk,
  });
  for (let at = 0; at < cfg.prefill; at += cfg.chunk) {
    const end = Math.min(cfg.prefill, at + cfg.chunk);
    cache.attentionSync(rows(data.q, at, end), rows(data.k, at, end), rows(data.v, at, end));
  }
  let err = 0;
  let mass = 0;
  for (let t = cfg.prefill; t < cfg.prefill + cfg.decode; t++) {
    const attended = Array.from({ length: cfg.kvHeads }, (_, h) => [...cache.positions(h), t]);
    const out = cache.attentionSync(rows(data.q, t, t + 1), rows(data.k, t, t + 1), rows(data.v, t, t + 1));
    const ref = full(data, t);
    err += relError(out, ref.out);
    mass += retained(ref.keyMass, t, cfg.kvHeads, cfg.group, (h) => attended[h]);
  }
  return { policy, budget, relError: err / cfg.decode, massRetained: mass / cfg.decode };
}

function runSelect(data: PlantedData, cfg: QualityConfig, budget: number): QualityRow {
  const select = { blocks: Math.max(1, Math.floor(budget / 64) - 1), blockSize: 64 }; // + the diagonal block
  let err = 0;
  let mass = 0;
  for (let t = cfg.prefill; t < cfg.prefill + cfg.decode; t++) {
    const q = rows(data.q, t, t + 1);
    const k = rows(data.k, 0, t + 1);
    const v = rows(data.v, 0, t + 1);
    const out = attentionSync(q, k, v, { causal: true, select });
    const ref = full(data, t);
    err += relError(out, ref.out);
    const plan = planAttention(q, k, v, { causal: true, select });
    const sel = selectBlocks({ q: operandView(plan.q), k: operandView(plan.k), pattern: plan.pattern, rope: null, positions: plan.positions, ...select });
    mass += retained(ref.keyMass, t, cfg.kvHeads, cfg.group, function* (h) {
      for (let e = sel.rowPtr[h]; e < sel.rowPtr[h + 1]; e++) {
        const b0 = sel.blocks[e] * 64;
        for (let p = b0; p < Math.min(b0 + 64, t + 1); p++) yield p;
      }
    });
  }
  return { policy: `select (${select.blocks} + 1 blocks of 64)`, budget, relError: err / cfg.decode, massRetained: mass / cfg.decode };
}

export function runQuality(cfg: QualityConfig, log: (s: string) => void): QualityRow[] {
  const data = plantedSequence({ n: cfg.prefill + cfg.decode, kvHeads: cfg.kvHeads, group: cfg.group, headDim: cfg.headDim, seed: cfg.seed });
  const out: QualityRow[] = [];
  for (const budget of cfg.budgets) {
    for (const policy of ['window', 'streaming', 'h2o', 'adaptive'] as PolicyName[]) {
      log(`  quality: ${policy}, budget ${budget}`);
      out.push(runPolicy(data, cfg, policy, budget));
    }
    log(`  quality: select, budget ${budget}`);
    out.push(runSelect(data, cfg, budget));
  }
  return out;
}
