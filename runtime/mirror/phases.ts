// Predicates over phases, shared by the machine, the status view and the tests.
import type { NodeRole, Phase, PhaseName } from './types.js';

/** Phases in which the primary-role application is running or may be (starting, running, stopping). */
export const APP_MAY_RUN_AS_PRIMARY: ReadonlySet<PhaseName> = new Set(['STARTING_PRIM', 'PRIM', 'ALONE', 'STOPPING_PRIM']);

/** The role a phase plays: primary (its application may run), secondary (follows the peer), none. */
export function roleOf(name: PhaseName): NodeRole {
  if (APP_MAY_RUN_AS_PRIMARY.has(name)) return 'primary';
  if (name === 'SYNCING' || name === 'SECOND') return 'secondary';
  return 'none';
}

/** The node runs as primary (started or starting, not stopping). */
export function isActivePrimaryName(name: PhaseName): boolean {
  return name === 'STARTING_PRIM' || name === 'PRIM' || name === 'ALONE';
}

export function appMayRunAsPrimary(phase: Phase): boolean {
  return APP_MAY_RUN_AS_PRIMARY.has(phase.name);
}

/**
 * The node claims the primary role and keeps its VIP: it must hold authority, else it fences.
 * A stopping primary that is not restarting no longer claims it (it is on its way out, and is
 * killed at once if authority runs out meanwhile).
 */
export function holdsPrimary(phase: Phase): boolean {
  return isActivePrimaryName(phase.name) || (phase.name === 'STOPPING_PRIM' && phase.next === 'RESTART' && !phase.fenced);
}

/** The node relies (or is about to rely) on the peer's grants: it reports `usesGrant` and grants nothing. */
export function usesGrant(phase: Phase): boolean {
  return phase.name === 'PROMOTING' || appMayRunAsPrimary(phase);
}

/** The node keeps its authority alive (renews the witness lease when peer grants run low). */
export function maintainsAuthority(phase: Phase): boolean {
  return isActivePrimaryName(phase.name) || (phase.name === 'STOPPING_PRIM' && !phase.fenced);
}
