/**
 * Attack: an OpenPGP compression bomb. A compressed data packet (tag 8,
 * ZIP/raw deflate) of about 250 KB that inflates to 256 MiB, far past
 * src/limits.ts maxDecompressedBytes (4 MiB), placed where the bot reads
 * OpenPGP data: as an opaque signed message in the text (what
 * `gpg --sign --armor` produces, compressed), as the PGP/MIME signature
 * part, and as the key block of a SUBMIT KEY. The bot must never inflate
 * it: a clear refusal, bounded memory, nothing changed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { createDeflateRaw } from 'node:zlib';
import * as openpgp from 'openpgp';
import { DEFAULT_LIMITS } from '../../src/limits.js';
import { community, person, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, headLines, rawMessage, sendChecked, type Refusal } from './world.js';

const INFLATED = 256 * 1024 * 1024;

/** New-format packet header with a five-octet length (RFC 9580 4.2.1.3). */
function packetHeader(tag: number, len: number): Buffer {
  const h = Buffer.alloc(6);
  h[0] = 0xc0 | tag;
  h[1] = 0xff;
  h.writeUInt32BE(len, 2);
  return h;
}

/** Compressed data packet whose literal data packet inside holds INFLATED zero bytes. */
async function bomb(): Promise<Buffer> {
  const literalBody = INFLATED + 6;
  const literalHead = Buffer.concat([packetHeader(11, literalBody), Buffer.from([0x62, 0, 0, 0, 0, 0])]);
  const z = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  z.on('data', (d: Buffer) => out.push(d));
  const done = new Promise((r) => z.on('end', r));
  z.write(literalHead);
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < INFLATED / chunk.length; i++) {
    if (!z.write(chunk)) await new Promise((r) => z.once('drain', r));
  }
  z.end();
  await done;
  const deflated = Buffer.concat(out);
  return Buffer.concat([packetHeader(8, deflated.length + 1), Buffer.from([1]), deflated]);
}

describe('security: an OpenPGP compression bomb', () => {
  test(`a packet inflating to ${INFLATED} bytes (limit ${DEFAULT_LIMITS.maxDecompressedBytes}) is refused in three places without inflating it`, async () => {
    const { w } = await community();
    // Erin is unknown, so the bot reads the key block her SUBMIT KEY carries to check her signature.
    const erin = await person('Erin', 'erin@people.test');
    const packet = await bomb();
    assert.ok(packet.length < 400 * 1024, `bomb is ${packet.length} bytes`);
    const before = await stateOf(w);
    const message = openpgp.armor(openpgp.enums.armor.message, packet);
    const sigArmour = openpgp.armor(openpgp.enums.armor.signature, packet);
    const keyArmour = openpgp.armor(openpgp.enums.armor.publicKey, packet);
    const b = `s-${randomBytes(6).toString('hex')}`;
    const mails: [string, Buffer, Refusal][] = [
      ['opaque signed message', rawMessage(headLines('Alice Mainframe <alice@people.test>', ['Content-Type: text/plain; charset=us-ascii']), `\n${message}`),
        // The bot does not read opaque signed messages at all: to it this text holds no command.
        { outcome: 'no-command', to: 'alice@people.test', says: [/No command was found in your mail/] }],
      ['PGP/MIME signature part', rawMessage(headLines('Alice Mainframe <alice@people.test>', [
        `Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="${b}"`]),
      `\n--${b}\nContent-Type: text/plain; charset=us-ascii\n\nATTEST\n${TO_BOT}\n${'ab'.repeat(32)}  x.tar\n--${b}\nContent-Type: application/pgp-signature\n\n${sigArmour}\n--${b}--\n`),
        { outcome: 'refused:bad', to: 'alice@people.test', says: [/The command ATTEST changes the collection, so it must be signed/,
          /the signature part could not be read: Packet not allowed in this context: compressedData/] }],
      ['SUBMIT KEY key block', await w.mail(erin, `SUBMIT KEY\n${TO_BOT}\n\n${keyArmour}`, { signing: 'inline' }),
        { outcome: 'refused:nokey', to: 'erin@people.test', says: [/The command SUBMIT KEY changes the collection, so it must be signed/, /which is not in the keyring/] }],
    ];
    for (const [where, raw, refusal] of mails) {
      const rss0 = process.memoryUsage().rss;
      const t0 = Date.now();
      const s = await sendChecked(w, raw);
      const grew = process.memoryUsage().rss - rss0;
      assertRefused(s, refusal);
      assert.ok(Date.now() - t0 < 10_000, `${where}: ${Date.now() - t0} ms`);
      assert.ok(grew < INFLATED / 2, `${where}: memory grew by ${grew} bytes`);
    }
    await assertUnchanged(w, before);
  });
});
