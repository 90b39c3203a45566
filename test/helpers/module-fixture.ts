// Temporary module directories for compiler tests, removed after each test.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';

export const RUN_SH = '#!/bin/sh\nexec sleep 1000\n';

export const MINIMAL_MIRROR = `apiVersion: hamod/v1
name: demo
version: 1.0.0
mode: mirror
parameters:
  vip: { type: ip, required: true }
  port: { type: port, default: 8080 }
services:
  - name: app
    run: scripts/run.sh
checkers:
  - name: up
    type: tcp
    port: "{{params.port}}"
virtualIps:
  - address: "{{params.vip}}"
`;

export function moduleDir(t: TestContext | undefined, files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hamod-test-'));
  t?.after(() => rmSync(dir, { recursive: true, force: true }));
  const all: Record<string, string | Buffer> = { 'README.md': '# demo\n', 'CHANGELOG.md': '# Changelog\n', 'scripts/run.sh': RUN_SH, ...files };
  for (const [rel, content] of Object.entries(all)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    if (rel.endsWith('.sh')) chmodSync(p, 0o755);
  }
  return dir;
}
