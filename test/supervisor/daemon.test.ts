// startDaemon with real processes: exit seen at once, graceful and forced stops of whole groups,
// strays of a crashed leader, stop idempotence, killAll.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MemorySink } from '../../runtime/logs/index.js';
import { GroupRegistry, liveMembers, startDaemon, type DaemonHandle, type ExitInfo, type ScriptSpec } from '../../runtime/supervisor/index.js';
import { isAlive, readPids, script, sleep, tempDir, waitFor } from './helpers.js';

const spec = (path: string, extra: Partial<ScriptSpec> = {}): ScriptSpec => ({ path, env: {}, service: 'app', label: 'run', ...extra });

interface Started {
  handle: DaemonHandle;
  exits: Array<{ info: ExitInfo; requested: boolean; at: number }>;
  log: MemorySink;
}

function start(path: string, registry: GroupRegistry, extra: { stopTimeoutMs?: number; killStrays?: boolean; stopSignal?: string } = {}): Started {
  const exits: Started['exits'] = [];
  const log = new MemorySink();
  const handle = startDaemon(spec(path), {
    log,
    registry,
    stopSignal: extra.stopSignal ?? 'SIGTERM',
    stopTimeoutMs: extra.stopTimeoutMs ?? 2000,
    ...(extra.killStrays !== undefined ? { killStrays: extra.killStrays } : {}),
    onExit: (info, ctx) => exits.push({ info, requested: ctx.requested, at: performance.now() }),
  });
  return { handle, exits, log };
}

test('onExit fires as soon as the daemon is killed with SIGKILL', async (t) => {
  const dir = tempDir(t);
  const registry = new GroupRegistry();
  const ready = join(dir, 'ready');
  const d = start(script(dir, 'run.sh', `echo $$ > ${ready}\nexec sleep 30`), registry);
  assert.ok(d.handle.pid !== null);
  await readPids(ready, 1);
  await sleep(20); // let `exec sleep` happen
  const t0 = performance.now();
  process.kill(d.handle.pid as number, 'SIGKILL');
  const info = await d.handle.exited;
  const first = d.exits[0];
  assert.ok(first, 'onExit was called');
  assert.equal(d.exits.length, 1);
  assert.equal(info.kind === 'signaled' && info.signal, 'SIGKILL');
  assert.equal(first.requested, false);
  t.diagnostic(`exit seen ${(first.at - t0).toFixed(2)} ms after kill -9`);
  assert.deepEqual(await d.handle.stop(), info, 'stop() after the exit resolves with it');
  assert.ok(d.log.texts('event').some((e) => e.includes('unexpectedly killed by SIGKILL')));
});

// (Not SIGINT: a non-interactive sh starts `&` children with SIGINT and SIGQUIT ignored, so such a
// stop signal cannot reach them and the stop would end in SIGKILL.)
test('stop: graceful when the service handles the stop signal; twice gives the same promise', async (t) => {
  const dir = tempDir(t);
  const registry = new GroupRegistry();
  const ready = join(dir, 'ready');
  const d = start(script(dir, 'run.sh', `trap 'echo bye; exit 0' USR1\nsleep 30 &\necho $! > ${ready}\nwait`), registry, { stopSignal: 'USR1' });
  // Until the child has exec'd sleep it is a copy of the shell with the trap, and would swallow USR1.
  const [child] = await readPids(ready, 1);
  await waitFor(() => readFileSync(`/proc/${child}/comm`, 'utf8').trim() === 'sleep', 2000, 'exec sleep');
  const p1 = d.handle.stop();
  const p2 = d.handle.stop();
  assert.equal(p1, p2);
  const info = await p1;
  assert.equal(info.kind === 'exited' && info.code, 0);
  assert.deepEqual(d.exits.map((e) => e.requested), [true]);
  assert.ok(d.log.texts('stdout').includes('bye'));
  assert.equal(registry.list().length, 0);
  const t0 = performance.now();
  assert.equal(await d.handle.stop(), info);
  assert.ok(performance.now() - t0 < 50);
});

test('stop: a service ignoring SIGTERM is SIGKILLed after the stop timeout, grandchildren included', async (t) => {
  const dir = tempDir(t);
  const registry = new GroupRegistry();
  const pids = join(dir, 'pids');
  const body = [
    `trap '' TERM`,
    `( sleep 30 & echo $! >> ${pids}; sh -c 'sleep 30 & echo $! >> ${pids}; wait' ; wait ) &`,
    `echo $! >> ${pids}`,
    `sleep 30 &`,
    `echo $! >> ${pids}`,
    `echo $$ >> ${pids}`,
    `wait`,
  ].join('\n');
  const d = start(script(dir, 'stubborn.sh', body), registry, { stopTimeoutMs: 300 });
  const all = await readPids(pids, 5);
  for (const pid of all) assert.ok(isAlive(pid));
  const t0 = performance.now();
  const info = await d.handle.stop();
  const elapsed = performance.now() - t0;
  assert.equal(info.kind, 'timeout');
  assert.equal(info.kind === 'timeout' && info.killed, true);
  assert.ok(elapsed >= 290, `waited the stop timeout (${elapsed.toFixed(0)}ms)`);
  assert.ok(elapsed < 3000, `did not hang (${elapsed.toFixed(0)}ms)`);
  for (const pid of all) assert.equal(isAlive(pid), false, `pid ${pid} is gone`);
  assert.deepEqual(await liveMembers(d.handle.pid as number), []);
  assert.deepEqual(d.exits.map((e) => [e.info.kind === 'signaled' && e.info.signal, e.requested]), [['SIGKILL', true]]);
});

