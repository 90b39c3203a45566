// `hamod build`, `verify` and `inspect` as library functions (the CLI only parses flags and prints).
import { createHash, type KeyObject } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createBundle, openBundle, type OpenedBundle } from './bundle/bundle.js';
import { compileModule } from './compile-module.js';
import { DiagnosticError, diagnostic, type Diagnostic } from './diagnostics.js';
import { generateKey, keyId, keyPaths, keyStoreFromEnv, loadPrivateKey, loadPublicKey, loadStoreKey, toPublicKey, trustedPublicKeys } from './keys/index.js';
import type { CompiledPlan } from './plan/types.js';

export const DEFAULT_KEY = 'default';
export const MAX_BUNDLE_BYTES = 128 * 1024 * 1024;

export class ModuleBuildError extends DiagnosticError {
  constructor(diagnostics: Diagnostic[], readonly baseDir: string) {
    super(diagnostics, `${diagnostics.filter((d) => d.severity === 'error').length} error(s) in ${baseDir}; the bundle was not written`);
  }
}

export interface BuildOptions {
  dir: string;
  outDir?: string;
  keyFile?: string;
  env?: Record<string, string | undefined>;
  compilerVersion: string;
}

export interface BuildResult {
  path: string;
  name: string;
  version: string;
  /** sha256 of the whole bundle file. */
  digest: string;
  size: number;
  keyId: string;
  /** Warnings (a successful build has no errors). */
  diagnostics: Diagnostic[];
  /** Set when no key existed and the default one was created for this build. */
  generatedKey?: { name: string; keyId: string; privateKey: string; publicKey: string };
}

export async function buildModule(opts: BuildOptions): Promise<BuildResult> {
  const dir = resolve(opts.dir);
  const compiled = compileModule(dir, opts.compilerVersion);
  if (!compiled.module) throw new ModuleBuildError(compiled.diagnostics, dir);
  const { privateKey, generated } = await signingKey(opts);
  const data = createBundle({ manifest: compiled.module.manifest, files: compiled.module.files, privateKey });
  const { name, version } = compiled.module.plan.module;
  const outDir = resolve(opts.outDir ?? '.');
  const path = join(outDir, `${name}-${version}.hamod`);
  writeAtomically(path, data);
  const result: BuildResult = { path, name, version, digest: sha256(data), size: data.length, keyId: keyId(toPublicKey(privateKey)), diagnostics: compiled.diagnostics };
  if (generated) result.generatedKey = generated;
  return result;
}

async function signingKey(opts: BuildOptions): Promise<{ privateKey: KeyObject; generated?: NonNullable<BuildResult['generatedKey']> }> {
  if (opts.keyFile !== undefined) return { privateKey: await loadPrivateKey(resolve(opts.keyFile)) };
  const store = keyStoreFromEnv(opts.env ?? process.env);
  try {
    return { privateKey: await loadStoreKey(store, DEFAULT_KEY) };
  } catch (e) {
    if (!(e instanceof DiagnosticError) || e.diagnostics[0]?.code !== 'HM501') throw e;
  }
  const g = await generateKey(store, DEFAULT_KEY);
  const paths = keyPaths(store, DEFAULT_KEY);
  return { privateKey: await loadPrivateKey(paths.privateKey), generated: { name: g.name, keyId: g.keyId, privateKey: g.privateKey, publicKey: g.publicKey } };
}

function writeAtomically(path: string, data: Buffer): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    mkdirSync(resolve(path, '..'), { recursive: true });
    writeFileSync(tmp, data, { mode: 0o644 });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new DiagnosticError([diagnostic('HM506', { file: path, message: `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` })]);
  }
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads a bundle file with a size bound (never loads an arbitrarily large file). */
export function readBundleFile(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new DiagnosticError([diagnostic('HM505', { file, message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` })]);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new DiagnosticError([diagnostic('HM505', { file, message: `${file} is not a regular file` })]);
    if (st.size > MAX_BUNDLE_BYTES) throw new DiagnosticError([diagnostic('HM402', { file, message: `${file} is ${st.size} bytes, over the bundle limit of ${MAX_BUNDLE_BYTES}` })]);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

export interface VerifyResult {
  file: string;
  name: string;
  version: string;
  digest: string;
  keyId: string;
  trusted: true;
  files: number;
}

/** Verifies integrity, signature and trust: with `keyFile`, only that key; else the key store's keys. */
export async function verifyBundle(file: string, opts: { keyFile?: string; env?: Record<string, string | undefined> } = {}): Promise<VerifyResult> {
  const buf = readBundleFile(file);
  const trustedKeys = opts.keyFile !== undefined ? [await loadPublicKey(resolve(opts.keyFile))] : await trustedPublicKeys(keyStoreFromEnv(opts.env ?? process.env));
  const b = openBundle(buf, { trustedKeys, requireTrusted: true, source: file });
  const m = b.manifest.module as { name: string; version: string };
  return { file, name: m.name, version: m.version, digest: sha256(buf), keyId: b.signer.keyId, trusted: true, files: b.files.size };
}

export interface InspectResult {
  file: string;
  digest: string;
  size: number;
  formatVersion: number;
  schemaVersion: unknown;
  compiler: unknown;
  module: Record<string, unknown>;
  signer: { keyId: string; trusted: boolean };
  plan: CompiledPlan;
  files: Array<{ path: string; size: number; mode: string; sha256: string }>;
}

/** Opens a bundle (integrity and signature checked; trust reported, not required). */
export async function inspectBundle(file: string, opts: { env?: Record<string, string | undefined> } = {}): Promise<InspectResult> {
  const buf = readBundleFile(file);
  const trustedKeys = await trustedPublicKeys(keyStoreFromEnv(opts.env ?? process.env));
  const b: OpenedBundle = openBundle(buf, { trustedKeys, requireTrusted: false, source: file });
  const m = b.manifest as unknown as Record<string, unknown> & { files: Record<string, { sha256: string; size: number; mode: number }> };
  return {
    file,
    digest: sha256(buf),
    size: buf.length,
    formatVersion: b.manifest.formatVersion,
    schemaVersion: m.schemaVersion,
    compiler: m.compiler,
    module: m.module as Record<string, unknown>,
    signer: { keyId: b.signer.keyId, trusted: b.signer.trusted },
    plan: m.plan as CompiledPlan,
    files: Object.entries(m.files).sort(([a], [c]) => (a < c ? -1 : 1)).map(([path, f]) => ({ path, size: f.size, mode: f.mode.toString(8).padStart(4, '0'), sha256: f.sha256 })),
  };
}
