// Safe access to a module directory: bounded reads, UTF-8 checked, no escape through `..`,
// absolute paths or symbolic links. Every refusal is a located diagnostic, never a crash.
import { closeSync, fstatSync, lstatSync, openSync, readSync, realpathSync, constants } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { DiagnosticBag, Position } from '../diagnostics.js';

export const LIMITS = {
  moduleYamlBytes: 1024 * 1024,
  fileBytes: 16 * 1024 * 1024,
  moduleBytes: 64 * 1024 * 1024,
} as const;

export interface ModuleFile {
  /** Path relative to the module directory, `/`-separated. */
  path: string;
  data: Buffer;
  text: string;
  executable: boolean;
}

/** Reads `rel` inside `dir`; returns undefined after adding a diagnostic. */
export function readModuleFile(
  dir: string,
  rel: string,
  bag: DiagnosticBag,
  opts: { maxBytes?: number; from?: { file: string; start: Position; end: Position; field?: string }; missingCode?: 'HM101' | 'HM312' } = {},
): ModuleFile | undefined {
  const where = opts.from ?? { file: rel, start: { line: 1, column: 1 }, end: { line: 1, column: 1 } };
  const located = { file: where.file, start: where.start, end: where.end, field: opts.from?.field };
  if (rel.includes('\0') || isAbsolute(rel) || rel.split(/[\\/]/).includes('..')) {
    bag.add('HM313', { ...located, message: `"${rel}" is outside the module directory`, expected: 'a relative path inside the module directory', actual: rel });
    return undefined;
  }
  const full = join(dir, rel);
  let st;
  try {
    st = lstatSync(full);
  } catch (e) {
    if (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR') {
      const code = opts.missingCode ?? 'HM312';
      bag.add(code, { ...located, message: code === 'HM101' ? `no ${rel} in ${dir}` : `file "${rel}" not found in the module directory`, hint: code === 'HM101' ? 'run `hamod init DIR --mode mirror|farm` to scaffold a module' : undefined });
    } else {
      bag.add('HM109', { ...located, message: `cannot read "${rel}": ${errMessage(e)}` });
    }
    return undefined;
  }
  if (st.isSymbolicLink()) {
    let target: string;
    try {
      target = realpathSync(full);
    } catch (e) {
      bag.add('HM108', { ...located, message: `"${rel}" is a dangling link (${errMessage(e)})` });
      return undefined;
    }
    const root = realpathSync(dir);
    const inside = relative(root, target);
    if (inside === '' || inside.startsWith('..' + sep) || inside === '..' || isAbsolute(inside)) {
      bag.add('HM108', { ...located, message: `"${rel}" is a link to ${target}, outside the module directory`, hint: 'copy the file into the module directory' });
      return undefined;
    }
  }
  // Open without following a final link only after the check above; O_NONBLOCK so a FIFO cannot hang us.
  let fd: number;
  try {
    fd = openSync(full, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    bag.add('HM109', { ...located, message: `cannot read "${rel}": ${errMessage(e)}` });
    return undefined;
  }
  try {
    const fst = fstatSync(fd);
    if (!fst.isFile()) {
      bag.add('HM109', { ...located, message: `"${rel}" is not a regular file` });
      return undefined;
    }
    const max = opts.maxBytes ?? LIMITS.fileBytes;
    if (fst.size > max) {
      bag.add('HM102', { ...located, message: `"${rel}" is ${fst.size} bytes, over the limit of ${max}`, expected: `at most ${max} bytes`, actual: `${fst.size} bytes` });
      return undefined;
    }
    const data = Buffer.alloc(fst.size);
    let off = 0;
    while (off < data.length) {
      const n = readSync(fd, data, off, data.length - off, off);
      if (n === 0) break;
      off += n;
    }
    const content = data.subarray(0, off);
    const text = decodeUtf8(content);
    if (typeof text !== 'string') {
      const pos = positionOfByte(content, text.badByte);
      bag.add('HM103', { file: rel, start: pos, end: pos, message: `"${rel}" is not valid UTF-8 (byte 0x${(content[text.badByte] ?? 0).toString(16).padStart(2, '0')} at offset ${text.badByte})`, expected: 'UTF-8 text' });
      return undefined;
    }
    return { path: rel.split(sep).join('/'), data: content, text, executable: (fst.mode & 0o111) !== 0 };
  } catch (e) {
    bag.add('HM109', { ...located, message: `cannot read "${rel}": ${errMessage(e)}` });
    return undefined;
  } finally {
    closeSync(fd);
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function decodeUtf8(buf: Buffer): string | { badByte: number } {
  try {
    return decoder.decode(buf);
  } catch {
    return { badByte: firstInvalidUtf8(buf) };
  }
}

/** Offset of the first byte that makes `buf` invalid UTF-8. */
export function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    let need = 0;
    let min = 0;
    if (b < 0x80) { i++; continue; }
    else if (b >= 0xc2 && b <= 0xdf) { need = 1; min = 0x80; }
    else if (b >= 0xe0 && b <= 0xef) { need = 2; min = 0x800; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; min = 0x10000; }
    else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return buf.length;
}

function positionOfByte(buf: Buffer, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (buf[i] === 0x0a) { line++; lineStart = i + 1; }
  }
  const column = Buffer.from(buf.subarray(lineStart, offset)).toString('utf8').length + 1;
  return { line, column };
}

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

function errMessage(e: unknown): string {
  const code = errCode(e);
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return code ?? (e instanceof Error ? e.message : String(e));
}

/** `./scripts//a.sh` -> `scripts/a.sh`: the key a script has in the bundle and the plan. */
export function normalizeRel(p: string): string {
  return p.split('/').filter((s) => s !== '' && s !== '.').join('/');
}
