// Crash-consistency workload (issue 4): a small scripted sequence of create / write / append /
// overwrite / rename / unlink / truncate operations with fsync points, run by the records test
// application (`POST /ops?stop=K`, test/modules/records): it executes the script up to its K-th
// fsync point (the fsync has returned) plus the operations after it up to the next fsync point
// (not synced), then answers. The test then crashes the primary and checks, on the node that took
// over, what each file may hold:
//  - `required(k)`: what POSIX durability promises (fsynced content is there; an atomic rename is
//    fully old or fully new; an unsynced write is absent or a clean prefix/overlay, never garbage);
//  - `modelAfter(k)`: the exact state when the application got its answers — what hamod's
//    replication promises (every operation is applied on the secondary before it returns).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type Op =
  | { op: 'mkdirp' | 'mkdir' | 'fsync' | 'fdatasync' | 'fsyncdir' | 'unlink'; path: string }
  | { op: 'write'; path: string; data: string; create?: boolean; append?: boolean; offset?: number }
  | { op: 'rename'; from: string; to: string }
  | { op: 'truncate'; path: string; size: number };

export const FSYNC_OPS = new Set(['fsync', 'fdatasync', 'fsyncdir']);

/** Deterministic bytes (sha256 in counter mode). */
export function bytes(seed: string, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let off = 0, i = 0; off < n; i++) {
    const h = createHash('sha256').update(`${seed}/${i}`).digest();
    off += h.copy(out, off, 0, Math.min(h.length, n - off));
  }
  return out;
}

export interface Contents {
  A1: Buffer; A2: Buffer; A12: Buffer; C1: Buffer; A12c: Buffer; B1: Buffer; B2: Buffer; B2t: Buffer; C: Buffer;
}

export const C1_OFFSET = 50_000;

export function contents(round: string): Contents {
  const A1 = bytes(`${round}/A1`, 100_003);
  const A2 = bytes(`${round}/A2`, 30_011);
  const A12 = Buffer.concat([A1, A2]);
  const C1 = bytes(`${round}/C1`, 8_192);
  const A12c = Buffer.from(A12);
  C1.copy(A12c, C1_OFFSET);
  const B1 = bytes(`${round}/B1`, 70_001);
  const B2 = bytes(`${round}/B2`, 90_017);
  return { A1, A2, A12, C1, A12c, B1, B2, B2t: B2.subarray(0, 1000), C: bytes(`${round}/C`, 5_000) };
}

/** The script of one round, in directory `dir` (relative to the data directory). 14 fsync points. */
export function script(dir: string, x: Contents): Op[] {
  const p = (name: string) => `${dir}/${name}`;
  const b64 = (b: Buffer) => b.toString('base64');
  return [
    { op: 'mkdirp', path: dir },
    { op: 'fsyncdir', path: dir.split('/').slice(0, -1).join('/') || '.' }, // P1
    { op: 'write', path: p('a.dat'), data: b64(x.A1), create: true },
    { op: 'fsync', path: p('a.dat') }, // P2
    { op: 'fsyncdir', path: dir }, // P3
    { op: 'write', path: p('b.tmp'), data: b64(x.B1), create: true },
    { op: 'fsync', path: p('b.tmp') }, // P4
    { op: 'rename', from: p('b.tmp'), to: p('b.dat') },
    { op: 'fsyncdir', path: dir }, // P5
    { op: 'write', path: p('b.tmp'), data: b64(x.B2), create: true },
    { op: 'fsync', path: p('b.tmp') }, // P6
    { op: 'rename', from: p('b.tmp'), to: p('b.dat') },
    { op: 'fsyncdir', path: dir }, // P7
    { op: 'write', path: p('a.dat'), data: b64(x.A2), append: true },
    { op: 'fdatasync', path: p('a.dat') }, // P8
    { op: 'write', path: p('a.dat'), data: b64(x.C1), offset: C1_OFFSET },
    { op: 'fsync', path: p('a.dat') }, // P9
    { op: 'mkdir', path: p('sub') },
    { op: 'write', path: p('sub/c.dat'), data: b64(x.C), create: true },
    { op: 'fsync', path: p('sub/c.dat') }, // P10
    { op: 'fsyncdir', path: p('sub') }, // P11
    { op: 'fsyncdir', path: dir }, // P12
    { op: 'unlink', path: p('a.dat') },
    { op: 'fsyncdir', path: dir }, // P13
    { op: 'truncate', path: p('b.dat'), size: 1000 },
    { op: 'fsync', path: p('b.dat') }, // P14
  ];
}

