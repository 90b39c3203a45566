// Unit tests of the replication test tools: the records verifier, the crash-consistency model and
// expectations, the tree comparison. No root needed.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { POINTS, checkExact, checkRequired, contents, executedFor, modelAfter, script } from './cc.js';
import { recordLine, recordPayload, summarizeIds, verifyRecords } from './records.js';
import { rng } from './rng.js';
import { diffTrees, globToRegExp, isExcluded, snapshotTree } from './trees.js';

const SEED = 4242;
const file = (ids: number[]) => ids.map((id) => recordLine(id, recordPayload(SEED, id))).join('');

describe('records payloads', () => {
  it('are a function of (seed, id): sizes vary, alphabet has no separator', () => {
    assert.equal(recordPayload(SEED, 7), recordPayload(SEED, 7));
    assert.notEqual(recordPayload(SEED, 7), recordPayload(SEED + 1, 7));
    const sizes = new Set(Array.from({ length: 50 }, (_, i) => recordPayload(SEED, i).length));
    assert.ok(sizes.size > 30, 'sizes from the seeded RNG vary');
    for (let i = 0; i < 50; i++) {
      const p = recordPayload(SEED, i, 300);
      assert.ok(p.length >= 16 && p.length <= 300);
      assert.match(p, /^[A-Za-z0-9_-]+$/);
    }
  });
  it('rng is deterministic', () => {
    const a = rng(1);
    const b = rng(1);
    for (let i = 0; i < 10; i++) assert.equal(a(), b());
  });
});

describe('verifyRecords', () => {
  it('accepts a clean file with every acknowledged id', () => {
    const r = verifyRecords(file([1, 2, 3, 5]), { acked: new Set([1, 2, 5]), seed: SEED, attempted: new Set([1, 2, 3, 4, 5]) });
    assert.deepEqual(r.problems, []);
    assert.equal(r.valid, 4);
    assert.deepEqual([...r.present].sort(), [1, 2, 3, 5]);
  });
  it('reports missing acknowledged ids', () => {
    const r = verifyRecords(file([1, 3]), { acked: new Set([1, 2, 3, 4]) });
    assert.equal(r.ok, false);
    assert.deepEqual(r.missingAcked, [2, 4]);
    assert.match(r.problems.join('\n'), /2 acknowledged record\(s\) missing: 2, 4/);
  });
  it('tolerates a torn tail of an unacknowledged record, not of an acknowledged one', () => {
    const torn = file([1, 2]) + recordLine(3, recordPayload(SEED, 3)).slice(0, 40);
    assert.equal(verifyRecords(torn, { acked: new Set([1, 2]) }).ok, true);
    assert.equal(verifyRecords(torn, { acked: new Set([1, 2]) }).notes.length, 1);
    assert.equal(verifyRecords(torn, { acked: new Set([1, 2, 3]) }).ok, false);
  });
  it('tolerates a damaged last line only if unacknowledged', () => {
    const bad = file([1, 2]) + recordLine(3, recordPayload(SEED, 3)).replace(/ [0-9a-f]{64} /, ` ${'0'.repeat(64)} `);
    assert.equal(verifyRecords(bad, { acked: new Set([1, 2]) }).ok, true);
    const r = verifyRecords(bad, { acked: new Set([1, 2, 3]) });
    assert.equal(r.ok, false);
    assert.match(r.problems[0]!, /line 3 .*checksum mismatch \(id 3, acknowledged\)/);
  });
  it('fails a corrupt line in the middle, even unacknowledged', () => {
    const lines = file([1, 2, 3]).split('\n');
    lines[1] = lines[1]!.slice(0, 30) + 'X' + lines[1]!.slice(31);
    const r = verifyRecords(lines.join('\n'), { acked: new Set([1]) });
    assert.equal(r.ok, false);
    assert.match(r.problems.join('\n'), /line 2 \(offset \d+\)/);
  });
  it('fails zeros in the middle (a hole), duplicates, unknown ids, foreign payloads', () => {
    const hole = file([1]) + '\0'.repeat(100) + '\n' + file([2]);
    assert.match(verifyRecords(hole, { acked: new Set() }).problems.join('\n'), /malformed/);
    assert.match(verifyRecords(file([1, 2, 1]), { acked: new Set([1]) }).problems.join('\n'), /id 1 duplicated/);
    assert.match(verifyRecords(file([1, 9]), { acked: new Set([1]), attempted: new Set([1]) }).problems.join('\n'), /id 9 was never sent/);
    const foreign = recordLine(1, recordPayload(SEED, 2));
    assert.match(verifyRecords(foreign, { acked: new Set([1]), seed: SEED }).problems.join('\n'), /not the one sent for id 1/);
  });
  it('summarizes ids as ranges', () => {
    assert.equal(summarizeIds([5, 1, 2, 3, 9, 10]), '1-3, 5, 9-10');
  });
});

