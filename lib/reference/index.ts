/** The pure-TypeScript reference backend: a float64 oracle and a float32 FlashAttention-2 model. */
export type { AttentionProblem, AttentionResult, OperandView, ResolvedRope } from './problem.js';
export { attentionOracle, checkProblem } from './oracle.js';
export { attentionTiled, type TiledOptions } from './tiled.js';
export { applyRope, checkRope, ropeInvFreq } from './rope.js';
export { alibiSlopes } from './alibi.js';
