/**
 * Attack: a user ID built to escape the collection folder when the bot
 * derives the key file name from it: `../../etc/passwd`, and absolute and
 * backslash variants. The identity part of the file name is sanitised
 * (DESIGN.md): the key lands under pgp/ with a harmless name, and nothing
 * is written outside the collection.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { assertNoInjectedHeader, assertSaneFileNames, checkBotMails, submitHostile } from './hostile-uid.js';

const NAMES = ['../../etc/passwd', '/etc/cron.d/evil', '..\\..\\..\\windows\\evil', '../../../../tmp/zt-escaped'];

describe('security: a path-traversal user ID', () => {
  for (const name of NAMES) {
    test(`${JSON.stringify(name)}: stored under pgp/ with a sanitised name, nothing outside`, async () => {
      const { w, eve, opened, stored } = await submitHostile(name);
      assert.equal(opened.outcome, `SUBMIT KEY:pending:${opened.replies[0].fields.Ticket}`);
      assertSaneFileNames(stored, eve.key.getKeyID().toHex());
      assert.equal(existsSync(path.join(w.dir, 'etc')), false);
      assert.equal(existsSync(path.join(w.dir, '..', 'etc')), false);
      assert.equal(existsSync('/tmp/zt-escaped'), false);
    });
  }

  // On main the notices' Subject (it names the user ID) folds without leading whitespace.
  test('every mail on the way reads cleanly (Python, gpg), no injected header', async () => {
    const { w, mails } = await submitHostile(NAMES[0]);
    assertNoInjectedHeader(await checkBotMails(mails, w.bot.publicArmored));
  });
});
