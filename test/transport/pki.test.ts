import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect, promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import {
  createClusterCa,
  createClusterSecret,
  installClusterSecret,
  issueNodeCertificate,
  loadNodeCredentials,
  PKI_FILES,
  PkiError,
  readClusterSecret,
  type PkiErrorCode,
} from '../../runtime/pki/index.js';

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'hamod-pki-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
const mode = (file: string): number => statSync(file).mode & 0o777;
const YEAR_MS = 365.25 * 24 * 3600 * 1000;

async function expectPkiError(fn: () => Promise<unknown>, code: PkiErrorCode): Promise<PkiError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof PkiError, `expected a PkiError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, nothing thrown`);
}

const caDir = join(root, 'ca');
const nodeDir = join(root, 'node-a');
const otherCaDir = join(root, 'other-ca');

before(async () => {
  // umask 0 would make every file world-readable if modes came from the umask.
  const previous = process.umask(0);
  try {
    await createClusterCa(caDir, { clusterName: 'prod-1' });
    await issueNodeCertificate(caDir, { nodeName: 'node-a', addresses: ['127.0.0.1', '::1', '127.0.0.1'] }, nodeDir);
    await createClusterSecret(nodeDir);
  } finally {
    process.umask(previous);
  }
  await createClusterCa(otherCaDir, { clusterName: 'other' });
});

describe('createClusterCa', () => {
  it('creates a self-signed ECDSA P-256 CA valid 10 years, key 0600 and cert 0644 whatever the umask', () => {
    assert.equal(mode(join(caDir, PKI_FILES.caKey)), 0o600);
    assert.equal(mode(join(caDir, PKI_FILES.caCert)), 0o644);
    assert.equal(mode(caDir), 0o700);
    const ca = new X509Certificate(readFileSync(join(caDir, PKI_FILES.caCert)));
    assert.equal(ca.ca, true);
    assert.equal(ca.subject, 'O=hamod\nOU=prod-1\nCN=hamod cluster CA');
    assert.equal(ca.issuer, ca.subject);
    assert.ok(ca.verify(ca.publicKey));
    assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const years = (Date.parse(ca.validTo) - Date.now()) / YEAR_MS;
    assert.ok(years > 9.9 && years < 10.1, `validity ${years} years`);
    assert.ok(Date.parse(ca.validFrom) < Date.now() - 30 * 60 * 1000, 'notBefore is backdated for clock skew');
    assert.doesNotMatch(readFileSync(join(caDir, PKI_FILES.caCert), 'utf8'), /PRIVATE/);
  });

  it('refuses to replace an existing CA, and bad cluster names', async () => {
    await expectPkiError(() => createClusterCa(caDir, { clusterName: 'prod-1' }), 'EXISTS');
    await expectPkiError(() => createClusterCa(join(root, 'x'), { clusterName: 'a b' }), 'INVALID_INPUT');
    await expectPkiError(() => createClusterCa(join(root, 'x'), { clusterName: '/CN=evil' }), 'INVALID_INPUT');
  });
});

