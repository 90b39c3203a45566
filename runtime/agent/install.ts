// Installing a module instance on this node: the bundle is verified (integrity and signature) and
// kept by digest, extracted safely, and its parameters checked against the plan.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { openBundle, extractBundleSafely } from '../../compiler/bundle/bundle.js';
import type { CompiledPlan } from '../../compiler/plan/types.js';
import { resolveParams, type ParamValues } from '../config/params.js';
import type { ModuleInstance } from '../config/cluster-config.js';
import type { Layout } from './layout.js';
import { writeDurably } from './module-state-store.js';

export interface Installed {
  plan: CompiledPlan;
  bundleDir: string;
}

export function digestOf(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Verifies and stores a bundle; returns its digest and plan. Throws with a clear reason. */
export function acceptBundle(L: Layout, buf: Buffer): { digest: string; plan: CompiledPlan } {
  const opened = openBundle(buf, { source: 'bundle' });
  if (opened.manifest.formatVersion !== 1) throw new Error(`unsupported bundle format ${String(opened.manifest.formatVersion)}`);
  const plan = (opened.manifest as unknown as { plan: CompiledPlan }).plan;
  if (plan?.planVersion !== 1) throw new Error('unsupported plan version');
  const digest = digestOf(buf);
  mkdirSync(L.bundles, { recursive: true });
  if (!existsSync(L.bundle(digest))) writeDurably(L.bundle(digest), buf, 0o644);
  return { digest, plan };
}

export function checkInstance(plan: CompiledPlan, given: Record<string, string>): ParamValues {
  return resolveParams(plan, given);
}

/** The extracted bundle of an installed instance (extracting it on first use). */
export async function materialize(L: Layout, m: ModuleInstance): Promise<Installed> {
  const buf = readFileSync(L.bundle(m.bundleDigest));
  if (digestOf(buf) !== m.bundleDigest) throw new Error(`bundle ${m.bundleDigest} of module ${m.name} is corrupt on disk`);
  const dir = L.extracted(m.name, m.bundleDigest);
  const source = L.bundle(m.bundleDigest);
  let opened;
  if (existsSync(dir)) opened = openBundle(buf, { source });
  else {
    mkdirSync(L.moduleDir(m.name), { recursive: true });
    opened = await extractBundleSafely(buf, dir, { source }); // verifies, then extracts
  }
  return { plan: (opened.manifest as unknown as { plan: CompiledPlan }).plan, bundleDir: dir };
}
