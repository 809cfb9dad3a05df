/**
 * Attack: replace an upstream source-signing key through UPDATE KEY. The
 * command takes a newer copy from anyone and merges it into the stored
 * key, so a copy whose primary key is not the stored one must never reach
 * pgp/for-source/: VERIFY and verify-source would then vouch for the
 * attacker's signatures on the upstream's releases. The attacker (a
 * gpg-made key carrying the upstream's user ID, signing the mail with
 * itself) sends it alone, then beside the genuine copy in one block. Both
 * are refused by rule and nothing changes: no commit, no log entry, no
 * queued change, no ticket, the file byte for byte as it was.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stateOf, TO_BOT } from '../unit/commands-world.js';
import { fileOf, gpgPerson, sourceKeyWorld } from '../unit/source-keys-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: UPDATE KEY with another primary key for a source-signing key', () => {
  test('the look-alike key alone, and beside the genuine copy: refused by rule; nothing changes', async () => {
    const { w, svc, gpg, fpr, file } = await sourceKeyWorld();
    try {
      // The same user ID as the upstream's key, made by the attacker.
      const fakeFpr = await gpg.genKey('Upstream Release Signing <release@upstream.example>', { algo: 'ed25519', encryptSubkey: false });
      const mallory = await gpgPerson(gpg, fakeFpr, 'Upstream Release Signing', 'release@upstream.example');
      const fake = await gpg.exportPublic(fakeFpr);
      const genuine = await gpg.exportPublic(fpr);
      const keep = await fileOf(w, file);
      const size = svc.size();
      const before = await stateOf(w);

      const alone = await sendChecked(w, await w.mail(mallory, `UPDATE KEY\n${TO_BOT}\n\n${fake}`));
      assertRefused(alone, { outcome: 'UPDATE KEY:refused:not-in-collection', to: 'release@upstream.example', says: [new RegExp(`key ${fakeFpr} is not in the collection`)] });
      await assertUnchanged(w, before);

      const both = await sendChecked(w, await w.mail(mallory, `UPDATE KEY\n${TO_BOT}\n\n${genuine}\n${fake}`));
      assertRefused(both, { outcome: 'UPDATE KEY:refused:one-key', to: 'release@upstream.example', says: [new RegExp(`0x${fakeFpr.slice(-16).toLowerCase()}`)] });
      await assertUnchanged(w, before);

      assert.equal(await fileOf(w, file), keep, 'the source key file is untouched');
      assert.equal(svc.size(), size, 'no log entry');
      assert.deepEqual(await w.store.listTickets().then((ts) => ts.filter((t) => t.state === 'pending')), []);
    } finally {
      await svc.close();
      await gpg.cleanup();
    }
  });
});
