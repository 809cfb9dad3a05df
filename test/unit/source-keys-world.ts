/**
 * A community with a real log (as commands-log.test.ts builds it) and an
 * upstream release-signing key made by real GnuPG, vouched for by a member
 * with SUBMIT SOURCE KEY and approved by two maintainers, so pgp/for-source/
 * holds it, key-and-source.md lists it and the log holds its
 * `source-key-added` entry. For REVOKE KEY and UPDATE KEY of source keys.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { TO_BOT, withLog, type Person, type World } from './commands-world.js';

export const RELEASE = 'upstream-tool-2.1';

/** The secret key gpg holds for `fpr`, read by openpgp.js (the test homes use an empty passphrase, so it is unencrypted). */
export async function gpgSecretKey(gpg: GpgHome, fpr: string): Promise<openpgp.PrivateKey> {
  const r = await gpg.run(['--armor', '--export-secret-keys', fpr]);
  assert.equal(r.code, 0, r.stderr);
  return openpgp.readPrivateKey({ armoredKey: r.stdout.toString('utf8') });
}

/** The upstream signer as a Person of commands-world (its key from gpg), to sign mail with it. */
export async function gpgPerson(gpg: GpgHome, fpr: string, name: string, email: string): Promise<Person> {
  const key = await gpgSecretKey(gpg, fpr);
  return { name, email, key, fpr, pub: key.toPublic() };
}

/** gpg's own revocation certificate for `fpr` (openpgp-revocs.d, written by --quick-gen-key), as gpg left it. */
export function gpgRevocation(gpg: GpgHome, fpr: string): string {
  return readFileSync(path.join(gpg.home, 'openpgp-revocs.d', `${fpr}.rev`), 'latin1');
}

/**
 * The world: alice vouched for the upstream key (made by gpg, expiring in a
 * year) for RELEASE, bob and carol approved, the apply step logged it.
 * `alsoMember`: the same key is in pgp/all too (seeded, as import would).
 */
export async function sourceKeyWorld(opts: { alsoMember?: boolean } = {}) {
  const c = await withLog();
  const { w, alice, bob, carol } = c;
  const gpg = await makeGpgHome();
  const fpr = await gpg.genKey('Upstream Release Signing <release@upstream.example>', { algo: 'ed25519', expire: '1y', encryptSubkey: false });
  const armored = await gpg.exportPublic(fpr);
  if (opts.alsoMember) await w.seed([await openpgp.readKey({ armoredKey: armored })]);
  const sent = await w.send(await w.mail(alice, `SUBMIT SOURCE KEY ${RELEASE}\n${TO_BOT}\n\n${armored}`));
  const t = sent.replies[0].fields;
  assert.equal(sent.replies[0].status, 'pending', sent.replies[0].text);
  for (const m of [bob, carol]) {
    const v = await w.send(await w.mail(m, `APPROVE ${t.Ticket}\n${t['Ticket-Digest']}\n${TO_BOT}`));
    assert.match(v.replies[0].status, /^(pending|approved)$/, v.replies[0].text);
  }
  const applied = await w.applyAll();
  assert.deepEqual(applied.outcomes.map((o) => o.state), ['applied'], applied.outcomes[0]?.detail);
  const keyId = fpr.slice(-16).toLowerCase();
  const file = `pgp/for-source/0x${keyId}-release@upstream.example-signing.asc`;
  const col = await w.collection();
  assert.ok((await col.sourceKeys()).some((s) => s.file === file && s.fingerprint === fpr));
  return { ...c, gpg, fpr, keyId, file };
}

/**
 * Spool and dispatch one message and return the direct reply's signed text,
 * checked to be signed by the bot. For VERIFY, whose framed log entry may
 * run past 72 columns (World.send checks every line; commands-log.test.ts
 * exempts framed blocks the same way).
 */
export async function sendForText(w: World, raw: Buffer): Promise<{ outcome: string; text: string }> {
  const key = `v-${randomBytes(6).toString('hex')}`;
  await w.store.spool({ key, mailbox: 'test', uidValidity: 1, uid: key, messageId: null, raw, receivedAt: new Date().toISOString() });
  const out = await (await w.dispatcher()).processMessage((await w.store.getSpooled(key))!);
  await w.store.complete(out.completion);
  const v = await verifyMail(out.completion.outbox[0].raw, w.botKeyring);
  assert.equal(v.verdict, 'good', v.detail);
  return { outcome: out.completion.outcome, text: v.signedText ?? '' };
}

/** The bytes of a collection file. */
export async function fileOf(w: World, rel: string): Promise<string> {
  return readFileSync(path.join((await w.collection()).dir, ...rel.split('/')), 'utf8');
}
