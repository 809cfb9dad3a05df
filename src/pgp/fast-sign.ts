/**
 * The bot's signatures made with node:crypto instead of openpgp.js, for a
 * v4 Ed25519 (EdDSALegacy) signing key, the kind `init` makes.
 *
 * Why: every reply is signed, and openpgp.js spends about a millisecond per
 * signature in its stream and packet machinery (and re-imports the key into
 * WebCrypto each time) around an Ed25519 operation that node:crypto does in
 * a few tens of microseconds. The packets are the ones openpgp.js makes,
 * byte for byte: the same hashed subpackets in the same order (creation
 * time, issuer key ID, openpgp.js's salt notation, issuer fingerprint), the
 * same armour (60-column base64 and a CRC-24 line) and, for cleartext, the
 * same text normalisation and dash-escaping.
 *
 * It proves that at start: `fastSignerFor` signs a probe both ways, with the
 * salt left out and a fixed time (Ed25519 is deterministic, so the outputs
 * must be identical), and returns null (the caller keeps openpgp.js) when
 * they differ, say after an openpgp.js upgrade changed its packets, or when
 * the key is of any other kind.
 */
import { createHash, createPrivateKey, randomBytes, sign as edSign, type KeyObject } from 'node:crypto';
import * as openpgp from 'openpgp';

/** openpgp.js's notation for the random salt it puts in every v4 EdDSA signature (a fault-attack guard). */
const SALT_NOTATION = Buffer.from('salt@notations.openpgpjs.org', 'utf8');
const SALT_BYTES = 32;
const PK_EDDSA_LEGACY = 22;
const HASH_SHA512 = 10;
const SIG_BINARY = 0x00;
const SIG_TEXT = 0x01;

export interface FastSigner {
  /**
   * When the signing key expires (ms since the epoch; Infinity: never).
   * openpgp.js checks the key at every signature and refuses an expired
   * one; this signer checks nothing per call, so the caller goes back to
   * openpgp.js from then on.
   */
  expires: number;
  signDetached(data: Uint8Array, at?: Date, salt?: Buffer | null): string;
  signCleartext(text: string, at?: Date, salt?: Buffer | null): string;
}

interface SigningKey {
  key: KeyObject;
  keyId: Buffer;
  fingerprint: Buffer;
}

function subpacket(type: number, body: Buffer): Buffer {
  // Every subpacket here is shorter than 192 octets: a one-octet length.
  return Buffer.concat([Buffer.from([body.length + 1, type]), body]);
}

function mpi(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  const b = bytes.subarray(i);
  const bits = b.length ? (b.length - 1) * 8 + (32 - Math.clz32(b[0])) : 0;
  return Buffer.concat([Buffer.from([bits >> 8, bits & 0xff]), b]);
}

function packetHeader(tag: number, length: number): Buffer {
  if (length < 192) return Buffer.from([0xc0 | tag, length]);
  if (length < 8384) {
    const l = length - 192;
    return Buffer.from([0xc0 | tag, (l >> 8) + 192, l & 0xff]);
  }
  const h = Buffer.alloc(6);
  h[0] = 0xc0 | tag;
  h[1] = 0xff;
  h.writeUInt32BE(length, 2);
  return h;
}

/** The signature packet (tag 2) over `data` (already canonical for a text signature). */
function signaturePacket(k: SigningKey, sigType: number, data: Uint8Array, at: Date, salt: Buffer | null): Buffer {
  const time = Buffer.alloc(4);
  time.writeUInt32BE(Math.floor(at.getTime() / 1000));
  const hashed = [subpacket(0x80 | 2, time), subpacket(16, k.keyId)];
  if (salt) {
    const head = Buffer.alloc(8);
    head.writeUInt16BE(SALT_NOTATION.length, 4);
    head.writeUInt16BE(salt.length, 6);
    hashed.push(subpacket(20, Buffer.concat([head, SALT_NOTATION, salt])));
  }
  hashed.push(subpacket(33, Buffer.concat([Buffer.from([4]), k.fingerprint])));
  const area = Buffer.concat(hashed);
  const header = Buffer.concat([Buffer.from([4, sigType, PK_EDDSA_LEGACY, HASH_SHA512, area.length >> 8, area.length & 0xff]), area]);
  const trailer = Buffer.alloc(6);
  trailer[0] = 4;
  trailer[1] = 0xff;
  trailer.writeUInt32BE(header.length, 2);
  const digest = createHash('sha512').update(data).update(header).update(trailer).digest();
  // EdDSALegacy signs the digest itself (RFC 9580, 5.2.3.3).
  const sig = edSign(null, digest, k.key);
  const body = Buffer.concat([header, Buffer.from([0, 0]), digest.subarray(0, 2), mpi(sig.subarray(0, 32)), mpi(sig.subarray(32))]);
  return Buffer.concat([packetHeader(2, body.length), body]);
}

