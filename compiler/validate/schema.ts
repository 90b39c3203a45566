// Schema validation of module.yaml with ajv (JSON Schema 2020-12). The validator is precompiled at
// build time (scripts/build-assets.mjs, ajv standalone) so `hamod build` pays no compile cost; ajv's
// errors are mapped back to YAML positions as located diagnostics with stable codes.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { DiagnosticBag } from '../diagnostics.js';
import { fieldName, locate, type PathSegment, type YamlSource } from '../load/yaml-source.js';
import { closest } from '../util/suggest.js';
import { moduleSchema, PACKAGE_ROOT } from './schema-file.js';

export interface AjvError {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: Record<string, unknown>;
  message?: string;
}

type ValidateFn = ((data: unknown) => boolean) & { errors?: AjvError[] | null };

let validator: ValidateFn | undefined;

function loadValidator(): ValidateFn {
  if (validator) return validator;
  const require = createRequire(import.meta.url);
  const precompiled = `${PACKAGE_ROOT}dist/schemas/module-validator.cjs`;
  if (existsSync(precompiled)) {
    const mod = require(precompiled) as { default?: ValidateFn } & ValidateFn;
    validator = mod.default ?? mod;
  } else {
    const Ajv2020 = require('ajv/dist/2020.js') as { default: new (o: object) => { compile(s: object): ValidateFn } };
    validator = new Ajv2020.default(AJV_OPTIONS).compile(moduleSchema());
  }
  return validator;
}

export const AJV_OPTIONS = { allErrors: true, strict: true, allowUnionTypes: true } as const;

export function validateSchema(src: YamlSource, bag: DiagnosticBag): boolean {
  const validate = loadValidator();
  if (validate(src.value)) return true;
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'if');
  const seen = new Set<string>();
  for (const e of errors) {
    const path = pointerToPath(e.instancePath);
    const key = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    mapError(src, e, path, bag);
  }
  return false;
}

function mapError(src: YamlSource, e: AjvError, path: PathSegment[], bag: DiagnosticBag): void {
  const file = src.file;
  const actualValue = valueAt(src.value, path);
  const at = (p: PathSegment[], which: 'key' | 'value' = 'value') => ({ file, ...locate(src, p, which), field: fieldName(p) });
  switch (e.keyword) {
    case 'required': {
      const missing = String(e.params.missingProperty);
      const where = at(path, path.length > 0 ? 'key' : 'value');
      bag.add('HM202', { ...where, field: fieldName([...path, missing]), message: `missing required field "${missing}"${path.length ? ` in ${fieldName(path)}` : ''}`, expected: `a "${missing}" field` });
      return;
    }
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const extra = String(e.params.additionalProperty ?? e.params.unevaluatedProperty);
      const known = knownKeys(src.value, path);
      // A property of a failing if/then branch is "unevaluated" too: its own error explains it.
      if (e.keyword === 'unevaluatedProperties' && known.includes(extra)) return;
      const guess = closest(extra, known);
      bag.add('HM203', {
        ...at([...path, extra], 'key'),
        message: `unknown field "${extra}"${guess ? `; did you mean "${guess}"?` : ''}`,
        actual: extra,
        expected: known.length ? `one of ${known.map((k) => `"${k}"`).join(', ')}` : undefined,
        hint: guess ? `rename it to "${guess}"` : undefined,
      });
      return;
    }
    case 'propertyNames':
      return; // reported through the nested error on the name itself
    case 'type': {
      const expected = String(e.params.type).replace(',', ' or ');
      bag.add('HM201', { ...at(path), message: `${fieldName(path)} must be ${article(expected)}, not ${describe(actualValue)}`, expected, actual: describe(actualValue) });
      return;
    }
    case 'enum':
    case 'const': {
      const allowed = (e.keyword === 'enum' ? (e.params.allowedValues as unknown[]) : [e.params.allowedValue]).map((v) => String(v));
      const guess = typeof actualValue === 'string' ? closest(actualValue, allowed) : undefined;
      bag.add('HM204', {
        ...at(path),
        message: `${fieldName(path)} must be ${allowed.map((a) => `"${a}"`).join(' | ')}, not ${JSON.stringify(actualValue)}${guess ? `; did you mean "${guess}"?` : ''}`,
        expected: allowed.join(' | '), actual: JSON.stringify(actualValue),
      });
      return;
    }
    case 'pattern':
    case 'format': {
      const propName = e.params.propertyName as string | undefined;
      const p = propName !== undefined ? [...path, propName] : path;
      const shown = propName ?? actualValue;
      const what = describePattern(e.schemaPath);
      bag.add('HM205', { ...at(p, propName !== undefined ? 'key' : 'value'), message: `${fieldName(p)}${propName !== undefined ? ' (name)' : ''} ${JSON.stringify(shown)} is not ${what}`, expected: what, actual: JSON.stringify(shown) });
      return;
    }
    case 'not': {
      const propName = e.params.propertyName as string | undefined;
      const p = propName !== undefined ? [...path, propName] : path;
      bag.add('HM205', { ...at(p, 'key'), message: `${fieldName(p)}: names starting with HAMOD_ are reserved`, actual: JSON.stringify(propName ?? actualValue) });
      return;
    }
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
    case 'minItems': case 'maxItems': case 'minLength': case 'maxLength': case 'minProperties': case 'maxProperties': {
      const limit = e.params.limit;
      const expected = rangeText(e.keyword, limit);
      bag.add('HM206', { ...at(path), message: `${fieldName(path)} must be ${expected}${typeof actualValue === 'number' ? `, not ${actualValue}` : ''}`, expected, actual: typeof actualValue === 'number' ? String(actualValue) : describe(actualValue) });
      return;
    }
    case 'uniqueItems':
      bag.add('HM207', { ...at([...path, Number(e.params.i)]), message: `${fieldName(path)} has duplicate items (#${Number(e.params.j) + 1} and #${Number(e.params.i) + 1})` });
      return;
    default:
      bag.add('HM207', { ...at(path), message: `${fieldName(path)} ${e.message ?? 'is invalid'}` });
  }
}

