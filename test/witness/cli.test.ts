// `hamod witness` as a process: runs in the foreground with the credentials of its data directory,
// serves leases to the allowed nodes, re-reads cluster.json on SIGHUP, closes cleanly on SIGTERM and
// SIGINT. (The command class is run directly: registering it in the command index is not its job.)
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';
import { WitnessClient } from '../../runtime/witness/index.js';
import { buildWitnessPki, type WitnessPki } from './fixture.js';

let pki: WitnessPki;
let runner: string;
const children: ChildProcessWithoutNullStreams[] = [];

before(async () => {
  pki = await buildWitnessPki();
  runner = join(pki.root, 'run-witness.mjs');
  writeFileSync(
    runner,
    `const { default: Witness } = await import(${JSON.stringify(join(PACKAGE_ROOT, 'dist/cli/commands/witness.js'))});\n` +
      `await Witness.run(process.argv.slice(2), ${JSON.stringify(PACKAGE_ROOT)});\n`,
  );
});

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  pki?.cleanup();
});

interface Proc {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exit: Promise<number | null>;
}

function run(args: string[]): Proc {
  const child = spawn(process.execPath, [runner, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1' } });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => void (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => void (err += d.toString('utf8')));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    out: () => out,
    err: () => err,
    exit,
    async waitFor(re, timeoutMs = 5_000) {
      const end = performance.now() + timeoutMs;
      for (;;) {
        const m = re.exec(out);
        if (m !== null) return m;
        if (performance.now() > end || child.exitCode !== null) assert.fail(`no ${re} in the output:\n${out}\n${err}`);
        await sleep(20);
      }
    },
  };
}

function client(port: number, credentials = pki.nodeA): WitnessClient {
  return new WitnessClient({ credentials, witnesses: [{ address: '127.0.0.1', port }], timeoutMs: 2_000 });
}

describe('hamod witness', () => {
  it('serves leases to the nodes of --nodes and closes cleanly on SIGTERM', async () => {
    const p = run(['--data-dir', pki.witnessDir, '--listen', '127.0.0.1:0', '--nodes', 'node-a,node-b', '--lease-ms', '300']);
    const port = Number((await p.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const a = client(port);
    const b = client(port, pki.nodeB);
    const c = client(port, pki.nodeC);
    try {
      const gen = { id: 'init', supersedes: [] };
      assert.equal((await a.requestLease('web', { sentAt: 1, generation: gen, committed: true })).type, 'leaseDenied'); // the hold after a start
      await sleep(320);
      assert.equal((await a.requestLease('web', { sentAt: 2, generation: gen, committed: true })).type, 'leaseGranted');
      const d = await b.requestLease('web', { sentAt: 3, generation: gen, committed: true });
      assert.equal(d.type === 'leaseDenied' ? d.reason : d.type, 'held');
      assert.equal((await c.requestLease('web', { sentAt: 4, generation: gen, committed: true })).type, 'leaseNoAnswer');
    } finally {
      a.close();
      b.close();
      c.close();
    }
    await p.waitFor(/lease web: denied to node-b: held: held by node-a/);
    p.child.kill('SIGTERM');
    assert.equal(await p.exit, 0, p.err());
    assert.match(p.out(), /SIGTERM: closing\n.*closed\n$/);
    assert.match(p.out(), /allowed nodes: node-a, node-b/);
    assert.equal(p.err(), '');
  });

  it('takes the allowed nodes from DIR/cluster.json, re-reads it on SIGHUP, stops on SIGINT', async () => {
    const clusterFile = join(pki.witnessDir, 'cluster.json');
    writeFileSync(clusterFile, JSON.stringify({ nodes: [{ name: 'node-a' }] }));
    const p = run(['--data-dir', pki.witnessDir, '--listen', '127.0.0.1:0', '--lease-ms', '100']);
    const port = Number((await p.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    await p.waitFor(/allowed nodes: node-a\n/);
    // The previous test's run granted 300 ms leases from this directory: this run waits those out.
    const holdMs = Number((await p.waitFor(/no lease granted for the first (\d+) ms/))[1]);
    assert.equal(holdMs, 300);
    await sleep(holdMs + 20);
    const b = client(port, pki.nodeB);
    try {
      const gen = { id: 'init', supersedes: [] };
      assert.equal((await b.requestLease('db', { sentAt: 1, generation: gen, committed: true })).type, 'leaseNoAnswer');
      writeFileSync(clusterFile, JSON.stringify({ nodes: [{ name: 'node-a' }, { name: 'node-b' }] }));
      p.child.kill('SIGHUP');
      await p.waitFor(/SIGHUP: allowed nodes now node-a, node-b/);
      assert.equal((await b.requestLease('db', { sentAt: 2, generation: gen, committed: true })).type, 'leaseGranted');
    } finally {
      b.close();
    }
    p.child.kill('SIGINT');
    assert.equal(await p.exit, 0, p.err());
    assert.match(p.out(), /SIGINT: closing/);
  });

  it('fails with one clear line without allowed nodes or credentials', async () => {
    const empty = pki.tempDir('empty');
    const p1 = run(['--data-dir', empty, '--listen', '127.0.0.1:0']);
    assert.equal(await p1.exit, 1);
    assert.match(p1.err(), /^hamod: no --nodes given and .*cluster\.json does not exist/);
    const p2 = run(['--data-dir', empty, '--listen', '127.0.0.1:0', '--nodes', 'node-a']);
    assert.equal(await p2.exit, 1);
    assert.match(p2.err(), /^hamod: .*ca\.crt: CA certificate not found/);
    const p3 = run(['--data-dir', pki.witnessDir, '--listen', 'localhost:7412', '--nodes', 'node-a']);
    assert.equal(await p3.exit, 1);
    assert.match(p3.err(), /^hamod: listen address "localhost:7412": "localhost" is not an IP address/);
  });
});
