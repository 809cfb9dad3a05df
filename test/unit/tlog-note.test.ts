/**
 * C2SP signed notes and checkpoints. The PeterNeumann and EnochRoot keys,
 * texts and signatures are the fixed vectors of Go's note package
 * (golang.org/x/mod/sumdb/note, note_test.go: TestNewVerifier, TestSign,
 * TestOpen); Ed25519 is deterministic, so signing must reproduce them byte
 * for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createPublicKey } from 'node:crypto';
import {
  computeKeyId,
  formatCheckpoint,
  generateLogKey,
  parseCheckpoint,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  TlogError,
  verifyCheckpoint,
  verifyNote,
} from '../../src/tlog/index.js';

const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof TlogError && err.code === code);
}

test('the Go example keys parse, and their key ID is SHA-256(name || 0x0A || 0x01 || key)[:4]', () => {
  const v = parseVerifierKey(PETER_VKEY);
  assert.equal(v.name, 'PeterNeumann');
  assert.equal(v.keyId, 0xc74f20a3);
  assert.equal(computeKeyId('PeterNeumann', 0x01, v.publicKey), 0xc74f20a3);
  const s = parseSignerKey(PETER_SKEY);
  assert.equal(s.keyId, 0xc74f20a3);
  assert.equal(s.vkey, PETER_VKEY, 'the verifier key derived from the seed is the published one');
});

test('signing the Go example text reproduces the published note byte for byte', () => {
  assert.equal(signNote(TEXT, PETER_SKEY), `${TEXT}\n${PETER_SIG}`);
});

test('the Go example note verifies; a modified one fails with a reason', () => {
  const note = `${TEXT}\n${PETER_SIG}`;
  const ok = verifyNote(note, PETER_VKEY);
  assert.equal(ok.ok, true, ok.reason);
  assert.equal(ok.text, TEXT);
  assert.deepEqual(ok.verifiedBy, ['PeterNeumann']);

  const bad = verifyNote(note.replace('cryptography', 'cryptographY'), PETER_VKEY);
  assert.equal(bad.ok, false);
  assert.match(bad.reason, /invalid signature for key PeterNeumann\+c74f20a3/);
  assert.equal(bad.code, 'TLOG_NOTE_SIGNATURE');

  // A signature byte changed (the Go test inserts "ABCD" into the base64).
  const forged = verifyNote(`${TEXT}\n${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`, PETER_VKEY);
  assert.equal(forged.ok, false);
  assert.match(forged.reason, /invalid signature/);
});

test('unknown signatures are ignored, but one trusted signature is required (Go TestOpen)', () => {
  const both = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
  assert.deepEqual(verifyNote(both, PETER_VKEY).verifiedBy, ['PeterNeumann']);
  assert.deepEqual(verifyNote(both, ENOCH_VKEY).verifiedBy, ['EnochRoot']);
  assert.deepEqual(verifyNote(both, [PETER_VKEY, ENOCH_VKEY]).verifiedBy.sort(), ['EnochRoot', 'PeterNeumann']);
  const none = verifyNote(`${TEXT}\n${ENOCH_SIG}`, PETER_VKEY);
  assert.equal(none.ok, false);
  assert.match(none.reason, /no signature by a trusted key/);
  // Repeated and corrupt signatures from keys we do not trust do not matter.
  const noisy = `${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${ENOCH_SIG.slice(0, 60)}ABCD${ENOCH_SIG.slice(60)}`;
  assert.equal(verifyNote(noisy, PETER_VKEY).ok, true);
  // Ambiguous: the same key twice in the trusted set.
  assert.match(verifyNote(`${TEXT}\n${ENOCH_SIG}`, [ENOCH_VKEY, ENOCH_VKEY]).reason, /ambiguous key/);
});

test('malformed notes are refused (Go TestOpen bad messages, and more)', () => {
  const bad: Array<string | Buffer> = [
    TEXT,
    `${TEXT}\n`,
    `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
    `\x01${TEXT}\n${PETER_SIG}`,
    Buffer.concat([Buffer.from([0xff]), Buffer.from(`${TEXT}\n${PETER_SIG}`)]),
    `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
    `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
    `${TEXT}\n${PETER_SIG.repeat(101)}`,
    'no newline at the end\n\n— PeterNeumann AAAA\n',
    `${TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n`,
  ];
  for (const note of bad) {
    const r = verifyNote(note, PETER_VKEY);
    assert.equal(r.ok, false, `accepted: ${JSON.stringify(note.toString().slice(0, 60))}`);
    assert.equal(r.code, 'TLOG_NOTE_MALFORMED', r.reason);
  }
  throwsCode(() => signNote('no final newline', PETER_SKEY), 'TLOG_NOTE_MALFORMED');
  throwsCode(() => signNote('', PETER_SKEY), 'TLOG_NOTE_MALFORMED');
  throwsCode(() => signNote('tab\there\n', PETER_SKEY), 'TLOG_NOTE_MALFORMED');
});

test('every mangling of the verifier and signer keys is refused (Go TestNewVerifier, TestNewSigner)', () => {
  for (const key of [PETER_VKEY, PETER_SKEY]) {
    const parse = key === PETER_VKEY ? parseVerifierKey : parseSignerKey;
    for (let i = 0; i <= key.length; i++) {
      for (let j = i + 1; j <= key.length; j++) {
        if (i === 0 && j === key.length) continue;
        assert.throws(() => parse(key.slice(i, j)), TlogError, `accepted substring ${key.slice(i, j)}`);
      }
    }
    for (let i = 0; i < key.length; i++) {
      const mangled = key.slice(0, i) + String.fromCharCode(key.charCodeAt(i) + 1) + key.slice(i + 1);
      assert.throws(() => parse(mangled), TlogError, `accepted ${mangled}`);
    }
  }
  // Wrong-length key and unknown algorithm, each with a key hash adjusted to match (from the Go test).
  throwsCode(() => parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='), 'TLOG_KEY_INVALID');
  throwsCode(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), 'TLOG_KEY_INVALID');
});

test('generated keys: verifier matches signer, signatures verify, names are validated', () => {
  const { skey, vkey } = generateLogKey('ztrust.example.org/log');
  assert.match(skey, /^PRIVATE\+KEY\+ztrust\.example\.org\/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
  assert.match(vkey, /^ztrust\.example\.org\/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
  const s = parseSignerKey(skey);
  const v = parseVerifierKey(vkey);
  assert.equal(s.vkey, vkey);
  assert.equal(s.keyId, v.keyId);
  const note = signNote('hello\n', s);
  assert.equal(verifyNote(note, vkey).ok, true);
  assert.equal(verifyNote(note, generateLogKey('ztrust.example.org/log').vkey).ok, false, 'another key with the same name');
  for (const name of ['', 'has space', 'has+plus', 'tab\tname', 'nb\u00a0space']) {
    throwsCode(() => generateLogKey(name), 'TLOG_KEY_INVALID');
  }
});

test('checkpoints: format, strict parse, verify with origin', () => {
  const root = Buffer.alloc(32, 7);
  const text = formatCheckpoint({ origin: 'example.org/log', size: 20852163, root });
  assert.equal(text, `example.org/log\n20852163\n${root.toString('base64')}\n`);
  assert.deepEqual(parseCheckpoint(text), { origin: 'example.org/log', size: 20852163, root, extensions: [] });
  const ext = formatCheckpoint({ origin: 'o', size: 0, root, extensions: ['ext one', 'ext two'] });
  assert.deepEqual(parseCheckpoint(ext).extensions, ['ext one', 'ext two']);
  const r64 = root.toString('base64');
  for (const bad of [
    `o\n1\n${r64}`,
    `o\n01\n${r64}\n`,
    `o\n-1\n${r64}\n`,
    `o\n1.0\n${r64}\n`,
    `o\n99999999999999999999\n${r64}\n`,
    `o\n1\n${Buffer.alloc(31).toString('base64')}\n`,
    `o\n1\n${r64.slice(0, -2)}\n`,
    `o\n1\n${r64}\n\n`,
    `\n1\n${r64}\n`,
    `o\n1\n`,
  ]) {
    throwsCode(() => parseCheckpoint(bad), 'TLOG_CHECKPOINT_MALFORMED');
  }
  const { skey, vkey } = generateLogKey('example.org/log');
  const note = signNote(text, skey);
  const v = verifyCheckpoint(note, vkey);
  assert.equal(v.ok, true, v.reason);
  assert.equal(v.checkpoint?.size, 20852163);
  const other = verifyCheckpoint(signNote(formatCheckpoint({ origin: 'example.org/other', size: 1, root }), skey), vkey);
  assert.equal(other.ok, false);
  assert.equal(other.code, 'TLOG_ORIGIN');
});

test('@sigstore/verify, an independent checkpoint verifier, accepts our signed checkpoints', async (t) => {
  const require = createRequire(import.meta.url);
  let mod: { verifyCheckpoint: (entry: unknown, tlogs: unknown[]) => { origin: string; logSize: bigint; logHash: Buffer } };
  try {
    mod = require('@sigstore/verify/dist/tlog/checkpoint.js') as typeof mod;
  } catch {
    t.skip('@sigstore/verify is not installed');
    return;
  }
  const { skey, vkey } = generateLogKey('log.example.org');
  const v = parseVerifierKey(vkey);
  const root = Buffer.alloc(32, 9);
  const note = signNote(formatCheckpoint({ origin: 'log.example.org', size: 42, root }), skey);
  const id = Buffer.alloc(4);
  id.writeUInt32BE(v.keyId);
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: v.publicKey.toString('base64url') }, format: 'jwk' });
  const tlogs = [{ logID: Buffer.concat([id, Buffer.alloc(28)]), baseURL: 'log.example.org', publicKey }];
  const cp = mod.verifyCheckpoint({ inclusionProof: { checkpoint: { envelope: note } } }, tlogs);
  assert.equal(cp.origin, 'log.example.org');
  assert.equal(cp.logSize, 42n);
  assert.ok(Buffer.from(cp.logHash).equals(root));
  // And it rejects a checkpoint whose body we changed.
  assert.throws(() => mod.verifyCheckpoint({ inclusionProof: { checkpoint: { envelope: note.replace('\n42\n', '\n43\n') } } }, tlogs));
  assert.deepEqual(parseNote(note).signatures.map((s) => s.keyId), [v.keyId]);
});
