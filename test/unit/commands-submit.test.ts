/**
 * SUBMIT KEY through the real Dispatcher: proof of possession, the admission
 * policy, stranger certifications stripped and listed, the ticket (content,
 * digest) and the signed notices to every maintainer; and every way it is
 * refused, each naming the rule and the fix.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { readKeysAny } from '../../src/pgp/inspect.js';
import { ticketDigest, unframeContent } from '../../src/tickets/ticket.js';
import { certify, community, flat, newcomer, person, TO_BOT } from './commands-world.js';

const issuers = async (armored: string) => {
  const [k] = await readKeysAny(armored);
  return k.users.flatMap((u) => u.otherCertifications.map((s) => s.issuerKeyID.toHex().toLowerCase())).sort();
};
const keyId = (p: { fpr: string }) => p.fpr.slice(-16).toLowerCase();

describe('SUBMIT KEY', () => {
  test('PGP/MIME, key in the signed text: a ticket, stranger certification stripped, every maintainer told', async () => {
    const { w, alice, bob, carol, stranger } = await community();
    const dave = await newcomer('Dave Newcomer', 'dave@people.test', [alice, bob, stranger]);
    const s = await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\nHello bot, here is my key.\n\n${dave.certified.armor()}\n`));
    assert.equal(s.outcome, 'SUBMIT KEY:pending:ZT-000001');
    const [reply, ...notices] = s.replies;
    assert.deepEqual(reply.to, ['dave@people.test']);
    assert.equal(reply.status, 'pending');
    assert.equal(reply.fields.Ticket, 'ZT-000001');
    const t = (await w.store.getTicket('ZT-000001'))!;
    assert.equal(t.state, 'pending');
    assert.equal(t.submitter, dave.fpr);
    assert.equal(t.subject, dave.fpr);
    assert.equal(t.requester, 'dave@people.test');
    assert.equal(reply.fields['Ticket-Digest'], t.digest);
    assert.equal(ticketDigest(t.content), t.digest);
    assert.match(flat(reply.text), /Removed before storage/);
    assert.ok(reply.text.includes(keyId(stranger)), 'the stripped certification is listed');
    assert.match(flat(reply.text), /made by a key outside the collection/);

    // The content holds the stripped key: the two collection certifications, not the stranger's.
    const payload = JSON.parse(t.payload) as { armored: string };
    assert.deepEqual(await issuers(payload.armored), [keyId(alice), keyId(bob)].sort());
    assert.ok(t.content.includes(payload.armored.trim().split('\n')[2]), 'the content shows the armoured key');
    assert.match(t.content, /^Stripped: [0-9a-f]{16} \(made by a key outside the collection\)$/m);

    // One signed notice per maintainer, to the address on their collection key, with the digest and copy-paste lines (bound to the bot).
    assert.deepEqual(notices.map((n) => n.to[0]).sort(), ['alice@people.test', 'bob@people.test', 'carol@people.test']);
    for (const n of notices) {
      assert.equal(n.status, 'pending');
      assert.equal(n.fields['Ticket-Digest'], t.digest);
      assert.ok(n.text.includes(`  APPROVE ZT-000001\n  ${t.digest}\n  ${TO_BOT}\n`), n.text);
      assert.ok(n.text.includes(`  REJECT ZT-000001\n  ${t.digest}\n  ${TO_BOT}\n`));
      const framed = unframeContent(n.text)!;
      assert.equal(framed, t.content, 'the mail shows exactly the content the digest covers');
      assert.equal(ticketDigest(framed), t.digest);
      assert.equal(n.row.kind, 'notice');
      assert.match(n.row.raw.toString(), /^Auto-Submitted: auto-generated\r$/m);
    }
    void carol;
  });

  test('inline-signed with the key in the text, and PGP/MIME with the key attached, both open tickets', async () => {
    const { w, alice, bob } = await community();
    const erin = await newcomer('Erin Inline', 'erin@people.test', [alice]);
    const s1 = await w.send(await w.mail(erin, `SUBMIT KEY\n${TO_BOT}\n${erin.certified.armor()}`, { signing: 'inline' }));
    assert.equal(s1.replies[0].status, 'pending', s1.replies[0].text);
    const frank = await newcomer('Frank Attach', 'frank@people.test', [bob]);
    const s2 = await w.send(await w.mail(frank, `SUBMIT KEY\n${TO_BOT}\n\nmy key is attached\n`, {
      attachments: [{ filename: 'frank.asc', contentType: 'application/pgp-keys', content: frank.certified.armor() }],
    }));
    assert.equal(s2.replies[0].status, 'pending', s2.replies[0].text);
    assert.equal(s2.replies[0].fields.Ticket, 'ZT-000002');
    assert.deepEqual((await w.store.listTickets()).map((t) => t.subject).sort(), [erin.fpr, frank.fpr].sort());
  });

  test('refused when the mail is not signed by the submitted key (proof of possession)', async () => {
    const { w, alice, bob } = await community();
    const dave = await newcomer('Dave', 'dave@people.test', [alice, bob]);
    // Alice (a collection key) sends Dave's key: she cannot prove she holds it.
    const s = await w.send(await w.mail(alice, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
    assert.equal(s.replies[0].status, 'error');
    assert.match(flat(s.replies[0].text), /Rule: proof-of-possession/);
    assert.match(flat(s.replies[0].text), /How to fix it: sign the SUBMIT KEY mail with the key you submit/);
    assert.equal(s.replies.length, 1, 'no maintainer is bothered');
    assert.deepEqual(await w.store.listTickets(), []);
    // A stranger signing with their own key while carrying Dave's: the signature is checked (nokey for the
    // stranger), never taken as Dave's.
    const mallory = await person('Mallory', 'mallory@people.test');
    const s2 = await w.send(await w.mail(mallory, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
    assert.equal(s2.replies[0].status, 'error');
    assert.equal(s2.outcome, 'refused:nokey');
  });

  test('refused unsigned, and with a tampered signature', async () => {
    const { w, alice } = await community();
    const dave = await newcomer('Dave', 'dave@people.test', [alice]);
    const s = await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`, { signing: 'none' }));
    assert.equal(s.replies[0].status, 'error');
    assert.match(flat(s.replies[0].text), /must be signed/);
    const good = (await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`, { signing: 'inline' })).toString('latin1');
    const s2 = await w.send(Buffer.from(good.replace('SUBMIT KEY', 'submit key'), 'latin1'));
    assert.equal(s2.outcome, 'refused:bad');
    assert.deepEqual(await w.store.listTickets(), []);
  });

  test('refused without enough certifications by collection keys: the rule, how many, and the fix', async () => {
    const { w, stranger } = await community({ config: { policy: { minCertifications: 2 } } });
    const { alice } = { alice: (await community()).alice }; // a key from another community: outside this collection
    const gina = await newcomer('Gina', 'gina@people.test', [stranger, alice]);
    const s = await w.send(await w.mail(gina, `SUBMIT KEY\n${TO_BOT}\n\n${gina.certified.armor()}`));
    const r = s.replies[0];
    assert.equal(r.status, 'error');
    assert.match(flat(r.text), /Rule: min-certifications/);
    assert.match(flat(r.text), /0 valid certifications by other collection keys; 2 are required/);
    assert.match(flat(r.text), /2 certifications by keys outside the collection do not count/);
    assert.match(flat(r.text), /gpg --quick-sign-key/);
  });

  test('refused: already pending, already in the collection, no key, two keys, a secret key, too many user IDs', async () => {
    const { w, alice, bob } = await community({ config: { limits: { maxUserIds: 2 } } });
    const dave = await newcomer('Dave', 'dave@people.test', [alice]);
    await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
    const again = await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
    assert.match(flat(again.replies[0].text), /Rule: already-pending/);
    assert.match(flat(again.replies[0].text), /STATUS ZT-000001/);

    const inCol = await w.send(await w.mail(bob, `SUBMIT KEY\n${TO_BOT}\n\n${bob.pub.armor()}`));
    assert.match(flat(inCol.replies[0].text), /Rule: already-in-collection/);
    assert.match(flat(inCol.replies[0].text), /UPDATE KEY/);

    const none = await w.send(await w.mail(alice, `SUBMIT KEY\n${TO_BOT}\n\nforgot it\n`));
    assert.match(flat(none.replies[0].text), /Rule: no-key/);

    const erin = await newcomer('Erin', 'erin@people.test', [alice]);
    const two = await w.send(await w.mail(erin, `SUBMIT KEY\n${TO_BOT}\n\n${erin.certified.armor()}\n${dave.certified.armor()}`));
    assert.match(flat(two.replies[0].text), /Rule: one-key/);

    const secret = await w.send(await w.mail(erin, `SUBMIT KEY\n${TO_BOT}\n\n${erin.key.armor()}`));
    assert.match(flat(secret.replies[0].text), /Rule: private-key/);
    assert.match(flat(secret.replies[0].text), /SECRET key/);

    const { privateKey } = await openpgp.generateKey({
      type: 'ecc', curve: 'ed25519Legacy', format: 'object', config: { v6Keys: false },
      userIDs: [{ name: 'Many', email: 'm1@people.test' }, { name: 'Many', email: 'm2@people.test' }, { name: 'Many', email: 'm3@people.test' }],
    });
    const many = await certify(privateKey.toPublic(), [alice]);
    const s = await w.send(await w.mail({ name: 'Many', email: 'm1@people.test', key: privateKey, fpr: '', pub: many }, `SUBMIT KEY\n${TO_BOT}\n\n${many.armor()}`));
    assert.match(flat(s.replies[0].text), /Rule: limit-user-ids/);
    assert.deepEqual((await w.store.listTickets()).map((t) => t.id), ['ZT-000001']);
  });

  test('a maintainer whose key is not in the collection is named in the reply', async () => {
    const ghost = 'F'.repeat(40);
    const { w, alice } = await community({ maintainers: (ps) => [...ps.map((p) => p.fpr), ghost] });
    const dave = await newcomer('Dave', 'dave@people.test', [alice]);
    const s = await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
    assert.equal(s.replies[0].status, 'pending');
    assert.match(flat(s.replies[0].text), new RegExp(`Maintainer key ${ghost} was not told about the ticket: its key is not in the collection`));
    assert.equal(s.replies.length, 4, 'the reply and three notices');
  });
});
