/**
 * The read-only commands through the real Dispatcher, signed or not:
 * STATUS (state, votes, the apply result) and GET KEY (the stored key,
 * armoured intact in a signed reply that also verifies inline-signed).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { readKeysAny } from '../../src/pgp/inspect.js';
import { community, flat, newcomer, TO_BOT } from './commands-world.js';

describe('STATUS', () => {
  test('pending with a vote, then applied; unknown and malformed ids', async () => {
    const { w, alice, bob } = await community();
    const dave = await newcomer('Dave', 'dave@people.test', [alice]);
    const opened = await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
    const id = opened.replies[0].fields.Ticket;
    await w.send(await w.mail(alice, `APPROVE ${id} ${opened.replies[0].fields['Ticket-Digest']}\n${TO_BOT}`));

    const s = await w.send(await w.mail(null, `STATUS ${id.toLowerCase()}`));
    const r = s.replies[0];
    assert.equal(r.status, 'found');
    assert.equal(r.fields.Ticket, id);
    assert.equal(r.fields['Ticket-State'], 'pending');
    assert.equal(r.fields['Ticket-Digest'], opened.replies[0].fields['Ticket-Digest']);
    assert.match(flat(r.text), /Approvals: 1 of 2 needed/);
    assert.ok(flat(r.text).includes(`approved by ${alice.fpr}`));
    assert.match(flat(r.text), /new key [0-9A-F]{40} \(Dave <dave@people\.test>\)/);

    await w.send(await w.mail(bob, `APPROVE ${id} ${opened.replies[0].fields['Ticket-Digest']}\n${TO_BOT}`));
    w.logAppend = async () => 12;
    await w.applyAll();
    const done = (await w.send(await w.mail(dave, `STATUS ${id}`))).replies[0];
    assert.equal(done.fields['Ticket-State'], 'applied');
    assert.match(flat(done.text), /Applied in collection commit [0-9a-f]{40}, log index 12\./);

    const none = (await w.send(await w.mail(null, 'STATUS ZT-000777'))).replies[0];
    assert.equal(none.status, 'not-found');
    const bad = (await w.send(await w.mail(null, 'STATUS please'))).replies[0];
    assert.equal(bad.status, 'error');
    assert.match(flat(bad.text), /Ticket ids look like ZT-000042/);
  });
});

describe('GET KEY', () => {
  test('by fingerprint, key id and address; the armour in the reply imports as the stored key', async () => {
    const { w, carol } = await community({ config: { replies: { signing: 'inline' } } });
    const col = await w.collection();
    const stored = (await col.findKeys(carol.fpr))[0];
    for (const q of [carol.fpr, `0x${carol.fpr.slice(-16).toLowerCase()}`, 'CAROL@people.test', `<${carol.email}>`]) {
      const r = (await w.send(await w.mail(null, `GET KEY ${q}`))).replies[0];
      assert.equal(r.status, 'found', q);
      assert.ok(r.text.includes(`Fingerprint: ${carol.fpr}`));
      const block = /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/.exec(r.text)![0];
      const [k] = await readKeysAny(block);
      assert.ok(Buffer.from(k.write()).equals(Buffer.from(stored.key.write())), 'the same key, certifications included');
    }
    const revokedNote = (await w.send(await w.mail(null, `GET KEY ${carol.email}`))).replies[0];
    assert.ok(!/REVOKED/.test(revokedNote.text));
  });

  test('not found, and nothing asked', async () => {
    const { w } = await community();
    const r = (await w.send(await w.mail(null, 'GET KEY nobody@nowhere.test'))).replies[0];
    assert.equal(r.status, 'not-found');
    assert.match(flat(r.text), /holds no key for nobody@nowhere\.test/);
    const e = (await w.send(await w.mail(null, 'GET KEY'))).replies[0];
    assert.equal(e.status, 'not-found');
    const x = (await w.send(await w.mail(null, 'GET KEY ../../etc/passwd'))).replies[0];
    assert.equal(x.status, 'not-found');
  });

  test('a revoked key is marked as such', async () => {
    const { w, bob } = await community();
    const { publicKey } = await openpgp.revokeKey({ key: bob.key, format: 'object' });
    await w.send(await w.mail(null, `REVOKE KEY\n\n${publicKey.armor()}`));
    await w.applyAll();
    const r = (await w.send(await w.mail(null, `GET KEY ${bob.fpr}`))).replies[0];
    assert.match(r.text, /This key is REVOKED/);
  });
});