describe('crash-consistency script', () => {
  const dir = 'cc/r1';
  const x = contents('r1');
  const ops = script(dir, x);
  it(`has ${POINTS} fsync points; executedFor counts like the application`, () => {
    assert.equal(executedFor(ops, 1000).point, POINTS);
    assert.equal(executedFor(ops, 1000).executed, ops.length);
    assert.deepEqual(executedFor(ops, 1), { point: 1, executed: 3 }); // mkdirp, fsyncdir, write a (tail)
    assert.deepEqual(executedFor(ops, 2), { point: 2, executed: 4 });
  });
  it('the exact state after each point satisfies what POSIX requires there (the table is consistent)', () => {
    for (let k = 1; k <= POINTS; k++) {
      const model = modelAfter(ops, executedFor(ops, k).executed, dir);
      assert.deepEqual(checkRequired(k, x, model), [], `point ${k}`);
    }
  });
  it('the state at the fsync point itself (tail lost) also satisfies the requirements', () => {
    for (let k = 1; k <= POINTS; k++) {
      // index of the k-th fsync op + 1
      let seen = 0;
      let idx = 0;
      for (; idx < ops.length; idx++) if (['fsync', 'fdatasync', 'fsyncdir'].includes(ops[idx]!.op) && ++seen === k) break;
      assert.deepEqual(checkRequired(k, x, modelAfter(ops, idx + 1, dir)), [], `point ${k} without its tail`);
    }
  });
  it('catches a torn rename, a lost fsynced file, garbage in an unsynced append', () => {
    const model = modelAfter(ops, executedFor(ops, 6).executed, dir);
    const torn = new Map(model);
    torn.set('b.dat', Buffer.concat([x.B2.subarray(0, 4096), x.B1.subarray(4096)]));
    assert.match(checkRequired(6, x, torn).join('\n'), /b\.dat: .*allowed: B1 \(old\).* \| B2 \(new\)/);
    const lost = new Map(model);
    lost.delete('a.dat');
    assert.match(checkRequired(6, x, lost).join('\n'), /a\.dat: absent/);
    const m7 = new Map(modelAfter(ops, executedFor(ops, 7).executed, dir));
    m7.set('a.dat', Buffer.concat([x.A1, Buffer.alloc(100)]));
    assert.match(checkRequired(7, x, m7).join('\n'), /a\.dat/);
    assert.match(checkExact(model, torn, x).join('\n'), /b\.dat: expected/);
    assert.deepEqual(checkExact(model, model, x), []);
    assert.match(checkExact(model, null, x)[0]!, /does not exist/);
  });
});

describe('tree comparison', () => {
  it('globs like fnmatch(FNM_PATHNAME); a name pattern matches at any depth; a directory excludes its subtree', () => {
    assert.ok(globToRegExp('cache/**').test('cache/a/b'));
    assert.ok(!globToRegExp('*.tmp').test('a/b.tmp'));
    assert.ok(isExcluded('a/b.tmp', ['*.tmp']));
    assert.ok(isExcluded('cache/x', ['cache/**']));
    assert.ok(isExcluded('cache/x/y', ['cache']));
    assert.ok(!isExcluded('mycache/x', ['cache/**']));
    assert.ok(!isExcluded('records.log', ['cache/**', '*.tmp']));
  });
  it('finds content, type, size, presence and symlink differences, ignoring excluded paths', (t) => {
    const root = mkdtempSync(join(tmpdir(), 'hamod-trees-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    for (const side of ['a', 'b']) {
      mkdirSync(join(root, side, 'd', 'cache'), { recursive: true });
      mkdirSync(join(root, side, 'cache'), { recursive: true });
      writeFileSync(join(root, side, 'same'), 'x');
      writeFileSync(join(root, side, 'cache', 'local'), side);
      symlinkSync(side === 'a' ? 'same' : 'other', join(root, side, 'link'));
    }
    writeFileSync(join(root, 'a', 'diff'), 'one');
    writeFileSync(join(root, 'b', 'diff'), 'two');
    writeFileSync(join(root, 'a', 'only-a'), '');
    const d = diffTrees(snapshotTree(join(root, 'a'), ['cache/**']), snapshotTree(join(root, 'b'), ['cache/**']), ['n1', 'n2']);
    assert.deepEqual(d.sort(), [
      'diff: content differs (n1 vs n2)',
      'link: size 4 vs 5, target same vs other (n1 vs n2)',
      'only-a: only on n1 (file, 0 bytes)',
    ]);
  });
});
