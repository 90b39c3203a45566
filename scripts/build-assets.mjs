// Build step after tsc: precompile the module schema into a standalone ajv validator (no schema
// compilation at run time, as fastify does), so `hamod build` and `hamod lint` start fast.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Ajv2020 = require('ajv/dist/2020.js').default;
const standaloneCode = require('ajv/dist/standalone/index.js').default;

const schema = JSON.parse(readFileSync(new URL('../schemas/module.schema.json', import.meta.url), 'utf8'));
const { AJV_OPTIONS } = await import('../dist/compiler/validate/schema.js');
const ajv = new Ajv2020({ ...AJV_OPTIONS, code: { source: true } });
const validate = ajv.compile(schema);
mkdirSync(new URL('../dist/schemas/', import.meta.url), { recursive: true });
writeFileSync(new URL('../dist/schemas/module-validator.cjs', import.meta.url), standaloneCode(ajv, validate));

// The native replication daemon (native/hamod-repl), built from source. Without its Debian
// packages (native/apt-packages.txt) the build goes on: the agent then reports that it cannot
// replicate, and the tests that need it say why they skip.
{
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync('sh', [new URL('../native/build.sh', import.meta.url).pathname], { encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(`warning: native/hamod-repl not built: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}\n`);
}
