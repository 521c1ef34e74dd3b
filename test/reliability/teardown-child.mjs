// Child process of teardown.test.ts (a crash here is reported there instead of taking the test
// runner down). Plain JavaScript on the addon's entry points, so worker threads need no build of
// the TypeScript layer. Modes (argv[2]):
//
//   workers ROUNDS  each round starts 4 worker threads that each put an attention or a linear
//                   attention call in flight (plus a second one queued behind it) on fresh
//                   inputs, then ends them mid-call: worker.terminate(), or process.exit() inside
//                   the worker. Meanwhile the main thread keeps its own calls in flight and checks
//                   their results bit for bit. Prints one JSON line: rounds, how many workers were
//                   ended while their call was still running, the main thread's mismatches, and
//                   the RSS (MiB, after a GC) after each round.
//   exit-main       process.exit(0) on the main thread while a call runs: the exit code must be 0.
//   idle-worker     a worker makes one call and then has nothing left to do: it must exit by
//                   itself (the addon holds its event loop only while a call is in flight), and
//                   the call must have settled first. Prints "idle-worker ok".
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const root = fileURLToPath(new URL('../..', import.meta.url));

// The code shared by the main thread and the workers: argument objects of the native entry points.
const ARGS = `
const { createRequire } = require('node:module');
const addon = (process.env.ATTNFLOW_ADDON_PATH ? require(process.env.ATTNFLOW_ADDON_PATH) : require('node-gyp-build')(ROOT));
// the values do not matter here (only that a call's result does not depend on other calls):
// cheap to make, so that workers start their calls quickly
function randomArray(n, seed) {
  const a = new Float32Array(n);
  for (let i = 0; i < 64; i++) a[i] = Math.sin(seed + i);
  for (let filled = 64; filled < n; filled *= 2) a.copyWithin(filled, 0, Math.min(filled, n - filled));
  return a;
}
function view(data, H, S, D) {
  return { data, dtype: 0, shape: [1, H, S, D], strides: [H * S * D, S * D, D, 1], offset: 0 };
}
// dense (every tile full) attention over [1, H, S, D] float32
function attentionArgs(H, S, D, seed) {
  const { blockQ, blockK } = addon.info().cpu.tile;
  const nq = Math.ceil(S / blockQ), nk = Math.ceil(S / blockK);
  const rowPtr = new Int32Array(nq + 1).map((_, i) => i * nk);
  const colIdx = new Int32Array(nq * nk).map((_, i) => i % nk);
  const n = H * S * D;
  return {
    q: view(randomArray(n, seed), H, S, D), k: view(randomArray(n, seed + 1), H, S, D), v: view(randomArray(n, seed + 2), H, S, D),
    out: view(new Float32Array(n), H, S, D), lse: new Float32Array(H * S),
    mask: { seqQ: S, seqK: S, blockQ, blockK, numQBlocks: nq, numKBlocks: nk, heads: 1, wordsPerRow: Math.ceil(blockK / 32),
            rowPtr, colIdx, partial: new Int32Array(nq * nk).fill(-1), bits: new Uint32Array(0) },
    scale: 1 / Math.sqrt(D), softcap: 0, alibi: null, rope: null,
  };
}
function linearArgs(H, N, D, seed) {
  const n = H * N * D;
  return {
    q: view(randomArray(n, seed), H, N, D), k: view(randomArray(n, seed + 1), H, N, D), v: view(randomArray(n, seed + 2), H, N, D),
    out: view(new Float32Array(n), H, N, D), featureMap: 1, favorWeights: null, features: 0, decay: 0, decayHead: null, gates: null,
    gateStrides: [0, 0, 0, 0], normalize: true, eps: 1e-6, initS: null, initZ: null, stateS: null, stateZ: null, chunk: 64,
  };
}
function callArgs(kind, seed) {
  return kind === 'linear' ? linearArgs(2, 16384, 64, seed) : attentionArgs(4, 4096, 64, seed);
}
function start(kind, args) {
  return kind === 'linear' ? addon.linearAttention(args) : addon.attention(args);
}
`;

