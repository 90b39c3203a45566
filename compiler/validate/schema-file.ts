// Where the module schema lives, for the validator fallback and for "did you mean" lookups.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package root: dist/compiler/validate -> ../../.. ; compiler/validate (tsx) -> ../.. */
function packageRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.includes('/dist/') ? fileURLToPath(new URL('../../../', import.meta.url)) : fileURLToPath(new URL('../../', import.meta.url));
}

export const PACKAGE_ROOT = packageRoot();
export const MODULE_SCHEMA_PATH = `${PACKAGE_ROOT}schemas/module.schema.json`;
export const SCHEMA_VERSION = 'hamod/v1';

let cached: Record<string, unknown> | undefined;
export function moduleSchema(): Record<string, unknown> {
  cached ??= JSON.parse(readFileSync(MODULE_SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
  return cached;
}
