/**
 * The signature-packet octet reader (src/pgp/sigpacket.ts) reads hostile
 * bytes before any verification: it must never throw, never loop, and read
 * exactly what real packets say. Property tests (fast-check) over random
 * bytes and over real packets with random damage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { readSignaturePackets } from '../../src/pgp/sigpacket.js';
import { toV3 } from './verify-gpg-mail.js';

async function realSignature(): Promise<{ bin: Uint8Array; keyId: string; created: Date }> {
  const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ email: 's@example.org' }], format: 'object' });
  // openpgp's .d.ts names the uninstalled @openpgp/web-stream-tools: say what a non-stream message gives.
  const sig = (await openpgp.sign({
    message: await openpgp.createMessage({ text: 'APPROVE ZT-000001 ab\n' }), signingKeys: privateKey, detached: true, format: 'binary',
  })) as Uint8Array;
  const parsed = await openpgp.readSignature({ binarySignature: sig });
  const p = parsed.packets[0];
  return { bin: sig, keyId: p.issuerKeyID.toHex().toUpperCase(), created: p.created! };
}

test('real v4 packets, and the same in the v3 layout, read exactly', async () => {
  const { bin, keyId, created } = await realSignature();
  const v4 = readSignaturePackets(bin);
  assert.equal(v4.length, 1);
  assert.deepEqual(
    { ...v4[0], created: v4[0].created?.getTime() },
    { version: 4, signatureType: 0x01, publicKeyId: 22, hashId: 10, issuerKeyId: keyId, created: Math.floor(created.getTime() / 1000) * 1000 },
  );
  const v3 = readSignaturePackets(toV3(bin));
  assert.deepEqual({ ...v3[0], created: v3[0].created?.getTime() }, { ...v4[0], version: 3, created: v4[0].created?.getTime() });
  // Two packets in one stream (a message signed twice) are both read.
  assert.equal(readSignaturePackets(Buffer.concat([bin, toV3(bin)])).length, 2);
});

test('random bytes never throw and finish quickly', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
    const t0 = performance.now();
    const out = readSignaturePackets(bytes);
    assert.ok(Array.isArray(out));
    assert.ok(performance.now() - t0 < 50);
  }), { numRuns: 5000 });
});

test('a real packet with random damage never throws; what it reads stays inside the bytes', async () => {
  const { bin } = await realSignature();
  fc.assert(fc.property(
    fc.array(fc.record({ at: fc.nat({ max: bin.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 8 }),
    fc.nat({ max: bin.length }),
    (edits, cut) => {
      const b = Buffer.from(bin);
      for (const e of edits) b[e.at] = e.value;
      for (const f of readSignaturePackets(b.subarray(0, cut))) {
        assert.ok(Number.isInteger(f.version) && f.version >= 0 && f.version <= 255);
        assert.ok(f.hashId >= 0 && f.hashId <= 255 && f.publicKeyId >= 0 && f.publicKeyId <= 255);
        assert.ok(f.issuerKeyId === null || /^[0-9A-F]{16}$/.test(f.issuerKeyId));
      }
    },
  ), { numRuns: 5000 });
});
