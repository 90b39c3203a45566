// Checker bookkeeping for one module on one node, as a reducer `(state, input) -> { state, output }`.
// It schedules checks (interval, timeout), counts consecutive failures against each checker's
// threshold, turns a crossing into the checker's action, escalates repeated `restart`s to the
// configured `then` (default failover), and makes the module give up (`stop`) after too many errors
// in its window (`failover.maxErrors`). Time comes in the inputs; running the checks is the actor's
// job (it answers `run` outputs with `result` inputs carrying the runId).
import { addToWindow, countInWindow, EMPTY_WINDOW, type WindowCount } from './error-window.js';

export type CheckerAction = 'restart' | 'failover' | 'stop';

export interface CheckerPolicy {
  readonly name: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failures before the action. */
  readonly threshold: number;
  readonly action: CheckerAction;
  /** After `restarts` restarts within `windowMs`, take `then` instead of restarting again. */
  readonly escalation: { readonly restarts: number; readonly windowMs: number; readonly then: 'failover' | 'stop' } | null;
}

export interface ModuleCheckPolicy {
  readonly checkers: readonly CheckerPolicy[];
  /** The module gives up after this many errors (actions taken) within the window. */
  readonly maxErrors: { readonly count: number; readonly windowMs: number } | null;
}

/** Schema defaults (module.schema.json: interval 1s, timeout 500ms, threshold 3). */
export const CHECKER_DEFAULTS = { intervalMs: 1000, timeoutMs: 500, threshold: 3 } as const;

export interface CheckerBook {
  readonly consecutive: number;
  readonly inFlight: { readonly runId: number; readonly deadline: number } | null;
  readonly nextDueAt: number | null;
  readonly restarts: WindowCount;
  readonly lastFailure: string | null;
}

export interface EscalationState {
  /** Checkers currently running (armed for the node's role); others are idle. */
  readonly armed: readonly string[];
  readonly books: Readonly<Record<string, CheckerBook>>;
  readonly errors: WindowCount;
  /** A `stop` was issued because of the error budget: no more actions until re-armed with reset. */
  readonly gaveUp: boolean;
  readonly nextRunId: number;
}

export type EscalationInput =
  /** Start running `checkers` (all when null), first checks at once. `reset` forgets error history. */
  | { readonly type: 'arm'; readonly at: number; readonly checkers: readonly string[] | null; readonly reset: boolean }
  | { readonly type: 'disarm'; readonly at: number }
  | { readonly type: 'tick'; readonly at: number }
  | { readonly type: 'result'; readonly checker: string; readonly runId: number; readonly ok: boolean; readonly detail: string; readonly at: number }
  /** A failure seen without a scheduled check (a process exit event). */
  | { readonly type: 'failure'; readonly checker: string; readonly detail: string; readonly at: number };

export interface CheckRun {
  readonly checker: string;
  readonly runId: number;
  readonly deadline: number;
}

export interface EscalatedAction {
  readonly checker: string;
  readonly action: CheckerAction;
  readonly reason: string;
  /** True when the action differs from the checker's own (escalation or error budget). */
  readonly escalated: boolean;
}

export interface EscalationOutput {
  readonly run: readonly CheckRun[];
  readonly actions: readonly EscalatedAction[];
}

export interface EscalationStep {
  readonly state: EscalationState;
  readonly output: EscalationOutput;
}

function emptyBook(): CheckerBook {
  return { consecutive: 0, inFlight: null, nextDueAt: null, restarts: EMPTY_WINDOW, lastFailure: null };
}

export function initialEscalationState(policy: ModuleCheckPolicy): EscalationState {
  const books: Record<string, CheckerBook> = {};
  for (const c of policy.checkers) books[c.name] = emptyBook();
  return { armed: [], books, errors: EMPTY_WINDOW, gaveUp: false, nextRunId: 1 };
}

