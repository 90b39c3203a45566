// The compiler pipeline: read -> parse -> validate -> rules -> render -> plan. Every stage adds
// located diagnostics to one bag; only errors stop the pipeline before the next stage, so `lint`
// shows everything that can be known at once.
import { createHash } from 'node:crypto';
import { DiagnosticBag, type Diagnostic } from './diagnostics.js';
import { LIMITS, normalizeRel, readModuleFile } from './load/files.js';
import { scanModuleDir } from './load/scan.js';
import { locate, parseYamlSource, fieldName, type PathSegment, type YamlSource } from './load/yaml-source.js';
import type { ModuleDefinition } from './model.js';
import { compilePlan } from './plan/compile.js';
import type { CompiledPlan } from './plan/types.js';
import { renderTemplate } from './render/template.js';
import { RULES } from './rules/index.js';
import { validateSchema } from './validate/schema.js';
import { SCHEMA_VERSION } from './validate/schema-file.js';

export const MODULE_FILE = 'module.yaml';
export const BUNDLE_FORMAT_VERSION = 1;

export interface BundleFile {
  path: string;
  data: Buffer;
  executable: boolean;
}

export interface CompiledModule {
  def: ModuleDefinition;
  plan: CompiledPlan;
  /** Payload files of the bundle: module.yaml, rendered scripts, README.md, CHANGELOG.md. */
  files: BundleFile[];
  /** The manifest without `files` (the bundle writer adds digests). */
  manifest: Record<string, unknown>;
}

export interface CompileResult {
  diagnostics: Diagnostic[];
  module?: CompiledModule;
}

export function compileModule(dir: string, compilerVersion: string): CompileResult {
  const bag = new DiagnosticBag();
  const done = (module?: CompiledModule): CompileResult => (module ? { diagnostics: bag.sorted(), module } : { diagnostics: bag.sorted() });
  scanModuleDir(dir, bag);
  const yamlFile = readModuleFile(dir, MODULE_FILE, bag, { maxBytes: LIMITS.moduleYamlBytes, missingCode: 'HM101' });
  if (!yamlFile) return done();
  const src = parseYamlSource(MODULE_FILE, yamlFile.text, bag);
  if (!src) return done();
  const schemaOk = validateSchema(src, bag);
  if (src.value === null || typeof src.value !== 'object' || Array.isArray(src.value)) return done();
  const def = src.value as ModuleDefinition;
  // Rules and templates also run on a module with schema errors, so one lint shows everything;
  // there they are guarded, and their findings inside a field the schema rejected are dropped.
  const later = new DiagnosticBag();
  for (const [, rule] of RULES) guarded(schemaOk, () => rule({ def, src, bag: later }));
  const docs = readDocs(dir, bag);
  const scripts = guarded(schemaOk, () => renderScripts(dir, def, src, later)) ?? new Map<string, BundleFile>();
  bag.push(...(schemaOk ? later.items : withoutSchemaOverlap(later.items, bag.items)));
  if (bag.hasErrors || !schemaOk) return done();
  const digests = new Map([...scripts].map(([p, f]) => [p, sha256(f.data)]));
  const plan = compilePlan(def, digests);
  const files: BundleFile[] = [
    { path: MODULE_FILE, data: yamlFile.data, executable: false },
    ...[...scripts.values()],
    ...docs,
  ];
  const manifest: Record<string, unknown> = {
    formatVersion: BUNDLE_FORMAT_VERSION,
    schemaVersion: SCHEMA_VERSION,
    compiler: { name: 'hamod', version: compilerVersion },
    module: metadata(def),
    plan,
  };
  return done({ def, plan, files, manifest });
}

function guarded<T>(safe: boolean, f: () => T): T | undefined {
  if (safe) return f();
  try {
    return f();
  } catch {
    return undefined; // malformed input: the schema diagnostics already explain it
  }
}

function withoutSchemaOverlap(found: Diagnostic[], schema: Diagnostic[]): Diagnostic[] {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const d of schema) {
    if (d.field === undefined) continue;
    exact.add(d.field);
    if (d.code === 'HM203' || d.code === 'HM202') continue;
    const parent = d.field.replace(/(\.[^.[\]]+|\[\d+\])$/, '');
    if (parent !== d.field && parent !== '') prefixes.push(parent);
  }
  return found.filter((d) => {
    if (d.field === undefined || d.file !== MODULE_FILE) return true;
    if (exact.has(d.field)) return false;
    return !prefixes.some((p) => d.field === p || d.field!.startsWith(p + '.') || d.field!.startsWith(p + '['));
  });
}

function metadata(def: ModuleDefinition): Record<string, unknown> {
  const m: Record<string, unknown> = { name: def.name, version: def.version, mode: def.mode };
  for (const k of ['description', 'license', 'homepage', 'keywords', 'maintainers', 'compatibility'] as const) {
    if (def[k] !== undefined) m[k] = def[k];
  }
  m.dependencies = (def.dependencies ?? []).map((d) => ({ name: d.name, version: d.version, optional: d.optional ?? false }));
  return m;
}

function readDocs(dir: string, bag: DiagnosticBag): BundleFile[] {
  const out: BundleFile[] = [];
  for (const name of ['README.md', 'CHANGELOG.md']) {
    const probe = new DiagnosticBag();
    const f = readModuleFile(dir, name, probe);
    if (f) out.push({ path: name, data: f.data, executable: false });
    else if (probe.items.every((d) => d.code === 'HM312')) bag.add('HM320', { file: name, message: `the module has no ${name}; it is shipped in the bundle and shown in the catalog` });
    else bag.push(...probe.items);
  }
  return out;
}

/** Every script the module references, rendered once each (a script may be used twice). */
function renderScripts(dir: string, def: ModuleDefinition, src: YamlSource, bag: DiagnosticBag): Map<string, BundleFile> {
  const refs: Array<{ path: string; at: PathSegment[] }> = [];
  def.services.forEach((s, i) => {
    for (const k of ['run', 'start', 'stop'] as const) if (s[k] !== undefined) refs.push({ path: s[k], at: ['services', i, k] });
  });
  def.checkers?.forEach((c, i) => { if (c.type === 'command') refs.push({ path: c.script, at: ['checkers', i, 'script'] }); });
  const params = Object.entries(def.parameters ?? {}).map(([name, p]) => ({ name, type: p.type }));
  const out = new Map<string, BundleFile>();
  for (const r of refs) {
    const path = normalizeRel(r.path);
    if (out.has(path)) continue;
    const f = readModuleFile(dir, path, bag, { from: { file: src.file, ...locate(src, r.at), field: fieldName(r.at) } });
    if (!f) continue;
    const rendered = renderTemplate(f.text, { file: path, params, module: { name: def.name, version: def.version, mode: def.mode } });
    bag.push(...rendered.diagnostics);
    out.set(path, { path, data: Buffer.from(rendered.output, 'utf8'), executable: true });
  }
  return out;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
