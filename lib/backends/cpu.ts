/**
 * The native multi-threaded CPU backend (native/cpu): attention, fed the mask built for the
 * kernel's tile shape (compiled, or at run time for explicit positions and selections), and linear
 * attention (the chunked scan).
 */
import { nativeCall } from '../abort.js';
import type { AttentionPlan, Operand } from '../attention/plan.js';
import type { LinearPlan } from '../linear/plan.js';
import { LINEAR_CPU_ENTRY_POINTS, hasEntryPoints, type AddonBindings, type NativeAttentionArgs, type NativeView } from '../native/bindings.js';
import { loadNative, nativeLinear } from '../native/load.js';
import { hostView, maskArgs, scoreArgs } from '../native/views.js';
import type { Selection } from '../select/selection.js';
import { Tensor } from '../tensor.js';
import { planMask } from './masks.js';
import { allocateOutputs, runLinearHost, runLinearHostSync, type AttentionOutputs, type LinearOutputs } from './operands.js';

let tileShape: { blockQ: number; blockK: number } | undefined;

/** The tile shape the native CPU kernel runs, which its masks are compiled for. */
export function cpuTile(): { blockQ: number; blockK: number } {
  tileShape ??= loadNative().info().cpu.tile;
  return tileShape;
}

/** A host view of operand `o` stored in `data`; with `batch`, of that batch element only. */
function viewOf(plan: AttentionPlan, o: Operand, data: Float32Array | Uint16Array, batch?: number): NativeView {
  const v = hostView(o, data, plan.dtype);
  if (batch === undefined) return v;
  return { ...v, shape: [1, o.heads, o.seq, o.headDim], offset: batch * o.strides[0] };
}

/**
 * Builds the native calls for a plan (one per batch element when a selection is given: its mask
 * differs between batch elements); the outputs they write are returned alongside.
 */
export function cpuCalls(plan: AttentionPlan, selection: Selection | null = null): { calls: NativeAttentionArgs[]; result: AttentionOutputs } {
  const tile = cpuTile();
  const { out, lse } = allocateOutputs(plan);
  const lseData = lse.data as Float32Array;
  const { keyPositions, queryPositions, queryStart } = plan.positions;
  const massPerBatch = plan.k.heads * plan.k.seq;
  const keyMass = plan.returnKeyMass ? Tensor.zeros([plan.k.batch, plan.k.heads, plan.k.seq], { dtype: 'float32' }) : null;
  const massData = keyMass === null ? null : (keyMass.data as Float32Array);
  const perBatch = selection !== null;
  const calls: NativeAttentionArgs[] = [];
  for (let b = 0; b < (perBatch ? plan.q.batch : 1); b++) {
    const at = perBatch ? b : undefined;
    const rows = plan.q.heads * plan.q.seq;
    calls.push({
      q: viewOf(plan, plan.q, plan.q.tensor.data, at),
      k: viewOf(plan, plan.k, plan.k.tensor.data, at),
      v: viewOf(plan, plan.v, plan.v.tensor.data, at),
      out: viewOf(plan, plan.q, out.data, at),
      lse: perBatch ? lseData.subarray(b * rows, (b + 1) * rows) : lseData,
      mask: maskArgs(planMask(plan, tile, selection, b)),
      ...scoreArgs(plan),
      queryPositions,
      queryStart,
      keyPositions,
      keyMass: massData === null ? null : perBatch ? massData.subarray(b * massPerBatch, (b + 1) * massPerBatch) : massData,
    });
  }
  return { calls, result: keyMass === null ? { out, lse } : { out, lse, keyMass } };
}

export function runCpuSync(plan: AttentionPlan, selection: Selection | null = null): AttentionOutputs {
  const { calls, result } = cpuCalls(plan, selection);
  for (const args of calls) loadNative().attentionSync(args);
  return result;
}

export async function runCpu(plan: AttentionPlan, selection: Selection | null = null, signal?: AbortSignal): Promise<AttentionOutputs> {
  const { calls, result } = cpuCalls(plan, selection);
  for (const args of calls) await nativeCall(signal, (token) => loadNative().attention(args, token));
  return result;
}

// --- linear attention ---------------------------------------------------------------------------

/** Whether the loaded addon has the linear-attention entry points (one built from older sources may not). */
export function hasNativeLinear(addon: AddonBindings): boolean {
  return hasEntryPoints(addon, LINEAR_CPU_ENTRY_POINTS);
}

export function runLinearCpuSync(p: LinearPlan): LinearOutputs {
  return runLinearHostSync(p, (args) => nativeLinear().linearAttentionSync(args));
}

export function runLinearCpu(p: LinearPlan, signal?: AbortSignal): Promise<LinearOutputs> {
  return runLinearHost(p, (args) => nativeCall(signal, (token) => nativeLinear().linearAttention(args, token)));
}
