// `hamod resync`: the progress line and the --watch redraw (cli/resync-progress.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressLine, watchFrame, type ModuleOnNode } from '../../cli/resync-progress.js';

const MiB = 1048576;

function mod(node: string, role: 'primary' | 'secondary' | 'none', state: string, sync: { state: string; done: number; total: number; sent: number } | null, detail: string | null = null): ModuleOnNode {
  return {
    node,
    m: {
      module: 'pg', version: '2.0.0', mode: 'mirror', state, detail, role, since: '', last: null,
      data: { generation: 'g', status: 'up to date' }, replication: '', vip: role === 'primary', peerPresent: true, checkers: [], history: [],
      sync: sync && { state: sync.state, doneBytes: sync.done, totalBytes: sync.total, sentBytes: sync.sent, dirs: [] },
    } as ModuleOnNode['m'],
  };
}

test('a reintegration in progress: bar, percentage, bytes checked and sent, who is who', () => {
  const l = progressLine([
    mod('n1', 'primary', 'ALONE', { state: 'reintegrating', done: 256 * MiB, total: 1024 * MiB, sent: 64 * MiB }),
    mod('n2', 'secondary', 'WAIT', null, 'resync'),
  ]);
  assert.equal(l.done, false);
  assert.equal(l.text, `n1 (ALONE) reintegrating -> n2 (WAIT resync): [${'#'.repeat(8)}${'.'.repeat(22)}] 25% 256.0/1024.0 MiB checked or copied, 64.0 MiB sent`);
});

test('the bar never passes 100 %, and an empty total is 0 % until in sync', () => {
  const over = progressLine([mod('n1', 'primary', 'ALONE', { state: 'reintegrating', done: 3 * MiB, total: 2 * MiB, sent: 0 })]);
  assert.match(over.text, /\[#{30}\] 100% 3\.0\/2\.0 MiB/);
  const empty = progressLine([mod('n1', 'primary', 'ALONE', { state: 'reintegrating', done: 0, total: 0, sent: 0 })]);
  assert.match(empty.text, /\[\.{30}\] 0% /);
  assert.equal(empty.done, false);
});

test('in sync only when the primary says so and the other node is SECOND', () => {
  const insync = { state: 'in sync', done: 10, total: 10, sent: 10 };
  const notYet = progressLine([mod('n1', 'primary', 'PRIM', insync), mod('n2', 'secondary', 'WAIT', null)]);
  assert.equal(notYet.done, false);
  const both = progressLine([mod('n1', 'primary', 'PRIM', insync), mod('n2', 'secondary', 'SECOND', null)]);
  assert.deepEqual(both, { done: true, text: 'n1 (PRIM) in sync -> n2 (SECOND): in sync' });
  // Only the primary reported (the peer's status could not be read): its own word counts.
  assert.equal(progressLine([mod('n1', 'primary', 'PRIM', insync)]).done, true);
});

test('no primary, or nothing replicated: said so', () => {
  const l = progressLine([mod('n2', 'secondary', 'WAIT', { state: 'receiving', done: 0, total: 100, sent: 0 })]);
  assert.equal(l.done, false);
  assert.match(l.text, /^no primary -> n2 \(WAIT\): \[/);
  assert.deepEqual(progressLine([mod('n2', 'none', 'STOP', null)]), { done: false, text: 'no replication information' });
});

test('--watch redraws in place on a terminal (a newline once done), one line per refresh otherwise', () => {
  assert.equal(watchFrame('25%', false, true), '\r\x1b[2K25%');
  assert.equal(watchFrame('in sync', true, true), '\r\x1b[2Kin sync\n');
  assert.equal(watchFrame('25%', false, false), '25%\n');
  assert.equal(watchFrame('in sync', true, false), 'in sync\n');
});
