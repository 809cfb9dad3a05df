/**
 * The mail verifier checks a message signature with node:crypto
 * (src/pgp/message-signature.ts) instead of openpgp.js's verify(). This
 * holds the two to the same outcome, to the error message, on signatures
 * GnuPG makes at test time: good ones of every kind the fast path takes,
 * and each way one can be wrong (the data changed, the signature value
 * changed, made before the key existed, expired, dated in the future, a
 * critical notation, a hash EdDSA may not use, a hash the config refuses).
 * Every case also states its expected outcome, so two paths that fail
 * alike cannot pass it; and the cases the fast path claims are checked to
 * have gone through node:crypto (openpgp.js's own packet check is made to
 * throw for them).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { readFileSync } from 'node:fs';
import { literalBytes, literalCleartext, REVIEWED_OPENPGP, verifyMessageSignature } from '../../src/pgp/message-signature.js';
import { messageVerifyConfig } from '../../src/policy/index.js';

const DAY = 86_400_000;
const config = messageVerifyConfig();
/** gpg's --faked-system-time for `ms` from now (the trailing ! freezes the clock there). */
const at = (ms: number) => `${new Date(Date.now() + ms).toISOString().replace(/[-:]/g, '').slice(0, 15)}!`;

let gpg: GpgHome;
const keys = new Map<string, openpgp.PublicKey>();
const fprs: Record<string, string> = {};

