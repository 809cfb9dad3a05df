/**
 * UPDATE KEY and REVOKE KEY through the real Dispatcher and apply step:
 * additive updates and revocations are applied at once (no ticket), a new
 * subkey becomes a ticket, certifications by strangers are dropped and
 * listed; refusals name the rule.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { auditCollection } from '../../src/collection/audit.js';
import { exportWkd } from '../../src/collection/wkd.js';
import { inspectKey, readKeysAny } from '../../src/pgp/inspect.js';
import { certify, community, flat, newcomer, person, TO_BOT } from './commands-world.js';
import { assertUnchanged, assertWellFormed, getKeyFingerprints, snapshot, withMallory } from '../security/uid-claim-world.js';

describe('UPDATE KEY', () => {
  test('a new certification by a collection key is applied at once; a stranger\'s is dropped and listed', async () => {
    const { w, alice, bob, carol, stranger } = await community();
    const col = await w.collection();
    const before = (await col.findKeys(alice.fpr))[0];
    // Carol's copy of Alice's key gains a second certification by Carol (a newer one) and one by a stranger.
    const newer = await certify(before.key, [stranger, carol]);
    const s = await w.send(await w.mail(bob, `UPDATE KEY\n${TO_BOT}\n\n${newer.armor()}`));
    const r = s.replies[0];
    assert.equal(r.status, 'accepted', r.text);
    assert.equal(s.replies.length, 1, 'no ticket, no maintainer notices');
    assert.match(flat(r.text), /new certification by 0x[0-9a-f]{16} Carol Sysprog/);
    assert.ok(r.text.includes(stranger.fpr.slice(-16).toLowerCase()), 'the dropped certification is listed');
    assert.match(flat(r.text), /made by a key outside the collection/);
    assert.deepEqual(await w.store.listTickets(), []);

    const { outcomes, notices } = await w.applyAll();
    assert.equal(outcomes[0].state, 'applied');
    assert.equal(notices[0].status, 'applied');
    assert.deepEqual(notices[0].to, ['bob@people.test']);
    const after = (await col.findKeys(alice.fpr))[0];
    assert.equal(after.file, before.file, 'the file keeps its name');
    const issuers = after.key.users.flatMap((u) => u.otherCertifications.map((x) => x.issuerKeyID.toHex().toUpperCase()));
    assert.equal(issuers.filter((i) => i === carol.fpr.slice(-16)).length, 2);
    assert.ok(!issuers.includes(stranger.fpr.slice(-16)));
    assert.match(await col.git(['log', '-1', '--format=%B']), /^Update key 0x/);
  });

  test('nothing new is said so; a key outside the collection is refused; a new subkey needs a ticket', async () => {
    const { w, alice, bob } = await community();
    const col = await w.collection();
    const stored = (await col.findKeys(alice.fpr))[0];
    const same = await w.send(await w.mail(alice, `UPDATE KEY\n${TO_BOT}\n\n${stored.key.armor()}`));
    assert.equal(same.replies[0].status, 'found');
    assert.match(flat(same.replies[0].text), /already holds everything acceptable/);
    assert.deepEqual(await w.store.pendingChanges(), []);

    const dave = await newcomer('Dave', 'dave@people.test', [alice]);
    const out = await w.send(await w.mail(dave, `UPDATE KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
    assert.match(flat(out.replies[0].text), /Rule: not-in-collection/);
    assert.match(flat(out.replies[0].text), /SUBMIT KEY/);

    // Alice adds a subkey to her own key (signed with it): new key material -> ticket.
    const withSub = await alice.key.addSubkey({ type: 'ecc', curve: 'curve25519Legacy' });
    const merged = await certify(withSub.toPublic(), [bob]);
    const s = await w.send(await w.mail(alice, `UPDATE KEY\n${TO_BOT}\n\n${merged.armor()}`));
    assert.equal(s.replies[0].status, 'pending', s.replies[0].text);
    assert.match(flat(s.replies[0].text), /A new subkey is new key material/);
    assert.equal(s.replies.length, 4, 'reply and three maintainer notices');
    const t = (await w.store.getTicket(s.replies[0].fields.Ticket))!;
    assert.equal(t.kind, 'update-key');
    assert.match(t.content, /^New-Subkey: [0-9A-F]{40}$/m);
    await w.send(await w.mail(bob, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    const other = await w.send(await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    assert.equal(other.replies[0].status, 'approved');
    const { outcomes } = await w.applyAll();
    assert.equal(outcomes[0].state, 'applied', outcomes[0].detail);
    assert.equal((await col.findKeys(alice.fpr))[0].key.subkeys.length, 2);
  });

  test('signed by a new signing subkey that the collection copy lacks (as gpg does by default): a ticket, not "no key"', async () => {
    const { w, alice, bob } = await community();
    const withSub = await alice.key.addSubkey({ type: 'ecc', curve: 'ed25519Legacy', sign: true });
    const merged = await certify(withSub.toPublic(), [bob]);
    const s = await w.send(await w.mail(alice, `UPDATE KEY\n${TO_BOT}\n\n${merged.armor()}`, { signWith: withSub }));
    assert.equal(s.replies[0].status, 'pending', s.replies[0].text);
    assert.match(flat(s.replies[0].text), /A new subkey is new key material/);
  });

  test('refused: no key, two keys', async () => {
    const { w, alice, bob } = await community();
    assert.match(flat((await w.send(await w.mail(alice, `UPDATE KEY\n${TO_BOT}\n`))).replies[0].text), /Rule: no-key/);
    const two = await w.send(await w.mail(alice, `UPDATE KEY\n${TO_BOT}\n${alice.pub.armor()}\n${bob.pub.armor()}`));
    assert.match(flat(two.replies[0].text), /Rule: one-key/);
  });
});

describe('UPDATE KEY: new user IDs (keys made by gpg)', () => {
  test('a new user ID with an address nobody holds is a ticket, applied only after k approvals', async () => {
    const { w, alice, bob, mallory, logged } = await withMallory();
    const before = await snapshot(w);
    await mallory.addUid('Mallory at Work <mallory@work.test>');
    const s = await w.send(await mallory.updateKeyMail());
    const r = s.replies[0];
    assert.equal(r.status, 'pending', r.text);
    assert.match(s.outcome, /^UPDATE KEY:pending:ZT-\d{6}$/);
    assert.match(flat(r.text), /A new user ID is a new claim to a name and an address, which GET KEY and the Web Key Directory will hand out, so the maintainers must approve it\./);
    assert.equal(s.replies.length, 4, 'the reply and three maintainer notices');
    const t = (await w.store.getTicket(r.fields.Ticket))!;
    assert.equal(t.kind, 'update-key');
    assert.match(t.content, /^New-User-ID: Mallory at Work <mallory@work\.test>$/m);

    // Not applied while it waits: nothing queued, nothing written, not served.
    assert.deepEqual((await w.applyAll()).outcomes, []);
    assertUnchanged({ ...before, tickets: 1 }, await snapshot(w));
    assert.equal((await getKeyFingerprints(w, 'mallory@work.test')).status, 'not-found');

    assert.equal((await w.send(await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`))).replies[0].status, 'pending');
    assert.deepEqual((await w.applyAll()).outcomes, [], 'one approval of two is not enough');
    assert.equal((await w.send(await w.mail(bob, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`))).replies[0].status, 'approved');
    const { outcomes, notices } = await w.applyAll();
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0].state, 'applied', outcomes[0].detail);
    assert.equal(notices[0].status, 'applied');
    assert.equal(logged.length, 1, 'one log entry');
    assert.equal(logged[0].type, 'key-updated');
    const got = await getKeyFingerprints(w, 'mallory@work.test');
    assert.deepEqual(got.fprs, [mallory.fpr]);
  });

  test('new certifications by collection keys still apply at once (no ticket)', async () => {
    const { w, carol, mallory, logged } = await withMallory();
    const col = await w.collection();
    const stored = (await col.findKeys(mallory.fpr))[0];
    const s = await w.send(await w.mail(carol, `UPDATE KEY\n${TO_BOT}\n\n${(await certify(stored.key, [carol])).armor()}`));
    assert.equal(s.replies[0].status, 'accepted', s.replies[0].text);
    assert.equal(s.outcome, 'UPDATE KEY:accepted');
    assert.equal(s.replies.length, 1);
    assert.deepEqual(await w.store.listTickets(), []);
    const { outcomes } = await w.applyAll();
    assert.equal(outcomes[0].state, 'applied', outcomes[0].detail);
    assert.equal(logged.length, 1);
    const after = (await col.findKeys(mallory.fpr))[0];
    const issuers = after.key.users.flatMap((u) => u.otherCertifications.map((x) => x.issuerKeyID.toHex().toUpperCase()));
    assert.ok(issuers.includes(carol.fpr.slice(-16)));
  });

  test('a new expiry still applies at once (no ticket)', async () => {
    const { w, mallory, logged } = await withMallory();
    const exp = await mallory.gpg.run(['--quick-set-expire', mallory.fpr, '3y']);
    assert.equal(exp.code, 0, exp.stderr);
    const s = await w.send(await mallory.updateKeyMail());
    assert.equal(s.replies[0].status, 'accepted', s.replies[0].text);
    assert.match(flat(s.replies[0].text), /expiry changes from/);
    assert.deepEqual(await w.store.listTickets(), []);
    assert.equal((await w.applyAll()).outcomes[0].state, 'applied');
    assert.equal(logged.length, 1);
  });
});

describe('one address, one key: SUBMIT KEY, GET KEY, WKD, audit', () => {
  test('a second key for a member\'s address: a ticket with the warning line; once approved, GET KEY and WKD name both and give out neither; audit reports it', async () => {
    const { w, alice, bob, mallory, logged } = await withMallory();
    // Bob's second key (made by gpg), certified by Alice, submitted signed by itself.
    const bob2 = await mallory.gpg.genKey('Bob Volunteer <Bob@People.Test>');
    const [pub] = await readKeysAny(await mallory.gpg.exportPublic(bob2));
    await mallory.gpg.importKeys((await certify(pub, [alice])).armor());
    const raw = await mallory.gpg.pgpMimeMessage(bob2, { from: 'Bob <bob@people.test>', to: 'bot@ztrust.test', subject: 'my second key' },
      `SUBMIT KEY\n${TO_BOT}\n\n${await mallory.gpg.exportPublic(bob2)}`);
    const s = await w.send(raw);
    const r = s.replies[0];
    assert.equal(r.status, 'pending', r.text);
    await assertWellFormed(w, r);
    const bobId = bob.fpr.slice(-16).toLowerCase();
    assert.ok(flat(r.text).includes(`the user ID "Bob Volunteer <Bob@People.Test>" names bob@people.test, which collection key 0x${bobId} ("Bob Volunteer <bob@people.test>") already holds. The maintainers see this`), r.text);
    const t = (await w.store.getTicket(r.fields.Ticket))!;
    assert.match(t.content, new RegExp(`^Address-Already-On: bob@people\\.test 0x${bobId}$`, 'm'));
    assert.equal(s.replies.length, 4, 'the reply and three maintainer notices');
    for (const notice of s.replies.slice(1)) assert.ok(notice.text.includes(`Address-Already-On: bob@people.test 0x${bobId}`), 'the warning line is in every notice');

    await w.send(await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    await w.send(await w.mail(bob, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    const { outcomes } = await w.applyAll();
    assert.equal(outcomes[0].state, 'applied', outcomes[0].detail);
    assert.equal(logged.length, 1);

    const g = await w.send(await w.mail(null, 'GET KEY BOB@people.test'));
    const gr = g.replies[0];
    await assertWellFormed(w, gr);
    assert.equal(gr.status, 'error');
    assert.equal(g.outcome, 'GET KEY:refused:one-key-per-address');
    assert.match(gr.text, /^Rule: one-key-per-address$/m);
    assert.ok(gr.text.includes(bob.fpr) && gr.text.includes(bob2), 'both fingerprints named');
    assert.ok(!gr.text.includes('BEGIN PGP PUBLIC KEY BLOCK'), 'no key given out');
    assert.match(flat(gr.text), /How to fix it: check with the person you want to write to which fingerprint is theirs/);
    // By fingerprint, each is still served.
    assert.deepEqual((await getKeyFingerprints(w, bob2)).fprs, [bob2]);

    const col = await w.collection();
    const wkd = await exportWkd(col, mkdtempSync(path.join(tmpdir(), 'zt-wkd-two-')));
    assert.equal(wkd.entries.find((e) => e.email === 'bob@people.test'), undefined);
    assert.deepEqual(wkd.conflicts.map((c) => c.email), ['bob@people.test']);
    const findings = (await auditCollection(col)).filter((f) => f.code === 'ADDRESS_CONFLICT');
    assert.deepEqual(findings.map((f) => [f.severity, f.subject, f.data?.keyIds?.split(' ').sort()]),
      [['warning', 'bob@people.test', [bobId, bob2.slice(-16).toLowerCase()].sort()]]);
  });

  test('SUBMIT KEY naming the bot\'s address is refused, nothing changes', async () => {
    const { w, alice, mallory, logged } = await withMallory();
    const before = await snapshot(w);
    const k = await mallory.gpg.genKey('Not The Bot <bot@ztrust.test>');
    const [pub] = await readKeysAny(await mallory.gpg.exportPublic(k));
    await mallory.gpg.importKeys((await certify(pub, [alice])).armor());
    const s = await w.send(await mallory.gpg.pgpMimeMessage(k, { from: 'x <x@people.test>', to: 'bot@ztrust.test', subject: 'key' },
      `SUBMIT KEY\n${TO_BOT}\n\n${await mallory.gpg.exportPublic(k)}`));
    assert.equal(s.outcome, 'SUBMIT KEY:refused:address-reserved');
    assert.equal(s.replies.length, 1);
    assert.equal(s.replies[0].status, 'error');
    assert.match(flat(s.replies[0].text), /Rule: address-reserved .* names bot@ztrust\.test, which is the bot's own address/);
    assert.deepEqual((await w.applyAll()).outcomes, []);
    assert.deepEqual(logged, []);
    assertUnchanged(before, await snapshot(w));
  });
});

describe('REVOKE KEY', () => {
  test('an unsigned revocation certificate of a collection key is applied at once; the same one again is refused', async () => {
    const { w, carol } = await community();
    const { privateKey } = await openpgp.revokeKey({ key: carol.key, reasonForRevocation: { flag: openpgp.enums.reasonForRevocation.keyRetired, string: 'left the group' }, format: 'object' });
    // The revocation signature alone, armoured as gpg --gen-revoke writes it (with the colon gpg puts in front).
    const revSig = privateKey.revocationSignatures[0];
    const list = new openpgp.PacketList<openpgp.SignaturePacket>();
    list.push(revSig);
    const cert = `This is a revocation certificate for the key ...\n:${openpgp.armor(openpgp.enums.armor.publicKey, list.write())}`;
    const s = await w.send(await w.mail(null, `REVOKE KEY\n\n${cert}`, { from: 'someone@people.test' }));
    const r = s.replies[0];
    assert.equal(r.status, 'accepted', r.text);
    assert.match(flat(r.text), /revocation of key 0x[0-9a-f]{16} Carol Sysprog/);
    assert.match(flat(r.text), /reason given: retired: left the group/);
    const { outcomes, notices } = await w.applyAll();
    assert.equal(outcomes[0].state, 'applied', outcomes[0].detail);
    assert.equal(notices[0].status, 'applied');
    const col = await w.collection();
    const stored = (await col.findKeys(carol.fpr))[0];
    assert.equal((await inspectKey(stored.key, { collection: [] })).revoked, true);
    assert.match(await col.git(['log', '-1', '--format=%B']), /^Revoke key 0x/);

    // The same certificate again: already in the collection.
    const again = await w.send(await w.mail(null, `REVOKE KEY\n\n${cert}`, { from: 'other@people.test' }));
    assert.match(flat(again.replies[0].text), /Rule: already-revoked/);
    assert.deepEqual(await w.store.pendingChanges(), []);
  });

  test('attack: a stolen revoked key signing with a new subkey and a copy without the revocation is still revoked', async () => {
    const { w, carol } = await community();
    const { privateKey } = await openpgp.revokeKey({ key: carol.key, reasonForRevocation: { flag: openpgp.enums.reasonForRevocation.keyCompromised, string: 'stolen' }, format: 'object' });
    const list = new openpgp.PacketList<openpgp.SignaturePacket>();
    list.push(privateKey.revocationSignatures[0]);
    const cert = `:${openpgp.armor(openpgp.enums.armor.publicKey, list.write())}`;
    await w.send(await w.mail(null, `REVOKE KEY\n\n${cert}`, { from: 'someone@people.test' }));
    await w.applyAll();
    // The thief holds Carol's (unrevoked) private key: a new signing subkey,
    // and a public copy that lacks the revocation, carried in the mail.
    const thief = await carol.key.addSubkey({ type: 'ecc', curve: 'ed25519Legacy', sign: true });
    assert.equal(thief.toPublic().revocationSignatures.length, 0);
    const s = await w.send(await w.mail(carol, `UPDATE KEY\n${TO_BOT}\n\n${thief.toPublic().armor()}`, { signWith: thief }));
    assert.equal(s.replies[0].status, 'error', s.replies[0].text);
    assert.match(flat(s.replies[0].text), /revoked/i);
    assert.deepEqual(await w.store.pendingChanges(), []);
  });

  test('sent twice before it is applied: the second is refused as a replay', async () => {
    const { w, bob } = await community();
    const { publicKey } = await openpgp.revokeKey({ key: bob.key, format: 'object' });
    const m = () => w.mail(bob, `REVOKE KEY\n\n${publicKey.armor()}`, { signing: 'inline' });
    assert.equal((await w.send(await m())).replies[0].status, 'accepted');
    const second = await w.send(await m());
    assert.match(flat(second.replies[0].text), /Rule: replay/);
    assert.equal((await w.store.pendingChanges()).length, 1);
  });

  test('refused: no certificate, a key outside the collection, a damaged certificate', async () => {
    const { w } = await community();
    assert.match(flat((await w.send(await w.mail(null, 'REVOKE KEY\n\nplease'))).replies[0].text), /Rule: revocation-unreadable/);
    const outsider = await person('Out', 'out@people.test');
    const { publicKey } = await openpgp.revokeKey({ key: outsider.key, format: 'object' });
    const r = await w.send(await w.mail(null, `REVOKE KEY\n\n${publicKey.armor()}`));
    assert.match(flat(r.replies[0].text), /Rule: not-in-collection/);
    const junk = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----\n';
    assert.match(flat((await w.send(await w.mail(null, `REVOKE KEY\n\n${junk}`))).replies[0].text), /Rule: (revocation-unreadable|not-in-collection)/);
    assert.deepEqual(await w.store.pendingChanges(), []);
  });
});
