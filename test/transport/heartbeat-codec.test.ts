import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { admit, decodeHeartbeat, deriveHeartbeatKey, encodeHeartbeat, initialSeq, MAC_BYTES, MAX_DATAGRAM_BYTES, type HeartbeatPayload, type SeqWindow } from '../../runtime/transport/index.js';

const secret = randomBytes(32);
const key = deriveHeartbeatKey(secret);
const payload: HeartbeatPayload = { cluster: 'alpha', from: 'node-a', bootId: '0123456789abcdef', seq: 1_700_000_000_000_000, sentAt: 1_700_000_000_000, body: { modules: { web: 'PRIM' } } };

describe('heartbeat codec', () => {
  it('round-trips a payload, and derives different keys for different secrets', () => {
    const datagram = encodeHeartbeat(key, payload);
    assert.deepEqual(decodeHeartbeat(key, datagram), { ok: true, payload });
    assert.equal(datagram.subarray(0, 4).toString('latin1'), 'hmb1');
    assert.notDeepEqual(deriveHeartbeatKey(randomBytes(32)), key);
    assert.deepEqual(deriveHeartbeatKey(Buffer.from(secret)), key);
    assert.deepEqual(decodeHeartbeat(deriveHeartbeatKey(randomBytes(32)), datagram), { ok: false, reason: 'mac' });
  });

  it('refuses to encode more than 1200 bytes, and decodes exactly 1200', () => {
    const overhead = encodeHeartbeat(key, { ...payload, body: '' }).length;
    const fits = encodeHeartbeat(key, { ...payload, body: 'x'.repeat(MAX_DATAGRAM_BYTES - overhead) });
    assert.equal(fits.length, MAX_DATAGRAM_BYTES);
    assert.equal(decodeHeartbeat(key, fits).ok, true);
    assert.throws(() => encodeHeartbeat(key, { ...payload, body: 'x'.repeat(MAX_DATAGRAM_BYTES - overhead + 1) }), RangeError);
    assert.deepEqual(decodeHeartbeat(key, Buffer.concat([fits, Buffer.alloc(1)])), { ok: false, reason: 'size' });
  });

  it('drops every truncation and every single-bit change of a valid datagram', () => {
    const datagram = encodeHeartbeat(key, payload);
    for (let len = 0; len < datagram.length; len++) assert.equal(decodeHeartbeat(key, datagram.subarray(0, len)).ok, false, `truncated to ${len}`);
    for (let i = 0; i < datagram.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = Buffer.from(datagram);
        copy[i] = (copy[i] ?? 0) ^ (1 << bit);
        assert.equal(decodeHeartbeat(key, copy).ok, false, `byte ${i} bit ${bit}`);
      }
    }
  });

  it('drops authenticated payloads that are not heartbeats (malformed)', () => {
    const forge = (json: string): Buffer => {
      // Same construction as the codec, so only the content is wrong.
      const signed = Buffer.concat([Buffer.from('hmb1'), Buffer.from(json)]);
      return Buffer.concat([signed, createHmac('sha256', key).update(signed).digest().subarray(0, MAC_BYTES)]);
    };
    for (const json of ['{', '[]', 'null', '{"cluster":"a"}', JSON.stringify({ ...payload, seq: -1 }), JSON.stringify({ ...payload, seq: 1.5 }), JSON.stringify({ ...payload, from: '' }), JSON.stringify({ ...payload, body: undefined })]) {
      assert.deepEqual(decodeHeartbeat(key, forge(json)), { ok: false, reason: 'malformed' }, json);
    }
    assert.equal(decodeHeartbeat(key, forge(JSON.stringify(payload))).ok, true);
  });

  it('never throws and never accepts random bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1400 }), fc.boolean(), (bytes, withMagic) => {
        const datagram = Buffer.from(bytes);
        if (withMagic && datagram.length >= 4) datagram.write('hmb1', 0, 'latin1');
        const r = decodeHeartbeat(key, datagram);
        assert.equal(r.ok, false);
      }),
      { numRuns: 2_000 },
    );
  });

  it('round-trips any small JSON body (fuzz)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.nat({ max: Number.MAX_SAFE_INTEGER }), (body, seq) => {
        let datagram: Buffer;
        try {
          datagram = encodeHeartbeat(key, { ...payload, seq, body });
        } catch (err) {
          assert.ok(err instanceof RangeError);
          return;
        }
        const r = decodeHeartbeat(key, datagram);
        assert.ok(r.ok);
        assert.deepEqual(r.payload.body, JSON.parse(JSON.stringify(body)));
        assert.equal(r.payload.seq, seq);
      }),
      { numRuns: 300 },
    );
  });
});

describe('replay guard', () => {
  it('accepts increasing seqs of a run and refuses repeats and older ones', () => {
    let w: SeqWindow | undefined;
    const step = (bootId: string, seq: number): boolean => {
      const a = admit(w, bootId, seq);
      w = a.window;
      return a.accept;
    };
    assert.equal(step('b1', 10), true);
    assert.equal(step('b1', 11), true);
    assert.equal(step('b1', 11), false);
    assert.equal(step('b1', 5), false);
    assert.equal(step('b1', 20), true); // losses are fine
    assert.equal(admit(w, 'b2', 21).restarted, true); // a new run, above the old one
    assert.equal(step('b2', 21), true);
    assert.equal(admit({ bootId: 'b2', seq: 100 }, 'b1', 50).accept, false); // an old run's datagram
  });

  it('starts a new run above the previous one (wall clock in µs, or a persisted floor)', () => {
    assert.equal(initialSeq(1_700_000_000_000), 1_700_000_000_000_000);
    assert.equal(initialSeq(1_000, 5_000_000), 5_000_001); // clock went back: the floor wins
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 4 }), fc.nat()), { maxLength: 50 }), (events) => {
        // Whatever arrives, the accepted seqs are strictly increasing.
        let w: SeqWindow | undefined;
        let last = -1;
        for (const [bootId, seq] of events) {
          const a = admit(w, bootId, seq);
          if (a.accept) {
            assert.ok(seq > last);
            last = seq;
          }
          w = a.window;
        }
      }),
    );
  });
});
