/**
 * Attack: a state-changing command with no signature at all, under a
 * maintainer's or member's From: address. Commands that change the
 * collection are read only from verified signed text; unsigned text may
 * only carry read-only commands.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { newcomer, pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('security: unsigned state-changing commands', () => {
  test('SUBMIT KEY, APPROVE and ATTEST without a signature: refused:unsigned, nothing changes', async () => {
    const { w, alice, bob, t } = await pendingTicket();
    const erin = await newcomer('Erin', 'erin@people.test', [alice, bob]);
    const before = await stateOf(w);
    for (const [cmd, text] of [
      ['SUBMIT KEY', `SUBMIT KEY\n${TO_BOT}\n\n${erin.certified.armor()}`],
      ['APPROVE', `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`],
      ['ATTEST', `ATTEST\n${TO_BOT}\n${sha256('zos-utils-1.2.tar')}  zos-utils-1.2.tar\n`],
    ] as const) {
      const s = await sendChecked(w, await w.mail(null, text, { signing: 'none', from: 'Alice Mainframe <alice@people.test>' }));
      assertRefused(s, {
        outcome: 'refused:unsigned', to: 'alice@people.test',
        says: [new RegExp(`The command ${cmd} changes the collection, so it must be signed with OpenPGP`), /Nothing was changed/],
      });
      assert.equal(s.replies[0].fields.Ticket, undefined);
    }
    assert.deepEqual((await w.store.getVotes(t.id)), []);
    await assertUnchanged(w, before);
  });
});
