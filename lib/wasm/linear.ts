/**
 * One linear-attention call as a wasm arena: operands, feature map, decay and state copied in as
 * native/cpu/linear.cpp resolves them (favor weights transposed and padded to the lanes), one work item per
 * (batch, query head), the output and the final state copied back.
 */
import type { LinearOutputs } from '../backends/operands.js';
import { outputShape, type LinearPlan } from '../linear/plan.js';
import { LINEAR_CHUNK } from '../linear/reference.js';
import { DECAY_CODE, FEATURE_CODE } from '../native/views.js';
import { Tensor } from '../tensor.js';
import { ArenaBuilder, type Arena, type RecordLayout } from './layout.js';

const DTYPE_CODE = { float32: 0, float16: 1, bfloat16: 2 } as const;


/** The arena of a plan and the outputs it fills; arena null when there is no (batch, head) to scan. */
export function linearArena(p: LinearPlan, layout: RecordLayout, lanes: number): { arena: Arena | null; outputs: LinearOutputs } {
  const out = Tensor.zeros(outputShape(p), { dtype: p.dtype, layout: p.layout });
  const S = p.returnState ? Tensor.zeros([p.batch, p.heads, p.df, p.dv]) : null;
  const z = p.returnState ? Tensor.zeros([p.batch, p.heads, p.df]) : null;
  const outputs = { out, S, z };
  if (p.batch * p.heads === 0) return { arena: null, outputs };

  const a = new ArenaBuilder('linear', layout);
  a.set('B', p.batch).set('Hq', p.heads).set('Hkv', p.kvHeads).set('N', p.seq).set('Dk', p.dk).set('Dv', p.dv).set('Df', p.df);
  a.set('chunk', LINEAR_CHUNK).set('dtype', DTYPE_CODE[p.dtype]);
  for (const [name, o] of [['q', p.q], ['k', p.k], ['v', p.v]] as const) {
    a.input(name, o.tensor.data);
    o.strides.forEach((s, i) => a.set(`${name}S${i}`, s));
  }
  a.output('out', out.data);
  const [o0, o1, o2] = out.strides;
  (p.layout === 'bhsd' ? [o0, o1, o2, 1] : [o0, o2, o1, 1]).forEach((s, i) => a.set(`outS${i}`, s));

  const fm = p.featureMap;
  a.set('featureMap', FEATURE_CODE[fm.kind]);
  if (fm.kind === 'favor') {
    const Fp = Math.ceil(p.df / lanes) * lanes; // the kernel's padded feature count
    const wT = new Float32Array(p.dk * Fp);
    for (let f = 0; f < p.df; f++) for (let d = 0; d < p.dk; d++) wT[d * Fp + f] = fm.weights[f * p.dk + d];
    a.input('favorWT', wT);
    a.set('favorScale', Math.pow(p.dk, -0.25)).set('favorNorm', 1 / Math.sqrt(p.df));
  }

  const d = p.decay;
  a.set('decay', DECAY_CODE[d.kind]);
  if (d.kind === 'head') a.input('decayHead', d.gammas);
  if (d.kind === 'step' || d.kind === 'stepDim') {
    a.input('gates', d.data!); // host tensors only (run.ts sends device tensors to 'cuda')
    d.strides.forEach((s, i) => a.set(`gateS${i}`, s));
  }
  a.set('normalize', p.normalize).set('eps', p.eps);
  if (p.initialState) {
    a.input('initS', p.initialState.S.data);
    a.input('initZ', p.initialState.z.data);
  }
  if (S && z) {
    a.output('stateS', S.data);
    a.output('stateZ', z.data);
  }
  return { arena: a.finish([p.batch * p.heads], p.dk), outputs };
}