function crc24(data: Buffer): Buffer {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return Buffer.from([(crc >> 16) & 0xff, (crc >> 8) & 0xff, crc & 0xff]);
}

function armourSignature(packet: Buffer): string {
  const b64 = packet.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 60) lines.push(b64.slice(i, i + 60));
  return `-----BEGIN PGP SIGNATURE-----\n\n${lines.join('\n')}\n=${crc24(packet).toString('base64')}\n-----END PGP SIGNATURE-----\n`;
}

/** openpgp.js's cleartext normalisation: trailing spaces, tabs and CRs off every line, then CRLF line ends. */
function normaliseCleartext(text: string): string {
  return text.split('\n').map((line) => {
    let i = line.length - 1;
    while (i >= 0 && (line[i] === ' ' || line[i] === '\t' || line[i] === '\r')) i--;
    return line.slice(0, i + 1);
  }).join('\r\n');
}

function fastSigner(k: SigningKey, expires: number): FastSigner {
  return {
    expires,
    signDetached(data, at = new Date(), salt = randomBytes(SALT_BYTES)) {
      return armourSignature(signaturePacket(k, SIG_BINARY, data, at, salt));
    },
    signCleartext(text, at = new Date(), salt = randomBytes(SALT_BYTES)) {
      const canonical = normaliseCleartext(text);
      const packet = signaturePacket(k, SIG_TEXT, Buffer.from(canonical, 'utf8'), at, salt);
      return `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n${canonical.replace(/^-/gm, '- -')}\n${armourSignature(packet)}`;
    },
  };
}

function b64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

/**
 * A node:crypto signer for `key`, or null when the key is not a v4
 * EdDSALegacy Ed25519 key, when openpgp.js would not sign with SHA-512 under
 * `config`, or when the probe shows openpgp.js making other bytes.
 */
export async function fastSignerFor(key: openpgp.PrivateKey, config: openpgp.PartialConfig): Promise<FastSigner | null> {
  try {
    const signing = await key.getSigningKey(undefined, undefined, undefined, { ...openpgp.config, ...config });
    const packet = signing.keyPacket as unknown as {
      version: number; algorithm: number; publicParams: { oid?: { getName(): string }; Q?: Uint8Array }; privateParams?: { seed?: Uint8Array };
    };
    const seed = packet.privateParams?.seed;
    const q = packet.publicParams.Q;
    if (packet.version !== 4 || packet.algorithm !== PK_EDDSA_LEGACY || packet.publicParams.oid?.getName() !== 'ed25519Legacy'
      || !seed || seed.length !== 32 || !q || q.length !== 33 || q[0] !== 0x40) return null;
    const k: SigningKey = {
      key: createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(seed), x: b64url(q.subarray(1)) }, format: 'jwk' }),
      keyId: Buffer.from(signing.getKeyID().toHex(), 'hex'),
      fingerprint: Buffer.from(signing.getFingerprint(), 'hex'),
    };
    const expiry = (t: Date | number | null): number => (t instanceof Date ? t.getTime() : t === null ? 0 : Infinity);
    const expires = Math.min(expiry(await key.getExpirationTime()), signing === key ? Infinity : expiry(await signing.getExpirationTime()));
    const fast = fastSigner(k, expires);
    // The probe: deterministic on both sides (no salt, one time).
    const probeConfig = { ...config, nonDeterministicSignaturesViaNotation: false };
    const at = new Date(Math.floor(Date.now() / 1000) * 1000);
    const text = 'Status: probe\n-dash line  \ntrailing tab\t\r\n\nlast';
    const bytes = Buffer.from('probe\r\n-- \r\n', 'utf8');
    const slow = {
      cleartext: await openpgp.sign({ message: await openpgp.createCleartextMessage({ text }), signingKeys: key, date: at, format: 'armored', config: probeConfig }),
      // openpgp's .d.ts leaves its stream types unresolved (botkey.ts): say what a non-stream message gives.
      detached: (await openpgp.sign({ message: await openpgp.createMessage({ binary: bytes }), signingKeys: key, detached: true, date: at, format: 'armored',
        config: probeConfig })) as string,
    };
    if (slow.cleartext !== fast.signCleartext(text, at, null) || slow.detached !== fast.signDetached(bytes, at, null)) return null;
    return fast;
  } catch {
    return null;
  }
}
