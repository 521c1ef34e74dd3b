// The README's quick start. Run after `npm install`: node examples/quickstart.mjs
import { attention, attentionSync, info, Tensor } from 'attnflow';

const [B, H, S, D] = [1, 8, 1024, 64];
const q = Tensor.randn([B, H, S, D], { seed: 1 });
const k = Tensor.randn([B, H, S, D], { seed: 2 });
const v = Tensor.randn([B, H, S, D], { seed: 3 });

let t = performance.now();
const out = await attention(q, k, v, { pattern: 'causal & sliding(256) | sink(4)' });
console.log(`sliding window + sinks: ${out} in ${(performance.now() - t).toFixed(1)} ms`, out.toFloat32().slice(0, 4));

// bfloat16 in FlashAttention's [batch, seq, heads, headDim] layout, causal, with RoPE, GQA
// (2 kv heads for 8 query heads) and the log-sum-exp.
const q16 = Tensor.randn([B, S, H, D], { dtype: 'bfloat16', layout: 'bshd', seed: 4 });
const kv16 = Tensor.randn([B, S, 2, D], { dtype: 'bfloat16', layout: 'bshd', seed: 5 });
t = performance.now();
const { out: o16, lse } = attentionSync(q16, kv16, kv16, { causal: true, rope: {}, returnLse: true });
console.log(`bf16 causal + rope: ${o16} in ${(performance.now() - t).toFixed(1)} ms, lse ${lse}`);

const backends = info().backends;
console.log(`cpu: ${backends.cpu.available ? 'native' : backends.cpu.reason}; cuda: ${backends.cuda.available ? 'available' : backends.cuda.reason}`);
