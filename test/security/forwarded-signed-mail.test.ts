/**
 * Attack: Mallory forwards (as an attached message/rfc822) a genuine,
 * bound, signed APPROVE of Alice's that never reached the bot (say, sent to
 * a list by mistake). The signature inside is Alice's and valid, but a
 * forwarded message is the forwarded author's words, not a request of the
 * sender's: it never authorises a command.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, headLines, rawMessage, sendChecked } from './world.js';

describe('security: a forwarded signed mail of someone else', () => {
  for (const signing of ['pgpmime', 'inline'] as const) {
    test(`Alice's ${signing} APPROVE forwarded as message/rfc822 by Mallory: refused, no vote`, async () => {
      const { w, alice, t } = await pendingTicket();
      const before = await stateOf(w);
      const inner = (await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`, { signing })).toString('latin1');
      const b = `fwd-${randomBytes(6).toString('hex')}`;
      const body = `--${b}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nFYI, see Alice's approval below.\r\n` +
        `--${b}\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n${inner}\r\n--${b}--\r\n`;
      const s = await sendChecked(w, rawMessage(headLines('Mallory <mallory@elsewhere.test>', [`Content-Type: multipart/mixed; boundary="${b}"`]), body));
      if (signing === 'pgpmime') {
        assertRefused(s, { outcome: 'no-command', to: 'mallory@elsewhere.test', says: [/No command was found in your mail/] });
      } else {
        // The inline signature inside the forwarded message verifies, but it is not the sender's: refused as unsigned.
        assertRefused(s, {
          outcome: 'refused:good', to: 'mallory@elsewhere.test',
          says: [/The command APPROVE changes the collection, so it must be signed with OpenPGP, and the signature on your mail could not be accepted/],
        });
      }
      assert.deepEqual(await w.store.getVotes(t.id), []);
      await assertUnchanged(w, before);
    });
  }
});
