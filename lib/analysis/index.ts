/** Graph analysis of attention patterns (contract: analyze) and mask drawings (contract: renderMask). */
export { analyze } from './analyze.js';
export type { Analysis, AnalysisMethod, AnalyzeOptions } from './analyze.js';
export { renderMask } from '../render/index.js';
export type { RenderFormat, RenderOptions } from '../render/index.js';