function rangeText(keyword: string, limit: unknown): string {
  switch (keyword) {
    case 'minimum': return `at least ${String(limit)}`;
    case 'maximum': return `at most ${String(limit)}`;
    case 'exclusiveMinimum': return `more than ${String(limit)}`;
    case 'exclusiveMaximum': return `less than ${String(limit)}`;
    case 'minItems': return `a list of at least ${String(limit)} item(s)`;
    case 'maxItems': return `a list of at most ${String(limit)} items`;
    case 'minLength': return `at least ${String(limit)} character(s) long`;
    case 'maxLength': return `at most ${String(limit)} characters long`;
    case 'minProperties': return `a mapping with at least ${String(limit)} entries`;
    default: return `a mapping with at most ${String(limit)} entries`;
  }
}

const PATTERN_TEXT: Array<[RegExp, string]> = [
  [/\$defs\/name\//, 'a name (lowercase letters, digits and dashes, starting with a letter, at most 63 characters)'],
  [/\$defs\/paramName\//, 'a parameter name (lowercase letters, digits and underscores, starting with a letter)'],
  [/\$defs\/semver\//, 'a semver version such as 1.2.0'],
  [/\$defs\/duration\//, 'a duration such as 500ms, 30s, 5m or 1h'],
  [/\$defs\/size\//, 'a size such as 64KiB or 10MiB'],
  [/\$defs\/port\//, 'a port (1-65535) or a {{params.NAME}} reference'],
  [/\$defs\/scriptPath\//, 'a relative path inside the module directory'],
  [/ports\/items\//, 'a port, a range such as 8000-8010, or a {{params.NAME}} reference'],
  [/environment\/propertyNames/, 'an environment variable name (letters, digits, underscores)'],
  [/keywords\//, 'a keyword (lowercase letters, digits and dashes)'],
  [/url|homepage/, 'an http(s) URL'],
  [/email/, 'an email address'],
  [/user|group/, 'a Unix user or group name'],
  [/interface/, 'an interface name'],
];

function describePattern(schemaPath: string): string {
  for (const [re, text] of PATTERN_TEXT) if (re.test(schemaPath)) return text;
  return 'in the expected format';
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the integer ${v}` : `the number ${v}`;
  return `${typeof v} ${String(v)}`;
}

export function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((s) => {
    const t = s.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^(0|[1-9][0-9]*)$/.test(t) ? Number(t) : t;
  });
}

function valueAt(root: unknown, path: PathSegment[]): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

/** Field names the schema allows at the object at `path` (following $ref, properties, items and if/then). */
function knownKeys(root: unknown, path: PathSegment[]): string[] {
  const defs = moduleSchema().$defs as Record<string, unknown>;
  const deref = (sc: unknown): Record<string, unknown> | undefined => {
    let cur = sc as Record<string, unknown> | undefined;
    for (let i = 0; i < 8 && cur && typeof cur.$ref === 'string'; i++) cur = defs[cur.$ref.replace('#/$defs/', '')] as Record<string, unknown> | undefined;
    return cur;
  };
  let sc = deref(moduleSchema());
  let data: unknown = root;
  for (const seg of path) {
    if (!sc) return [];
    let next: unknown;
    if (typeof seg === 'number') next = sc.items;
    else {
      next = (sc.properties as Record<string, unknown> | undefined)?.[seg];
      for (const branch of (sc.allOf ?? []) as Array<Record<string, unknown>>) {
        if (next === undefined && branchMatches(branch, data)) next = ((branch.then as Record<string, unknown> | undefined)?.properties as Record<string, unknown> | undefined)?.[seg];
      }
      if (next === undefined && sc.additionalProperties && typeof sc.additionalProperties === 'object') next = sc.additionalProperties;
    }
    sc = deref(next);
    data = data !== null && typeof data === 'object' ? (data as Record<string | number, unknown>)[seg] : undefined;
  }
  const keys = new Set<string>();
  collectKeys(sc, data, keys, 0);
  return [...keys].sort();
}

function branchMatches(branch: Record<string, unknown>, data: unknown): boolean {
  const cond = (branch.if as { properties?: Record<string, { const?: unknown }> } | undefined)?.properties;
  return cond !== undefined && Object.entries(cond).every(([k, v]) => (data as Record<string, unknown> | null)?.[k] === v.const);
}

function collectKeys(schema: unknown, data: unknown, out: Set<string>, depth: number): void {
  if (depth > 8 || schema === null || typeof schema !== 'object') return;
  const sc = schema as Record<string, unknown>;
  if (typeof sc.$ref === 'string') {
    const def = sc.$ref.replace('#/$defs/', '');
    collectKeys((moduleSchema().$defs as Record<string, unknown>)[def], data, out, depth + 1);
  }
  if (sc.properties && typeof sc.properties === 'object') for (const k of Object.keys(sc.properties)) out.add(k);
  if (Array.isArray(sc.allOf)) {
    for (const branch of sc.allOf as Array<Record<string, unknown>>) {
      if (branch.if === undefined) collectKeys(branch, data, out, depth + 1);
      else if (branchMatches(branch, data)) collectKeys(branch.then, data, out, depth + 1);
    }
  }
}
