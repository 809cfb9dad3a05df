/**
 * Maintainer approval end to end in-process: APPROVE/REJECT through the
 * real Dispatcher, the threshold, the change request, the apply step writing
 * the collection (git commit with trailers), the notices to the submitter;
 * and every refusal: wrong digest, non-maintainer, replayed signature,
 * closed ticket, double vote, expired ticket, concurrent votes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyChange } from '../../src/changes/apply.js';
import { StoreError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { readKeysAny } from '../../src/pgp/inspect.js';
import { expireTickets } from '../../src/tickets/sweep.js';
import { community, flat, newcomer, type Person, type World, TO_BOT } from './commands-world.js';
import { lapsedVote } from './lapsed-vote-world.js';

async function submitted(w: World, by: Person[], stranger?: Person) {
  const dave = await newcomer('Dave Newcomer', 'dave@people.test', stranger ? [...by, stranger] : by);
  const s = await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
  const t = (await w.store.getTicket(s.replies[0].fields.Ticket))!;
  return { dave, t };
}

describe('APPROVE and REJECT', () => {
  test('two approvals (PGP/MIME and inline, both digest forms) apply the key; the collection keeps only collection certifications', async () => {
    const { w, alice, bob, carol, stranger } = await community();
    const { dave, t } = await submitted(w, [alice, bob], stranger);

    const a = await w.send(await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assert.equal(a.replies.length, 1);
    assert.equal(a.replies[0].status, 'pending');
    assert.match(flat(a.replies[0].text), /It now has 1 of the 2 approvals it needs/);
    assert.equal((await w.store.getTicket(t.id))!.state, 'pending');
    assert.deepEqual(await w.store.pendingChanges(), []);

    const b = await w.send(await w.mail(bob, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`, { signing: 'inline' }));
    const [reply, notice] = b.replies;
    assert.equal(reply.status, 'approved');
    assert.equal(reply.fields.Ticket, t.id);
    assert.equal(notice.to[0], 'dave@people.test');
    assert.equal(notice.status, 'approved');
    assert.equal((await w.store.getTicket(t.id))!.state, 'approved');
    assert.deepEqual(await w.store.pendingChanges(), [`c-${t.id}`]);
    const change = (await w.store.getChange(`c-${t.id}`))!;
    assert.deepEqual(change.approvers.sort(), [alice.fpr, bob.fpr].sort());
    assert.deepEqual(change.signers, [dave.fpr]);

    // The apply step, with a log seam that records what it was given.
    const logged: { type: string; subject: string; ticket?: string; approvers?: string[]; signers: string[] }[] = [];
    w.logAppend = async (entry, changeId) => {
      assert.equal(changeId, `c-${t.id}`);
      logged.push(entry);
      return 7;
    };
    const { outcomes, notices } = await w.applyAll();
    assert.equal(outcomes[0].state, 'applied');
    assert.ok(outcomes[0].commit);
    assert.equal(notices[0].status, 'applied');
    assert.equal(notices[0].fields['Log-Index'], '7');
    assert.deepEqual(notices[0].to, ['dave@people.test']);
    assert.equal(logged.length, 1);
    assert.equal(logged[0].type, 'key-added');
    assert.equal(logged[0].subject, dave.fpr);
    assert.equal(logged[0].ticket, t.id);
    assert.deepEqual(logged[0].signers, [dave.fpr]);

    const col = await w.collection();
    const stored = (await col.findKeys(dave.fpr))[0];
    assert.match(stored.file, new RegExp(`^pgp/all/0x${dave.fpr.slice(-16).toLowerCase()}-dave@people.test-public\\.asc$`));
    const certIds = stored.key.users.flatMap((u) => u.otherCertifications.map((s) => s.issuerKeyID.toHex().toUpperCase())).sort();
    assert.deepEqual(certIds, [alice.fpr.slice(-16), bob.fpr.slice(-16)].sort(), 'exactly the in-collection certifications');
    // Byte for byte what the maintainers approved.
    assert.equal(stored.bytes.toString(), (JSON.parse(t.payload) as { armored: string }).armored);
    const msg = await col.git(['log', '-1', '--format=%B']);
    assert.match(msg, new RegExp(`^Ztrust-Change: c-${t.id}$`, 'm'));
    assert.match(msg, new RegExp(`^Ztrust-Ticket: ${t.id}$`, 'm'));
    assert.match(msg, new RegExp(`^Ztrust-Approved-By: (${alice.fpr}|${bob.fpr})$`, 'm'));
    assert.equal(msg.match(/^Ztrust-Approved-By: /gm)!.length, 2);
    assert.match(msg, /^Ztrust-Log-Index: 7$/m);
    assert.equal((await w.store.getTicket(t.id))!.state, 'applied');
    assert.equal((await w.store.getChange(`c-${t.id}`))!.logIndex, 7);

    // KnownKeys picks the new key up: Dave can now sign commands.
    assert.ok((await w.known.get()).findByFingerprint(dave.fpr));
    // And a late third approval is refused: the ticket is closed.
    const c = await w.send(await w.mail(carol, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}`));
    assert.equal(c.replies[0].status, 'error');
    assert.match(flat(c.replies[0].text), /Rule: ticket-closed/);
    assert.match(flat(c.replies[0].text), /is applied/);
    // Applying again is a no-op.
    assert.equal((await applyChange(`c-${t.id}`, { config: w.cfg, store: w.store, signer: w.bot, policy: w.policy, logger: silentLogger })).state, 'skipped');
  });

  test('refused: wrong digest, non-maintainer, unsigned, malformed, unknown ticket, double vote', async () => {
    const { w, alice, bob } = await community();
    const { dave, t } = await submitted(w, [alice]);
    const wrong = 'f'.repeat(64);
    const r1 = await w.send(await w.mail(alice, `APPROVE ${t.id} ${wrong}\n${TO_BOT}`));
    assert.match(flat(r1.replies[0].text), /Rule: wrong-digest/);
    assert.ok(!r1.replies[0].text.includes(t.digest), 'the refusal does not hand out the right digest');

    const r2 = await w.send(await w.mail(dave, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    // Dave's key is not in the collection: his signature cannot even be checked.
    assert.equal(r2.outcome, 'refused:nokey');
    const { stranger: outsider, alice: otherAlice } = await community();
    void outsider;
    const r3 = await w.send(await w.mail(otherAlice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    assert.equal(r3.outcome, 'refused:nokey');

    const r4 = await w.send(await w.mail(null, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`, { from: 'alice@people.test' }));
    assert.equal(r4.outcome, 'refused:unsigned', 'a From: address is never an identity');

    const r5 = await w.send(await w.mail(alice, `APPROVE ${t.id} 1234\n${TO_BOT}`));
    assert.match(flat(r5.replies[0].text), /Rule: usage/);
    const r6 = await w.send(await w.mail(alice, `APPROVE ZT-000099 ${t.digest}\n${TO_BOT}`));
    assert.equal(r6.replies[0].status, 'not-found');
    assert.match(flat(r6.replies[0].text), /Rule: no-such-ticket/);

    const ok = await w.send(await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    assert.equal(ok.replies[0].status, 'pending');
    const twice = await w.send(await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    assert.match(flat(twice.replies[0].text), /Rule: already-voted/);
    assert.equal((await w.store.getVotes(t.id)).length, 1);
    assert.equal((await w.store.getTicket(t.id))!.state, 'pending');
    void bob;
  });

  test('a collection key that is not a maintainer cannot vote', async () => {
    const { w, alice, bob } = await community({ maintainers: (ps) => [ps[0].fpr, ps[2].fpr] });
    const { t } = await submitted(w, [alice]);
    const r = await w.send(await w.mail(bob, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    assert.match(flat(r.replies[0].text), /Rule: not-a-maintainer/);
    assert.ok(r.replies[0].text.includes(bob.fpr));
    assert.deepEqual(await w.store.getVotes(t.id), []);
  });

  test('a replayed APPROVE (same signature, new Message-ID) is refused', async () => {
    const { w, alice } = await community();
    const { t } = await submitted(w, [alice]);
    const raw = (await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`, { messageId: '<first@people.test>' })).toString('latin1');
    assert.equal((await w.send(Buffer.from(raw, 'latin1'))).replies[0].status, 'pending');
    const replay = await w.send(Buffer.from(raw.replace('<first@people.test>', '<second@people.test>'), 'latin1'));
    assert.equal(replay.outcome, 'refused:replay');
    assert.match(flat(replay.replies[0].text), /already used for an earlier request \(replay\)/);
    assert.equal((await w.store.getVotes(t.id)).length, 1);
  });

  test('REJECT closes the ticket with the reason; the submitter is told; later votes are refused', async () => {
    const { w, alice, bob } = await community();
    const { t } = await submitted(w, [alice]);
    await w.send(await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    const noReason = await w.send(await w.mail(bob, `REJECT ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assert.match(flat(noReason.replies[0].text), /Rule: usage/);
    assert.match(flat(noReason.replies[0].text), /needs a reason/);
    const r = await w.send(await w.mail(bob, `REJECT ${t.id}\n${t.digest}\n${TO_BOT}\nnobody here has met Dave\n`, { signing: 'inline' }));
    const [reply, notice] = r.replies;
    assert.equal(reply.status, 'rejected');
    assert.equal(notice.to[0], 'dave@people.test');
    assert.equal(notice.status, 'rejected');
    assert.match(flat(notice.text), /The maintainer's reason: nobody here has met Dave/);
    const row = (await w.store.getTicket(t.id))!;
    assert.equal(row.state, 'rejected');
    assert.match(row.closedReason!, /nobody here has met Dave/);
    assert.deepEqual(await w.store.pendingChanges(), []);
    const late = await w.send(await w.mail(alice, `REJECT ${t.id} ${t.digest} changed my mind\n${TO_BOT}`));
    assert.match(flat(late.replies[0].text), /Rule: ticket-closed/);
  });

  test('an expired ticket refuses votes and is closed; the sweep expires the rest and tells the submitters', async () => {
    const { w, alice, bob } = await community({ config: { tickets: { expireDays: 1 } } });
    const { t } = await submitted(w, [alice]);
    const other = await newcomer('Olga', 'olga@people.test', [bob]);
    await w.send(await w.mail(other, `SUBMIT KEY\n${TO_BOT}\n\n${other.certified.armor()}`));
    // Pretend two days passed for both tickets.
    w.store.db.prepare("UPDATE tickets SET expires_at = '2000-01-01T00:00:00.000Z'").run();
    const r = await w.send(await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    assert.match(flat(r.replies[0].text), /Rule: ticket-expired/);
    assert.equal(r.replies[1].to[0], 'dave@people.test');
    assert.match(flat(r.replies[1].text), /expired/);
    assert.equal((await w.store.getTicket(t.id))!.state, 'expired');

    const ids = await expireTickets({ config: w.cfg, store: w.store, signer: w.bot, logger: silentLogger });
    assert.deepEqual(ids, ['expired:ZT-000002']);
    assert.equal((await w.store.getTicket('ZT-000002'))!.state, 'expired');
    const n = await w.parse((await w.store.getOutbox(ids[0]))!);
    assert.deepEqual(n.to, ['olga@people.test']);
    assert.deepEqual(await expireTickets({ config: w.cfg, store: w.store, signer: w.bot, logger: silentLogger }), [], 'once');
  });

  test('two approvals decided at once: the second transaction is refused and, processed again, approves', async () => {
    const { w, alice, bob } = await community();
    const { t } = await submitted(w, [alice]);
    const d = await w.dispatcher();
    const spool = async (raw: Buffer, key: string) => {
      await w.store.spool({ key, mailbox: 'test', uidValidity: 1, uid: key, messageId: null, raw, receivedAt: new Date().toISOString() });
      return (await w.store.getSpooled(key))!;
    };
    const ra = await spool(await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`), 'ka');
    const rb = await spool(await w.mail(bob, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`), 'kb');
    // Both read the ticket at version 0 (as two inbound workers would).
    const [oa, ob] = await Promise.all([d.processMessage(ra), d.processMessage(rb)]);
    await w.store.complete(oa.completion);
    await assert.rejects(w.store.complete(ob.completion), (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
    assert.equal((await w.store.getSpooled('kb'))!.state, 'queued', 'nothing of the second was recorded');
    // The inbound job is retried: decided again on fresh state, it reaches the threshold.
    const again = await (await w.dispatcher()).processMessage((await w.store.getSpooled('kb'))!);
    await w.store.complete(again.completion);
    assert.equal((await w.store.getTicket(t.id))!.state, 'approved');
    assert.deepEqual(await w.store.pendingChanges(), [`c-${t.id}`]);
  });

  test('apply is idempotent across a crash after the commit, and fails cleanly when the collection moved on', async () => {
    const { w, alice, bob, carol } = await community();
    const { dave, t } = await submitted(w, [alice]);
    await w.send(await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    await w.send(await w.mail(bob, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    const id = `c-${t.id}`;
    // Simulate a crash between the collection commit and the store update:
    // the commit exists (with the change trailer), the store still says queued.
    const col = await w.collection();
    const [k] = await readKeysAny((JSON.parse(t.payload) as { armored: string }).armored);
    await col.apply((c) => c.putKey(k, 'public'), { message: 'Add key (before the crash)', trailers: { 'Ztrust-Change': id, 'Ztrust-Log-Index': '3' }, signer: null });
    const head = (await col.git(['rev-parse', 'HEAD'])).trim();
    const { outcomes } = await w.applyAll();
    assert.equal(outcomes[0].state, 'applied');
    assert.equal(outcomes[0].commit, head, 'recorded, not applied a second time');
    assert.equal(outcomes[0].logIndex, 3);
    assert.equal((await col.git(['rev-parse', 'HEAD'])).trim(), head);

    // A second ticket for the same key (opened before the first was applied) now fails with the reason.
    const twin = await newcomer('Twin', 'twin@people.test', [alice]);
    await w.send(await w.mail(twin, `SUBMIT KEY\n${TO_BOT}\n\n${twin.certified.armor()}`));
    const t2 = (await w.store.getTicket('ZT-000002'))!;
    await w.send(await w.mail(alice, `APPROVE ${t2.id} ${t2.digest}\n${TO_BOT}`));
    // Alice's key is revoked from the collection before the apply step runs: the certification no longer counts.
    const revoked = await (await import('openpgp')).revokeKey({ key: alice.key, format: 'object' });
    await col.apply((c) => c.putKey(revoked.publicKey, 'public'), { message: 'revoke alice', signer: null });
    // Alice's approval no longer counts either (issue 8, item 14): Bob's is the first valid one, Carol's the second.
    const bobs = await w.send(await w.mail(bob, `APPROVE ${t2.id} ${t2.digest}\n${TO_BOT}`));
    assert.equal(bobs.outcome, `APPROVE:recorded:${t2.id}`);
    assert.match(flat(bobs.replies[0].text), new RegExp(`Not counted: the approval by key ${alice.fpr} \\(Alice Mainframe <alice@people\\.test>\\): that key has been revoked`));
    assert.equal((await w.send(await w.mail(carol, `APPROVE ${t2.id} ${t2.digest}\n${TO_BOT}`))).outcome, `APPROVE:approved:${t2.id}`);
    assert.deepEqual((await w.store.getChange(`c-${t2.id}`))!.approvers.sort(), [bob.fpr, carol.fpr].sort());
    const r = await w.applyAll();
    assert.equal(r.outcomes[0].state, 'failed');
    assert.match(r.outcomes[0].detail!, /min-certifications/);
    assert.equal(r.notices[0].status, 'error');
    assert.deepEqual(r.notices[0].to, ['twin@people.test']);
    assert.equal((await w.store.getTicket(t2.id))!.state, 'failed');
    assert.equal((await col.findKeys(twin.fpr)).length, 0);
    void dave;
  });
});

describe('STATUS counts with the votes\' rule', () => {
  test('an approval whose key was revoked since is shown as not counted, with the reason, and is not in the count', async () => {
    const { w, carol, t } = await lapsedVote();
    const r = (await w.send(await w.mail(null, `STATUS ${t.id}`))).replies[0];
    assert.equal(r.status, 'found');
    assert.equal(r.fields['Ticket-State'], 'pending');
    const text = flat(r.text);
    assert.match(text, /Approvals: 0 of 2 needed/);
    assert.match(text, new RegExp(`Votes: - approved by ${carol.fpr} at \\S+Z \\(not counted: that key has been revoked\\) Maintainers decide`));
  });
});
