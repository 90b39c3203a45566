// The hamod version, read once from package.json.
import { readFileSync } from 'node:fs';

export const HAMOD_VERSION: string = (JSON.parse(readFileSync(new URL(import.meta.url.includes('/dist/') ? '../../package.json' : '../package.json', import.meta.url), 'utf8')) as { version: string }).version;
