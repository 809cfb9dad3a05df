/**
 * Attack: a maintainer's signed APPROVE that does not say it is for this
 * bot. Signed text without a binding line may have been written for
 * someone else (a list, a colleague, another bot); the bot refuses it and
 * says how to bind it: the line `To: <bot address>` directly under the
 * command (under the digest line in the two-line form).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flat, pendingTicket, stateOf, TO_BOT, type Sent } from '../unit/commands-world.js';

function assertUnbound(s: Sent, command: string, found: RegExp): void {
  assert.equal(s.outcome, 'refused:unbound');
  assert.equal(s.replies.length, 1);
  const r = s.replies[0];
  assert.equal(r.status, 'error');
  assert.deepEqual(r.to, ['alice@people.test']);
  const text = flat(r.text);
  assert.match(text, new RegExp(`Your ${command} request was refused\\. Nothing was changed\\.`));
  assert.match(text, /Rule: command not addressed to this bot/);
  assert.match(text, found);
  assert.match(r.text, /^ {2}To: bot@ztrust\.test$/m, 'the fix shows the exact line to add');
}

describe('security: a signed APPROVE not bound to this bot', () => {
  test('two-line form without the To: line: refused, ticket unchanged', async () => {
    const { w, alice, t } = await pendingTicket();
    const before = await stateOf(w);
    const s = await w.send(await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n`));
    assertUnbound(s, 'APPROVE', /the text ends after the ticket digest/);
    assert.deepEqual(await stateOf(w), before);
  });

  test('one-line form without the To: line, and with it after a blank line: refused', async () => {
    const { w, alice, t } = await pendingTicket();
    const before = await stateOf(w);
    assertUnbound(await w.send(await w.mail(alice, `APPROVE ${t.id} ${t.digest}`, { signing: 'inline' })), 'APPROVE', /the text ends after the command/);
    assertUnbound(await w.send(await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n\n${TO_BOT}\n`)), 'APPROVE', /the line under the command is empty/);
    assertUnbound(await w.send(await w.mail(alice, `APPROVE ${t.id} ${t.digest}\nthanks, looks good\n`)),
      'APPROVE', /the line under the command is "thanks, looks good"/);
    assert.deepEqual(await stateOf(w), before);
  });

  test('a REJECT without the To: line is refused too: the ticket stays open', async () => {
    const { w, alice, t } = await pendingTicket();
    const before = await stateOf(w);
    assertUnbound(await w.send(await w.mail(alice, `REJECT ${t.id}\n${t.digest}\nnobody knows him\n`)), 'REJECT', /the line under the ticket digest is "nobody knows him"/);
    assert.equal((await w.store.getTicket(t.id))!.state, 'pending');
    assert.deepEqual(await stateOf(w), before);
  });

  test('control: the bound forms count (To: directly under the command or its digest line, any case)', async () => {
    const { w, alice, bob, t } = await pendingTicket();
    const a = await w.send(await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assert.equal(a.outcome, `APPROVE:recorded:${t.id}`);
    assert.equal(a.replies[0].status, 'pending');
    const b = await w.send(await w.mail(bob, `APPROVE ${t.id} ${t.digest}\nto:   <BOT@ZTRUST.TEST>\n`, { signing: 'inline' }));
    assert.equal(b.outcome, `APPROVE:approved:${t.id}`);
    assert.deepEqual((await w.store.getVotes(t.id)).map((v) => v.voter).sort(), [alice.fpr, bob.fpr].sort());
  });
});
