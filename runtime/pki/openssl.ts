// Running the openssl command: argv arrays through execFile (no shell), a configuration file of our
// own (the system's openssl.cnf never applies), inside a private temporary directory removed
// afterwards. Errors carry openssl's stderr, which names files and problems, never key material.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PkiError } from './pki-error.js';

const OPENSSL_TIMEOUT_MS = 30_000;

export interface OpensslWorkspace {
  /** The private (0700) temporary directory. */
  readonly dir: string;
  /** The configuration file every command of this workspace uses. */
  readonly config: string;
  run(args: readonly string[]): Promise<void>;
}

/**
 * Runs `fn` with a fresh 0700 directory holding `config` as openssl.cnf, commands running inside it;
 * always removes it, with whatever key material was generated in it.
 */
export async function withOpenssl<T>(config: string, fn: (ws: OpensslWorkspace) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'hamod-pki-')); // mkdtemp creates it 0700
  try {
    const configFile = join(dir, 'openssl.cnf');
    await writeFile(configFile, config, { mode: 0o600 });
    // The throw-away database `openssl ca` insists on (see opensslConfig).
    await writeFile(join(dir, 'index.txt'), '', { mode: 0o600 });
    await mkdir(join(dir, 'issued'), { mode: 0o700 });
    const ws: OpensslWorkspace = { dir, config: configFile, run: (args) => runOpenssl(args, dir, configFile) };
    return await fn(ws);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function runOpenssl(args: readonly string[], cwd: string, configFile: string): Promise<void> {
  const env: NodeJS.ProcessEnv = { OPENSSL_CONF: configFile, LC_ALL: 'C' };
  if (process.env['PATH'] !== undefined) env['PATH'] = process.env['PATH'];
  return new Promise((resolve, reject) => {
    execFile('openssl', [...args], { cwd, env, timeout: OPENSSL_TIMEOUT_MS, maxBuffer: 1024 * 1024, windowsHide: true }, (err, _stdout, stderr) => {
      if (err === null) return resolve();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        return reject(new PkiError('OPENSSL_MISSING', 'the openssl command is not installed', { hint: 'install the Debian package openssl' }));
      }
      const detail = String(stderr)
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('Using configuration from'))
        .slice(-4)
        .join('; ');
      reject(new PkiError('OPENSSL_FAILED', `openssl ${args[0] ?? ''} failed${err.killed ? ' (timed out)' : ''}${detail !== '' ? `: ${detail}` : ''}`));
    });
  });
}

/** openssl's ca -startdate/-enddate format (GeneralizedTime; encoded as UTCTime before 2050). */
export function opensslTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:T]/g, '');
}

export const EC_KEYGEN_ARGS = ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt', 'ec_param_enc:named_curve'] as const;

/**
 * The configuration of one issuing run: the subject of the request (prompt-less), a throw-away CA
 * database (relative paths: commands run in the workspace), and the CA and node certificate
 * profiles. Names come validated (see names.ts): nothing in them needs quoting for OpenSSL.
 */
export function opensslConfig(p: { clusterName: string; commonName: string; dns?: string; ips?: readonly string[] }): string {
  const alt = [`DNS.1 = ${p.dns ?? p.commonName}`, ...(p.ips ?? []).map((ip, i) => `IP.${i + 1} = ${ip}`)];
  return [
    '[ req ]',
    'distinguished_name = req_dn',
    'prompt = no',
    'utf8 = yes',
    'string_mask = utf8only',
    '[ req_dn ]',
    'O = hamod',
    `OU = ${p.clusterName}`,
    `CN = ${p.commonName}`,
    '[ ca ]',
    'default_ca = hamod_ca',
    '[ hamod_ca ]',
    'database = index.txt',
    'new_certs_dir = issued',
    'default_md = sha256',
    'policy = hamod_policy',
    'unique_subject = no',
    'copy_extensions = none',
    'email_in_dn = no',
    'preserve = yes',
    'rand_serial = yes',
    '[ hamod_policy ]',
    'organizationName = supplied',
    'organizationalUnitName = supplied',
    'commonName = supplied',
    '[ v3_ca ]',
    'basicConstraints = critical, CA:TRUE, pathlen:0',
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid:always',
    '[ v3_node ]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth, clientAuth',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid:always',
    'subjectAltName = @alt_names',
    '[ alt_names ]',
    ...alt,
    '',
  ].join('\n');
}
