/**
 * attnflow: fast attention for Node.js. See README.md and SPEC.md.
 */
import { installCudaDevices } from './device.js';

export { Tensor } from './tensor.js';
export type { DType } from './dtypes.js';
export type { Layout as TensorLayout, TensorOptions, RandnOptions } from './tensor.js';
export { attention, attentionSync } from './attention.js';
export type { Alignment, AttentionOptions, AttentionWithKeyMass, AttentionWithLse, BackendName, Layout, RopeOptions, SelectOptions } from './attention.js';
export { mergeAttention } from './merge.js';
export { KVCache } from './kvcache/index.js';
export type { CacheAttentionOptions, KVCacheOptions, PolicyName, PolicyObject } from './kvcache/index.js';
export type { AttentionPart } from './merge.js';
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
export { NativeUnavailableError } from './native.js';
export { cuda } from './device.js';
export type { CudaMemoryStats } from './device.js';
export { linearAttention, linearAttentionSync } from './linear/index.js';
export type { LinearAttentionOptions, LinearAttentionWithState, LinearState, FeatureMapOption } from './linear/index.js';

// tensor.to('cuda') goes through the native CUDA backend; nothing loads until the first transfer.
installCudaDevices();
