/**
 * The outbound gate (src/outbound/gate.ts) on the kinds of mail that are
 * not direct replies: which rules refuse a notice or a digest, with the
 * exact outcome, and which rules (the reply budgets) must not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../src/logger.js';
import { queueDigestCopies, queueReminders } from '../../src/outbound/digest.js';
import { composeNotice } from '../../src/outbound/notice.js';
import { replyMails } from '../../src/outbound/reply.js';
import { simpleParser } from 'mailparser';
import { expireTickets } from '../../src/tickets/sweep.js';
import { assertBotMail, headerValues } from '../harness/mailcheck.js';
import { community, newcomer, pendingTicket, TO_BOT, World } from './commands-world.js';

/** A pending ticket written straight into the store, asked for by `requester`, expired a year from now. */
let tickets = 0;
async function ticketFrom(w: World, requester: string): Promise<string> {
  const id = `ZT-${String(++tickets).padStart(6, '0')}`;
  const now = new Date();
  await w.store.commitEffects([{
    kind: 'ticket-create',
    ticket: {
      id, kind: 'add-key', subject: 'A'.repeat(40), submitter: 'A'.repeat(40), requester, parentMessageId: '<sub@people.test>',
      sourceDigest: '0'.repeat(64), content: 'content\n', digest: '1'.repeat(64), payload: '{}',
      createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + 86_400_000).toISOString(), spoolKey: null,
    },
  }], []);
  return id;
}

test('the expiry sweep never mails the bot itself (a notice to its own address is refused: own-address)', async () => {
  const w = await World.create();
  const own = await ticketFrom(w, 'Bot@ztrust.test');
  const person = await ticketFrom(w, 'anne@people.test');
  const ids = await expireTickets({ config: w.cfg, store: w.store, signer: w.bot, logger: silentLogger }, new Date(Date.now() + 2 * 86_400_000));
  // Both tickets expire; only the person is told.
  assert.equal((await w.store.getTicket(own))!.state, 'expired');
  assert.equal((await w.store.getTicket(person))!.state, 'expired');
  assert.deepEqual(ids, [`expired:${person}`]);
  const rows = await w.store.listOutbox();
  assert.deepEqual(rows.map((r) => [r.id, r.kind, r.recipients]), [[`expired:${person}`, 'notice', ['anne@people.test']]]);
  await assertBotMail(rows[0].raw, w.bot.publicArmored, { status: 'rejected' });
});

test('a notice goes to the recipients the gate lets through and names the ones it refused', async () => {
  const w = await World.create();
  const n = { id: 'lapsed:c-1', subject: 'Not applied', status: 'error' as const, prose: 'text' };
  const mixed = await composeNotice(w.cfg, w.bot, { ...n, to: ['alice@people.test', 'BOT@ztrust.test'] });
  assert.deepEqual(mixed.refused, [{ address: 'BOT@ztrust.test', outcome: 'refused:own-address' }]);
  assert.deepEqual(mixed.rows.map((r) => r.recipients), [['alice@people.test']]);
  await assertBotMail(mixed.rows[0].raw, w.bot.publicArmored, { status: 'error' });
  const none = await composeNotice(w.cfg, w.bot, { ...n, to: ['bot@ztrust.test'] });
  assert.deepEqual(none, { rows: [], refused: [{ address: 'bot@ztrust.test', outcome: 'refused:own-address' }] });
});

test('an expiry reminder to the bot\'s own address is refused; the outbox stays empty', async () => {
  const w = await World.create();
  const out = await queueReminders({ config: w.cfg, signer: w.bot, store: w.store }, [
    { id: 'expiry-X-2030-01-01-window', to: ['bot@ztrust.test'], subject: 'Your key expires', prose: 'Renew it.', date: new Date() },
  ]);
  assert.deepEqual(out, [{ id: 'expiry-X-2030-01-01-window', outcome: 'refused:own-address' }]);
  assert.deepEqual(await w.store.listOutbox(), []);
});

test('a digest: refused for the bot\'s own address, not limited by the global reply cap, queued once', async () => {
  const w = await World.create({ config: { limits: { maxRepliesPerHour: 1 } } });
  // The global cap of direct replies is reached: the second sender gets no reply...
  assert.equal((await w.send(await w.mail(null, 'HELP', { from: 'Anne <anne@people.test>' }))).outcome, 'help');
  const capped = await w.send(await w.mail(null, 'HELP', { from: 'Ben <ben@people.test>' }));
  assert.deepEqual([capped.outcome, capped.replies.length], ['rate-limited-global:HELP', 0]);
  // ...and the digest still goes to everyone but the bot.
  const deps = { config: w.cfg, signer: w.bot, store: w.store };
  const copy = { number: 7, signing: 'pgpmime' as const, subject: 'Digest 7', text: 'Digest 7\n', date: new Date() };
  const copies = [{ ...copy, id: 'digest-7-own', to: 'bot@ztrust.test' }, { ...copy, id: 'digest-7-ops', to: 'ops@people.test' }];
  assert.deepEqual(await queueDigestCopies(deps, copies), [
    { id: 'digest-7-own', outcome: 'refused:own-address' }, { id: 'digest-7-ops', outcome: 'queued' },
  ]);
  const row = (await w.store.getOutbox('digest-7-ops'))!;
  assert.deepEqual([row.kind, row.recipients, row.budget ?? null], ['digest', ['ops@people.test'], null]);
  await assertBotMail(row.raw, w.bot.publicArmored, { signing: 'pgpmime' });
  // A second run (a crash and a retry) adds nothing; a sent row is done.
  assert.deepEqual((await queueDigestCopies(deps, copies)).map((q) => q.outcome), ['refused:own-address', 'in-outbox']);
  await w.store.markSent('digest-7-ops');
  assert.deepEqual((await queueDigestCopies(deps, copies)).map((q) => q.outcome), ['refused:own-address', 'done']);
  assert.equal((await w.store.listOutbox()).filter((r) => r.kind === 'digest').length, 1);
});

