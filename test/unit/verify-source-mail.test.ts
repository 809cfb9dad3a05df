/**
 * VERIFY by mail about source-signing keys, with a real log (as
 * test/unit/commands-log.test.ts sets one up): what the replies say about
 * the member who vouched when her key is revoked later, how a reply words
 * what a detached signature merely claims (a forged issuer), and the count
 * of signature files over the cap.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { MESSAGE_BOUNDS } from '../../src/limits.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { flat, person, TO_BOT, withLog, type Person, type World } from './commands-world.js';

let seq = 0;
/** Sends `raw` and returns the one reply's signed text (framed log entries are exempt from the harness's 72-column check, so not w.send). */
async function send(w: World, raw: Buffer): Promise<string> {
  const key = `vsm${++seq}-${Date.now()}`;
  await w.store.spool({ key, mailbox: 'test', uidValidity: 1, uid: `7${seq}`, messageId: null, raw, receivedAt: new Date().toISOString() });
  const out = await (await w.dispatcher()).processMessage((await w.store.getSpooled(key))!);
  await w.store.complete(out.completion);
  assert.equal(out.completion.outbox.length, 1);
  const v = await verifyMail(out.completion.outbox[0].raw, w.botKeyring);
  assert.ok(v.signedText, 'the reply is signed by the bot');
  return v.signedText;
}

/** A community with a log; djm's key vouched for openssh-9.8p1 by Alice, approved by Bob and Carol, applied and logged. */
async function vouched() {
  const c = await withLog();
  const djm = await person('Damien Miller', 'djm@mindrot.org');
  const s = await c.w.send(await c.w.mail(c.alice, `SUBMIT SOURCE KEY openssh-9.8p1\n${TO_BOT}\n\n${djm.pub.armor()}`));
  const f = s.replies[0].fields;
  for (const m of [c.bob, c.carol]) await c.w.send(await c.w.mail(m, `APPROVE ${f.Ticket}\n${f['Ticket-Digest']}\n${TO_BOT}`));
  for (const o of (await c.w.applyAll()).outcomes) assert.equal(o.state, 'applied', JSON.stringify(o));
  return { ...c, djm };
}

/** Revokes `p`'s key in the collection as compromised, keeping its certifications. */
async function revokeCompromised(w: World, p: Person): Promise<void> {
  const { publicKey } = await openpgp.revokeKey({
    key: p.key, reasonForRevocation: { flag: openpgp.enums.reasonForRevocation.keyCompromised, string: 'laptop stolen' }, format: 'object',
  });
  const col = await w.collection();
  const stored = (await col.findKeys(p.fpr))[0];
  await col.apply(async (x) => { await x.putKey(await stored.key.update(publicKey), 'public'); },
    { message: `revoke ${p.email}`, signer: async (d) => (await w.bot.signDetached(d)).armored });
}

async function detached(key: openpgp.PrivateKey, bytes: string): Promise<Buffer> {
  return Buffer.from(await openpgp.sign({ message: await openpgp.createMessage({ binary: Buffer.from(bytes) }), signingKeys: key, detached: true, format: 'binary' }) as Uint8Array);
}

const sigMail = (w: World, command: string, files: { filename: string; content: Buffer }[]) =>
  w.mail(null, command, { attachments: files.map((f) => ({ ...f, contentType: 'application/pgp-signature' })) });

const WARNING = /WARNING: {5}the member who vouched has since revoked their key:\n {15}ask the maintainers whether this vouch still holds\./;

describe('VERIFY about source keys: the member who vouched, today', () => {
  test('a vouch by a key revoked later as compromised is flagged in the release reply and the signature reply', async () => {
    const c = await vouched();
    const sig = await detached(c.djm.key, 'tarball bytes');

    const before = await send(c.w, await c.w.mail(null, 'VERIFY openssh-9.8p1'));
    assert.match(before, new RegExp(`Vouched by: {2}${c.alice.fpr}\\n {15}Alice Mainframe <alice@people\\.test>\\n {15}key today: valid, no expiry date\\n`));
    assert.doesNotMatch(before, /WARNING/);

    await revokeCompromised(c.w, c.alice);
    const release = await send(c.w, await c.w.mail(null, 'VERIFY openssh-9.8p1'));
    assert.match(release, new RegExp(`Vouched by: {2}${c.alice.fpr}\\n {15}Alice Mainframe <alice@people\\.test>\\n {15}key today: REVOKED since \\d{4}-\\d\\d-\\d\\d \\(compromised: laptop\\s+stolen\\)\\n`));
    assert.match(release, WARNING);
    // The upstream key itself is still valid: its own status says so.
    assert.match(release, /Key today: {3}valid, no expiry date/);

    const bySig = await send(c.w, await sigMail(c.w, 'VERIFY', [{ filename: 'openssh-9.8p1.tar.gz.sig', content: sig }]));
    assert.match(bySig, /Vouch at log index \d+ \(source-key-added: openssh-9\.8p1\)/);
    assert.match(bySig, /key today: REVOKED since /);
    assert.match(bySig, WARNING);
  });

  test('a vouch by a key that left the collection says so, with no revocation warning', async () => {
    const c = await vouched();
    const col = await c.w.collection();
    await col.apply(async (x) => { await x.removeKey(c.alice.fpr); }, { message: 'alice leaves', signer: async (d) => (await c.w.bot.signDetached(d)).armored });
    const txt = await send(c.w, await c.w.mail(null, 'VERIFY openssh-9.8p1'));
    assert.match(txt, new RegExp(`Vouched by: {2}${c.alice.fpr}\\n {15}\\(this key is no longer in the collection\\)\\n {15}key today: no longer in the collection\\n`));
    assert.doesNotMatch(txt, /WARNING/);
  });
});

