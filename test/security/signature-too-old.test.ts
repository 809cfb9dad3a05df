/**
 * Attack: an old signed request (8 days, beyond the 7-day window for
 * state-changing commands) dug out of an archive and sent now. A genuine
 * but stale signature must not change the collection.
 */
import { describe, test } from 'node:test';
import { certify, community, newcomer, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, headLines, oldPerson, rawMessage, sendChecked, signInlineAt } from './world.js';

describe('security: a signature older than the 7-day window', () => {
  test('APPROVE and ATTEST signed 8 days ago by a maintainer: refused:signature-time, no vote, nothing logged', async () => {
    // Olga's key is 30 days old, so it was valid when it signed 8 days ago.
    const olga = await oldPerson('Olga', 'olga@people.test', 30);
    const { w, alice, bob } = await community({ maintainers: (ps) => [...ps.map((p) => p.fpr), olga.fpr] });
    await w.seed([await certify(olga.pub, [alice, bob])]);
    const dave = await newcomer('Dave', 'dave@people.test', [alice, bob]);
    const opened = await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
    const t = (await w.store.getTicket(opened.replies[0].fields.Ticket))!;
    const before = await stateOf(w);
    for (const [cmd, text] of [['APPROVE', `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`], ['ATTEST', `ATTEST\n${TO_BOT}\n${'ab'.repeat(32)}  old.tar\n`]] as const) {
      const body = await signInlineAt(olga.key, text, new Date(Date.now() - 8 * 86400_000));
      const s = await sendChecked(w, rawMessage(headLines('Olga <olga@people.test>', ['Content-Type: text/plain; charset=us-ascii']), `\n${body}`));
      assertRefused(s, {
        outcome: 'refused:signature-time', to: 'olga@people.test',
        says: [new RegExp(`The signature on your ${cmd} request is valid, but it cannot be used for a command that changes the collection`),
          /the signature is 19[23] h old; state-changing commands must be signed within 168 h/],
      });
    }
    await assertUnchanged(w, before);
  });
});
