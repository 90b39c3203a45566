// Which of the two nodes should be primary when neither runs the application. Both nodes evaluate
// the same symmetric function on the same facts, so they agree without a vote; when their facts
// differ for a moment (a message in flight), authority still prevents two primaries.
import { compareData } from './generation.js';
import type { DataView, NodeName } from './types.js';

export interface Candidate {
  readonly name: NodeName;
  readonly data: DataView;
  readonly yielding: boolean;
  readonly wantsPrimary: boolean;
  readonly secondaryOnly: boolean;
}

/**
 * The node that should start as primary, or null when none may (diverged data, or neither side up
 * to date). Order of precedence: newest data; not the one that yielded (swap, failover); the one the
 * operator asked for (`prim`, swap on the secondary); not the one told to be secondary; the
 * configured default primary; the smaller node name.
 */
export function chooseWinner(a: Candidate, b: Candidate, defaultPrimary: NodeName | null): NodeName | null {
  switch (compareData(a.data, b.data)) {
    case 'mine-newer':
      return a.name;
    case 'theirs-newer':
      return b.name;
    case 'diverged':
    case 'neither':
      return null;
    case 'same':
      break;
  }
  if (a.yielding !== b.yielding) return a.yielding ? b.name : a.name;
  if (a.wantsPrimary !== b.wantsPrimary) return a.wantsPrimary ? a.name : b.name;
  if (a.secondaryOnly !== b.secondaryOnly) return a.secondaryOnly ? b.name : a.name;
  if (a.secondaryOnly && b.secondaryOnly) return null;
  if (defaultPrimary === a.name || defaultPrimary === b.name) return defaultPrimary;
  return a.name < b.name ? a.name : b.name;
}
