/**
 * Attack: Mallory takes Alice's signed APPROVE (the signed part, byte for
 * byte) and sends it again in a new mail with a new Message-ID, Date and
 * From, so that de-duplication by Message-ID does not catch it. Every
 * signature used for a state-changing command is recorded; a second use is
 * refused as a replay. Against a ticket that was reset or a second ticket
 * the vote would otherwise count again.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

function remail(raw: Buffer, from: string): Buffer {
  return Buffer.from(raw.toString('latin1')
    .replace(/^Message-ID: .*$/m, `Message-ID: <${randomUUID()}@elsewhere.test>`)
    .replace(/^From: .*$/m, `From: ${from}`)
    .replace(/^Date: .*$/m, `Date: ${new Date(Date.now() + 1000).toUTCString()}`), 'latin1');
}

describe('security: the same signed APPROVE text in a new mail', () => {
  for (const signing of ['pgpmime', 'inline'] as const) {
    test(`${signing}: new Message-ID, new From: refused:replay, one vote`, async () => {
      const { w, alice, t } = await pendingTicket({ threshold: 3 });
      const raw = await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`, { signing });
      assert.equal((await sendChecked(w, raw)).outcome, `APPROVE:recorded:${t.id}`);
      const before = await stateOf(w);
      for (const from of ['Alice Mainframe <alice@people.test>', 'Mallory <mallory@elsewhere.test>']) {
        const s = await sendChecked(w, remail(raw, from));
        assertRefused(s, {
          outcome: 'refused:replay', to: from.replace(/.*<(.*)>/, '$1'),
          says: [/The signature on your APPROVE request is valid, but it cannot be used/, /this signature was already used for an earlier request \(replay\)/],
        });
      }
      assert.deepEqual((await w.store.getVotes(t.id)).map((v) => v.voter), [alice.fpr]);
      await assertUnchanged(w, before);
    });
  }
});
