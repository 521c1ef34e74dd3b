/** Decoding with a bounded KV cache (see cache.ts, policies.ts). */
export { KVCache, type CacheAttentionOptions } from './cache.js';
export type { KVCacheOptions, PolicyName, PolicyObject } from './options.js';
