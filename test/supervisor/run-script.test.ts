// runScript with real processes: exits classified, spawn errors, exact environment, argv without a
// shell, timeouts that reach the whole process group, abort, user switching, captured output.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MemorySink } from '../../runtime/logs/index.js';
import { DEFAULT_PATH, GroupRegistry, describeExit, parseSignal, runScript, type ScriptSpec } from '../../runtime/supervisor/index.js';
import { isAlive, readPids, script, tempDir } from './helpers.js';

const spec = (path: string, extra: Partial<ScriptSpec> = {}): ScriptSpec => ({ path, env: {}, service: 'svc', label: 'start', ...extra });

test('exit codes and signals are classified', async (t) => {
  const dir = tempDir(t);
  const log = new MemorySink();
  const ok = await runScript(spec(script(dir, 'ok.sh', 'exit 0')), { log });
  assert.equal(ok.kind, 'exited');
  assert.equal(ok.kind === 'exited' && ok.code, 0);
  const three = await runScript(spec(script(dir, 'three.sh', 'exit 3')), { log });
  assert.deepEqual({ ...three, durationMs: 0 }, { kind: 'exited', code: 3, durationMs: 0 });
  const term = await runScript(spec(script(dir, 'term.sh', 'kill -TERM $$; sleep 5')), { log });
  assert.deepEqual({ ...term, durationMs: 0 }, { kind: 'signaled', signal: 'SIGTERM', durationMs: 0 });
  const killed = await runScript(spec(script(dir, 'kill.sh', 'kill -KILL $$')), { log });
  assert.equal(killed.kind === 'signaled' && killed.signal, 'SIGKILL');
  assert.match(describeExit(three), /^exited with code 3 after \d+ms$/);
  assert.match(describeExit(killed), /^killed by SIGKILL/);
  assert.ok(log.texts('event').some((e) => /svc start: exited with code 3/.test(e)));
});

test('spawn errors: missing, not executable, relative path, unknown user', async (t) => {
  const dir = tempDir(t);
  const log = new MemorySink();
  const missing = await runScript(spec(join(dir, 'nope.sh')), { log });
  assert.equal(missing.kind, 'spawn-error');
  assert.equal(missing.kind === 'spawn-error' && missing.errno, 'ENOENT');
  const noexec = await runScript(spec(script(dir, 'noexec.sh', 'exit 0', 0o644)), { log });
  assert.equal(noexec.kind === 'spawn-error' && noexec.errno, 'EACCES');
  const relative = await runScript(spec('bin/true'), { log });
  assert.equal(relative.kind === 'spawn-error' && relative.errno, 'EINVAL');
  const user = await runScript(spec(script(dir, 'u.sh', 'exit 0'), { user: 'no-such-user-hamod' }), { log });
  assert.equal(user.kind === 'spawn-error' && user.errno, 'ENOUSER');
  assert.match(describeExit(noexec), /^could not start: EACCES/);
});

test('the environment is exactly the given one (plus a default PATH); argv is not a shell string', async (t) => {
  const dir = tempDir(t);
  process.env['HAMOD_LEAK_CHECK'] = 'leaked';
  t.after(() => delete process.env['HAMOD_LEAK_CHECK']);
  // /proc/$$/environ is what execve received, before the shell adds anything of its own.
  const envSh = script(dir, 'env.sh', `tr '\\0' '\\n' < /proc/$$/environ`);
  const log = new MemorySink();
  await runScript(spec(envSh, { env: { FOO: 'bar', EMPTY: '', SPACED: 'a b  c' } }), { log });
  assert.deepEqual(log.texts('stdout').sort(), ['EMPTY=', 'FOO=bar', `PATH=${DEFAULT_PATH}`, 'SPACED=a b  c']);

  const log2 = new MemorySink();
  await runScript(spec(envSh, { env: { PATH: '/bin' } }), { log: log2 });
  assert.deepEqual(log2.texts('stdout'), ['PATH=/bin']);

  const args = script(dir, 'args.sh', `printf '%s\\n' "$@"; pwd`);
  const log3 = new MemorySink();
  const hostile = [`$(touch ${dir}/pwned)`, 'a b', '*', `'; touch ${dir}/pwned2 #`];
  await runScript(spec(args, { args: hostile }), { log: log3 });
  assert.deepEqual(log3.texts('stdout'), [...hostile, '/']);
  assert.ok(!existsSync(join(dir, 'pwned')) && !existsSync(join(dir, 'pwned2')));

  const log4 = new MemorySink();
  await runScript(spec(args, { cwd: dir }), { log: log4 });
  assert.deepEqual(log4.texts('stdout'), ['', dir]); // printf with no argument prints an empty line
});

