/**
 * Attack: a signature dated more than the allowed clock skew (5 minutes)
 * in the future: pre-signed requests meant to be sent later, or a signer's
 * clock set forward to outlive the age window. Refused, nothing changes.
 */
import { describe, test } from 'node:test';
import { pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, headLines, rawMessage, sendChecked, signInlineAt } from './world.js';

describe('security: a signature dated in the future', () => {
  test('APPROVE signed 10 minutes ahead: refused, no vote', async () => {
    const { w, alice, t } = await pendingTicket();
    const before = await stateOf(w);
    const body = await signInlineAt(alice.key, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`, new Date(Date.now() + 10 * 60_000));
    const s = await sendChecked(w, rawMessage(headLines('Alice Mainframe <alice@people.test>', ['Content-Type: text/plain; charset=us-ascii']), `\n${body}`));
    // openpgp.js itself refuses a signature newer than the verification time (now + the allowed skew).
    assertRefused(s, {
      outcome: 'refused:bad', to: 'alice@people.test',
      says: [/The command APPROVE changes the collection, so it must be signed/, new RegExp(`the signature by ${alice.fpr} is dated in the future`)],
    });
    await assertUnchanged(w, before);
  });
});
