import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BLOCK_SIZE, decodeHeader, encodeHeader } from '../../compiler/bundle/tar-header.js';
import { DEFAULT_TAR_LIMITS, readTar, sourceDateEpoch, writeTar, type TarFileInput } from '../../compiler/bundle/tar.js';
import { expectBundleError, rawTar } from './helpers.js';

const files: TarFileInput[] = [
  { path: 'b/z.txt', data: Buffer.from('zzz') },
  { path: 'a.txt', data: Buffer.from('hello') },
  { path: 'b/c/run.sh', data: Buffer.from('#!/bin/sh\n'), executable: true },
  { path: 'a-b', data: Buffer.alloc(513, 1) },
];

function hasSystemTar(): boolean {
  try {
    execFileSync('tar', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('writeTar', () => {
  it('is deterministic and independent of input order', () => {
    const a = writeTar(files, { mtime: 0 });
    const b = writeTar([...files].reverse(), { mtime: 0 });
    assert.ok(a.equals(b));
  });

  it('emits sorted entries, a directory for every parent, and normalised metadata', () => {
    const entries = readTar(writeTar(files, { mtime: 0 }));
    assert.deepEqual(
      entries.map((e) => [e.path, e.type, e.mode.toString(8)]),
      [
        ['a-b', 'file', '644'],
        ['a.txt', 'file', '644'],
        ['b', 'directory', '755'],
        ['b/c', 'directory', '755'],
        ['b/c/run.sh', 'file', '755'],
        ['b/z.txt', 'file', '644'],
      ],
    );
    const tar = writeTar(files, { mtime: 0 });
    const first = decodeHeader(tar.subarray(0, BLOCK_SIZE));
    assert.ok('header' in first);
    assert.equal(first.header.mtime, 0);
    // uid/gid 0, empty uname/gname
    assert.equal(tar.subarray(108, 124).toString('latin1'), '0000000\u00000000000\u0000');
    assert.ok(tar.subarray(265, 329).every((b) => b === 0));
  });

  it('ends with exactly two zero blocks', () => {
    const tar = writeTar(files, { mtime: 0 });
    assert.equal(tar.length % BLOCK_SIZE, 0);
    assert.ok(tar.subarray(tar.length - 2 * BLOCK_SIZE).every((b) => b === 0));
    assert.ok(!tar.subarray(tar.length - 3 * BLOCK_SIZE, tar.length - 2 * BLOCK_SIZE).every((b) => b === 0));
  });

  it('takes the mtime from SOURCE_DATE_EPOCH, else 0', () => {
    assert.equal(sourceDateEpoch({}), undefined);
    assert.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: '1700000000' }), 1700000000);
    expectBundleError(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: '-1' }), 'HM505');
    expectBundleError(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: '17e8' }), 'HM505');
    const saved = process.env['SOURCE_DATE_EPOCH'];
    try {
      process.env['SOURCE_DATE_EPOCH'] = '1700000000';
      const h = decodeHeader(writeTar(files).subarray(0, BLOCK_SIZE));
      assert.ok('header' in h && h.header.mtime === 1700000000);
      delete process.env['SOURCE_DATE_EPOCH'];
      const h0 = decodeHeader(writeTar(files).subarray(0, BLOCK_SIZE));
      assert.ok('header' in h0 && h0.header.mtime === 0);
    } finally {
      if (saved === undefined) delete process.env['SOURCE_DATE_EPOCH'];
      else process.env['SOURCE_DATE_EPOCH'] = saved;
    }
  });

  it('stores paths up to 255 bytes through the prefix field', () => {
    const long = `${'d'.repeat(100)}/${'e'.repeat(50)}/${'f'.repeat(100)}`;
    assert.equal(Buffer.byteLength(long), 252);
    const entries = readTar(writeTar([{ path: long, data: Buffer.from('x') }], { mtime: 0 }));
    assert.equal(entries.at(-1)?.path, long);
    expectBundleError(() => writeTar([{ path: `${'g'.repeat(101)}/x`, data: Buffer.alloc(0) }]), 'HM402', /too long for a ustar header/);
    expectBundleError(() => writeTar([{ path: `${'d'.repeat(100)}/${'e'.repeat(100)}/${'f'.repeat(60)}`, data: Buffer.alloc(0) }]), 'HM402', /255 bytes/);
  });

  it('refuses names it would refuse to read', () => {
    for (const path of ['../x', '/etc/passwd', 'a//b', 'a\\b', 'a/./b', '', 'x\0y']) {
      expectBundleError(() => writeTar([{ path, data: Buffer.alloc(0) }]), 'HM402');
    }
    expectBundleError(() => writeTar([{ path: 'a', data: Buffer.alloc(0) }, { path: 'a', data: Buffer.alloc(0) }]), 'HM402', /twice/);
    expectBundleError(() => writeTar([{ path: 'A', data: Buffer.alloc(0) }, { path: 'a', data: Buffer.alloc(0) }]), 'HM402', /collides/);
    expectBundleError(() => writeTar([{ path: 'a', data: Buffer.alloc(0) }, { path: 'a/b', data: Buffer.alloc(0) }]), 'HM402', /which is a file/);
  });

  it('round-trips arbitrary safe names and contents (property)', () => {
    const segment = fc.stringMatching(/^[a-zA-Z0-9._ é-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
    const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));
    const input = fc.uniqueArray(fc.record({ path, data: fc.uint8Array({ maxLength: 1200 }), executable: fc.boolean() }), {
      selector: (f) => f.path.toLowerCase(),
      maxLength: 8,
    });
    fc.assert(
      fc.property(input, (raw) => {
        const list = raw.map((f) => ({ path: f.path, data: Buffer.from(f.data), executable: f.executable }));
        let tar: Buffer;
        try {
          tar = writeTar(list, { mtime: 0 });
        } catch {
          return true; // a generated set with a file also used as a directory: refused, fine
        }
        const read = new Map(readTar(tar).filter((e) => e.type === 'file').map((e) => [e.path, e]));
        assert.equal(read.size, list.length);
        for (const f of list) {
          const e = read.get(f.path);
          assert.ok(e && e.data.equals(f.data));
          assert.equal(e.mode, f.executable ? 0o755 : 0o644);
        }
        return true;
      }),
      { numRuns: 200 },
    );
  });
});