export const POINTS = 14;

/** How many operations the application runs for `stop = k` (what its answer's `executed` must be). */
export function executedFor(ops: readonly Op[], k: number): { point: number; executed: number } {
  let point = 0;
  let i = 0;
  for (; i < ops.length; i++) {
    if (FSYNC_OPS.has(ops[i]!.op) && point >= k) break;
    if (FSYNC_OPS.has(ops[i]!.op)) point++;
  }
  return { point, executed: i };
}

export type Matcher =
  | { kind: 'absent' }
  | { kind: 'exact'; data: Buffer; name: string }
  /** A prefix of `data` at least `min` bytes long (an unsynced append/write: clean, never garbage). */
  | { kind: 'prefix'; data: Buffer; min: number; name: string }
  /** Same length as `old`; every byte either the old or the new one (an unsynced overwrite). */
  | { kind: 'overlay'; old: Buffer; new: Buffer; name: string };

const absent: Matcher = { kind: 'absent' };
const exact = (data: Buffer, name: string): Matcher => ({ kind: 'exact', data, name });
const prefix = (data: Buffer, name: string, min = 0): Matcher => ({ kind: 'prefix', data, min, name });

/** What POSIX durability allows for each file of the round after a crash at point k (+ its unsynced tail). */
export function required(k: number, x: Contents): Record<string, Matcher[]> {
  const A1 = exact(x.A1, 'A1');
  const B2 = exact(x.B2, 'B2');
  const A12c = exact(x.A12c, 'A1+A2 patched');
  const C = exact(x.C, 'C');
  switch (k) {
    case 1: return { 'a.dat': [absent, prefix(x.A1, 'A1')] };
    case 2: return { 'a.dat': [absent, A1] };
    case 3: return { 'a.dat': [A1], 'b.tmp': [absent, prefix(x.B1, 'B1')] };
    case 4: return { 'a.dat': [A1], 'b.tmp': [absent, exact(x.B1, 'B1')], 'b.dat': [absent, exact(x.B1, 'B1')] };
    case 5: return { 'a.dat': [A1], 'b.dat': [exact(x.B1, 'B1')], 'b.tmp': [absent, prefix(x.B2, 'B2')] };
    case 6: return { 'a.dat': [A1], 'b.dat': [exact(x.B1, 'B1 (old)'), exact(x.B2, 'B2 (new)')], 'b.tmp': [absent, B2] };
    case 7: return { 'a.dat': [prefix(x.A12, 'A1+A2', x.A1.length)], 'b.dat': [B2], 'b.tmp': [absent] };
    case 8: return { 'a.dat': [{ kind: 'overlay', old: x.A12, new: x.A12c, name: 'A1+A2, patched or not' }], 'b.dat': [B2], 'b.tmp': [absent] };
    case 9: return { 'a.dat': [A12c], 'b.dat': [B2], 'sub/c.dat': [absent, prefix(x.C, 'C')] };
    case 10:
    case 11: return { 'a.dat': [A12c], 'b.dat': [B2], 'sub/c.dat': [absent, C] };
    case 12: return { 'a.dat': [absent, A12c], 'b.dat': [B2], 'sub/c.dat': [C] };
    case 13: return { 'a.dat': [absent], 'b.dat': [B2, exact(x.B2t, 'B2 truncated')], 'sub/c.dat': [C] };
    case 14: return { 'a.dat': [absent], 'b.dat': [exact(x.B2t, 'B2 truncated')], 'sub/c.dat': [C] };
    default: throw new Error(`no fsync point ${k}`);
  }
}

export function matches(m: Matcher, actual: Buffer | null): boolean {
  switch (m.kind) {
    case 'absent': return actual === null;
    case 'exact': return actual !== null && actual.equals(m.data);
    case 'prefix': return actual !== null && actual.length >= m.min && actual.length <= m.data.length && actual.equals(m.data.subarray(0, actual.length));
    case 'overlay': {
      if (actual === null || actual.length !== m.old.length) return false;
      for (let i = 0; i < actual.length; i++) if (actual[i] !== m.old[i] && actual[i] !== m.new[i]) return false;
      return true;
    }
  }
}

export function describeMatcher(m: Matcher): string {
  switch (m.kind) {
    case 'absent': return 'absent';
    case 'exact': return `${m.name} (${m.data.length} bytes)`;
    case 'prefix': return `a prefix of ${m.name} of ${m.min}..${m.data.length} bytes`;
    case 'overlay': return `${m.name} (${m.old.length} bytes)`;
  }
}