async function must(args: string[], input?: Buffer | string): Promise<Buffer> {
  const r = await gpg.run(args, input);
  if (r.code !== 0) throw new Error(`gpg ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function genKey(name: string, algo: string, extra: string[] = [], expire = 'never'): Promise<void> {
  const out = (await must(['--status-fd', '1', ...extra, '--quick-gen-key', `${name} <${name}@sig.test>`, algo, 'sign,cert', expire])).toString();
  const fpr = /KEY_CREATED \w+ ([0-9A-F]{40})/.exec(out)?.[1];
  if (!fpr) throw new Error(`no fingerprint for ${name}: ${out}`);
  fprs[name] = fpr;
}

async function loadKey(name: string): Promise<openpgp.PublicKey> {
  const k = await openpgp.readKey({ armoredKey: await gpg.exportPublic(fprs[name]) });
  keys.set(name, k);
  return k;
}

/** 'ok', or the error's message. */
type Outcome = string;

/** openpgp.js's own verify() of a detached signature, its first (only) signature's outcome. */
async function slowDetached(sig: Uint8Array, data: Buffer, key: openpgp.PublicKey, cfg = config): Promise<Outcome> {
  const signature = await openpgp.readSignature({ binarySignature: sig });
  const message = await openpgp.createMessage({ binary: data });
  const r = await openpgp.verify({ message, signature, verificationKeys: [key], date: new Date(), config: cfg, expectSigned: false });
  try { await r.signatures[0].verified; return 'ok'; } catch (e) { return (e as Error).message; }
}

/** The fast path over the same input; `strict` makes openpgp.js's packet check throw, so only node:crypto can say ok. */
async function fastDetached(sig: Uint8Array, data: Buffer, key: openpgp.PublicKey, strict: boolean, cfg = config): Promise<Outcome> {
  const signature = await openpgp.readSignature({ binarySignature: sig });
  const packet = signature.packets[0];
  if (strict) forbidLibraryCheck(packet);
  try { await verifyMessageSignature(packet, key, literalBytes(data), new Date(), cfg); return 'ok'; } catch (e) { return (e as Error).message; }
}

/** The signature packet of a cleartext message (openpgp.js's .d.ts leaves the field's type unresolved). */
function cleartextSignature(msg: openpgp.CleartextMessage): openpgp.SignaturePacket {
  return (msg as unknown as { signature: openpgp.Signature }).signature.packets[0];
}

function forbidLibraryCheck(packet: openpgp.SignaturePacket): void {
  (packet as unknown as { verify: () => never }).verify = () => { throw new Error('openpgp.js checked the packet: the fast path was not taken'); };
}

async function both(sig: Uint8Array, data: Buffer, keyName: string, expected: RegExp | 'ok', opts: { strict?: boolean; cfg?: openpgp.Config } = {}): Promise<void> {
  const key = keys.get(keyName)!;
  const slow = await slowDetached(sig, data, key, opts.cfg);
  const fast = await fastDetached(sig, data, key, opts.strict ?? true, opts.cfg);
  assert.equal(fast, slow, 'node:crypto and openpgp.js disagree');
  if (expected === 'ok') assert.equal(fast, 'ok');
  else assert.match(fast, expected);
}

const sign = (name: string, data: Buffer, args: string[] = []) =>
  must(['-u', fprs[name], ...args, '--detach-sign', '--output', '-'], data);

/** Flip one bit in the last octet of the signature packet (inside its last MPI): the left 16 bits of the hash still match. */
function tamperValue(sig: Uint8Array): Buffer {
  const t = Buffer.from(sig);
  t[t.length - 1] ^= 0x01;
  return t;
}

/**
 * A signature packet with its MPIs (the values after the hash prefix)
 * changed by `edit`, rebuilt with a new-format header: how an attacker
 * would send values GnuPG never makes.
 */
function tamper(packetBytes: Uint8Array, edit: (mpis: Buffer[]) => void): Buffer {
  const b = Buffer.from(packetBytes);
  let at: number;
  if (b[0] & 0x40) at = b[1] < 192 ? 2 : b[1] < 224 ? 3 : 6;
  else at = 1 + ([1, 2, 4][b[0] & 3] ?? 0);
  const body = b.subarray(at);
  if (body[0] !== 4) throw new Error('not a v4 signature');
  let p = 4;
  p += 2 + body.readUInt16BE(p); // hashed subpackets
  p += 2 + body.readUInt16BE(p); // unhashed subpackets
  p += 2; // the hash prefix
  const head = body.subarray(0, p);
  const mpis: Buffer[] = [];
  while (p < body.length) {
    const len = Math.ceil(body.readUInt16BE(p) / 8);
    mpis.push(Buffer.from(body.subarray(p + 2, p + 2 + len)));
    p += 2 + len;
  }
  edit(mpis);
  const out = Buffer.concat([head, ...mpis.map((m) => {
    const bits = m.length === 0 ? 0 : (m.length - 1) * 8 + (32 - Math.clz32(m[0]));
    return Buffer.concat([Buffer.from([bits >> 8, bits & 0xff]), m]);
  })]);
  const len = out.length;
  const header = len < 192 ? Buffer.from([0xc2, len]) : Buffer.from([0xc2, ((len - 192) >> 8) + 192, (len - 192) & 0xff]);
  return Buffer.concat([header, out]);
}

const DATA = Buffer.from('VERIFY 0123\r\nline with trailing blanks  \r\nlast line\n', 'utf8');

describe('security: the message-signature check with node:crypto matches openpgp.js', () => {
  before(async () => {
    gpg = await makeGpgHome();
    await genKey('ed', 'ed25519');
    await genKey('rsa', 'rsa3072');
    await genKey('sub', 'ed25519');
    await must(['--quick-add-key', fprs.sub, 'ed25519', 'sign', 'never']);
    // Made ten days ago, so it can sign in the past.
    await genKey('old', 'ed25519', ['--faked-system-time', at(-10 * DAY)]);
    // A key that expired two days ago.
    await genKey('lapsed', 'ed25519', ['--faked-system-time', at(-10 * DAY)], '5d');
    for (const n of ['ed', 'rsa', 'sub', 'old', 'lapsed']) await loadKey(n);
  });
  after(async () => { await gpg.cleanup(); });

  test('good signatures of every kind the fast path takes: the same ok, through node:crypto', async () => {
    await both(await sign('ed', DATA, ['--digest-algo', 'SHA512']), DATA, 'ed', 'ok');
    await both(await sign('ed', DATA, ['--digest-algo', 'SHA256', '--textmode']), DATA, 'ed', 'ok');
    await both(await sign('rsa', DATA, ['--digest-algo', 'SHA256']), DATA, 'rsa', 'ok');
    await both(await sign('rsa', DATA, ['--digest-algo', 'SHA384', '--textmode']), DATA, 'rsa', 'ok');
    await both(await sign('rsa', DATA, ['--digest-algo', 'SHA224']), DATA, 'rsa', 'ok');
    // By the signing subkey: the issuer is the subkey, its binding decides.
    await both(await sign('sub', DATA), DATA, 'sub', 'ok');
    // Made in the past while the key was valid, and before a key that has since expired lapsed.
    await both(await sign('old', DATA, ['--faked-system-time', at(-5 * DAY)]), DATA, 'old', 'ok');
    await both(await sign('lapsed', DATA, ['--faked-system-time', at(-8 * DAY)]), DATA, 'lapsed', 'ok');
  });

  test('a text signature is over the data with CRLF line ends, whatever the message has', async () => {
    // (GnuPG and openpgp.js differ on a lone CR, so there is none here.)
    const lf = Buffer.from('one\ntwo\r\nthree\nfour\n');
    const sig = await sign('ed', lf, ['--textmode']);
    await both(sig, lf, 'ed', 'ok');
    await both(sig, Buffer.from('one\r\ntwo\r\nthree\r\nfour\r\n'), 'ed', 'ok');
    // A binary signature is over the bytes as they are.
    await both(await sign('ed', lf), Buffer.from('one\r\ntwo\r\nthree\r\nfour\r\n'), 'ed', /Signed digest did not match|Signature verification failed/);
  });

  test('the data changed after signing: the same refusal from both', async () => {
    for (const who of ['ed', 'rsa']) {
      const sig = await sign(who, DATA);
      const changed = Buffer.from(DATA);
      changed[0] ^= 0x20; // VERIFY -> vERIFY
      await both(sig, changed, who, /Signed digest did not match|Signature verification failed/);
    }
  });

  test('the signature value changed (the hash prefix kept): "Signature verification failed" from both', async () => {
    for (const who of ['ed', 'rsa']) {
      await both(tamperValue(await sign(who, DATA)), DATA, who, /^Signature verification failed$/);
    }
  });

  test('made before the key existed: "Key is newer than the signature" from both', async () => {
    const sig = await sign('ed', DATA, ['--faked-system-time', at(-3 * DAY), '--ignore-time-conflict']);
    await both(sig, DATA, 'ed', /^Key is newer than the signature$/);
  });

  test('an expired signature: "Signature is expired" from both', async () => {
    const sig = await sign('old', DATA, ['--faked-system-time', at(-5 * DAY), '--default-sig-expire', '1d']);
    await both(sig, DATA, 'old', /^Signature is expired$/);
  });

  test('dated in the future: "Signature creation time is in the future" from both', async () => {
    const sig = await sign('ed', DATA, ['--faked-system-time', at(3 * DAY), '--ignore-time-conflict']);
    await both(sig, DATA, 'ed', /^Signature creation time is in the future$/);
  });

  test('a critical notation nobody knows: refused by both', async () => {
    const sig = await sign('ed', DATA, ['--sig-notation', '!unknown@sig.test=yes']);
    await both(sig, DATA, 'ed', /^Unknown critical notation: unknown@sig\.test$/);
  });

  test('EdDSA with a hash under 256 bits: "Hash algorithm too weak for EdDSA." from both', async () => {
    const sig = await sign('ed', DATA, ['--digest-algo', 'SHA224']);
    await both(sig, DATA, 'ed', /^Hash algorithm too weak for EdDSA\.$/);
  });

  test('a hash the config refuses for messages: the same refusal, after the cryptography held', async () => {
    const cfg = { ...config, rejectMessageHashAlgorithms: new Set([...config.rejectMessageHashAlgorithms, openpgp.enums.hash.sha384]) };
    await both(await sign('rsa', DATA, ['--digest-algo', 'SHA384']), DATA, 'rsa', /^Insecure message hash algorithm: SHA384$/, { cfg });
    const cfg2 = { ...config, rejectHashAlgorithms: new Set([...config.rejectHashAlgorithms, openpgp.enums.hash.sha256]) };
    await both(await sign('rsa', DATA, ['--digest-algo', 'SHA256']), DATA, 'rsa', /^Insecure hash algorithm: SHA256$/, { cfg: cfg2 });
  });

  test('a signature by another key with the same algorithm: refused by both (no key by that id)', async () => {
    const sig = await sign('rsa', DATA);
    const slow = await slowDetached(sig, DATA, keys.get('ed')!);
    const fast = await fastDetached(sig, DATA, keys.get('ed')!, true);
    assert.equal(fast, slow);
    assert.match(fast, /^Could not find signing key with key ID [0-9a-f]{16}$/);
  });

  test('cleartext: the text CleartextMessage verifies, for a text and for a binary signature over it', async () => {
    const text = 'VERIFY 0123\nindented  \n- a dash line\nlast';
    for (const who of ['ed', 'rsa']) {
      const armoured = (await must(['-u', fprs[who], '--clearsign', '--output', '-'], text)).toString();
      const msg = await openpgp.readCleartextMessage({ cleartextMessage: armoured });
      const key = keys.get(who)!;
      const slow = await openpgp.verify({ message: msg, verificationKeys: [key], date: new Date(), config, expectSigned: false });
      await slow.signatures[0].verified;
      const packet = cleartextSignature(msg);
      forbidLibraryCheck(packet);
      await verifyMessageSignature(packet, key, literalCleartext(msg), new Date(), config);
      const bad = await openpgp.readCleartextMessage({ cleartextMessage: armoured.replace('VERIFY 0123', 'VERIFY 0124') });
      await assert.rejects(verifyMessageSignature(cleartextSignature(bad), key, literalCleartext(bad), new Date(), config),
        /Signed digest did not match|Signature verification failed/);
    }
    // A binary (0x00) signature in a cleartext block covers the canonical text as UTF-8 (CRLF, trailing blanks gone), as openpgp.js reads it.
    const canonical = Buffer.from('VERIFY 0123\r\nindented\r\n- a dash line\r\nlast', 'utf8');
    const binSig = await sign('ed', canonical, ['--digest-algo', 'SHA512']);
    const sigArmour = (await openpgp.readSignature({ binarySignature: binSig })).armor();
    const block = `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n${text.replace(/^-/gm, '- -')}\n${sigArmour}`;
    const msg = await openpgp.readCleartextMessage({ cleartextMessage: block });
    const slow = await openpgp.verify({ message: msg, verificationKeys: [keys.get('ed')!], date: new Date(), config, expectSigned: false });
    await slow.signatures[0].verified;
    const packet = cleartextSignature(msg);
    forbidLibraryCheck(packet);
    await verifyMessageSignature(packet, keys.get('ed')!, literalCleartext(msg), new Date(), config);
  });

  test('kinds the fast path leaves to openpgp.js (SHA-1 on RSA) still get its verdict', async () => {
    const sig = await sign('rsa', DATA, ['--digest-algo', 'SHA1']);
    const slow = await slowDetached(sig, DATA, keys.get('rsa')!);
    const fast = await fastDetached(sig, DATA, keys.get('rsa')!, false);
    assert.equal(fast, slow);
    assert.match(fast, /Insecure (message )?hash algorithm: SHA1/);
  });
  test('Ed25519 keys of RFC 9580 (algorithm 27, made by openpgp.js: GnuPG 2.2 makes none): the same outcomes, through node:crypto', async () => {
    const { privateKey, publicKey } = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'new@sig.test' }], format: 'object' });
    assert.equal(publicKey.keyPacket.algorithm, openpgp.enums.publicKey.ed25519);
    keys.set('v4ed', publicKey);
    const made = async (data: Buffer) => {
      const message = await openpgp.createMessage({ binary: data });
      return await openpgp.sign({ message, signingKeys: privateKey, detached: true, format: 'binary' }) as Uint8Array;
    };
    const sig = await made(DATA);
    await both(sig, DATA, 'v4ed', 'ok');
    const changed = Buffer.from(DATA);
    changed[1] ^= 0x01;
    await both(sig, changed, 'v4ed', /Signed digest did not match|Signature verification failed/);
    // Its signature is 64 raw octets, no MPIs: the last is flipped.
    await both(tamperValue(sig), DATA, 'v4ed', /^Signature verification failed$/);
  });

  test('values out of range for the key go to openpgp.js, which gives its own words: RSA s not below n, an EdDSA r of 33 octets', async () => {
    const n = (keys.get('rsa')!.keyPacket as unknown as { publicParams: { n: Uint8Array } }).publicParams.n;
    for (const s of [Buffer.from(n), Buffer.concat([Buffer.from([0xff]), Buffer.alloc(n.length - 1)])]) {
      // SHA-224: openpgp.js's WebCrypto has no SHA-224, so its own arithmetic answers, in words of its own.
      const sig = tamper(await sign('rsa', DATA, ['--digest-algo', 'SHA224']), (mpis) => { mpis[0] = s; });
      await both(sig, DATA, 'rsa', /./, { strict: false });
      assert.notEqual(await fastDetached(sig, DATA, keys.get('rsa')!, false), 'ok');
    }
    for (const digest of ['SHA512', 'SHA224'] as const) {
      const sig = tamper(await sign('ed', DATA, ['--digest-algo', digest]), (mpis) => {
        // 33 octets whatever r's own length (an MPI drops leading zero octets: 1 time in 256 it is shorter).
        mpis[0] = Buffer.concat([Buffer.from([1]), Buffer.alloc(32 - mpis[0].length), mpis[0]]);
      });
      await both(sig, DATA, 'ed', /^Input array too long$/, { strict: false });
    }
  });

  test('the fast path is on only under the openpgp.js release it was read against', () => {
    // An upgrade must be read against src/pgp/message-signature.ts (its
    // copied checks, their order and words) before this is changed.
    assert.equal(openpgp.config.versionString, REVIEWED_OPENPGP);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(`OpenPGP.js ${pkg.dependencies.openpgp}`, REVIEWED_OPENPGP, 'package.json pins the reviewed release exactly');
  });
});
