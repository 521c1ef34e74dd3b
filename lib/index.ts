/**
 * attnflow: fast attention for Node.js. See README.md and SPEC.md.
 */
export { Tensor } from './tensor.js';
export type { DType } from './dtypes.js';
export type { Layout as TensorLayout, TensorOptions, RandnOptions } from './tensor.js';
export { attention, attentionSync } from './attention/run.js';
export type { Alignment, AttentionOptions, AttentionWithKeyMass, AttentionWithLse, BackendName, Layout, RopeOptions, SelectOptions } from './attention/run.js';
export { mergeAttention } from './attention/merge.js';
export type { AttentionPart } from './attention/merge.js';
export { KVCache } from './kvcache/index.js';
export type { CacheAttentionOptions, KVCacheOptions, PolicyName, PolicyObject } from './kvcache/index.js';
export type { AsyncOptions } from './abort.js';
export { patterns, parsePattern, toPattern, PatternSyntaxError, TileClass } from './patterns/index.js';
export type { Pattern } from './patterns/pattern.js';
export { compileMask, clearMaskCache } from './mask/index.js';
export type { BlockMask } from './mask/blockmask.js';
export { analyze } from './analysis/index.js';
export type { Analysis, AnalyzeOptions } from './analysis/analyze.js';
export { renderMask } from './render/index.js';
export type { RenderOptions } from './render/index.js';
export { info, formatInfo } from './info.js';
export type { AttnflowInfo, BackendStatus } from './info.js';
export { NativeUnavailableError } from './native/load.js';
export { cuda } from './native/cuda.js';
export type { CudaMemoryStats } from './native/bindings.js';
export { linearAttention, linearAttentionSync } from './linear/run.js';
export type { LinearAttentionOptions, LinearAttentionWithState, LinearState, FeatureMapOption } from './linear/run.js';
