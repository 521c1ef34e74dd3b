// Small shapes through every kernel path, for compute-sanitizer (memcheck, racecheck, synccheck,
// initcheck): a plain script (no test runner, no child processes), exit code 0 when every result
// matches the oracle. See README.md for the commands.
import { checkCase, withKernel, HAVE_CUDA, device } from './helpers.mjs';

if (!HAVE_CUDA) {
  console.error(`sanitize: no CUDA device (${device.cudaUnavailableReason('cuda:0')})`);
  process.exit(2);
}

const cases = [
  // tensor-core kernel: partial last tiles (130 = 2*64 + 2), GQA, per-head masks, options
  [undefined, { hq: 2, hkv: 1, sq: 130, sk: 130, d: 64, dtype: 'float16' }, { causal: true }],
  [undefined, { hq: 4, hkv: 2, sq: 70, sk: 200, d: 128, dtype: 'bfloat16' }, { pattern: 'perHead(causal, sliding(33))', alibi: true }],
  [undefined, { hq: 2, sq: 65, sk: 129, d: 64, dtype: 'bfloat16', layout: 'bshd' }, { rope: {}, softcap: 10, pattern: 'random(5, 2)' }],
  ['fa2', { hq: 2, sq: 1, sk: 100, d: 128, dtype: 'float16' }, { causal: true }],
  // general kernel: float32, odd head dims, decode with split-KV and GQA packing, empty rows
  [undefined, { hq: 2, sq: 70, sk: 70, d: 40, dtype: 'float32' }, { causal: true }],
  [undefined, { hq: 8, hkv: 2, sq: 3, sk: 700, d: 64, dtype: 'float16' }, { pattern: 'sliding(300) | sink(2)' }],
  [undefined, { hq: 4, hkv: 4, sq: 1, sk: 500, d: 80, dtype: 'bfloat16' }, { rope: { style: 'interleaved' } }],
  ['general', { hq: 2, sq: 100, sk: 40, d: 64, dtype: 'float16' }, { causal: true }],
];

let i = 0;
for (const [kernel, c, options] of cases) {
  await withKernel(kernel, () => checkCase(c, options, { cpu: false }));
  console.log(`sanitize: case ${i++} ok (${kernel ?? 'auto'}, ${c.dtype}, d${c.d}, ${c.sq}x${c.sk})`);
}
device.cudaSynchronize();
console.log('sanitize: ok');