describe('readTar refuses unsafe entries (HM402)', () => {
  const data = Buffer.from('x');
  const cases: Array<[string, Parameters<typeof rawTar>[0], RegExp]> = [
    ['a symbolic link', [{ name: 'link', typeflag: '2', linkname: '/etc/passwd' }], /"link" is a symbolic link/],
    ['a hard link', [{ name: 'a', data }, { name: 'b', typeflag: '1', linkname: 'a' }], /hard link/],
    ['a character device', [{ name: 'dev', typeflag: '3' }], /character device/],
    ['a block device', [{ name: 'dev', typeflag: '4' }], /block device/],
    ['a FIFO', [{ name: 'fifo', typeflag: '6' }], /FIFO/],
    ['a pax header', [{ name: 'PaxHeader/x', typeflag: 'x', data: Buffer.from('30 path=../../etc/passwd\n') }], /pax extended header/],
    ['a pax global header', [{ name: 'pax_global_header', typeflag: 'g', data: Buffer.from('9 a=b\n') }], /pax global/],
    ['a GNU long name', [{ name: '././@LongLink', typeflag: 'L', data: Buffer.from('x'.repeat(300)) }], /GNU long-name/],
    ['an unknown type', [{ name: 'v', typeflag: 'V' }], /unsupported type/],
    ['a parent segment', [{ name: '../x', data }], /"\.\.\/x" has a "\.\." segment/],
    ['a nested parent segment', [{ name: 'a/../../x', data }], /"\.\." segment/],
    ['an absolute path', [{ name: '/etc/passwd', data }], /absolute path/],
    ['an empty segment', [{ name: 'a//b', data }], /empty path segment/],
    ['a dot segment', [{ name: './a', data }], /"\." segment/],
    ['a backslash', [{ name: 'a\\..\\b', data }], /backslash/],
    ['a drive letter', [{ name: 'C:x', data }], /drive letter/],
    ['a NUL inside the name', [{ name: Buffer.from('good\0../../evil'), data }], /NUL/],
    ['a control character', [{ name: 'a\nb', data }], /control character/],
    ['invalid UTF-8', [{ name: Buffer.from([0x61, 0xff, 0x62]), data }], /not valid UTF-8/],
    ['a duplicate', [{ name: 'a', data }, { name: 'a', data }], /"a" appears twice/],
    ['a duplicate directory', [{ name: 'd/', typeflag: '5' }, { name: 'd/', typeflag: '5' }], /appears twice/],
    ['case-colliding names', [{ name: 'Readme', data }, { name: 'README', data }], /collides with "Readme"/],
    ['case-colliding parents', [{ name: 'Dir/a', data }, { name: 'dir/b', data }], /collides/],
    ['NFC/NFD-colliding names', [{ name: 'caf\u00e9', data }, { name: 'cafe\u0301', data }], /collides/],
    ['a file used as a directory', [{ name: 'a', data }, { name: 'a/b', data }], /inside "a", which is a file/],
    ['a directory and a file with one name', [{ name: 'a/', typeflag: '5' }, { name: 'a', data }], /both a file and a directory/],
    ['a trailing slash on a file', [{ name: 'a/', data }], /empty path segment/],
    ['setuid bits', [{ name: 'su', data, mode: 0o4755 }], /setuid/],
    ['a link target on a file', [{ name: 'f', data, linkname: 'x' }], /link target/],
    ['a name 33 levels deep', [{ name: Array(33).fill('d').join('/'), data }], /33 levels deep \(limit 32\)/],
  ];
  for (const [what, entries, message] of cases) {
    it(`refuses ${what}`, () => {
      expectBundleError(() => readTar(rawTar(entries)), 'HM402', message);
    });
  }

  it('accepts 32 levels', () => {
    const name = Array(32).fill('d').join('/');
    assert.equal(readTar(rawTar([{ name, data }])).length, 1);
  });

  it('applies the size and count limits', () => {
    const big = rawTar([{ name: 'big', data: Buffer.alloc(2048) }]);
    expectBundleError(() => readTar(big, { limits: { maxFileBytes: 2047 } }), 'HM402', /over the 2047-byte file limit/);
    const two = rawTar([{ name: 'a', data: Buffer.alloc(1000) }, { name: 'b', data: Buffer.alloc(1000) }]);
    expectBundleError(() => readTar(two, { limits: { maxTotalBytes: 1999 } }), 'HM402', /1999-byte limit/);
    assert.equal(readTar(two, { limits: { maxTotalBytes: 2000 } }).length, 2);
    const many = rawTar(Array.from({ length: 11 }, (_, i) => ({ name: `f${i}` })));
    expectBundleError(() => readTar(many, { limits: { maxEntries: 10 } }), 'HM402', /more than 10 entries/);
    assert.deepEqual(DEFAULT_TAR_LIMITS, { maxEntries: 10_000, maxFileBytes: 64 * 2 ** 20, maxTotalBytes: 256 * 2 ** 20, maxDepth: 32 });
  });

  it('checks a declared size against the limit before reading the data', () => {
    // A header claiming 1 GiB with no data behind it is refused for its size, not read.
    const header = encodeHeader({ name: 'huge', mode: 0o644, size: 2 ** 30, mtime: 0, typeflag: '0' });
    expectBundleError(() => readTar(Buffer.concat([header, Buffer.alloc(1024)])), 'HM402', /file limit/);
  });
});

