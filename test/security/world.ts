/**
 * Shared checks for the attack tests in this folder (not a test file).
 *
 * Every attack test sends hostile mail through the real Dispatcher and apply
 * step (test/unit/commands-world.ts) and then asserts three things: the exact
 * outcome string, the exact reply (Status line and rule), and that nothing
 * moved (stateOf: tickets and votes, change requests, log checkpoints, the
 * collection's git HEAD and files). Every mail the bot produced is read by
 * Python's email package and checked with `gpg --verify` (assertBotMail):
 * an attack must not make the bot emit a malformed or unsigned mail either.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { assertBotMail, readWithPython, type PythonReading } from '../harness/mailcheck.js';
import * as openpgp from 'openpgp';
import { signerFromKey } from '../../src/pgp/botkey.js';
import { flat, person, stateOf, type Person, type Sent, type World } from '../unit/commands-world.js';

/** w.send, then assertBotMail on every mail the bot produced for this message. */
export async function sendChecked(w: World, raw: Buffer): Promise<Sent & { python: PythonReading[] }> {
  const s = await w.send(raw);
  const python: PythonReading[] = [];
  for (const r of s.replies) {
    python.push(await assertBotMail(r.row.raw, w.bot.publicArmored, r.status ? { status: r.status } : {}));
  }
  return { ...s, python };
}

export interface Refusal {
  outcome: string;
  to: string;
  /** Sentences the reply's prose must hold (line wrapping undone). */
  says: RegExp[];
  status?: string;
}

/** Exactly one reply, to `to`, with the Status and the rule text expected; the outcome string exact. */
export function assertRefused(s: Sent, r: Refusal): void {
  assert.equal(s.outcome, r.outcome, s.replies[0]?.text);
  assert.equal(s.replies.length, 1, 'one reply, no notices');
  const reply = s.replies[0];
  assert.equal(reply.status, r.status ?? 'error');
  assert.deepEqual(reply.to, [r.to]);
  assert.match(reply.text, new RegExp(`^Status: ${r.status ?? 'error'}\n`));
  const text = flat(reply.text);
  for (const re of r.says) assert.match(text, re);
}

/** No mail at all for this message (loops, robots): the outbox holds nothing for it. */
export async function assertSilent(w: World, s: Sent, outcome: string): Promise<void> {
  assert.equal(s.outcome, outcome);
  assert.equal(s.replies.length, 0);
  assert.deepEqual((await w.store.listOutbox()).filter((o) => o.spoolKey === s.key), []);
}

/** stateOf before and after: tickets, votes, changes, checkpoints, git HEAD and files all unchanged. */
export async function assertUnchanged(w: World, before: unknown): Promise<void> {
  assert.deepEqual(await stateOf(w), before);
  assert.deepEqual(await w.store.pendingChanges(), []);
}

/** Reads the bot's mail headers as Python does: [name, value] pairs. */
export async function pythonHeaders(raw: Buffer): Promise<[string, string][]> {
  return (await readWithPython(raw)).headers;
}

const CRLF = '\r\n';

/** Header lines of a hand-built mail to the bot (attack structures commands-world does not build). */
export function headLines(from: string, extra: string[] = [], subject = 'request'): string[] {
  return [
    `From: ${from}`, 'To: bot@ztrust.test', `Subject: ${subject}`, `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${randomUUID()}@people.test>`, 'MIME-Version: 1.0', ...extra,
  ];
}

/** A whole message from header lines and a body (CRLF line ends). */
export function rawMessage(head: string[], body: string): Buffer {
  return Buffer.from(`${head.join(CRLF)}${CRLF}${body.replace(/\r?\n/g, CRLF)}`, 'latin1');
}

/** Header section and body of a raw mail, split at the first empty line. */
export function splitMail(raw: Buffer): { head: string; body: string } {
  const s = raw.toString('latin1');
  const i = s.indexOf('\r\n\r\n');
  return { head: s.slice(0, i), body: s.slice(i + 4) };
}

/** Puts a revoked copy of `p`'s key into the collection (as an applied REVOKE KEY leaves it); returns the revoked public key. */
export async function revokeInCollection(w: World, p: Person): Promise<openpgp.PublicKey> {
  const { publicKey } = await openpgp.revokeKey({ key: p.key, format: 'object' });
  const col = await w.collection();
  await col.apply((c) => c.putKey(publicKey, 'public'), { message: `revoke ${p.email}`, signer: async (d) => (await w.bot.signDetached(d)).armored });
  return publicKey;
}

/** A person whose key was made `daysAgo` days ago (for signatures dated in the past). */
export async function oldPerson(name: string, email: string, daysAgo: number): Promise<Person> {
  return person(name, email, { date: new Date(Date.now() - daysAgo * 86400_000) });
}

/** Cleartext-signs `text` with `key`, the signature dated `date` (inline mail body). */
export async function signInlineAt(key: openpgp.PrivateKey, text: string, date: Date): Promise<string> {
  const message = await openpgp.createCleartextMessage({ text });
  return openpgp.sign({ message, signingKeys: key, date, format: 'armored' });
}

/**
 * A PGP/MIME mail whose signed part is exactly `inner` (its own header
 * lines, a blank line, its body; CRLF), signed by `key` over those bytes:
 * for signed parts with hostile encodings that commands-world does not build.
 */
export async function pgpMimeWith(from: string, key: openpgp.PrivateKey, inner: string): Promise<Buffer> {
  const signedBytes = inner.replace(/\r?\n/g, CRLF).replace(/\r\n$/, '');
  const { armored, hash } = await signerFromKey(key).signDetached(Buffer.from(signedBytes, 'latin1'));
  const b = `s-${randomUUID()}`;
  return rawMessage(headLines(from, [`Content-Type: multipart/signed; micalg=pgp-${hash}; protocol="application/pgp-signature"; boundary="${b}"`]),
    `${CRLF}--${b}${CRLF}${signedBytes}${CRLF}--${b}${CRLF}Content-Type: application/pgp-signature; name="signature.asc"${CRLF}${CRLF}` +
    `${armored.replace(/\r?\n/g, CRLF)}${CRLF}--${b}--${CRLF}`);
}
