/**
 * Attack (issue 8, item 14): a maintainer approves while her key is valid;
 * the key then expires (or she lets it lapse on purpose, or it is an old key
 * nobody renewed). When the next approval reaches the threshold, her vote
 * must no longer count: validity must hold when votes are counted, not only
 * when they were signed.
 *
 * Real time, no clock stubs: Alice's key is made with a self-signature
 * dated an hour ago and an expiry a few seconds from now; she votes while it
 * is valid, the test waits until it has expired, then Bob votes.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { certify, flat, newcomer, person, stateOf, TO_BOT, World, type Person } from '../unit/commands-world.js';

/** Seconds from key creation until Alice's key expires: room for the setup and her vote on a loaded machine. */
const VALID_FOR_S = 10;

async function expiringPerson(name: string, email: string, expiresAt: Date): Promise<Person> {
  const created = new Date(Date.now() - 3600_000);
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name, email }], format: 'object', config: { v6Keys: false },
    date: created, keyExpirationTime: Math.floor((expiresAt.getTime() - created.getTime()) / 1000),
  });
  return { name, email, key: privateKey, fpr: privateKey.getFingerprint().toUpperCase(), pub: privateKey.toPublic() };
}

describe('security: an APPROVE by a maintainer key that expired before the tally', () => {
  test('does not count towards the threshold; the reply says why; nothing is applied', async () => {
    const expiresAt = new Date(Date.now() + VALID_FOR_S * 1000);
    const alice = await expiringPerson('Alice Mainframe', 'alice@people.test', expiresAt);
    const [bob, carol] = await Promise.all([person('Bob Volunteer', 'bob@people.test'), person('Carol Sysprog', 'carol@people.test')]);
    const members = [alice, bob, carol];
    const w = await World.create({ maintainers: members.map((p) => p.fpr), threshold: 2 });
    await w.seed(await Promise.all(members.map((p) => certify(p.pub, members.filter((o) => o !== p)))));
    const dave = await newcomer('Dave Newcomer', 'dave@people.test', [bob, carol]);
    const opened = await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
    const t = (await w.store.getTicket(opened.replies[0].fields.Ticket))!;

    // Alice votes while her key is valid: recorded, 1 of 2.
    const a = await w.send(await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assert.ok(Date.now() < expiresAt.getTime(), `the setup took longer than ${VALID_FOR_S} s: raise VALID_FOR_S`);
    assert.equal(a.outcome, `APPROVE:recorded:${t.id}`, a.replies[0]?.text);

    // Her key expires.
    await sleep(expiresAt.getTime() - Date.now() + 1500);
    const before = await stateOf(w);

    // Bob's approval would be the second: Alice's no longer counts.
    const b = await w.send(await w.mail(bob, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assert.equal(b.outcome, `APPROVE:recorded:${t.id}`);
    assert.equal(b.replies.length, 1, 'no approval notice to the submitter');
    const r = b.replies[0];
    assert.equal(r.status, 'pending');
    const text = flat(r.text);
    assert.match(text, /It now has 1 of the 2 approvals it needs/);
    const m = new RegExp(`Not counted: the approval by key ${alice.fpr} \\(Alice Mainframe <alice@people\\.test>\\): that key expired on (\\S+Z) `).exec(text);
    assert.ok(m, text);
    assert.ok(Math.abs(Date.parse(m[1]) - expiresAt.getTime()) < 2000, `expiry shown: ${m[1]}`);
    assert.equal((await w.store.getTicket(t.id))!.state, 'pending');
    assert.deepEqual(await w.store.listChanges(), [], 'no change request: nothing will be applied');
    // Only Bob's vote was added; the collection and the log did not move.
    const after = (await stateOf(w)) as { tickets: { votes: unknown[] }[]; changes: unknown[]; checkpoints: unknown; head: string; files: string };
    const was = before as typeof after;
    assert.equal(after.tickets[0].votes.length, was.tickets[0].votes.length + 1);
    assert.deepEqual([after.changes, after.checkpoints, after.head, after.files], [was.changes, was.checkpoints, was.head, was.files]);

    // Carol's approval makes two valid ones: approved by Bob and Carol only.
    const c = await w.send(await w.mail(carol, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assert.equal(c.outcome, `APPROVE:approved:${t.id}`);
    assert.equal(c.replies[0].status, 'approved');
    assert.match(flat(c.replies[0].text), new RegExp(`Not counted: the approval by key ${alice.fpr}`));
    assert.deepEqual((await w.store.getChange(`c-${t.id}`))!.approvers.sort(), [bob.fpr, carol.fpr].sort());
  });
});
