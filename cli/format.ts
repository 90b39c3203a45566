// Rendering diagnostics for people: `file:line:col  severity  CODE  message`, the field, expected
// vs found, a hint, and a code frame with a caret under the offending text.
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Diagnostic } from '../compiler/diagnostics.js';

const useColor = (stream: NodeJS.WriteStream): boolean => stream.isTTY === true && !('NO_COLOR' in process.env);

function paint(on: boolean, code: string, s: string): string {
  return on ? `\u001b[${code}m${s}\u001b[0m` : s;
}

export function formatDiagnostics(ds: readonly Diagnostic[], opts: { baseDir?: string; color?: boolean } = {}): string {
  const color = opts.color ?? useColor(process.stderr);
  const cache = new Map<string, string[] | null>();
  const lines: string[] = [];
  for (const d of ds) {
    const sev = d.severity === 'error' ? paint(color, '31', 'error') : d.severity === 'warning' ? paint(color, '33', 'warning') : paint(color, '36', 'info');
    lines.push(`${paint(color, '1', `${d.file}:${d.start.line}:${d.start.column}`)}  ${sev}  ${d.code}  ${d.message}`);
    const details: string[] = [];
    if (d.field) details.push(`field: ${d.field}`);
    if (d.expected !== undefined) details.push(`expected: ${d.expected}`);
    if (d.actual !== undefined) details.push(`found: ${d.actual}`);
    if (details.length) lines.push(`    ${details.join('  |  ')}`);
    const frame = codeFrame(d, opts.baseDir, cache, color);
    if (frame) lines.push(frame);
    if (d.hint) lines.push(`    hint: ${d.hint}`);
    lines.push(`    see ${d.url}`);
  }
  const errors = ds.filter((d) => d.severity === 'error').length;
  const warnings = ds.filter((d) => d.severity === 'warning').length;
  lines.push(`${errors} error(s), ${warnings} warning(s)`);
  return lines.join('\n');
}

function codeFrame(d: Diagnostic, baseDir: string | undefined, cache: Map<string, string[] | null>, color: boolean): string | undefined {
  if (baseDir === undefined) return undefined;
  const path = isAbsolute(d.file) ? d.file : join(baseDir, d.file);
  if (!cache.has(path)) {
    try {
      const buf = readFileSync(path);
      cache.set(path, buf.length > 16 * 1024 * 1024 ? null : buf.toString('utf8').split(/\r?\n/));
    } catch {
      cache.set(path, null);
    }
  }
  const src = cache.get(path);
  if (!src) return undefined;
  const { line, column } = d.start;
  if (line < 1 || line > src.length) return undefined;
  const out: string[] = [];
  const width = String(Math.min(line + 1, src.length)).length;
  for (let l = Math.max(1, line - 1); l <= Math.min(src.length, line + 1); l++) {
    const text = truncate(src[l - 1] ?? '', column);
    const mark = l === line ? '>' : ' ';
    out.push(`  ${mark} ${String(l).padStart(width)} | ${text}`);
    if (l === line) {
      const len = d.end.line === line && d.end.column > column ? Math.min(d.end.column - column, 80) : 1;
      const col = Math.min(column, 121);
      out.push(`    ${' '.repeat(width)} | ${' '.repeat(col - 1)}${paint(color, '31', '^'.repeat(Math.max(1, len)))}`);
    }
  }
  return out.join('\n');
}

function truncate(s: string, column: number): string {
  const clean = s.replace(/\t/g, ' ').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '?');
  return clean.length > 160 ? clean.slice(0, Math.max(160, column + 40)) + '…' : clean;
}

export function table(rows: ReadonlyArray<Record<string, string>>, columns: readonly string[]): string {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => r[c] ?? '')))].join('\n');
}
