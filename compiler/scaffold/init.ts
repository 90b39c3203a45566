// `hamod init`: a new module copied from the generic mirror or farm module of modules/, renamed.
// The result builds as is; the author then replaces scripts/run.sh with the application.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { DiagnosticError, diagnostic } from '../diagnostics.js';
import { PACKAGE_ROOT } from '../validate/schema-file.js';

export interface InitOptions {
  dir: string;
  mode: 'mirror' | 'farm';
  name?: string;
  force?: boolean;
}

export interface InitResult {
  dir: string;
  name: string;
  mode: 'mirror' | 'farm';
  files: string[];
}

const NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;

export function suggestName(dir: string): string {
  const n = basename(resolve(dir)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '').replace(/-+$/, '').slice(0, 63);
  return n || 'my-module';
}

export function initModule(opts: InitOptions): InitResult {
  const dir = resolve(opts.dir);
  const name = opts.name ?? suggestName(dir);
  const bad = (message: string) => new DiagnosticError([diagnostic('HM505', { file: opts.dir, message })]);
  if (!NAME_RE.test(name)) throw bad(`"${name}" is not a valid module name (lowercase letters, digits and dashes, starting with a letter); pass --name`);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw bad(`${opts.dir} exists and is not a directory`);
    if (readdirSync(dir).length > 0 && !opts.force) throw bad(`${opts.dir} is not empty; choose another directory or pass --force`);
  }
  const template = join(PACKAGE_ROOT, 'modules', opts.mode);
  const files: string[] = [];
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  for (const rel of ['module.yaml', 'README.md', ...readdirSync(join(template, 'scripts')).map((f) => `scripts/${f}`)]) {
    const to = join(dir, rel);
    copyFileSync(join(template, rel), to);
    files.push(rel);
  }
  const yamlPath = join(dir, 'module.yaml');
  const yaml = readFileSync(yamlPath, 'utf8')
    .replace('$schema=../../schemas/module.schema.json', `$schema=${join(PACKAGE_ROOT, 'schemas/module.schema.json')}`)
    .replace(/^name: .*$/m, `name: ${name}`)
    .replace(/^version: .*$/m, 'version: 0.1.0');
  writeFileSync(yamlPath, yaml);
  const readme = readFileSync(join(dir, 'README.md'), 'utf8').replace(/^# .*$/m, `# ${name}`);
  writeFileSync(join(dir, 'README.md'), readme);
  writeFileSync(join(dir, 'CHANGELOG.md'), `# Changelog\n\n## 0.1.0\n- Created with \`hamod init --mode ${opts.mode}\`.\n`);
  files.push('CHANGELOG.md');
  return { dir, name, mode: opts.mode, files: files.sort() };
}
