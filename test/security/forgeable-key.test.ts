/**
 * Attack: a key anyone can sign for. An Ed25519 key whose public point is the
 * identity (R = the base point and S = 1 verify for every message, so its
 * own self-signature is forged the same way), and an RSA key with exponent 1
 * (the "signature" is the padded digest itself). openpgp.js reads both as
 * valid keys and verifies such signatures; GnuPG never makes them. Before
 * the policy knew them, a mail "signed" by one was `good` for whoever holds
 * the key in the collection. Now the key is refused (POLICY_KEY_FORGEABLE),
 * its mail signature is `weak` and authorises nothing. Keys and signatures
 * are forged at test time, octet by octet, with openpgp.js's own hashing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generatePrimeSync } from 'node:crypto';
import * as openpgp from 'openpgp';
import { Keyring } from '../../src/pgp/keyring.js';
import { inspectKey } from '../../src/pgp/inspect.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { literalBytes } from '../../src/pgp/message-signature.js';
import { wrapPgpMime } from '../unit/verify-gpg-mail.js';

const past = new Date(Date.now() - 10 * 86_400_000);
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const mpi = (b: Uint8Array) => {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  const v = b.subarray(i);
  return Buffer.concat([u16(v.length ? (v.length - 1) * 8 + (32 - Math.clz32(v[0])) : 0), v]);
};
const packet = (tag: number, body: Uint8Array) => {
  const n = body.length;
  const len = n < 192 ? Buffer.from([n]) : n < 8384 ? Buffer.from([((n - 192) >> 8) + 192, (n - 192) & 0xff]) : Buffer.concat([Buffer.from([0xff]), u32(n)]);
  return Buffer.concat([Buffer.from([0xc0 | tag]), len, body]);
};
const sub = (type: number, body: Uint8Array) => Buffer.concat([Buffer.from([body.length + 1, type]), body]);

interface KeyPacketLike { algorithm: number; getFingerprintBytes(): Uint8Array; getKeyID(): { write(): Uint8Array } }

/**
 * A v4 signature packet of `type` by `key` over `data` (openpgp.js's
 * literal data or {key, userID}), SHA-512, whose value `value` makes from
 * the digest: the attacker needs no secret for these keys.
 */
function forgeSignature(key: KeyPacketLike, type: number, data: unknown, value: (digest: Buffer) => Buffer, extra: Buffer[] = []): Buffer {
  const hashed = Buffer.concat([sub(2, u32(Math.floor((past.getTime() + 1000) / 1000))), sub(33, Buffer.concat([Buffer.from([4]), key.getFingerprintBytes()])), ...extra]);
  const head = Buffer.concat([Buffer.from([4, type, key.algorithm, openpgp.enums.hash.sha512]), u16(hashed.length), hashed]);
  // openpgp.js's own bytes to hash for this header and data.
  const stub = new openpgp.SignaturePacket() as unknown as { version: number; signatureData: Uint8Array; toHash(t: number, d: unknown, detached: boolean): Uint8Array };
  stub.version = 4;
  stub.signatureData = head;
  const digest = createHash('sha512').update(stub.toHash(type, data, true)).digest();
  const unhashed = sub(16, key.getKeyID().write());
  return packet(2, Buffer.concat([head, u16(unhashed.length), unhashed, digest.subarray(0, 2), value(digest)]));
}

/** A key packet with these parameters, a user ID and a self-certification made by `value`. */
async function forgeKey(algorithm: number, params: Record<string, unknown>, value: (digest: Buffer) => Buffer): Promise<openpgp.PublicKey> {
  const kp = new openpgp.PublicKeyPacket() as unknown as KeyPacketLike & {
    version: number; created: Date; publicParams: unknown; computeFingerprintAndKeyID(): Promise<void>; write(): Uint8Array;
  };
  kp.version = 4;
  kp.created = past;
  kp.algorithm = algorithm;
  kp.publicParams = params;
  await kp.computeFingerprintAndKeyID();
  const uid = openpgp.UserIDPacket.fromObject({ name: 'Anyone', email: 'anyone@forge.test' });
  const cert = forgeSignature(kp, openpgp.enums.signature.certPositive, { key: kp, userID: uid }, value, [sub(27, Buffer.from([0x03]))]);
  return openpgp.readKey({ binaryKey: Buffer.concat([packet(6, kp.write()), packet(13, uid.write()), cert]) });
}

const INNER = 'Content-Type: text/plain; charset=UTF-8\r\n\r\nHELP\r\n';

async function assertRefused(key: openpgp.PublicKey, value: (digest: Buffer) => Buffer, what: RegExp): Promise<void> {
  // The attack is real: openpgp.js takes the forged self-certification.
  await key.getSigningKey(undefined, new Date());
  const sig = forgeSignature(key.keyPacket as unknown as KeyPacketLike, openpgp.enums.signature.binary, literalBytes(Buffer.from(INNER)), value);
  const armoured = (await openpgp.readSignature({ binarySignature: sig })).armor();
  const r = await verifyMail(wrapPgpMime(INNER, armoured, 'pgp-sha512'), Keyring.fromKeys([key]));
  assert.equal(r.verdict, 'weak', r.detail);
  assert.equal(r.authorises, false);
  assert.match(r.detail, what);
  assert.match(r.detail, /anyone can make signatures that verify with this key/);
  const report = await inspectKey(key, { collection: [] });
  assert.equal(report.judgement.ok, false);
  assert.equal(!report.judgement.ok && report.judgement.code, 'POLICY_KEY_FORGEABLE');
}

test('an Ed25519 key whose point is the identity: its mail is weak, the key refused', async () => {
  const identity = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);
  const { publicKey: real } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ email: 'x@forge.test' }], format: 'object' });
  const oid = (real.keyPacket as unknown as { publicParams: { oid: unknown } }).publicParams.oid;
  // [S]B = R + [k]A holds for every k when A is the identity: S = 1 and R =
  // the base point (S = 0 would be a zero MPI, which openpgp.js refuses to read).
  const base = Buffer.from('5866666666666666666666666666666666666666666666666666666666666666', 'hex');
  const value = () => Buffer.concat([mpi(base), mpi(Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]))]);
  const key = await forgeKey(openpgp.enums.publicKey.eddsaLegacy, { oid, Q: Buffer.concat([Buffer.from([0x40]), identity]) }, value);
  await assertRefused(key, value, /an Ed25519 public point of small order/);
});

test('an RSA key with exponent 1: its mail is weak, the key refused', async () => {
  const n = generatePrimeSync(1536, { bigint: true }) * generatePrimeSync(1536, { bigint: true });
  const nBytes = Buffer.from(n.toString(16).padStart(768, '0'), 'hex');
  // EMSA-PKCS1-v1_5 with SHA-512's DigestInfo: with e = 1 this is the signature.
  const value = (digest: Buffer) => {
    const t = Buffer.concat([Buffer.from('3051300d060960864801650304020305000440', 'hex'), digest]);
    return mpi(Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(nBytes.length - t.length - 3, 0xff), Buffer.from([0]), t]));
  };
  const key = await forgeKey(openpgp.enums.publicKey.rsaEncryptSign, { n: nBytes, e: Buffer.from([1]) }, value);
  await assertRefused(key, value, /RSA public exponent 1/);
});