test('stdout and stderr are captured per line with the service, a final partial line included', async (t) => {
  const dir = tempDir(t);
  const log = new MemorySink();
  await runScript(spec(script(dir, 'out.sh', `echo one; echo two >&2; printf 'three\\r\\nfour'`), { service: 'web' }), { log });
  const out = log.records.filter((r) => r.stream !== 'event');
  assert.deepEqual(
    out.filter((r) => r.stream === 'stdout'),
    [
      { service: 'web', stream: 'stdout', text: 'one' },
      { service: 'web', stream: 'stdout', text: 'three' },
      { service: 'web', stream: 'stdout', text: 'four' },
    ],
  );
  assert.deepEqual(out.filter((r) => r.stream === 'stderr'), [{ service: 'web', stream: 'stderr', text: 'two' }]);
});

test('a hanging start script times out: SIGTERM to its group, SIGKILL when ignored', async (t) => {
  const dir = tempDir(t);
  const log = new MemorySink();
  const t0 = Date.now();
  const hang = await runScript(spec(script(dir, 'hang.sh', 'sleep 30'), { timeoutMs: 300, killGraceMs: 2000 }), { log });
  assert.deepEqual({ ...hang, durationMs: 0 }, { kind: 'timeout', afterMs: 300, killed: false, durationMs: 0 });
  assert.ok(Date.now() - t0 < 2000, 'SIGTERM was enough, no wait for the grace period');

  const pids = join(dir, 'pids');
  const stubborn = script(dir, 'stubborn.sh', `trap '' TERM\n( sleep 30 & echo $! >> ${pids}; wait ) &\nsleep 30 &\necho $! >> ${pids}\nwait`);
  const t1 = Date.now();
  const r = await runScript(spec(stubborn, { timeoutMs: 300, killGraceMs: 300 }), { log });
  const elapsed = Date.now() - t1;
  assert.equal(r.kind, 'timeout');
  assert.equal(r.kind === 'timeout' && r.killed, true);
  assert.ok(elapsed >= 550, `deadline + grace honoured (${elapsed}ms)`);
  const children = await readPids(pids, 2);
  for (const pid of children) assert.equal(isAlive(pid), false, `descendant ${pid} is gone`);
  assert.match(describeExit(r), /timed out after 300ms, SIGKILL needed/);
});

test('abort terminates the script group', async (t) => {
  const dir = tempDir(t);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const r = await runScript(spec(script(dir, 'a.sh', 'sleep 30')), { log: new MemorySink(), signal: ac.signal });
  assert.equal(r.kind, 'aborted');
  assert.equal(r.kind === 'aborted' && r.killed, false);
  const pre = await runScript(spec(script(dir, 'b.sh', 'exit 0')), { log: new MemorySink(), signal: AbortSignal.abort() });
  assert.equal(pre.kind, 'aborted');
});

test('a start script may leave a background process; killAll of its registry stops it', async (t) => {
  const dir = tempDir(t);
  const registry = new GroupRegistry();
  const pidFile = join(dir, 'bg.pid');
  const log = new MemorySink();
  const r = await runScript(spec(script(dir, 'bg.sh', `sleep 30 &\necho $! > ${pidFile}\necho started`)), { log, registry });
  assert.equal(r.kind, 'exited');
  const [bg] = await readPids(pidFile, 1);
  assert.ok(bg !== undefined && isAlive(bg), 'the background process outlives its start script');
  assert.equal(registry.list().length, 1);
  assert.ok(log.texts('event').some((e) => e.includes('left processes running')));
  const res = await registry.killAll({ graceMs: 1000 });
  assert.deepEqual(res, { groups: 1, lingering: [] });
  assert.equal(isAlive(bg as number), false);
  assert.equal(registry.list().length, 0);
  const after = await runScript(spec(script(dir, 'late.sh', 'exit 0')), { log, registry });
  assert.equal(after.kind === 'spawn-error' && after.errno, 'ECANCELED');
});

test('user switching: runs as nobody with its primary group only', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async (t) => {
  const dir = tempDir(t);
  const log = new MemorySink();
  const r = await runScript(spec(script(dir, 'id.sh', 'id -u; id -g; id -G'), { user: 'nobody' }), { log });
  assert.equal(r.kind, 'exited');
  assert.deepEqual(log.texts('stdout'), ['65534', '65534', '65534']);
  const log2 = new MemorySink();
  await runScript(spec(script(dir, 'id2.sh', 'id -u; id -g'), { user: 65534, group: 'root' }), { log: log2 });
  assert.deepEqual(log2.texts('stdout'), ['65534', '0']);
});

test('parseSignal accepts plan spellings', () => {
  assert.equal(parseSignal('TERM'), 'SIGTERM');
  assert.equal(parseSignal('sigint'), 'SIGINT');
  assert.equal(parseSignal(9), 'SIGKILL');
  assert.throws(() => parseSignal('SIGNOPE'));
});
