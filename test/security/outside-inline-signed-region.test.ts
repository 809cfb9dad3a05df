/**
 * Attack: an inline-signed mail by a maintainer (harmless signed text)
 * with a command written OUTSIDE the cleartext signature: above the
 * `-----BEGIN PGP SIGNED MESSAGE-----` line, or after the signature block.
 * Only the text between the armour lines is signed; the rest is anyone's.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked, splitMail, rawMessage } from './world.js';

describe('security: text outside the signed region of an inline-signed mail', () => {
  for (const where of ['before the armour', 'after the signature'] as const) {
    test(`APPROVE ${where}: refused, no vote`, async () => {
      const { w, alice, t } = await pendingTicket();
      const before = await stateOf(w);
      const m = splitMail(await w.mail(alice, 'See you at the meeting.\n', { signing: 'inline' }));
      const cmd = `APPROVE ${t.id}\r\n${t.digest}\r\n${TO_BOT}\r\n`;
      const body = where === 'before the armour' ? `${cmd}\r\n${m.body}` : `${m.body.replace(/(\r\n)*$/, '\r\n')}${cmd}`;
      const s = await sendChecked(w, rawMessage(m.head.split('\r\n'), `\r\n${body}`));
      // The signed text ("See you at the meeting.") holds no command; the unsigned lines are not read as one.
      assertRefused(s, { outcome: 'no-command', to: 'alice@people.test', says: [/No command was found in your mail/] });
      assert.deepEqual(await w.store.getVotes(t.id), []);
      await assertUnchanged(w, before);
    });
  }
});
