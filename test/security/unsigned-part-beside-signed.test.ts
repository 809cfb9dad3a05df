/**
 * Attack: multipart/mixed with an UNSIGNED text part carrying the command
 * and, beside it, a genuine PGP/MIME part signed by a maintainer (taken
 * from any harmless mail of hers). The signature verifies, but it does not
 * cover the command: a command outside the signed text never counts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, headLines, rawMessage, sendChecked, splitMail } from './world.js';

describe('security: a command in an unsigned part beside a signed part', () => {
  for (const order of ['unsigned part first', 'signed part first'] as const) {
    test(`APPROVE in the unsigned part (${order}): refused, no vote`, async () => {
      const { w, alice, t } = await pendingTicket();
      const before = await stateOf(w);
      // Alice's real signed mail, of which only the multipart/signed entity is reused.
      const signed = splitMail(await w.mail(alice, 'Thanks for the reminder, I will look at it tomorrow.\n'));
      const signedEntity = `${signed.head.split('\r\n').filter((l) => /^(Content-Type|\s)/i.test(l)).join('\r\n')}\r\n\r\n${signed.body}`;
      const unsignedEntity = `Content-Type: text/plain; charset=us-ascii\r\n\r\nAPPROVE ${t.id}\r\n${t.digest}\r\n${TO_BOT}\r\n`;
      const b = `mix-${randomBytes(6).toString('hex')}`;
      const parts = order === 'unsigned part first' ? [unsignedEntity, signedEntity] : [signedEntity, unsignedEntity];
      const body = `--${b}\r\n${parts.join(`\r\n--${b}\r\n`)}\r\n--${b}--\r\n`;
      const raw = rawMessage(headLines('Alice Mainframe <alice@people.test>', [`Content-Type: multipart/mixed; boundary="${b}"`]), body);
      const s = await sendChecked(w, raw);
      if (order === 'unsigned part first') {
        // The signed part verifies (as a list wrapper would carry it) and holds no command.
        assertRefused(s, { outcome: 'no-command', to: 'alice@people.test', says: [/No command was found in your mail/] });
      } else {
        // A signed part first then an unsigned one is not a wrapper the verifier accepts: the mail counts as unsigned.
        assertRefused(s, {
          outcome: 'refused:unsigned', to: 'alice@people.test',
          says: [/The command APPROVE changes the collection, so it must be signed with OpenPGP/, /the message carries no OpenPGP signature/],
        });
      }
      assert.deepEqual(await w.store.getVotes(t.id), []);
      await assertUnchanged(w, before);
    });
  }
});