export function escalationReducer(policy: ModuleCheckPolicy): (state: EscalationState, input: EscalationInput) => EscalationStep {
  const byName = new Map(policy.checkers.map((c) => [c.name, c]));
  return (state, input) => {
    const run: CheckRun[] = [];
    const actions: EscalatedAction[] = [];
    let s = state;
    const setBook = (name: string, book: CheckerBook): void => {
      s = { ...s, books: { ...s.books, [name]: book } };
    };
    const book = (name: string): CheckerBook => s.books[name] ?? emptyBook();

    const fail = (c: CheckerPolicy, detail: string, at: number): void => {
      const b = book(c.name);
      const consecutive = b.consecutive + 1;
      if (consecutive < c.threshold) {
        setBook(c.name, { ...b, consecutive, lastFailure: detail });
        return;
      }
      // Threshold crossed: one action, and the count starts again.
      let action: CheckerAction = c.action;
      let reason = `${consecutive} consecutive failure(s): ${detail}`;
      let restarts = b.restarts;
      if (c.action === 'restart') {
        const esc = c.escalation;
        if (esc !== null && countInWindow(b.restarts, at, esc.windowMs) >= esc.restarts) {
          action = esc.then;
          reason = `${reason}; already restarted ${esc.restarts} time(s) within ${esc.windowMs} ms: ${esc.then}`;
          restarts = EMPTY_WINDOW;
        } else if (esc !== null) {
          restarts = addToWindow(b.restarts, at, esc.windowMs).window;
        }
      }
      setBook(c.name, { ...b, consecutive: 0, lastFailure: detail, restarts });
      if (s.gaveUp) return;
      if (policy.maxErrors !== null) {
        const { window, count } = addToWindow(s.errors, at, policy.maxErrors.windowMs);
        s = { ...s, errors: window };
        if (count >= policy.maxErrors.count) {
          s = { ...s, gaveUp: true };
          actions.push({
            checker: c.name,
            action: 'stop',
            reason: `${reason}; ${count} errors within ${policy.maxErrors.windowMs} ms: giving up`,
            escalated: c.action !== 'stop',
          });
          return;
        }
      }
      actions.push({ checker: c.name, action, reason, escalated: action !== c.action });
    };

    switch (input.type) {
      case 'arm': {
        const names = input.checkers ?? policy.checkers.map((c) => c.name);
        const armed = names.filter((n) => byName.has(n));
        s = { ...s, armed, ...(input.reset ? { errors: EMPTY_WINDOW, gaveUp: false } : {}) };
        for (const n of armed) {
          const b = input.reset ? emptyBook() : book(n);
          setBook(n, { ...b, consecutive: 0, inFlight: null, nextDueAt: input.at });
        }
        break;
      }
      case 'disarm':
        for (const n of s.armed) setBook(n, { ...book(n), inFlight: null, nextDueAt: null, consecutive: 0 });
        s = { ...s, armed: [] };
        break;
      case 'result': {
        const c = byName.get(input.checker);
        const b = book(input.checker);
        if (c === undefined || !s.armed.includes(c.name) || b.inFlight === null || b.inFlight.runId !== input.runId) break;
        const late = input.at > b.inFlight.deadline;
        setBook(c.name, { ...b, inFlight: null, nextDueAt: b.inFlight.deadline - c.timeoutMs + c.intervalMs });
        if (input.ok && !late) setBook(c.name, { ...book(c.name), consecutive: 0 });
        else fail(c, late ? `no answer within ${c.timeoutMs} ms` : input.detail, input.at);
        break;
      }
      case 'failure': {
        const c = byName.get(input.checker);
        if (c === undefined || !s.armed.includes(c.name)) break;
        fail(c, input.detail, input.at);
        break;
      }
      case 'tick':
        break;
    }

    // Timeouts of checks in flight, then checks that are due.
    for (const name of s.armed) {
      const c = byName.get(name);
      if (c === undefined) continue;
      const b = book(name);
      if (b.inFlight !== null && input.at > b.inFlight.deadline) {
        setBook(name, { ...b, inFlight: null, nextDueAt: b.inFlight.deadline - c.timeoutMs + c.intervalMs });
        fail(c, `no answer within ${c.timeoutMs} ms`, input.at);
      }
      const b2 = book(name);
      if (b2.inFlight === null && b2.nextDueAt !== null && input.at >= b2.nextDueAt) {
        const runId = s.nextRunId;
        s = { ...s, nextRunId: runId + 1 };
        const deadline = input.at + c.timeoutMs;
        setBook(name, { ...b2, inFlight: { runId, deadline } });
        run.push({ checker: name, runId, deadline });
      }
    }
    return { state: s, output: { run, actions } };
  };
}

/** When the next `tick` is needed (a check due or timing out), or null when nothing is armed. */
export function nextCheckDeadline(s: EscalationState): number | null {
  const times: number[] = [];
  for (const n of s.armed) {
    const b = s.books[n];
    if (b === undefined) continue;
    if (b.inFlight !== null) times.push(b.inFlight.deadline + 1);
    else if (b.nextDueAt !== null) times.push(b.nextDueAt);
  }
  return times.length === 0 ? null : Math.min(...times);
}
