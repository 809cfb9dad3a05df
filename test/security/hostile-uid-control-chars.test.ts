/**
 * Attack: control characters in a user ID: terminal escapes (ESC [ ... m,
 * that recolour or rewrite an operator's terminal when a file name or log
 * line is printed), BEL, NUL, DEL, and a tab. They must not reach a file
 * name, and no mail header may carry them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assertNoInjectedHeader, assertSaneFileNames, checkBotMails, submitHostile } from './hostile-uid.js';

const NAME = 'Eve\x1b[31m\x07\x7f\tRed\x1b]0;pwned\x07';

describe('security: control characters in a user ID', () => {
  test('the stored file name carries none of them', async () => {
    const { eve, opened, stored } = await submitHostile(NAME);
    assert.equal(opened.outcome, `SUBMIT KEY:pending:${opened.replies[0].fields.Ticket}`);
    assertSaneFileNames(stored, eve.key.getKeyID().toHex());
    // eslint-disable-next-line no-control-regex -- hostile input must leave no control character: matching them is the test
    for (const f of stored) assert.doesNotMatch(f, /[\x00-\x1f\x7f]/);
  });

  // On main the notices' Subject (it names the user ID) folds without leading whitespace.
  test('the reply and notices: no control character in any header, every mail reads cleanly', async () => {
    const { w, mails } = await submitHostile(NAME);
    assertNoInjectedHeader(await checkBotMails(mails, w.bot.publicArmored));
  });
});
