/**
 * The native multi-threaded CPU backend (native/cpu): attention, fed the mask compiled for the
 * kernel's tile shape, and linear attention (the chunked scan).
 */
import { nativeCall } from '../abort.js';
import type { AttentionPlan } from '../attention/plan.js';
import type { LinearPlan } from '../linear/plan.js';
import { compileMask } from '../mask/index.js';
import { LINEAR_CPU_ENTRY_POINTS, hasEntryPoints, type AddonBindings, type NativeAttentionArgs } from '../native/bindings.js';
import { loadNative, nativeLinear } from '../native/load.js';
import { hostView, maskArgs, scoreArgs } from '../native/views.js';
import type { Tensor } from '../tensor.js';
import { allocateOutputs, runLinearHost, runLinearHostSync, type LinearOutputs } from './operands.js';

let tileShape: { blockQ: number; blockK: number } | undefined;

/** The tile shape the native CPU kernel runs, which its masks are compiled for. */
export function cpuTile(): { blockQ: number; blockK: number } {
  tileShape ??= loadNative().info().cpu.tile;
  return tileShape;
}

/** Builds the native call for a plan; the outputs it writes are returned alongside. */
export function cpuCall(plan: AttentionPlan): { args: NativeAttentionArgs; out: Tensor; lse: Tensor } {
  const tile = cpuTile();
  const mask = compileMask(plan.pattern, {
    seqQ: plan.q.seq,
    seqK: plan.k.seq,
    heads: plan.q.heads,
    blockQ: tile.blockQ,
    blockK: tile.blockK,
  });
  const { out, lse } = allocateOutputs(plan);
  const args: NativeAttentionArgs = {
    q: hostView(plan.q, plan.q.tensor.data, plan.dtype),
    k: hostView(plan.k, plan.k.tensor.data, plan.dtype),
    v: hostView(plan.v, plan.v.tensor.data, plan.dtype),
    out: hostView(plan.q, out.data, plan.dtype),
    lse: lse.data as Float32Array,
    mask: maskArgs(mask),
    ...scoreArgs(plan),
  };
  return { args, out, lse };
}

export function runCpuSync(plan: AttentionPlan): { out: Tensor; lse: Tensor } {
  const { args, out, lse } = cpuCall(plan);
  loadNative().attentionSync(args);
  return { out, lse };
}

export async function runCpu(plan: AttentionPlan, signal?: AbortSignal): Promise<{ out: Tensor; lse: Tensor }> {
  const { args, out, lse } = cpuCall(plan);
  await nativeCall(signal, (token) => loadNative().attention(args, token));
  return { out, lse };
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
