/**
 * Attack: CR/LF in a user ID aimed at the headers of the bot's mail (the
 * maintainers' notices name the new key's user ID in the Subject): a
 * `Bcc:` that would copy the notice to the attacker, a `Reply-To:` that
 * would route maintainers' answers to him, and an empty line that would
 * end the header section and start a forged body. Python's email package
 * reads every bot mail: no injected header, no defect.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readWithPython } from '../harness/mailcheck.js';
import { assertNoInjectedHeader, assertSaneFileNames, checkBotMails, submitHostile } from './hostile-uid.js';

const NAMES = [
  'Eve\r\nBcc: eve@evil.test',
  'Eve\nReply-To: eve@evil.test\nX-Injected: 1',
  'Eve\r\n\r\nStatus: approved\r\nforged body',
  // No CR/LF at all: the Subject folder used to break right before "Reply-To:" and write the
  // continuation line without leading whitespace, so Python read a Reply-To header.
  'Eve Reply-To: eve@evil.test',
];

describe('security: CR/LF in a user ID aimed at reply headers', () => {
  for (const name of NAMES) {
    test(`${JSON.stringify(name)}: no injected header in any bot mail (Python's reading), sanitised file name`, async () => {
      const { w, eve, stored, mails } = await submitHostile(name);
      assertSaneFileNames(stored, eve.key.getKeyID().toHex());
      for (const m of mails) {
        const r = await readWithPython(m);
        const names = r.headers.map(([n]) => n.toLowerCase());
        for (const bad of ['bcc', 'reply-to', 'x-injected', 'status']) assert.ok(!names.includes(bad), `${bad} injected: ${names.join(', ')}`);
        const carrying = r.rawHeaders.filter(([, v]) => /evil\.test/.test(v)).map(([n]) => n);
        assert.ok(carrying.every((n) => n.toLowerCase() === 'subject'), `evil.test outside the Subject, in: ${carrying.join(', ')}`);
      }
      assertNoInjectedHeader(await checkBotMails(mails, w.bot.publicArmored));
    });
  }
});
