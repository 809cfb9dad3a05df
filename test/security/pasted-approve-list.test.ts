/**
 * Attack: a maintainer posts to a mailing list, signed, and pastes the
 * notice's copy-paste APPROVE lines below other text ("this is what the bot
 * sent us, what do you think?"). The list delivers her signed post to the
 * bot, or anyone re-sends it to the bot. It was never a command to the bot:
 * its first signed line is prose. It must not count as her approval.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pendingTicket, stateOf, TO_BOT, type Person, type World } from '../unit/commands-world.js';

/** Alice's signed list post: prose first, then the notice's lines pasted as they are. */
function post(w: World, alice: Person, t: { id: string; digest: string }, from?: string): Promise<Buffer> {
  const text = [
    'Hi all,',
    '',
    'the bot asks us to review a new key. Does anyone know Dave? The',
    'notice says to approve we would send:',
    '',
    `  APPROVE ${t.id}`,
    `  ${t.digest}`,
    `  ${TO_BOT}`,
    '',
    'I am not sure yet.',
    '',
    'Alice',
  ].join('\n');
  return w.mail(alice, text, { subject: 'Dave\'s key?', ...(from ? { from } : {}) });
}

/** The copy the list delivers: the signed post with the list's headers added outside the signature. */
function viaList(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace('MIME-Version: 1.0\r\n',
    'List-Id: LINUX-390 <linux-390.lists.test>\r\nPrecedence: list\r\nMIME-Version: 1.0\r\n'), 'latin1');
}

describe('security: a signed list post that pastes the notice lines', () => {
  test('delivered by the list: ignored as list traffic without a command, no vote, nothing changed', async () => {
    const { w, alice, t } = await pendingTicket();
    const before = await stateOf(w);
    const s = await w.send(viaList(await post(w, alice, t)));
    assert.equal(s.outcome, 'ignored:list-no-command');
    assert.equal(s.replies.length, 0);
    assert.deepEqual(await w.store.getVotes(t.id), []);
    assert.deepEqual(await stateOf(w), before);
  });

  test('re-sent to the bot directly by someone else: no command, Status: error to the sender, no vote', async () => {
    const { w, alice, t } = await pendingTicket();
    const before = await stateOf(w);
    const s = await w.send(await post(w, alice, t, 'Sid Stranger <sid@elsewhere.test>'));
    assert.equal(s.outcome, 'no-command');
    assert.equal(s.replies.length, 1);
    assert.equal(s.replies[0].status, 'error');
    assert.deepEqual(s.replies[0].to, ['sid@elsewhere.test']);
    assert.deepEqual(await w.store.getVotes(t.id), []);
    assert.equal((await w.store.getTicket(t.id))!.state, 'pending');
    assert.deepEqual(await stateOf(w), before);
  });
});