describe('readTar refuses corrupt archives (HM401)', () => {
  const good = writeTar(files, { mtime: 0 });

  it('verifies header checksums', () => {
    const bad = Buffer.from(good);
    bad[1] = (bad[1] as number) ^ 0x01; // inside the first entry's name
    expectBundleError(() => readTar(bad), 'HM401', /offset 0 has a wrong checksum/);
  });

  it('refuses non-ustar headers', () => {
    const bad = Buffer.from(good);
    bad.write('ustar  \0', 257, 'latin1'); // old GNU magic, checksum fixed below
    const sum = [...bad.subarray(0, 512)].reduce((s, b, i) => s + (i >= 148 && i < 156 ? 32 : b), 0);
    bad.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    expectBundleError(() => readTar(bad), 'HM401', /not a POSIX ustar header/);
  });

  it('refuses a truncated archive at every cut point', () => {
    for (let cut = 0; cut < good.length; cut++) {
      expectBundleError(() => readTar(good.subarray(0, cut)), 'HM401');
    }
  });

  it('refuses trailing garbage after the end marker, but accepts zero padding', () => {
    expectBundleError(() => readTar(Buffer.concat([good, Buffer.alloc(511), Buffer.from([1])])), 'HM401', /trailing data/);
    assert.equal(readTar(Buffer.concat([good, Buffer.alloc(10240)])).length, 6);
  });

  it('refuses a lone zero block followed by data', () => {
    const entry = rawTar([{ name: 'a' }]).subarray(0, 512);
    expectBundleError(() => readTar(Buffer.concat([Buffer.alloc(512), entry, Buffer.alloc(1024)])), 'HM401', /lone zero block/);
  });

  it('refuses non-zero padding after file data', () => {
    const tar = rawTar([{ name: 'a', data: Buffer.from('abc') }]);
    tar[512 + 3] = 0x41;
    expectBundleError(() => readTar(tar), 'HM401', /non-zero padding/);
  });

  it('refuses a directory with a size', () => {
    const tar = rawTar([{ name: 'd/', typeflag: '5', data: Buffer.from('abc') }]);
    expectBundleError(() => readTar(tar), 'HM401', /non-zero size/);
  });
});