const WORKER = `
const ROOT = ${JSON.stringify(root)};
${ARGS}
const { workerData, parentPort } = require('node:worker_threads');
const first = callArgs(workerData.kind, workerData.seed);
const second = callArgs(workerData.kind, workerData.seed + 7);
const running = start(workerData.kind, first);
start(workerData.kind, second); // queued behind it (or running beside it)
running.then(() => parentPort.postMessage('settled'), () => parentPort.postMessage('settled'));
parentPort.postMessage('started');
if (workerData.how === 'exit') setTimeout(() => process.exit(3), workerData.delay);
`;

const IDLE_WORKER = `
const ROOT = ${JSON.stringify(root)};
${ARGS}
const { parentPort } = require('node:worker_threads');
addon.attention(attentionArgs(2, 256, 64, 5)).then(() => parentPort.postMessage('settled'));
`;

const main = new Function('require', 'ROOT', `${ARGS}; return { addon, attentionArgs, linearArgs };`)(createRequire(import.meta.url), root);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rssMiB() {
  globalThis.gc?.();
  return process.memoryUsage().rss / 2 ** 20;
}

function sameBits(a, b) {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** One worker whose call is ended mid-flight; resolves to whether it was still running then. */
async function endMidCall(kind, how, seed) {
  const w = new Worker(WORKER, { eval: true, workerData: { kind, how, seed, delay: 10 } });
  let settled = false;
  const exited = new Promise((resolve, reject) => {
    w.on('exit', resolve);
    w.on('error', reject);
  });
  const started = new Promise((resolve) =>
    w.on('message', (m) => {
      if (m === 'settled') settled = true;
      if (m === 'started') resolve();
    }),
  );
  await Promise.race([started, exited]);
  if (how === 'terminate') {
    await sleep(10);
    await w.terminate();
  }
  await exited;
  return !settled;
}

async function workers(rounds) {
  // the main thread's own call, made alone first: its result must not depend on the teardowns
  const args = main.attentionArgs(4, 512, 64, 99);
  main.addon.attentionSync(args);
  const expected = args.out.data.slice();
  let mismatches = 0;
  let midCall = 0;
  const rss = [];
  for (let r = 0; r < rounds; r++) {
    const mine = main.attentionArgs(4, 512, 64, 99);
    const ownCall = main.addon.attention(mine).then(() => {
      if (!sameBits(mine.out.data, expected)) mismatches++;
    });
    const ended = await Promise.all([
      endMidCall('attention', 'terminate', 10 * r),
      endMidCall('linear', 'terminate', 10 * r + 1),
      endMidCall('attention', 'exit', 10 * r + 2),
      endMidCall('linear', 'exit', 10 * r + 3),
    ]);
    midCall += ended.filter(Boolean).length;
    await ownCall;
    rss.push(Math.round(rssMiB()));
  }
  console.log(JSON.stringify({ rounds, workers: 4 * rounds, midCall, mismatches, rss }));
}

async function exitMain() {
  main.addon.attention(main.attentionArgs(8, 4096, 64, 1));
  main.addon.linearAttention(main.linearArgs(8, 65536, 64, 2));
  await sleep(20);
  process.exit(0);
}

async function idleWorker() {
  const w = new Worker(IDLE_WORKER, { eval: true });
  let settled = false;
  w.on('message', (m) => (settled = m === 'settled'));
  const code = await new Promise((resolve, reject) => {
    w.on('exit', resolve);
    w.on('error', reject);
  });
  if (!settled || code !== 0) throw new Error(`the worker exited with ${code}, its call ${settled ? '' : 'un'}settled`);
  console.log('idle-worker ok');
}

const mode = process.argv[2];
if (mode === 'workers') await workers(Number(process.argv[3] ?? 10));
else if (mode === 'exit-main') await exitMain();
else if (mode === 'idle-worker') await idleWorker();
else throw new Error(`unknown mode ${mode}`);
