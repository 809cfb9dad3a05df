/**
 * Attack: certifications by keys outside the collection ride in on a
 * source-signing key (the flooding of CVE-2019-13050, or a stranger's
 * "endorsement" that readers might take for the community's). The key
 * needs no community certification, but what it carries is stripped as for
 * members: the ticket lists what was removed, and the file that lands in
 * pgp/for-source/ holds only the member's certification.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { certify, community, flat, person, TO_BOT } from '../unit/commands-world.js';
import { sendChecked } from './world.js';

describe('security: outside certifications on a source-signing key', () => {
  test('stripped before the ticket; the stored copy carries only collection certifications', async () => {
    const { w, alice, bob, carol, stranger } = await community();
    const djm = await person('Damien Miller', 'djm@mindrot.org');
    const carried = await certify(djm.pub, [stranger, alice]);
    const s = await sendChecked(w, await w.mail(bob, `SUBMIT SOURCE KEY openssh-9.8p1\n${TO_BOT}\n\n${carried.armor()}`));
    const reply = s.replies[0];
    assert.equal(reply.status, 'pending', reply.text);
    const sid = stranger.fpr.slice(-16).toLowerCase();
    assert.match(flat(reply.text).toLowerCase(), new RegExp(`removed before storage[\\s\\S]*${sid}`));
    for (const m of [alice, carol]) {
      const v = await w.send(await w.mail(m, `APPROVE ${reply.fields.Ticket}\n${reply.fields['Ticket-Digest']}\n${TO_BOT}`));
      assert.match(v.replies[0].status, /^(pending|approved)$/);
    }
    assert.deepEqual((await w.applyAll()).outcomes.map((o) => o.state), ['applied']);
    const file = path.join(w.cfg.dataDir, 'collection', 'pgp', 'for-source', `0x${djm.fpr.slice(-16).toLowerCase()}-djm@mindrot.org-signing.asc`);
    const stored = await openpgp.readKey({ armoredKey: readFileSync(file, 'utf8') });
    const issuers = stored.users.flatMap((u) => u.otherCertifications.map((c) => c.issuerKeyID.toHex()));
    assert.deepEqual(issuers, [alice.fpr.slice(-16).toLowerCase()], 'only the member\'s certification is kept');
  });
});