describe('interoperability with GNU tar', { skip: !hasSystemTar() && 'no tar on this machine' }, () => {
  it('GNU tar lists and extracts what we write', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hamod-tar-'));
    try {
      const long = `${'d'.repeat(100)}/${'f'.repeat(100)}`;
      writeFileSync(join(dir, 'a.tar'), writeTar([...files, { path: long, data: Buffer.from('long') }], { mtime: 0 }));
      const listing = execFileSync('tar', ['-tvf', join(dir, 'a.tar')], { encoding: 'utf8' });
      assert.match(listing, /-rwxr-xr-x 0\/0 +10 1970-01-01 00:00 b\/c\/run\.sh/);
      assert.match(listing, /drwxr-xr-x 0\/0 +0 1970-01-01 00:00 b\//);
      mkdirSync(join(dir, 'x'));
      execFileSync('tar', ['-xf', join(dir, 'a.tar'), '-C', join(dir, 'x')]);
      assert.equal(readFileSync(join(dir, 'x', long), 'utf8'), 'long');
      assert.equal(readFileSync(join(dir, 'x', 'b/z.txt'), 'utf8'), 'zzz');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('we read what GNU tar writes in ustar format', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hamod-tar-'));
    try {
      mkdirSync(join(dir, 'src/sub'), { recursive: true });
      writeFileSync(join(dir, 'src/sub/f.txt'), 'content');
      execFileSync('tar', ['--format=ustar', '-cf', join(dir, 'g.tar'), '-C', join(dir, 'src'), 'sub']);
      const entries = readTar(readFileSync(join(dir, 'g.tar')));
      assert.deepEqual(entries.map((e) => [e.path, e.type]), [['sub', 'directory'], ['sub/f.txt', 'file']]);
      assert.equal(entries[1]?.data.toString(), 'content');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