export function describeActual(actual: Buffer | null, x: Contents): string {
  if (actual === null) return 'absent';
  const named = Object.entries(x).find(([, v]) => (v as Buffer).equals(actual));
  return `${actual.length} bytes${named ? ` (= ${named[0]})` : ''}, sha256 ${createHash('sha256').update(actual).digest('hex').slice(0, 16)}`;
}

/** The exact state of the round's directory after the first `executed` operations (path -> content, 'dir'). */
export function modelAfter(ops: readonly Op[], executed: number, dir: string): Map<string, Buffer | 'dir'> {
  const fs = new Map<string, Buffer | 'dir'>();
  const rel = (p: string) => (p === dir ? '' : p.slice(dir.length + 1));
  for (const o of ops.slice(0, executed)) {
    switch (o.op) {
      case 'mkdirp':
      case 'mkdir':
        if (o.path.startsWith(`${dir}/`)) fs.set(rel(o.path), 'dir');
        break;
      case 'write': {
        const data = Buffer.from(o.data, 'base64');
        const cur = fs.get(rel(o.path));
        const old = cur instanceof Buffer && !o.create ? cur : Buffer.alloc(0);
        if (o.append) fs.set(rel(o.path), Buffer.concat([old, data]));
        else {
          const off = o.offset ?? 0;
          const next = Buffer.alloc(Math.max(old.length, off + data.length));
          old.copy(next);
          data.copy(next, off);
          fs.set(rel(o.path), next);
        }
        break;
      }
      case 'rename': {
        const v = fs.get(rel(o.from));
        if (v === undefined) throw new Error(`model: rename of a missing ${o.from}`);
        fs.delete(rel(o.from));
        fs.set(rel(o.to), v);
        break;
      }
      case 'unlink':
        fs.delete(rel(o.path));
        break;
      case 'truncate': {
        const cur = fs.get(rel(o.path));
        if (!(cur instanceof Buffer)) throw new Error(`model: truncate of ${o.path}`);
        const next = Buffer.alloc(o.size);
        cur.copy(next, 0, 0, Math.min(cur.length, o.size));
        fs.set(rel(o.path), next);
        break;
      }
      default:
        break; // fsync points change nothing in the model
    }
  }
  return fs;
}

/** The round's directory as it is on a disk (same shape as modelAfter); null if it does not exist. */
export function readRound(root: string): Map<string, Buffer | 'dir'> | null {
  try {
    if (!statSync(root).isDirectory()) return null;
  } catch {
    return null;
  }
  const out = new Map<string, Buffer | 'dir'>();
  const walk = (d: string, r: string) => {
    for (const name of readdirSync(d).sort()) {
      const rel = r === '' ? name : `${r}/${name}`;
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        out.set(rel, 'dir');
        walk(p, rel);
      } else out.set(rel, readFileSync(p));
    }
  };
  walk(root, '');
  return out;
}

/** Failures of the POSIX-level check (empty: fine). */
export function checkRequired(k: number, x: Contents, actual: Map<string, Buffer | 'dir'> | null): string[] {
  const out: string[] = [];
  for (const [path, allowed] of Object.entries(required(k, x))) {
    const v = actual?.get(path);
    const a = v === undefined || v === 'dir' ? null : v;
    if (v === 'dir') out.push(`${path} is a directory`);
    if (!allowed.some((m) => matches(m, a))) out.push(`${path}: ${describeActual(a, x)}; allowed: ${allowed.map(describeMatcher).join(' | ')}`);
  }
  return out;
}

/** Differences from the exact model (empty: every operation that returned is there, nothing else). */
export function checkExact(model: Map<string, Buffer | 'dir'>, actual: Map<string, Buffer | 'dir'> | null, x: Contents): string[] {
  const out: string[] = [];
  const got = actual ?? new Map<string, Buffer | 'dir'>();
  for (const [path, v] of model) {
    const a = got.get(path);
    if (v === 'dir') { if (a !== 'dir') out.push(`${path}: expected a directory, found ${a === undefined ? 'nothing' : 'a file'}`); continue; }
    if (!(a instanceof Buffer) || !a.equals(v)) out.push(`${path}: expected ${describeActual(v, x)}, found ${a === 'dir' ? 'a directory' : describeActual(a ?? null, x)}`);
  }
  for (const path of got.keys()) if (!model.has(path)) out.push(`${path}: present but not in the model`);
  if (actual === null && model.size > 0) out.unshift('the round directory does not exist');
  return out;
}
