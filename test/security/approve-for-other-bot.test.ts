/**
 * Attack: a maintainer serves two trust anchors. Her signed APPROVE to the
 * other bot (same ticket id, same content, so the same digest) is sent to
 * this bot. It names the other bot in its binding line, so it is refused:
 * a signed command counts only at the bot it was written to.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flat, pendingTicket, stateOf } from '../unit/commands-world.js';

describe('security: an APPROVE bound to another bot', () => {
  test('is refused with the binding rule; ticket, collection and log unchanged', async () => {
    const { w, alice, t } = await pendingTicket();
    const before = await stateOf(w);

    const forOther = await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\nTo: bot@other-anchor.test\n`);
    const s = await w.send(forOther);
    assert.equal(s.outcome, 'refused:unbound');
    assert.equal(s.replies.length, 1);
    assert.equal(s.replies[0].status, 'error');
    const text = flat(s.replies[0].text);
    assert.match(text, /Rule: command not addressed to this bot/);
    assert.match(text, /names bot@other-anchor\.test, which is not this bot's address/);
    assert.match(s.replies[0].text, /^ {2}To: bot@ztrust\.test$/m);
    // A look-alike address is not this bot either.
    const lookAlike = await w.send(await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\nTo: bot@ztrust.test.evil.example\n`));
    assert.equal(lookAlike.outcome, 'refused:unbound');
    assert.deepEqual(await w.store.getVotes(t.id), []);
    assert.deepEqual(await stateOf(w), before);
  });

  test('a configured list address binds (the bot reads that list)', async () => {
    const { w, alice, t } = await pendingTicket({ config: { lists: [{ listId: 'linux-390.lists.test', address: 'linux-390@lists.test' }] } });
    const s = await w.send(await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\nTo: LINUX-390@lists.test\n`));
    assert.equal(s.outcome, `APPROVE:recorded:${t.id}`);
  });
});
