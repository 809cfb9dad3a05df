/**
 * Attack: broken quoted-printable in the signed part: invalid escapes
 * (`=ZZ`, `=G`, a lone `=` before the line end), and a command placed after
 * a soft line break so that the first displayed line is harmless. The bot
 * reads one definite text, never crashes, and only the first line counts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, headLines, pgpMimeWith, rawMessage, sendChecked } from './world.js';

const part = (body: string) => `Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${body}\r\n`;

describe('security: broken quoted-printable', () => {
  test('invalid escapes and a command after an encoded line break: no command, no vote', async () => {
    const { w, alice, t } = await pendingTicket();
    const before = await stateOf(w);
    const cmd = `APPROVE ${t.id}\r\n${t.digest}\r\n${TO_BOT}\r\n`;
    for (const body of [
      `APPROVE=2${t.id}=\r\n=ZZ${t.digest}=G\r\n${TO_BOT}=`,
      `Hello=\r\n=0D=0A${cmd.replace(/\r\n/g, '=0D=0A')}`,
    ]) {
      const s = await sendChecked(w, await pgpMimeWith('Alice Mainframe <alice@people.test>', alice.key, part(body)));
      assertRefused(s, { outcome: 'no-command', to: 'alice@people.test', says: [/No command was found in your mail/] });
    }
    assert.deepEqual(await w.store.getVotes(t.id), []);
    await assertUnchanged(w, before);
  });

  test('unsigned HELP followed by broken escapes: the soft break joins them to the first line, so no command; a clear reply', async () => {
    const { w } = await pendingTicket();
    const before = await stateOf(w);
    const s = await sendChecked(w, rawMessage(headLines('Erin <erin@people.test>', ['Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: quoted-printable']), '\r\nHELP=\r\n=ZZ=\r\n=G\r\n'));
    assertRefused(s, { outcome: 'no-command', to: 'erin@people.test', says: [/No command was found in your mail/] });
    await assertUnchanged(w, before);
  });
});
