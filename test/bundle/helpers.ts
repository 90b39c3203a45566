// Shared fixtures for the bundle tests: keys, sample payloads, and ways to build archives by hand
// (re-packing a real bundle with our writer, or crafting hostile headers byte by byte).
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { BundleError } from '../../compiler/bundle/bundle-error.js';
import { createBundle } from '../../compiler/bundle/create-bundle.js';
import { gzipDeterministic } from '../../compiler/bundle/gzip.js';
import { BLOCK_SIZE, TYPE_FILE, encodeHeader } from '../../compiler/bundle/tar-header.js';
import { MODE_EXECUTABLE, readTar, writeTar, type TarFileInput } from '../../compiler/bundle/tar.js';
import type { DiagnosticCode } from '../../compiler/codes.js';

export function newKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ed25519');
}

export const SIGNER = newKey();

export function sampleFiles(): Array<{ path: string; data: Buffer; executable?: boolean }> {
  return [
    { path: 'README.md', data: Buffer.from('# web\n\nA sample module.\n') },
    { path: 'plan.json', data: Buffer.from('{"services":[{"name":"web"}]}') },
    { path: 'scripts/start.sh', data: Buffer.from('#!/bin/sh\nexec web --port 8080\n'), executable: true },
    { path: 'scripts/stop.sh', data: Buffer.from('#!/bin/sh\nkill "$(cat /run/web.pid)"\n'), executable: true },
    { path: 'templates/conf/web.conf', data: Buffer.alloc(1500, 0x61) },
    { path: 'empty.txt', data: Buffer.alloc(0) },
  ];
}

export const SAMPLE_MANIFEST = { formatVersion: 1, name: 'web', version: '1.2.0', mode: 'mirror' };

export function sampleBundle(privateKey: KeyObject = SIGNER.privateKey): Buffer {
  return createBundle({ manifest: SAMPLE_MANIFEST, files: sampleFiles(), privateKey });
}

/** Unpacks a bundle into writer input (files only; the writer re-creates the directories). */
export function unpack(bundle: Buffer): TarFileInput[] {
  return readTar(gunzipSync(bundle))
    .filter((e) => e.type === 'file')
    .map((e) => ({ path: e.path, data: Buffer.from(e.data), executable: e.mode === MODE_EXECUTABLE }));
}

/** Re-packs (possibly edited) entries with our own writer: checksums and gzip stay valid. */
export function repack(files: readonly TarFileInput[]): Buffer {
  return gzipDeterministic(writeTar(files, { mtime: 0 }));
}

/** Applies `edit` to the unpacked entries of `bundle` and re-packs them. */
export function tamper(bundle: Buffer, edit: (files: TarFileInput[]) => TarFileInput[]): Buffer {
  return repack(edit(unpack(bundle)));
}

export interface RawEntry {
  name: string | Buffer;
  typeflag?: string;
  data?: Buffer;
  mode?: number;
  linkname?: string;
}

/** A tar built header by header, with no validation at all: for hostile archives. */
export function rawTar(entries: readonly RawEntry[]): Buffer {
  const chunks: Buffer[] = [];
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    chunks.push(
      encodeHeader({
        name: e.name,
        mode: e.mode ?? 0o644,
        size: data.length,
        mtime: 0,
        typeflag: e.typeflag ?? TYPE_FILE,
        ...(e.linkname !== undefined && { linkname: e.linkname }),
      }),
    );
    chunks.push(data, Buffer.alloc((BLOCK_SIZE - (data.length % BLOCK_SIZE)) % BLOCK_SIZE));
  }
  chunks.push(Buffer.alloc(2 * BLOCK_SIZE));
  return Buffer.concat(chunks);
}

/** Asserts `fn` throws a BundleError with `code` (or one of `code`), and returns it. */
export function expectBundleError(fn: () => unknown, code: DiagnosticCode | DiagnosticCode[], pattern?: RegExp): BundleError {
  const codes = Array.isArray(code) ? code : [code];
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BundleError, `expected a BundleError, got ${String(err)}`);
    assert.ok(codes.includes(err.code), `expected ${codes.join('/')}, got ${err.code}: ${err.message}`);
    assert.equal(err.diagnostics.length, 1);
    assert.equal(err.diagnostic.code, err.code);
    assert.ok(!err.message.includes('\n'), 'message is one line');
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected ${codes.join('/')}, but nothing was thrown`);
}

export async function expectBundleErrorAsync(fn: () => Promise<unknown>, code: DiagnosticCode, pattern?: RegExp): Promise<BundleError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof BundleError, `expected a BundleError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected ${code}, but nothing was thrown`);
}
