// The witness's durable registry: the latest generation registered per module, and the lease
// duration the writer granted (so that a witness restarted with a shorter lease still waits out the
// longer leases its previous run may have granted). One small JSON file in the data directory,
// replaced atomically and durably: written to a temporary file, fsynced, renamed over the old one,
// then the directory is fsynced. A reply that depends on the registry is sent only after that.
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Generation, Millis } from '../mirror/types.js';
import { copyGeneration, generationProblem, isModuleName } from './protocol.js';

export const WITNESS_STATE_FILE = 'witness-state.json';
export const WITNESS_STATE_FORMAT = 1;

export interface WitnessRegistry {
  /** Lease duration granted by the run that wrote the file (null: unknown). */
  readonly leaseMs: Millis | null;
  readonly latest: ReadonlyMap<string, Generation>;
}

interface StateFile {
  format: typeof WITNESS_STATE_FORMAT;
  leaseMs: Millis;
  modules: Record<string, Generation>;
}

const TMP_PREFIX = `.${WITNESS_STATE_FILE}.`;

/** Reads the registry of `dir` (empty when there is no file yet); throws on a damaged file. */
export async function loadRegistry(dir: string): Promise<WitnessRegistry> {
  const file = join(dir, WITNESS_STATE_FILE);
  // Temporary files of a write cut short: never renamed, so never part of the registry.
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith(TMP_PREFIX) && name.endsWith('.tmp')) await unlink(join(dir, name)).catch(() => undefined);
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { leaseMs: null, latest: new Map() };
    throw new Error(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const damaged = (why: string): Error =>
    new Error(`${file}: ${why}; refusing to start without the registry of generations (move the file away only if this witness's history may be forgotten)`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged('not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw damaged('not a JSON object');
  const r = raw as Record<string, unknown>;
  if (r.format !== WITNESS_STATE_FORMAT) throw damaged(`unsupported format ${JSON.stringify(r.format)}`);
  const leaseMs = typeof r.leaseMs === 'number' && Number.isFinite(r.leaseMs) && r.leaseMs > 0 ? r.leaseMs : null;
  if (typeof r.modules !== 'object' || r.modules === null || Array.isArray(r.modules)) throw damaged('"modules" is not an object');
  const latest = new Map<string, Generation>();
  for (const [module, gen] of Object.entries(r.modules as Record<string, unknown>)) {
    if (!isModuleName(module)) throw damaged(`invalid module name ${JSON.stringify(module)}`);
    const problem = generationProblem(gen, `modules.${module}`);
    if (problem !== null) throw damaged(problem);
    latest.set(module, copyGeneration(gen));
  }
  return { leaseMs, latest };
}

/** Replaces the registry of `dir` durably (see the header); resolves once it is on disk. */
export async function saveRegistry(dir: string, leaseMs: Millis, latest: ReadonlyMap<string, Generation>): Promise<void> {
  const modules: Record<string, Generation> = {};
  for (const [module, gen] of [...latest].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) modules[module] = gen;
  const content: StateFile = { format: WITNESS_STATE_FORMAT, leaseMs, modules };
  const file = join(dir, WITNESS_STATE_FILE);
  const tmp = join(dir, `${TMP_PREFIX}${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(JSON.stringify(content, null, 2) + '\n', 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