describe('issueNodeCertificate', () => {
  it('issues a certificate for the node: CN, SAN, issuer, key usages, 5 years, key 0600', async () => {
    const ca = new X509Certificate(readFileSync(join(caDir, PKI_FILES.caCert)));
    const cert = new X509Certificate(readFileSync(join(nodeDir, PKI_FILES.nodeCert)));
    assert.equal(cert.subject, 'O=hamod\nOU=prod-1\nCN=node-a');
    assert.equal(cert.issuer, ca.subject);
    assert.equal(cert.subjectAltName, 'DNS:node-a, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    assert.equal(cert.checkHost('node-a'), 'node-a');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(cert.checkIP('127.0.0.2'), undefined);
    assert.ok(cert.checkIssued(ca));
    assert.ok(cert.verify(ca.publicKey));
    assert.equal(cert.ca, false);
    assert.deepEqual([...(cert.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']); // serverAuth, clientAuth
    const years = (Date.parse(cert.validTo) - Date.now()) / YEAR_MS;
    assert.ok(years > 4.9 && years < 5.1, `validity ${years} years`);
    assert.equal(mode(join(nodeDir, PKI_FILES.nodeKey)), 0o600);
    assert.equal(mode(join(nodeDir, PKI_FILES.nodeCert)), 0o644);
    assert.deepEqual(readFileSync(join(nodeDir, PKI_FILES.caCert)), readFileSync(join(caDir, PKI_FILES.caCert)));
  });

  it('passes openssl verify for both TLS purposes, and fails against another CA', async () => {
    const crt = join(nodeDir, PKI_FILES.nodeCert);
    for (const purpose of ['sslserver', 'sslclient']) {
      const { stdout } = await run('openssl', ['verify', '-purpose', purpose, '-CAfile', join(caDir, PKI_FILES.caCert), crt]);
      assert.match(stdout, /: OK/);
    }
    await assert.rejects(run('openssl', ['verify', '-CAfile', join(otherCaDir, PKI_FILES.caCert), crt]));
  });

  it('refuses to overwrite unless asked, and re-issues with replace', async () => {
    await expectPkiError(() => issueNodeCertificate(caDir, { nodeName: 'node-a', addresses: ['127.0.0.1'] }, nodeDir), 'EXISTS');
    const dir = join(root, 'reissue');
    const first = await issueNodeCertificate(caDir, { nodeName: 'node-r', addresses: ['127.0.0.1'] }, dir);
    const second = await issueNodeCertificate(caDir, { nodeName: 'node-r', addresses: ['::1'], replace: true }, dir);
    assert.notEqual(first.serialNumber, second.serialNumber);
    assert.equal(new X509Certificate(readFileSync(second.certPath)).subjectAltName, 'DNS:node-r, IP Address:0:0:0:0:0:0:0:1');
    assert.equal(mode(second.keyPath), 0o600);
  });

  it('refuses bad node names and addresses', async () => {
    for (const nodeName of ['', 'a b', 'node_a', '-a', 'a/CN=b', '10.0.0.1', 'x'.repeat(64), 'a\nb']) {
      await expectPkiError(() => issueNodeCertificate(caDir, { nodeName, addresses: [] }, join(root, 'bad')), 'INVALID_INPUT');
    }
    for (const address of ['localhost', '127.0.0.1/8', 'fe80::1%eth0', '999.1.1.1']) {
      await expectPkiError(() => issueNodeCertificate(caDir, { nodeName: 'n', addresses: [address] }, join(root, 'bad')), 'INVALID_INPUT');
    }
  });

  it("refuses a node directory holding another cluster's CA certificate", async () => {
    await expectPkiError(() => issueNodeCertificate(otherCaDir, { nodeName: 'node-x', addresses: [] }, nodeDir), 'CA_MISMATCH');
  });

  it('refuses a CA key readable by others', async () => {
    const dir = join(root, 'loose-ca');
    await createClusterCa(dir, { clusterName: 'loose' });
    chmodSync(join(dir, PKI_FILES.caKey), 0o644);
    await expectPkiError(() => issueNodeCertificate(dir, { nodeName: 'n', addresses: [] }, join(root, 'loose-node')), 'INSECURE_MODE');
  });
});

describe('cluster secret', () => {
  it('is 32 random bytes in a 0600 file, never overwritten', async () => {
    const file = join(nodeDir, PKI_FILES.secret);
    assert.equal(mode(file), 0o600);
    const secret = await readClusterSecret(nodeDir);
    assert.equal(secret.length, 32);
    assert.notDeepEqual(secret, Buffer.alloc(32));
    await expectPkiError(() => createClusterSecret(nodeDir), 'EXISTS');
    const other = join(root, 'secret2');
    await createClusterSecret(other);
    assert.notDeepEqual(await readClusterSecret(other), secret);
    await expectPkiError(() => installClusterSecret(other, Buffer.alloc(16)), 'INVALID_INPUT');
  });
});

describe('loadNodeCredentials', () => {
  it('loads and checks the node directory; key and secret never show in JSON or inspect', async () => {
    const c = await loadNodeCredentials(nodeDir);
    assert.equal(c.nodeName, 'node-a');
    assert.equal(c.clusterName, 'prod-1');
    assert.match(c.ca, /BEGIN CERTIFICATE/);
    assert.match(c.cert, /BEGIN CERTIFICATE/);
    assert.match(c.key.toString(), /BEGIN PRIVATE KEY/);
    assert.equal(c.secret.length, 32);
    for (const text of [JSON.stringify(c), inspect(c), String(inspect({ nested: c }, { depth: 5 }))]) {
      assert.doesNotMatch(text, /PRIVATE KEY/);
      assert.ok(!text.includes(c.secret.toString('hex')) && !text.includes(c.secret.toString('base64')));
      assert.match(text, /redacted/);
    }
  });

  function copyNodeDir(name: string): string {
    const dir = join(root, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o700 });
    for (const f of [PKI_FILES.caCert, PKI_FILES.nodeCert, PKI_FILES.nodeKey, PKI_FILES.secret]) {
      copyFileSync(join(nodeDir, f), join(dir, f));
      chmodSync(join(dir, f), mode(join(nodeDir, f)));
    }
    return dir;
  }

  it('refuses a key or secret readable by others', async () => {
    const dir = copyNodeDir('loose-key');
    chmodSync(join(dir, PKI_FILES.nodeKey), 0o640);
    await expectPkiError(() => loadNodeCredentials(dir), 'INSECURE_MODE');
    chmodSync(join(dir, PKI_FILES.nodeKey), 0o600);
    chmodSync(join(dir, PKI_FILES.secret), 0o604);
    await expectPkiError(() => loadNodeCredentials(dir), 'INSECURE_MODE');
  });

  it('refuses a certificate of another CA, a key of another node, a missing file, expiry', async () => {
    const otherNode = join(root, 'other-node');
    await issueNodeCertificate(otherCaDir, { nodeName: 'node-a', addresses: ['127.0.0.1'] }, otherNode);

    const foreignCert = copyNodeDir('foreign-cert');
    copyFileSync(join(otherNode, PKI_FILES.nodeCert), join(foreignCert, PKI_FILES.nodeCert));
    await expectPkiError(() => loadNodeCredentials(foreignCert), 'CA_MISMATCH');

    const foreignKey = copyNodeDir('foreign-key');
    copyFileSync(join(otherNode, PKI_FILES.nodeKey), join(foreignKey, PKI_FILES.nodeKey));
    await expectPkiError(() => loadNodeCredentials(foreignKey), 'INVALID_FILE');

    const noSecret = copyNodeDir('no-secret');
    rmSync(join(noSecret, PKI_FILES.secret));
    await expectPkiError(() => loadNodeCredentials(noSecret), 'NOT_FOUND');

    await expectPkiError(() => loadNodeCredentials(nodeDir, { now: new Date(Date.now() + 6 * YEAR_MS) }), 'EXPIRED');
    await expectPkiError(() => loadNodeCredentials(nodeDir, { now: new Date(Date.now() - 24 * 3600 * 1000) }), 'EXPIRED');
  });
});
