/**
 * Attack (issue 8, item 14): the threshold is reached while every approver's
 * key is valid, but the apply queue stalls (Redis down, the apply worker
 * stopped) and one approver's key expires before the change is applied.
 * The apply step counts the approvals again with the votes' own rule
 * (src/commands/vote.ts countApprovals) at the moment it applies: with one
 * of two approvals left it writes nothing, the change and the ticket fail,
 * and the submitter and the maintainers are told which approval lapsed.
 *
 * The apply step's clock is the World's `now` (the apply worker's seam), so
 * the expiry is passed without sleeping; the votes are counted at real time.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { certify, flat, newcomer, person, stateOf, TO_BOT, World, type Person } from '../unit/commands-world.js';

const HOUR = 3600_000;

/** Alice's key: made an hour ago, valid for two hours (one more from now). */
async function alicePerson(): Promise<Person> {
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Alice Mainframe', email: 'alice@people.test' }], format: 'object',
    config: { v6Keys: false }, date: new Date(Date.now() - HOUR), keyExpirationTime: 2 * 3600,
  });
  return { name: 'Alice Mainframe', email: 'alice@people.test', key: privateKey, fpr: privateKey.getFingerprint().toUpperCase(), pub: privateKey.toPublic() };
}

/** A ticket approved by Alice and Bob (2 of 2), its change queued; Dave's key is certified by Bob and Carol. */
async function approved() {
  const [alice, bob, carol] = await Promise.all([alicePerson(), person('Bob Volunteer', 'bob@people.test'), person('Carol Sysprog', 'carol@people.test')]);
  const members = [alice, bob, carol];
  const w = await World.create({ maintainers: members.map((p) => p.fpr), threshold: 2 });
  await w.seed(await Promise.all(members.map((p) => certify(p.pub, members.filter((o) => o !== p)))));
  const dave = await newcomer('Dave Newcomer', 'dave@people.test', [bob, carol]);
  const opened = await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
  const t = (await w.store.getTicket(opened.replies[0].fields.Ticket))!;
  assert.equal((await w.send(await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`))).outcome, `APPROVE:recorded:${t.id}`);
  assert.equal((await w.send(await w.mail(bob, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`))).outcome, `APPROVE:approved:${t.id}`);
  assert.deepEqual(await w.store.pendingChanges(), [`c-${t.id}`]);
  const logged: string[] = [];
  w.logAppend = async (_e, changeId) => {
    logged.push(changeId);
    return logged.length - 1;
  };
  return { w, alice: alice, t, logged };
}

describe('security: an approver key that lapses between the threshold vote and the apply', () => {
  test('the change is not applied; change and ticket fail; submitter and maintainers are told which approval lapsed', async () => {
    const { w, alice, t, logged } = await approved();
    const before = (await stateOf(w)) as { head: string; files: string; checkpoints: unknown };
    const expiry = (await alice.pub.getExpirationTime()) as Date;
    w.now = () => new Date(expiry.getTime() + HOUR); // the queue stalled past Alice's expiry

    const { outcomes, notices } = await w.applyAll();
    const why = `when it was applied, ticket ${t.id} had 1 of the 2 valid approvals it needs (not counted: the approval by key ${alice.fpr} `
      + `(Alice Mainframe <alice@people.test>): that key expired on ${expiry.toISOString().replace(/\.\d{3}Z$/, 'Z')} `
      + '(once its owner renews it with UPDATE KEY, the vote counts again))';
    assert.deepEqual(outcomes.map((o) => [o.state, o.commit, o.logIndex, o.detail]), [['failed', null, null, why]]);
    assert.deepEqual(logged, [], 'nothing logged');
    const after = (await stateOf(w)) as typeof before;
    assert.deepEqual([after.head, after.files, after.checkpoints], [before.head, before.files, before.checkpoints], 'no commit, no file');
    assert.equal((await w.store.getChange(`c-${t.id}`))!.state, 'failed');
    assert.deepEqual([(await w.store.getTicket(t.id))!.state, (await w.store.getTicket(t.id))!.closedReason], ['failed', why]);
    assert.deepEqual(await w.store.pendingChanges(), []);

    assert.deepEqual(notices.map((n) => [n.to.slice().sort(), n.status, n.fields.Ticket]), [
      [['alice@people.test', 'bob@people.test', 'carol@people.test'], 'error', t.id],
      [['dave@people.test'], 'error', t.id],
    ]);
    for (const n of notices) {
      const text = flat(n.text);
      assert.match(text, new RegExp(`^Status: error Ticket: ${t.id} Ticket ${t.id} was approved, but when the bot came to apply it, its approvals no longer reached the threshold, so it was NOT applied: new key [0-9A-F]{40} \\(Dave Newcomer <dave@people\\.test>\\)`));
      assert.ok(text.includes('Approvals that still count: 1 of the 2 needed. Not counted: the approval by key ' + alice.fpr + ' (Alice Mainframe <alice@people.test>): that key expired on'), text);
      assert.match(text, /Nothing was changed, and the ticket is closed as failed\./);
    }
    // (Subjects: only their start, which main's header folder keeps on the first line.)
    assert.match(notices[0].subject, /^Not applied, approvals lapsed: new key/);
    assert.match(notices[1].subject, /^Not applied: new key/);
  });

  test('control: applied at once (before the expiry), the same change goes in', async () => {
    const { w, t, logged } = await approved();
    const { outcomes, notices } = await w.applyAll();
    assert.deepEqual(outcomes.map((o) => o.state), ['applied']);
    assert.deepEqual(logged, [`c-${t.id}`]);
    assert.equal(notices[0].status, 'applied');
    assert.equal((await w.store.getTicket(t.id))!.state, 'applied');
  });
});
