// Module logs: record format and mode, line splitting, rotation, redaction, bounded memory when the
// writer falls behind, readLog across rotated files, followLog through rotations; and a real
// script's output landing in the file.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LineSplitter, ModuleLog, followLog, parseRecord, readLog, splitText } from '../../runtime/logs/index.js';
import { runScript } from '../../runtime/supervisor/index.js';
import { script, tempDir, waitFor } from './helpers.js';

const lines = (path: string): string[] => readFileSync(path, 'utf8').split('\n').filter(Boolean);

test('LineSplitter: chunk boundaries, partial lines, long lines, UTF-8 kept whole', () => {
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l), 10);
  s.push('ab');
  s.push('c\nde');
  s.push(Buffer.from('f\r\n\n'));
  assert.deepEqual(out, ['abc', 'def', '']);
  s.push('0123456789abcdefghijXY');
  assert.deepEqual(out.slice(3), ['0123456789', 'abcdefghij']);
  s.flush();
  assert.deepEqual(out.slice(5), ['XY']);
  // 'é' is two bytes: a 10-byte limit must not cut one in half.
  const accents = new LineSplitter((l) => out.push(l), 10);
  const before = out.length;
  accents.push('aéééééééé\n');
  assert.deepEqual(out.slice(before), ['aéééé', 'éééé']);
  // A line of exactly the limit split over two chunks: one record, not an extra empty one.
  const exact: string[] = [];
  const e = new LineSplitter((l) => exact.push(l), 10);
  e.push('0123456789');
  e.push('\n0123456789');
  e.push('x\n');
  assert.deepEqual(exact, ['0123456789', '0123456789', 'x']);
  assert.deepEqual(splitText('x'.repeat(40_000)).map((l) => l.length), [16384, 16384, 7232]);
});

test('records: ISO time, service, stream; mode 0640; events', async (t) => {
  const dir = tempDir(t);
  const log = new ModuleLog(join(dir, 'logs'), 'demo');
  log.line('web', 'stdout', 'hello world');
  log.line('web', 'stderr', 'two\nlines');
  log.event('web run: started, pid 42');
  await log.close();
  assert.equal(statSync(log.path).mode & 0o777, 0o640);
  const recs = lines(log.path).map(parseRecord);
  assert.deepEqual(
    recs.map((r) => r && [r.service, r.stream, r.text]),
    [
      ['web', 'stdout', 'hello world'],
      ['web', 'stderr', 'two'],
      ['web', 'stderr', 'lines'],
      ['hamod', 'event', 'web run: started, pid 42'],
    ],
  );
  for (const r of recs) assert.ok(r && !Number.isNaN(Date.parse(r.time)) && r.time.endsWith('Z'));
  assert.throws(() => new ModuleLog(dir, '../escape'));
});

test('a script writes into the module log; secrets are redacted', async (t) => {
  const dir = tempDir(t);
  const log = new ModuleLog(dir, 'db');
  log.redact(['hunter2', 'tok-123', '']);
  const sh = script(dir, 'start.sh', `echo "connecting with $DB_PASSWORD"; echo "token=$TOKEN" >&2; echo done`);
  const info = await runScript({ path: sh, env: { DB_PASSWORD: 'hunter2', TOKEN: 'tok-123' }, service: 'pg', label: 'start' }, { log });
  assert.equal(info.kind, 'exited');
  log.event('password hunter2 must not appear in events either');
  await log.flush();
  const text = readFileSync(log.path, 'utf8');
  assert.ok(!text.includes('hunter2') && !text.includes('tok-123'));
  const recs = lines(log.path).map(parseRecord);
  // stdout and stderr are separate pipes: their relative order is not defined.
  assert.deepEqual(
    recs.filter((r) => r?.stream !== 'event').map((r) => r && `${r.service} ${r.stream}: ${r.text}`).sort(),
    ['pg stderr: token=***', 'pg stdout: connecting with ***', 'pg stdout: done'],
  );
  assert.ok(text.includes('pg stdout: connecting with ***'));
  assert.ok(text.includes('pg stderr: token=***'));
  assert.ok(text.includes('hamod event: password *** must not appear'));
  assert.ok(text.includes('hamod event: pg start: exited with code 0'));
});