test('a submitter whose replies are spent gets no reply, and the maintainers are still told (notices have no budget)', async () => {
  const { w, alice, bob } = await community({ config: { limits: { maxRepliesPerSenderPerHour: 1 } } });
  const dave = await newcomer('Dave Newcomer', 'dave@people.test', [alice, bob]);
  assert.equal((await w.send(await w.mail(null, 'HELP', { from: 'Dave <dave@people.test>' }))).replies.length, 1);
  const sent = await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
  const ticket = (await w.store.listTickets())[0];
  assert.equal(sent.outcome, `rate-limited:SUBMIT KEY:pending:${ticket.id}`);
  assert.deepEqual(sent.replies.map((r) => [r.row.kind, r.to, r.status]).sort(), [
    ['notice', ['alice@people.test'], 'pending'], ['notice', ['bob@people.test'], 'pending'], ['notice', ['carol@people.test'], 'pending'],
  ]);
  assert.deepEqual([(await w.store.listTickets()).length, ticket.state, ticket.requester], [1, 'pending', 'dave@people.test'], 'the ticket stands');
});

test('every notice to a ticket\'s submitter is threaded to the submission: approved and rejected by a vote, as the apply step and the sweep thread theirs', async () => {
  const read = async (w: World, raw: Buffer) => headerValues(await assertBotMail(raw, w.bot.publicArmored), 'In-Reply-To');
  const approved = await pendingTicket();
  await approved.w.send(await approved.w.mail(approved.alice, `APPROVE ${approved.t.id}\n${approved.t.digest}\n${TO_BOT}\n`));
  const b = await approved.w.send(await approved.w.mail(approved.bob, `APPROVE ${approved.t.id}\n${approved.t.digest}\n${TO_BOT}\n`));
  const toDave = b.replies.filter((r) => r.row.kind === 'notice' && r.to[0] === 'dave@people.test');
  assert.equal(toDave.length, 1);
  assert.deepEqual(await read(approved.w, toDave[0].row.raw), [approved.t.parentMessageId]);

  const rejected = await pendingTicket();
  const r = await rejected.w.send(await rejected.w.mail(rejected.alice, `REJECT ${rejected.t.id}\n${rejected.t.digest}\n${TO_BOT}\nnot certified by enough people I know\n`));
  const notice = r.replies.find((x) => x.row.kind === 'notice')!;
  assert.deepEqual([notice.to, notice.status], [['dave@people.test'], 'rejected']);
  assert.deepEqual(await read(rejected.w, notice.row.raw), [rejected.t.parentMessageId]);
});

test('replyMails itself refuses a direct reply to mail the never-answer rules ignore (auto-submitted, our own), whoever calls it', async () => {
  const w = await World.create();
  const budget = { key: 'addr:x@people.test', perHour: 10, globalPerHour: 100, since: new Date(Date.now() - 3_600_000).toISOString() };
  const ask = async (headers: string) => replyMails({ config: w.cfg, signer: w.bot, store: w.store }, {
    spoolKey: 'k1', mail: await simpleParser(`${headers}Subject: HELP\r\nMessage-ID: <m1@people.test>\r\n\r\nHELP\r\n`),
    sender: 'x@people.test', budget, status: 'found', fields: undefined, prose: 'text',
  });
  const robot = await ask('From: x@people.test\r\nTo: bot@ztrust.test\r\nAuto-Submitted: auto-replied\r\n');
  assert.deepEqual(robot.outbox, []);
  assert.equal(robot.refused.length, 1);
  assert.match(robot.refused[0].outcome, /^refused:never-answer:/);
  const own = await ask('From: bot@ztrust.test\r\nTo: bot@ztrust.test\r\n');
  assert.deepEqual(own.outbox, []);
  // The same request from a person is answered: the gate, not the request, refused the two above.
  const person = await ask('From: x@people.test\r\nTo: bot@ztrust.test\r\n');
  assert.deepEqual(person.refused, []);
  assert.deepEqual(person.outbox.map((r) => [r.id, r.kind, r.recipients]), [['reply:k1', 'reply', ['x@people.test']]]);
  await assertBotMail(person.outbox[0].raw, w.bot.publicArmored, { status: 'found' });
  assert.deepEqual(await w.store.listOutbox(), [], 'replyMails records nothing itself');
});