test('a stopped (SIGSTOP) service still gets its stop signal: SIGCONT follows it', async (t) => {
  const dir = tempDir(t);
  const registry = new GroupRegistry();
  const d = start(script(dir, 'run.sh', 'exec sleep 30'), registry, { stopTimeoutMs: 3000 });
  await sleep(50);
  process.kill(d.handle.pid as number, 'SIGSTOP');
  const t0 = performance.now();
  const info = await d.handle.stop();
  assert.equal(info.kind === 'signaled' && info.signal, 'SIGTERM');
  assert.ok(performance.now() - t0 < 1000);
});

test('strays of a crashed leader are killed (killStrays default)', async (t) => {
  const dir = tempDir(t);
  const registry = new GroupRegistry();
  const pids = join(dir, 'pids');
  const d = start(script(dir, 'crash.sh', `trap '' TERM\nsleep 30 &\necho $! >> ${pids}\nsleep 0.2\nexit 7`), registry, { stopTimeoutMs: 5000 });
  const [stray] = await readPids(pids, 1);
  const info = await d.handle.exited;
  assert.equal(info.kind === 'exited' && info.code, 7);
  assert.equal(d.exits[0]?.requested, false);
  // The stray ignores SIGTERM: it is SIGKILLed after the stray grace (min(stopTimeout, 1 s)).
  const t0 = performance.now();
  assert.deepEqual(await d.handle.stop(), info);
  t.diagnostic(`strays gone ${(performance.now() - t0).toFixed(0)} ms after the crash was reported`);
  assert.equal(isAlive(stray as number), false);
  assert.equal(registry.list().length, 0);
});

test('killStrays: false leaves them until stop()', async (t) => {
  const dir = tempDir(t);
  const registry = new GroupRegistry();
  const pids = join(dir, 'pids');
  const d = start(script(dir, 'crash.sh', `sleep 30 &\necho $! >> ${pids}\nexit 1`), registry, { killStrays: false, stopTimeoutMs: 1000 });
  const [stray] = await readPids(pids, 1);
  await d.handle.exited;
  await sleep(100);
  assert.ok(isAlive(stray as number), 'left alone');
  assert.equal(registry.list().length, 1);
  const info = await d.handle.stop();
  assert.equal(info.kind === 'exited' && info.code, 1);
  assert.equal(isAlive(stray as number), false);
});

test('kill(): SIGKILL to the group at once', async (t) => {
  const dir = tempDir(t);
  const registry = new GroupRegistry();
  const d = start(script(dir, 'run.sh', `trap '' TERM\nsleep 30 &\nwait`), registry, { stopTimeoutMs: 10_000 });
  await sleep(50);
  const t0 = performance.now();
  const info = await d.handle.kill();
  assert.equal(info.kind === 'signaled' && info.signal, 'SIGKILL');
  assert.ok(performance.now() - t0 < 1000);
  assert.deepEqual(await liveMembers(d.handle.pid as number), []);
});

test('spawn error of a daemon is reported through onExit', async (t) => {
  const dir = tempDir(t);
  const d = start(join(dir, 'missing.sh'), new GroupRegistry());
  assert.equal(d.handle.pid, null);
  const info = await d.handle.stop();
  assert.equal(info.kind === 'spawn-error' && info.errno, 'ENOENT');
  assert.equal(d.exits.length, 1);
  assert.equal(d.handle.exitInfo, info);
});

test('killAll leaves no process behind', async (t) => {
  const dir = tempDir(t);
  const registry = new GroupRegistry();
  const pids = join(dir, 'pids');
  const a = start(script(dir, 'a.sh', `sleep 30 &\necho $! >> ${pids}\nwait`), registry);
  const b = start(script(dir, 'b.sh', `trap '' TERM\nsleep 30 &\necho $! >> ${pids}\nwait`), registry, { stopTimeoutMs: 300 });
  const all = await readPids(pids, 2);
  const groups = [a.handle.pid as number, b.handle.pid as number];
  const res = await registry.killAll({ graceMs: 5000 });
  assert.deepEqual(res, { groups: 2, lingering: [] });
  for (const pid of [...all, ...groups]) assert.equal(isAlive(pid), false);
  for (const g of groups) assert.deepEqual(await liveMembers(g), []);
  assert.equal(registry.list().length, 0);
  assert.deepEqual(a.exits.map((e) => e.requested), [true]);
  const late = start(script(dir, 'c.sh', 'exec sleep 30'), registry);
  assert.equal(late.handle.pid, null);
  assert.equal((await late.handle.exited).kind, 'spawn-error');
});
