// Decoding with a bounded KV cache: a 2048-token prompt prefilled in chunks of 256, then 256 decode
// steps, keeping at most 512 keys per kv head (an h2o cache: attention sinks, the most recent
// keys and the heavy hitters), with RoPE applied once as keys enter the cache.
// Run after `npm install`: node examples/decode-with-kvcache.mjs [window|streaming|h2o|adaptive]
import { KVCache, Tensor } from 'attnflow';

const policy = process.argv[2] ?? 'h2o';
const [heads, kvHeads, headDim] = [32, 8, 128]; // Llama-3-8B's attention
const [prompt, chunk, steps, budget] = [2048, 256, 256, 512];

const cache = new KVCache({
  batch: 1,
  kvHeads,
  headDim,
  budget: policy === 'adaptive' ? budget * kvHeads : budget, // adaptive: one total for all heads
  policy,
  sinks: policy === 'window' ? undefined : 4,
  maxChunk: chunk,
});
const rope = { base: 500000 };
// Stand-ins for a model's projections: a real engine computes q, k, v per layer from its hidden state.
const project = (n, h, seed) => Tensor.randn([1, h, n, headDim], { seed });
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

let t = performance.now();
for (let at = 0, seed = 1; at < prompt; at += chunk) {
  await cache.attention(project(chunk, heads, seed++), project(chunk, kvHeads, seed++), project(chunk, kvHeads, seed++), { rope });
}
console.log(`prefill: ${prompt} tokens in chunks of ${chunk}, ${(performance.now() - t).toFixed(0)} ms; ` + `cache keeps ${cache.length} keys per kv head, holds ${mib(cache.bytes)}`);

const times = [];
for (let step = 0, seed = 10_000; step < steps; step++) {
  const q = project(1, heads, seed++);
  const k = project(1, kvHeads, seed++);
  const v = project(1, kvHeads, seed++);
  t = performance.now();
  await cache.attention(q, k, v, { rope });
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
const unbounded = kvHeads * (prompt + steps) * headDim * 2 * 4; // float32 K and V of every position, one layer
console.log(
  `decode: ${steps} steps with a '${policy}' cache: median ${times[steps >> 1].toFixed(2)} ms per token ` +
    `(p90 ${times[Math.floor(steps * 0.9)].toFixed(2)} ms); seen ${cache.seen} positions, kept ${cache.length} per kv head; ` +
    `memory held ${mib(cache.bytes)} (an unbounded cache: ${mib(unbounded)})`,
);
console.log(`kv head 0 keeps positions ${[...cache.positions(0).slice(0, 6)].join(', ')}, …, ${[...cache.positions(0).slice(-3)].join(', ')}`);
