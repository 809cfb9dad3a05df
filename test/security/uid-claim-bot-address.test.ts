/**
 * Attack: a member adds the bot's own address (or a list's posting address)
 * to her key and sends it with UPDATE KEY, so that GET KEY and the Web Key
 * Directory would hand out her key for mail meant for the bot or the list.
 * Refused: those addresses are never a member's. Nothing changes anywhere.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flat } from '../unit/commands-world.js';
import { assertUnchanged, assertWellFormed, getKeyFingerprints, snapshot, withMallory } from './uid-claim-world.js';

const LIST = { listId: 'linux-390.lists.test', address: 'LINUX-390@lists.test' };

describe('UPDATE KEY claiming the bot\'s or a list\'s address', () => {
  for (const [uid, address, owner] of [
    ['ztrust-bot <bot@ztrust.test>', 'bot@ztrust.test', 'the bot\'s own address'],
    ['Bot <Bot@ZTRUST.test>', 'bot@ztrust.test', 'the bot\'s own address'],
    ['LINUX-390 list <linux-390@lists.test>', 'linux-390@lists.test', `the posting address of the list ${LIST.listId}`],
  ] as const) {
    test(`refused: "${uid}"`, async () => {
      const { w, mallory, logged } = await withMallory({ config: { lists: [LIST] } });
      const before = await snapshot(w);
      await mallory.addUid(uid);
      const s = await w.send(await mallory.updateKeyMail());
      assert.equal(s.outcome, 'UPDATE KEY:refused:address-reserved');
      assert.equal(s.replies.length, 1);
      const r = s.replies[0];
      assert.equal(r.status, 'error');
      await assertWellFormed(w, r);
      const text = flat(r.text);
      assert.match(text, /Rule: address-reserved/);
      assert.ok(text.includes(`names ${address}, which is ${owner}.`), text);
      assert.match(text, /How to fix it: leave that user ID out of the key you send/);
      assert.match(text, /No member's key may carry the bot's own address or a list's address\./);

      const { outcomes } = await w.applyAll();
      assert.deepEqual(outcomes, []);
      assert.deepEqual(logged, [], 'no log entry');
      assertUnchanged(before, await snapshot(w));
      const got = await getKeyFingerprints(w, address);
      assert.equal(got.status, 'not-found', 'GET KEY knows no key for that address');
    });
  }
});
