/**
 * Attack: a member adds another member's name and address to her own key
 * (gpg --quick-add-uid) and sends it with UPDATE KEY, so that GET KEY and
 * the Web Key Directory would hand out her key for his address. Refused:
 * one address belongs to one key. Nothing changes anywhere.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flat } from '../unit/commands-world.js';
import { assertUnchanged, assertWellFormed, getKeyFingerprints, snapshot, withMallory } from './uid-claim-world.js';

describe('UPDATE KEY claiming another member\'s address', () => {
  for (const uid of ['Bob Volunteer <bob@people.test>', 'Bob V. <  BOB@People.TEST >']) {
    test(`refused: "${uid}"`, async () => {
      const { w, bob, mallory, logged } = await withMallory();
      const before = await snapshot(w);
      const wkdBefore = await getKeyFingerprints(w, 'bob@people.test');
      assert.deepEqual(wkdBefore.fprs, [bob.fpr]);

      await mallory.addUid(uid);
      const s = await w.send(await mallory.updateKeyMail());
      assert.equal(s.outcome, 'UPDATE KEY:refused:address-taken');
      assert.equal(s.replies.length, 1, 'only the reply: no maintainer notice');
      const r = s.replies[0];
      assert.equal(r.status, 'error');
      await assertWellFormed(w, r);
      const text = flat(r.text);
      assert.match(text, /Your UPDATE KEY request was refused\. Nothing was changed\./);
      assert.match(text, /Rule: address-taken/);
      assert.ok(text.includes(`names bob@people.test, an address that collection key 0x${bob.fpr.slice(-16).toLowerCase()} ("Bob Volunteer <bob@people.test>") already holds`), text);
      assert.match(text, /One address belongs to one key/);
      assert.match(text, new RegExp(`How to fix it: leave that user ID out of the key you send \\(gpg --edit-key ${mallory.fpr},`));
      assert.match(text, /If the other key holds your address wrongly, ask a maintainer\./);

      const { outcomes } = await w.applyAll();
      assert.deepEqual(outcomes, [], 'nothing to apply');
      assert.deepEqual(logged, [], 'no log entry');
      assertUnchanged(before, await snapshot(w));
      const after = await getKeyFingerprints(w, 'bob@people.test');
      assert.equal(after.status, 'found');
      assert.deepEqual(after.fprs, [bob.fpr], 'GET KEY still gives only Bob\'s key');
    });
  }
});