describe('VERIFY with a signature file: what the signature claims is worded as a claim', () => {
  test('a stranger\'s signature with the issuer rewritten to the upstream key: no line states the claim as fact', async () => {
    const c = await vouched();
    // The stranger signs other bytes; then the issuer fingerprint and key id subpackets are patched to name djm's key.
    const b = await detached(c.stranger.key, 'evil');
    const from = Buffer.from(c.stranger.fpr, 'hex');
    const to = Buffer.from(c.djm.fpr, 'hex');
    for (let i = b.indexOf(from); i >= 0; i = b.indexOf(from)) to.copy(b, i);
    for (let i = b.indexOf(from.subarray(12)); i >= 0; i = b.indexOf(from.subarray(12))) to.subarray(12).copy(b, i);
    assert.ok(b.includes(to));
    const txt = await send(c.w, await sigMail(c.w, 'VERIFY openssh-9.8p1.tar.gz', [{ filename: 'openssh-9.8p1.tar.gz.sig', content: b }]));
    assert.match(txt, /THE BOT DID NOT CHECK THIS SIGNATURE AGAINST ANY FILE/);
    assert.match(txt, new RegExp(`Names as signer \\(not checked\\):\\n {15}${c.djm.fpr}\\n`));
    assert.match(txt, /That key is in the collection as: an upstream source-signing key/);
    assert.match(txt, /Would match: yes, if the signature checks out over your file:\n {15}the key is vouched for release openssh-9\.8p1/);
    assert.match(flat(txt), /Anyone can write any key's id into a signature: only checking it over the file shows which key made it\./);
    assert.doesNotMatch(txt, /Made by:|Matches:|In the collection as:/);
    // The way to check it stays: the gpg lines and the offline verify-source line.
    assert.match(txt, /--verify openssh-9\.8p1\.tar\.gz\.sig openssh-9\.8p1\.tar\.gz/);
    assert.match(txt, /ztrust-bot verify-source openssh-9\.8p1\.tar\.gz openssh-9\.8p1\.tar\.gz\.sig/);
  });

  test('a signature naming a key outside the collection, for a file of another release', async () => {
    const c = await vouched();
    const txt = await send(c.w, await sigMail(c.w, 'VERIFY', [{ filename: 'bash-5.3.tar.gz.sig', content: await detached(c.stranger.key, 'x') }]));
    assert.match(txt, new RegExp(`Names as signer \\(not checked\\):\\n {15}${c.stranger.fpr}\\n`));
    assert.match(flat(txt), /In the collection: NO\. No key in the collection \(members or pgp\/for-source\/\) is the key this signature names\./);
    const djm = await send(c.w, await sigMail(c.w, 'VERIFY', [{ filename: 'bash-5.3.tar.gz.sig', content: await detached(c.djm.key, 'x') }]));
    assert.match(djm, /Would match: NO: the key it names is not vouched for the release\n {15}this file name names\./);
  });

  test(`${MESSAGE_BOUNDS.signatureAttachments * 6} signature files: the reply does not claim there are only ${MESSAGE_BOUNDS.signatureAttachments - 1} more`, async () => {
    const c = await vouched();
    const sig = await detached(c.djm.key, 'x');
    const many = Array.from({ length: MESSAGE_BOUNDS.signatureAttachments * 6 }, (_, i) => ({ filename: `f${i}.sig`, content: sig }));
    const txt = flat(await send(c.w, await sigMail(c.w, 'VERIFY', many)));
    assert.match(txt, new RegExp(`Your mail carries ${MESSAGE_BOUNDS.signatureAttachments - 1} or more other signature file\\(s\\)`));
    // Under the cap the count is exact.
    const two = flat(await send(c.w, await sigMail(c.w, 'VERIFY', many.slice(0, 3))));
    assert.match(two, /Your mail carries 2 other signature file\(s\): this reply is about f\d\.sig only\./);
  });
});