test('size rotation keeps N files of at most maxBytes, in order; readLog reads across them', async (t) => {
  const dir = tempDir(t);
  const log = new ModuleLog(dir, 'rot', { maxBytes: 2000, maxFiles: 3 });
  for (let i = 0; i < 300; i++) log.line('s', 'stdout', `line ${String(i).padStart(4, '0')}`);
  await log.flush();
  for (let i = 300; i < 400; i++) log.line('s', 'stdout', `line ${String(i).padStart(4, '0')}`);
  await log.close();
  const files = [`${log.path}.3`, `${log.path}.2`, `${log.path}.1`, log.path];
  for (const f of files) {
    assert.ok(existsSync(f), f);
    assert.ok(statSync(f).size <= 2000, `${f} within maxBytes`);
  }
  assert.ok(!existsSync(`${log.path}.4`));
  const nums = files.flatMap(lines).map((l) => Number(parseRecord(l)?.text.slice(5)));
  assert.equal(nums.at(-1), 399);
  for (let i = 1; i < nums.length; i++) assert.equal(nums[i], (nums[i - 1] ?? 0) + 1, 'contiguous across rotated files');
  assert.ok(log.stats().rotations >= 3);

  const last = await readLog(dir, 'rot', { lines: 50 });
  assert.deepEqual(last.map((l) => parseRecord(l)?.text), Array.from({ length: 50 }, (_, k) => `line ${String(350 + k).padStart(4, '0')}`));
  const many = await readLog(dir, 'rot', { lines: 10_000 });
  assert.equal(many.length, nums.length);
  assert.deepEqual(await readLog(dir, 'absent', { lines: 5 }), []);
});

test('a writer that falls behind drops and counts lines instead of growing memory', async (t) => {
  const dir = tempDir(t);
  const log = new ModuleLog(dir, 'burst', { maxQueuedBytes: 4096 });
  for (let i = 0; i < 1000; i++) log.line('s', 'stdout', `burst line ${i}`);
  const { linesDropped, queuedBytes } = log.stats();
  assert.ok(linesDropped > 0, 'some lines dropped');
  assert.ok(queuedBytes <= 4096);
  await log.flush();
  log.line('s', 'stdout', 'after the burst');
  await log.close();
  const text = readFileSync(log.path, 'utf8');
  assert.match(text, new RegExp(`hamod event: ${linesDropped} line\\(s\\) dropped`));
  assert.ok(text.trimEnd().endsWith('s stdout: after the burst'));
});

test('followLog sees appended lines and follows the file through rotations', async (t) => {
  const dir = tempDir(t);
  const log = new ModuleLog(dir, 'tail', { maxBytes: 1500, maxFiles: 2 });
  log.line('s', 'stdout', 'before 1');
  log.line('s', 'stdout', 'before 2');
  await log.flush();
  const seen: string[] = [];
  const ac = new AbortController();
  const following = followLog(dir, 'tail', (ls) => seen.push(...ls.map((l) => parseRecord(l)?.text ?? l)), ac.signal, { initialLines: 1, pollMs: 50 });
  await waitFor(() => seen.length >= 1, 2000, 'initial line');
  assert.deepEqual(seen, ['before 2']);
  log.line('s', 'stdout', 'after 1');
  await log.flush();
  await waitFor(() => seen.includes('after 1'), 2000, 'appended line');
  // Enough lines for several rotations, written in small bursts.
  const expected = ['before 2', 'after 1'];
  for (let burst = 0; burst < 10; burst++) {
    for (let i = 0; i < 10; i++) {
      const text = `r${burst}-${i}`;
      expected.push(text);
      log.line('s', 'stdout', text);
    }
    await log.flush();
    await new Promise((r) => setTimeout(r, 30));
  }
  assert.ok(log.stats().rotations >= 2, `rotated ${log.stats().rotations} times`);
  await waitFor(() => seen.length >= expected.length, 3000, 'all lines');
  ac.abort();
  await following;
  assert.deepEqual(seen, expected, 'nothing lost or repeated across rotations');
  await log.close();
});
