/**
 * The WebAssembly backend (lib/wasm/): the CPU backend's kernels compiled to SIMD128, for
 * attention and linear attention, on the calling thread (sync) or on worker threads (async, which
 * `signal` aborts between work items).
 */
import type { AttentionPlan } from '../attention/plan.js';
import type { LinearPlan } from '../linear/plan.js';
import { attentionArenas } from '../wasm/attention.js';
import type { Selection } from '../select/selection.js';
import { runArena, runArenaSync, wasmEngine } from '../wasm/engine.js';
import { kernelFacts } from '../wasm/index.js';
import { linearArena } from '../wasm/linear.js';
import type { AttentionOutputs, LinearOutputs } from './operands.js';

export function runWasmSync(plan: AttentionPlan, selection: Selection | null = null): AttentionOutputs {
  const e = wasmEngine();
  const { arenas, result } = attentionArenas(plan, e.layouts.attention, kernelFacts(e), 1, selection);
  for (const arena of arenas) runArenaSync(arena);
  return result;
}

export async function runWasm(plan: AttentionPlan, selection: Selection | null = null, signal?: AbortSignal): Promise<AttentionOutputs> {
  const e = wasmEngine();
  const { arenas, result } = attentionArenas(plan, e.layouts.attention, kernelFacts(e), e.threads, selection);
  for (const arena of arenas) await runArena(arena, signal);
  return result;
}

export function runLinearWasmSync(plan: LinearPlan): LinearOutputs {
  const e = wasmEngine();
  const { arena, outputs } = linearArena(plan, e.layouts.linear, e.lanes);
  if (arena) runArenaSync(arena);
  return outputs;
}

export async function runLinearWasm(plan: LinearPlan, signal?: AbortSignal): Promise<LinearOutputs> {
  const e = wasmEngine();
  const { arena, outputs } = linearArena(plan, e.layouts.linear, e.lanes);
  if (arena) await runArena(arena, signal);
  return outputs;
}
