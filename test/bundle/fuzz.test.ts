// Damaged input of any kind ends in a BundleError: never a crash, a hang, another exception type,
// or a bundle that opens with different content.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { BundleError, openBundle, type OpenedBundle } from '../../compiler/bundle/bundle.js';
import { gzipDeterministic } from '../../compiler/bundle/gzip.js';
import { expectBundleError, sampleBundle } from './helpers.js';

const original = sampleBundle();
const originalTar = gunzipSync(original);
const reference = openBundle(original);

function sameContent(opened: OpenedBundle): void {
  assert.deepEqual(opened.manifest, reference.manifest);
  assert.deepEqual([...opened.files.keys()], [...reference.files.keys()]);
  for (const [path, data] of reference.files) assert.ok(opened.files.get(path)?.equals(data));
}

/** Opens `buf`: it must either fail with a BundleError or yield exactly the original content. */
function openOrBundleError(buf: Buffer): 'ok' | string {
  try {
    sameContent(openBundle(buf));
    return 'ok';
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(err instanceof BundleError, `not a BundleError: ${String(err)}`);
    return err.code;
  }
}

const flips = (length: number): fc.Arbitrary<Array<{ at: number; mask: number }>> =>
  fc.array(fc.record({ at: fc.nat({ max: length - 1 }), mask: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 });

function applyFlips(data: Buffer, list: Array<{ at: number; mask: number }>): Buffer {
  const copy = Buffer.from(data);
  for (const { at, mask } of list) copy[at] = (copy[at] as number) ^ mask;
  return copy;
}

describe('damaged bundles', () => {
  it('a bundle truncated at any point: HM401', () => {
    for (let cut = 0; cut < original.length; cut++) expectBundleError(() => openBundle(original.subarray(0, cut)), 'HM401');
  });

  it('an archive truncated at any point, then validly gzipped: HM401', () => {
    for (let cut = 0; cut < originalTar.length; cut += 7) {
      expectBundleError(() => openBundle(gzipDeterministic(originalTar.subarray(0, cut))), 'HM401');
    }
  });

  it('random byte flips in the gzip stream (property)', () => {
    fc.assert(fc.property(flips(original.length), (list) => void openOrBundleError(applyFlips(original, list))), { numRuns: 500 });
  });

  it('random byte flips in the archive, validly re-gzipped (property)', () => {
    const codes = new Set<string>();
    fc.assert(
      fc.property(flips(originalTar.length), (list) => {
        codes.add(openOrBundleError(gzipDeterministic(applyFlips(originalTar, list))));
      }),
      { numRuns: 500 },
    );
    // The flips reached past the tar layer too (payload digests, manifest, signature).
    assert.ok(codes.has('HM401'), [...codes].join());
    assert.ok([...codes].some((c) => c !== 'HM401'), [...codes].join());
  });

  it('arbitrary bytes, gzipped or not (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), (bytes, zip) => {
        const buf = zip ? gzipDeterministic(Buffer.from(bytes)) : Buffer.from(bytes);
        assert.notEqual(openOrBundleError(buf), 'ok');
      }),
      { numRuns: 300 },
    );
  });
});
