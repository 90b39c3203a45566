import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { crc32, gunzipBounded, gzipDeterministic } from '../../compiler/bundle/gzip.js';
import { openBundle } from '../../compiler/bundle/open-bundle.js';
import { expectBundleError } from './helpers.js';

const MiB = 2 ** 20;
const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(200));

/** gzip of `mib` MiB of zeros, streamed so the test never holds the expanded data. */
async function zeroBomb(mib: number): Promise<Buffer> {
  const chunk = Buffer.alloc(MiB);
  const source = Readable.from((function* () {
    for (let i = 0; i < mib; i++) yield chunk;
  })());
  const out: Buffer[] = [];
  for await (const c of source.pipe(createGzip({ level: 9 }))) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('gzipDeterministic', () => {
  it('writes MTIME 0, OS 255 and no flags, and is byte-identical across calls', () => {
    const a = gzipDeterministic(text);
    assert.ok(a.equals(gzipDeterministic(Buffer.from(text))));
    assert.deepEqual([...a.subarray(0, 4)], [0x1f, 0x8b, 8, 0]);
    assert.equal(a.readUInt32LE(4), 0);
    assert.equal(a[9], 255);
    assert.ok(gunzipSync(a).equals(text));
  });
});

describe('gunzipBounded', () => {
  const gz = gzipDeterministic(text);

  it('round-trips', () => {
    assert.ok(gunzipBounded(gz, { maxOutputBytes: text.length }).equals(text));
  });

  it('reads standard gzip without optional header fields', () => {
    assert.ok(gunzipBounded(gzipSync(text), { maxOutputBytes: MiB }).equals(text));
  });

  it('refuses a truncated stream at every cut point with HM401', () => {
    for (let cut = 0; cut < gz.length; cut++) {
      expectBundleError(() => gunzipBounded(gz.subarray(0, cut), { maxOutputBytes: MiB }), 'HM401');
    }
  });

  it('refuses trailing data, trailing zeros and a second member', () => {
    expectBundleError(() => gunzipBounded(Buffer.concat([gz, Buffer.alloc(8)]), { maxOutputBytes: MiB }), 'HM401', /trailing data/);
    expectBundleError(() => gunzipBounded(Buffer.concat([gz, Buffer.from('junk')]), { maxOutputBytes: MiB }), 'HM401', /trailing data/);
    expectBundleError(() => gunzipBounded(Buffer.concat([gz, gzipDeterministic(Buffer.alloc(0))]), { maxOutputBytes: MiB }), 'HM401', /trailing data/);
  });

  it('refuses a wrong CRC or length', () => {
    const badCrc = Buffer.from(gz);
    badCrc.writeUInt32LE((badCrc.readUInt32LE(gz.length - 8) ^ 1) >>> 0, gz.length - 8);
    expectBundleError(() => gunzipBounded(badCrc, { maxOutputBytes: MiB }), 'HM401', /CRC/);
    const badLen = Buffer.from(gz);
    badLen.writeUInt32LE(text.length + 1, gz.length - 4);
    expectBundleError(() => gunzipBounded(badLen, { maxOutputBytes: MiB }), 'HM401', /length/);
  });

  it('refuses non-gzip data and header flags', () => {
    expectBundleError(() => gunzipBounded(Buffer.from('ustar'), { maxOutputBytes: MiB }), 'HM401', /not gzip/);
    expectBundleError(() => gunzipBounded(Buffer.alloc(0), { maxOutputBytes: MiB }), 'HM401', /not gzip/);
    const named = Buffer.from(gz);
    named[3] = 0x08; // FNAME
    expectBundleError(() => gunzipBounded(named, { maxOutputBytes: MiB }), 'HM401', /flags/);
    const method = Buffer.from(gz);
    method[2] = 7;
    expectBundleError(() => gunzipBounded(method, { maxOutputBytes: MiB }), 'HM401', /compression method/);
  });

  it('stops a gzip bomb at the output limit with HM402', async () => {
    const bomb = await zeroBomb(16);
    assert.ok(bomb.length < 64 * 1024, `bomb is ${bomb.length} bytes`);
    expectBundleError(() => gunzipBounded(bomb, { maxOutputBytes: MiB }), 'HM402', /more than 1048576 bytes/);
    // Through openBundle, with its limits.
    expectBundleError(() => openBundle(bomb, { limits: { maxTotalBytes: MiB, maxEntries: 10 } }), 'HM402', /decompresses to more than/);
  });

  it('stops a bomb larger than the default limits (300 MiB of zeros) with HM402', async () => {
    const bomb = await zeroBomb(300);
    const before = process.memoryUsage().rss;
    expectBundleError(() => openBundle(bomb, { source: 'bomb.hamod' }), 'HM402', /^bomb\.hamod:1:1 HM402 the bundle decompresses to more than \d+ bytes$/);
    // The expanded data is bounded by the limit (~266 MiB), never the full 300 MiB.
    assert.ok(process.memoryUsage().rss - before < 400 * MiB);
  });
});

describe('crc32', () => {
  it('matches the standard check value', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  });
});
