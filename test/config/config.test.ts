import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { compileModule } from '../../compiler/compile-module.js';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';
import { configProblems, parseNodeFlag, parseWitnessFlag, withChange, type ClusterConfig } from '../../runtime/config/cluster-config.js';
import { ParamError, parseSetFlags, resolveParams, resolveString, scriptEnv, secretValues } from '../../runtime/config/params.js';

const plan = compileModule(join(PACKAGE_ROOT, 'modules/postgresql'), '0').module!.plan;

test('--set flags: key=value, every problem at once', () => {
  assert.deepEqual(parseSetFlags(['a=1', 'b=x=y', 'c=']), { a: '1', b: 'x=y', c: '' });
  assert.throws(() => parseSetFlags(['novalue', '=x', 'a=1', 'a=2']), (e: unknown) => e instanceof ParamError && e.problems.length === 3);
});

test('parameters are checked against their types, defaults filled, all problems listed', () => {
  const ok = resolveParams(plan, { vip: '198.18.0.10', port: '6543' });
  assert.equal(ok.port, 6543);
  assert.equal(ok.data_dir, '/var/lib/hamod-postgresql/data');
  assert.throws(() => resolveParams(plan, { port: '0', listen: 'x;y', data_dir: 'relative', zzz: '1' }), (e: unknown) => {
    const p = (e as ParamError).problems.join('\n');
    return /"vip" \(ip\) is required/.test(p) && /"port" must be a port/.test(p) && /"listen" must match/.test(p) && /"data_dir" must be an absolute path/.test(p) && /unknown parameter "zzz"/.test(p);
  });
});

test('plan values resolve with the instance parameters; scripts get HAMOD_PARAM_*', () => {
  const params = resolveParams(plan, { vip: '198.18.0.10' });
  assert.equal(resolveString({ concat: ['x', { param: 'port' }, 'y'] }, params), 'x5432y');
  const env = scriptEnv(plan, params, { HAMOD_NODE: 'n1' });
  assert.equal(env.HAMOD_PARAM_VIP, '198.18.0.10');
  assert.equal(env.HAMOD_NODE, 'n1');
  assert.equal(env.HAMOD_MODULE, 'postgresql');
  assert.deepEqual(secretValues(plan, params), []);
});

const base: ClusterConfig = {
  format: 1, cluster: { name: 'c', id: 'x' }, version: 1, peerPort: 7410, heartbeatPort: 7411,
  nodes: [parseNodeFlag('n1=198.18.0.1,198.19.0.1'), parseNodeFlag('n2=198.18.0.2,198.19.0.2')],
  witnesses: [parseWitnessFlag('198.18.0.9')], modules: [],
};

test('cluster configuration: checks and versioned changes', () => {
  assert.deepEqual(configProblems(base), []);
  assert.equal(base.witnesses[0]!.port, 7412);
  const bad = { ...base, nodes: [parseNodeFlag('n1=1.2.3'), parseNodeFlag('n1=198.18.0.2,198.19.0.2')] };
  const p = configProblems(bad).join('\n');
  assert.match(p, /not an IP address/);
  assert.match(p, /listed twice/);
  assert.match(p, /same count/);
  const next = withChange(base, (c) => { c.witnesses = []; });
  assert.equal(next.version, 2);
  assert.equal(base.witnesses.length, 1, 'the input is not changed');
  assert.throws(() => withChange(base, (c) => { c.nodes[0]!.addresses = ['nope']; }), /not an IP address/);
});
