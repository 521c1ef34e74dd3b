export type { BlockMask } from './blockmask.js';
export { compileMask, clearMaskCache, type CompileOptions } from './compile.js';
