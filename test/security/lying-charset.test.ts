/**
 * Attack: unknown and lying charsets on the signed part: ASCII bytes
 * declared as UTF-16LE, as EBCDIC (IBM037, which mainframe users do
 * meet), and as a charset nobody knows. The bot must read one definite
 * text, never crash, and reply with a Status line.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, headLines, pgpMimeWith, rawMessage, sendChecked } from './world.js';

const part = (charset: string, body: string) => `Content-Type: text/plain; charset=${charset}\r\n\r\n${body}`;

describe('security: unknown and lying charsets', () => {
  test('signed APPROVE in ASCII declared UTF-16LE: decoded as declared, no command, no vote', async () => {
    const { w, alice, t } = await pendingTicket();
    const before = await stateOf(w);
    const s = await sendChecked(w, await pgpMimeWith('Alice Mainframe <alice@people.test>', alice.key, part('utf-16le', `APPROVE ${t.id}\r\n${t.digest}\r\n${TO_BOT}\r\n`)));
    assertRefused(s, { outcome: 'no-command', to: 'alice@people.test', says: [/No command was found in your mail/] });
    assert.deepEqual(await w.store.getVotes(t.id), []);
    await assertUnchanged(w, before);
  });

  test('signed APPROVE under a charset nobody knows: not guessed, no vote, the sender is told to use UTF-8', async () => {
    const { w, alice, t } = await pendingTicket();
    const before = await stateOf(w);
    const s = await sendChecked(w, await pgpMimeWith('Alice Mainframe <alice@people.test>', alice.key, part('x-klingon-2000', `APPROVE ${t.id}\r\n${t.digest}\r\n${TO_BOT}\r\n`)));
    assertRefused(s, { outcome: 'refused:good', to: 'alice@people.test', says: [/declared as charset x-klingon-2000, which the bot cannot decode \(send it as UTF-8\)/] });
    assert.deepEqual(await w.store.getVotes(t.id), []);
    await assertUnchanged(w, before);
  });

  // The bytes say "APPROVE ..." only in ASCII; a client that honours IBM037 shows the signer
  // other text ("&&|..."). The bot never guesses a charset it cannot decode.
  test('signed APPROVE in ASCII bytes declared IBM037 (EBCDIC) is not read as ASCII: no vote', async () => {
    const { w, alice, t } = await pendingTicket();
    const before = await stateOf(w);
    const s = await sendChecked(w, await pgpMimeWith('Alice Mainframe <alice@people.test>', alice.key, part('ibm037', `APPROVE ${t.id}\r\n${t.digest}\r\n${TO_BOT}\r\n`)));
    assert.equal(s.replies[0].status, 'error');
    assert.deepEqual(await w.store.getVotes(t.id), []);
    await assertUnchanged(w, before);
  });

  test('unsigned HELP under unknown and lying charsets: a Status reply each, nothing changes', async () => {
    const { w } = await pendingTicket();
    const before = await stateOf(w);
    for (const [charset, outcome, status] of [
      ['x-klingon-2000', 'help', 'found'], ['ibm037', 'help', 'found'], ['utf-7', 'help', 'found'],
      // Decoded as declared: "HELP\r\n" in UTF-16LE is two CJK characters, not a command.
      ['utf-16le', 'no-command', 'error'],
    ] as const) {
      const s = await sendChecked(w, rawMessage(headLines('Erin <erin@people.test>', [`Content-Type: text/plain; charset=${charset}`]), '\r\nHELP\r\n'));
      assert.equal(s.outcome, outcome, charset);
      assert.equal(s.replies.length, 1);
      assert.equal(s.replies[0].status, status);
    }
    await assertUnchanged(w, before);
  });
});
