/**
 * The host side of a device KVCache's call: queries rotated by RoPE on the host and uploaded (the
 * keys of the cache are rotated once when stored, so the kernels run without RoPE), and the
 * results brought back — the key masses into one host array the cache keeps ([batch, kvHeads,
 * capacity] floats per call, what h2o and adaptive accumulate), and for host inputs the output
 * and lse, once.
 */
import type { AttentionOutputs } from '../backends/operands.js';
import { cudaStorageOf } from '../native/cuda-storage.js';
import { Tensor } from '../tensor.js';

/** A device tensor's elements copied into a new host tensor of the same shape and layout. */
async function toHost(t: Tensor, signal?: AbortSignal): Promise<Tensor> {
  const data = await cudaStorageOf(t)!.toHostAsync(signal);
  return Tensor.from(data, t.shape, { dtype: t.dtype, layout: t.layout });
}

/** What a device cache brings back from one call's results (the device tensors not returned are freed). */
export interface Collect {
  /** the host array of key masses, exactly [batch, kvHeads, capacity], or null when the policy needs none */
  readonly mass: Float32Array | null;
  /** q, k and v were host tensors: the output and lse come back as host tensors */
  readonly hostInputs: boolean;
  /** the caller asked for the lse (else the one that comes with the key masses is freed at once) */
  readonly returnLse: boolean;
}

function massTensor(r: AttentionOutputs, mass: Float32Array): Tensor {
  return Tensor.from(mass, r.keyMass!.shape, { dtype: 'float32' });
}

/** collect() on the calling thread. */
export function collectSync(r: AttentionOutputs, c: Collect): AttentionOutputs {
  let keyMass: Tensor | undefined;
  try {
    if (c.mass !== null && r.keyMass) {
      cudaStorageOf(r.keyMass)!.copyToHost(c.mass);
      keyMass = massTensor(r, c.mass);
    }
    if (!c.hostInputs) return { out: r.out, lse: c.returnLse ? r.lse : null, keyMass };
    return { out: r.out.to('cpu'), lse: c.returnLse ? r.lse!.to('cpu') : null, keyMass };
  } finally {
    release(r, c);
  }
}

/** The results of a device cache's call, with the copies back on a thread of the addon. */
export async function collect(r: AttentionOutputs, c: Collect, signal?: AbortSignal): Promise<AttentionOutputs> {
  let keyMass: Tensor | undefined;
  try {
    if (c.mass !== null && r.keyMass) {
      await cudaStorageOf(r.keyMass)!.copyToHostAsync(c.mass, signal);
      keyMass = massTensor(r, c.mass);
    }
    if (!c.hostInputs) return { out: r.out, lse: c.returnLse ? r.lse : null, keyMass };
    return { out: await toHost(r.out, signal), lse: c.returnLse ? await toHost(r.lse!, signal) : null, keyMass };
  } finally {
    release(r, c);
  }
}

/** Frees the device results the caller does not get: the key masses, the lse unless asked for, and out and lse for host inputs. */
function release(r: AttentionOutputs, c: Collect): void {
  r.keyMass?.dispose();
  if (c.hostInputs) r.out.dispose();
  if (c.hostInputs || !c.returnLse) r.lse?.dispose();
}
