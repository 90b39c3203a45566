// Data generations: which copy of the replicated data is newest. Shared by the mirror machine and the
// witness (which keeps the latest registered generation so that a node can learn it is stale even
// when its peer is down).
import type { DataState, DataView, Generation } from './types.js';

/** How many superseded ids a generation remembers. Older history answers "diverged" (refused, safe). */
export const MAX_SUPERSEDED = 64;

/** The generation of data written at install time on the node that holds the application's data. */
export const INITIAL_GENERATION_ID = 'init';

export type GenerationOrder = 'same' | 'newer' | 'older' | 'diverged';

/** How `a` relates to `b` by ancestry alone. */
export function compareGenerations(a: Generation, b: Generation): GenerationOrder {
  if (a.id === b.id) return 'same';
  if (a.supersedes.includes(b.id)) return 'newer';
  if (b.supersedes.includes(a.id)) return 'older';
  return 'diverged';
}

export interface GenerationView {
  readonly gen: Generation;
  readonly committed: boolean;
}

/** An uncommitted generation (no acknowledged write) that `other` already supersedes the parent of. */
function discardableAgainst(g: GenerationView, other: Generation): boolean {
  const parent = g.gen.supersedes[0];
  return !g.committed && parent !== undefined && (other.id === parent || other.supersedes.includes(parent));
}

/**
 * How `a` relates to `b`, where an uncommitted generation holds no acknowledged write: when ancestry
 * says "diverged" but one side only started a generation it never wrote under, that side is older
 * (its unacknowledged local changes are overwritten by the resync). Both such sides: the larger id
 * wins, the same way on both nodes.
 */
export function orderGenerations(a: GenerationView, b: GenerationView): GenerationOrder {
  const raw = compareGenerations(a.gen, b.gen);
  if (raw !== 'diverged') return raw;
  const aGives = discardableAgainst(a, b.gen);
  const bGives = discardableAgainst(b, a.gen);
  if (aGives && bGives) return a.gen.id > b.gen.id ? 'newer' : 'older';
  if (aGives) return 'older';
  if (bGives) return 'newer';
  return 'diverged';
}

/**
 * - `same` / `mine-newer` / `theirs-newer`: which side holds the newest usable data;
 * - `diverged`: both are usable and neither supersedes the other (both wrote while apart);
 * - `neither`: neither side has usable data (stale or inconsistent on both).
 * Usable means status `up-to-date`; a usable side always beats an unusable one.
 */
export type DataOrder = 'same' | 'mine-newer' | 'theirs-newer' | 'diverged' | 'neither';

export function compareData(mine: DataView, theirs: DataView): DataOrder {
  const mineOk = mine.status === 'up-to-date';
  const theirsOk = theirs.status === 'up-to-date';
  if (!mineOk && !theirsOk) return 'neither';
  if (mineOk && !theirsOk) return 'mine-newer';
  if (!mineOk && theirsOk) return 'theirs-newer';
  switch (orderGenerations(mine, theirs)) {
    case 'same':
      return 'same';
    case 'newer':
      return 'mine-newer';
    case 'older':
      return 'theirs-newer';
    case 'diverged':
      return 'diverged';
  }
}

/** A new generation `id` superseding `current` (and `alsoSupersedes`, e.g. a discarded branch). */
export function nextGeneration(current: Generation, id: string, alsoSupersedes: readonly string[] = []): Generation {
  const seen = new Set<string>([id]);
  const supersedes: string[] = [];
  for (const g of [current.id, ...alsoSupersedes, ...current.supersedes]) {
    if (seen.has(g)) continue;
    seen.add(g);
    supersedes.push(g);
    if (supersedes.length >= MAX_SUPERSEDED) break;
  }
  return { id, supersedes };
}

export function generationId(node: string, incarnation: number, counter: number): string {
  return `${node}.${incarnation}.${counter}`;
}

/**
 * Data state at install: the node that holds the application's data (`source`) is up to date; the
 * other (`replica`) is stale until a full resync from it, so it is never promoted by mistake.
 */
export function initialData(kind: 'source' | 'replica'): DataState {
  if (kind === 'source') {
    return { gen: { id: INITIAL_GENERATION_ID, supersedes: [] }, status: 'up-to-date', committed: true, newerKnown: null, divergedFrom: null, counter: 0 };
  }
  return {
    gen: { id: 'empty', supersedes: [] },
    status: 'stale',
    committed: true,
    newerKnown: INITIAL_GENERATION_ID,
    divergedFrom: null,
    counter: 0,
  };
}
