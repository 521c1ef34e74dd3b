/**
 * The tile shape a backend runs, for the tile efficiency analyze reports and the tiles renderMask
 * outlines: asked of the native addon when it loads (the CPU kernel's `info().cpu.tile`, the CUDA
 * kernels' `cudaTile()`), else the shape both native backends document (64 × 64). The answer says
 * where it came from, so a report never presents a guess as a measurement.
 */
import { tryLoadNative } from '../native/load.js';

export type TileBackend = 'cpu' | 'cuda';

/** the tile both native backends run (README "Architecture"; native/cpu and native/cuda) */
export const DOCUMENTED_TILE = { blockQ: 64, blockK: 64 } as const;

export interface BackendTile {
  tile: { blockQ: number; blockK: number };
  /** 'cpu' / 'cuda': reported by the loaded addon; 'documented': the addon (or CUDA) is not here */
  source: TileBackend | 'documented';
}

const cache = new Map<TileBackend, BackendTile>();

function validTile(t: unknown): t is { blockQ: number; blockK: number } {
  if (typeof t !== 'object' || t === null) return false;
  const { blockQ, blockK } = t as Record<string, unknown>;
  return Number.isInteger(blockQ) && Number.isInteger(blockK) && (blockQ as number) > 0 && (blockK as number) > 0;
}

function ask(backend: TileBackend): BackendTile {
  const native = tryLoadNative();
  if (!('error' in native)) {
    try {
      const addon = native.addon;
      let t: unknown;
      if (backend === 'cpu') t = addon.info().cpu.tile;
      // an addon built without CUDA answers cudaTile() with the documented shape: not a measurement
      else if (addon.info().cuda.compiled === true && typeof addon.cudaTile === 'function') t = addon.cudaTile();
      if (validTile(t)) return { tile: { blockQ: t.blockQ, blockK: t.blockK }, source: backend };
    } catch {
      // an addon that cannot answer: fall back to the documented shape
    }
  }
  return { tile: { ...DOCUMENTED_TILE }, source: 'documented' };
}

/** The tile `backend` runs (see the file comment). */
export function backendTile(backend: TileBackend = 'cpu'): BackendTile {
  let r = cache.get(backend);
  if (r === undefined) {
    r = ask(backend);
    cache.set(backend, r);
  }
  return { tile: { ...r.tile }, source: r.source };
}
