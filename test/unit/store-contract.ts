/**
 * The state-store contract: every backend (SQLite today, PostgreSQL later)
 * must pass this suite unchanged. Call `storeContract(name, factory)` from a
 * backend's test file (store-sqlite.test.ts is the example).
 *
 * Adding a backend (PostgreSQL):
 * 1. implement StateStore (src/store/types.ts) and add its driver to
 *    STORE_DRIVERS (src/store/drivers.ts) and openStore (src/store/open.ts);
 * 2. write test/unit/store-postgres.test.ts calling storeContract with a
 *    factory whose `open` creates a fresh database (or schema) per test,
 *    `reopen` closes and opens it again, `connect` opens a second pool on
 *    the same database, and `childOpener` names `openStore` in
 *    src/store/open.ts with that config ({ dataDir, store: { driver:
 *    'postgres', ... } }), so the cross-process cases run too;
 * 3. it is done when every case here passes, the concurrency cases
 *    included: they state what must hold when workers on several hosts
 *    share the database (one claim wins, one settle wins, a signature is
 *    used once), which SQLite gets from its single writer and PostgreSQL
 *    must get from its transactions and unique constraints.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StoreError } from '../../src/errors.js';
import type { Completion, NewChange, NewTicket, OutboxRecord, SpoolRecord, StateStore } from '../../src/store/types.js';
import { runOp, toWire, type ChildOp, type ChildOpener } from './store-contract-child.js';
import { THIS_SENDER as ME } from '../../src/store/claim.js';

/** This host as a claim names it (host name and pid namespace). */
const HERE = ME.split('/')[0];

export interface StoreFactory {
  /** A new, empty store. */
  open(): Promise<StateStore>;
  /** The same store, closed and opened again (durability). Optional for in-memory backends. */
  reopen?(s: StateStore): Promise<StateStore>;
  /** A second, independent connection to the database of `s` (another writer). Absent for in-memory backends. */
  connect?(s: StateStore): Promise<StateStore>;
  /** How a child process opens the database of `s`: a module, the function it exports, its JSON arguments. */
  childOpener?(s: StateStore): ChildOpener;
}

const CHILD = new URL('./store-contract-child.ts', import.meta.url);

/**
 * Runs each op in its own process against the same database, released at the
 * same moment (all open their store first, then wait for one start file).
 */
async function inProcesses(opener: ChildOpener, ops: ChildOp[]): Promise<unknown[]> {
  const go = path.join(mkdtempSync(path.join(os.tmpdir(), 'zstore-go-')), 'go');
  const kids = ops.map((op) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CHILD.pathname, toWire({ opener, go, op })]);
    let out = '';
    let err = '';
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('ready\n')) ready(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const done = new Promise<unknown>((resolve, reject) => p.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last !== 'ready') resolve(JSON.parse(last));
      else reject(new Error(`store child exited ${code}: ${err}`));
    }));
    done.catch(() => ready());
    return { isReady, done };
  });
  await Promise.all(kids.map((k) => k.isReady));
  writeFileSync(go, '');
  return Promise.all(kids.map((k) => k.done));
}

/** The pid of a process of this host that has exited (and been reaped). */
async function exitedPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => p.on('exit', r));
  return p.pid!;
}

/** The outcomes, order-free (which writer wins is not part of the contract; that exactly one does is). */
const sorted = (xs: unknown[]): string[] => xs.map((x) => JSON.stringify(x)).sort();

let seq = 0;
function spoolRec(over: Partial<SpoolRecord> = {}): SpoolRecord {
  seq++;
  return { key: `k${seq}`, mailbox: 'imap://x', uidValidity: 7, uid: String(seq), messageId: `<m${seq}@x>`,
    raw: Buffer.from(`raw ${seq}`), receivedAt: new Date(Date.now() + seq).toISOString(), ...over };
}
function outboxRec(id: string, to = 'a@example.org'): OutboxRecord {
  return { id, spoolKey: null, kind: 'reply', envelopeFrom: 'bot@x', recipients: [to], messageId: `<${id}@x>`, raw: Buffer.from(`mail ${id}`) };
}
function completion(rec: SpoolRecord, over: Partial<Completion> = {}): Completion {
  return { spoolKey: rec.key, messageKey: `mid:${rec.messageId}`, outcome: 'help', sender: 'a@example.org', command: 'HELP',
    verdict: 'good', signatures: [], outbox: [outboxRec(`reply-${rec.key}`)], ...over };
}

function newTicket(id: string, over: Partial<NewTicket> = {}): NewTicket {
  return { id, kind: 'add-key', subject: 'A'.repeat(40), submitter: 'A'.repeat(40), requester: 'a@example.org', parentMessageId: '<p@x>',
    sourceDigest: 'd'.repeat(64), content: `ticket ${id}\n`, digest: 'e'.repeat(64), payload: '{"kind":"add-key"}',
    createdAt: '2025-01-01T00:00:00.000Z', expiresAt: '2025-01-15T00:00:00.000Z', spoolKey: null, ...over };
}
function newChange(id: string, over: Partial<NewChange> = {}): NewChange {
  return { id, kind: 'add-key', ticketId: null, subject: 'A'.repeat(40), payload: '{}', requester: 'a@example.org', parentMessageId: null,
    sourceDigest: 'd'.repeat(64), signers: ['A'.repeat(40)], approvers: [], createdAt: new Date().toISOString(), ...over };
}
const vote = (ticketId: string, voter: string, v: 'approve' | 'reject' = 'approve') =>
  ({ ticketId, voter, vote: v, digest: 'e'.repeat(64), reason: v === 'reject' ? 'no' : null, spoolKey: null, at: new Date().toISOString() });

export function storeContract(name: string, factory: StoreFactory): void {
  describe(`state store contract: ${name}`, () => {
    test('spool is idempotent by key and keeps the exact bytes', async () => {
      const s = await factory.open();
      const r = spoolRec({ raw: Buffer.from([0, 1, 2, 255, 13, 10]) });
      assert.equal(await s.spool(r), true);
      assert.equal(await s.spool({ ...r, raw: Buffer.from('other') }), false);
      const got = await s.getSpooled(r.key);
      assert.ok(got);
      assert.deepEqual(got.raw, r.raw);
      assert.equal(got.state, 'queued');
      assert.deepEqual(await s.pendingSpool(), [r.key]);
      assert.equal(await s.getSpooled('nope'), undefined);
      await s.close();
    });

    test('spoolBatch inserts a batch in order, each new or not; a failing record leaves none of its batch', async () => {
      const s = await factory.open();
      const old = spoolRec();
      assert.equal(await s.spool(old), true);
      const [a, b] = [spoolRec({ raw: Buffer.from([0, 255, 13, 10]) }), spoolRec()];
      // Already spooled, new, new, and a key repeated within the batch.
      assert.deepEqual(await s.spoolBatch([{ ...old, raw: Buffer.from('other') }, a, b, { ...a, raw: Buffer.from('again') }]), [false, true, true, false]);
      assert.deepEqual((await s.getSpooled(old.key))?.raw, old.raw);
      assert.deepEqual((await s.getSpooled(a.key))?.raw, a.raw);
      assert.deepEqual(await s.pendingSpool(), [old.key, a.key, b.key]);
      assert.deepEqual(await s.spoolBatch([]), []);
      // A record the store refuses (no mailbox) fails the batch, and the records before it are not kept.
      const [c, d] = [spoolRec(), spoolRec()];
      await assert.rejects(s.spoolBatch([c, { ...d, mailbox: null as unknown as string }]));
      assert.equal(await s.getSpooled(c.key), undefined);
      assert.deepEqual(await s.pendingSpool(), [old.key, a.key, b.key]);
      assert.deepEqual(await s.spoolBatch([c, d]), [true, true]);
      await s.close();
    });

    test('spoolStates reads the state of many keys at once; absent keys are left out, a repeated key counts once', async () => {
      const s = await factory.open();
      // Quotes and brackets in a key: the key list is data, never statement text.
      const queued = spoolRec({ key: 'k "odd", ]\'' });
      const done = spoolRec();
      await s.spool(queued);
      await s.spoolIgnored([done].map(({ raw: _r, declaredSize: _d, ...rest }) => rest), 'ignored:list-no-command');
      const states = await s.spoolStates([queued.key, done.key, 'nope', queued.key]);
      assert.deepEqual([...states].sort(), [[done.key, 'done'], [queued.key, 'queued']].sort());
      assert.deepEqual(await s.spoolStates([]), new Map());
      await s.close();
    });

    test('spoolIgnored records triaged messages as done, without bytes, once; a spooled key is left alone', async () => {
      const s = await factory.open();
      const queued = spoolRec();
      await s.spool(queued);
      const a = spoolRec();
      const b = spoolRec();
      const strip = ({ raw: _raw, declaredSize: _d, ...rest }: ReturnType<typeof spoolRec>) => rest;
      assert.deepEqual(await s.spoolIgnored([a, b, queued].map(strip), 'ignored:list-no-command'), [a.key, b.key]);
      for (const k of [a.key, b.key]) {
        const got = await s.getSpooled(k);
        assert.equal(got?.state, 'done');
        assert.equal(got?.outcome, 'ignored:list-no-command');
        assert.equal(got?.raw.length, 0);
      }
      assert.equal((await s.getSpooled(queued.key))?.state, 'queued');
      assert.deepEqual(await s.pendingSpool(), [queued.key]);
      assert.deepEqual(await s.spoolIgnored([a].map(strip), 'ignored:list-no-command'), [], 'a second time records nothing');
      assert.deepEqual(await s.pendingOutbox(), []);
      await s.close();
    });

    test('complete records the outcome and the replies in one step, once', async () => {
      const s = await factory.open();
      const r = spoolRec();
      await s.spool(r);
      const res = await s.complete(completion(r));
      assert.deepEqual(res, { applied: true, outboxIds: [`reply-${r.key}`], changeIds: [] });
      assert.equal((await s.getSpooled(r.key))?.state, 'done');
      assert.deepEqual(await s.pendingSpool(), []);
      assert.deepEqual(await s.pendingOutbox(), [`reply-${r.key}`]);
      const again = await s.complete(completion(r));
      assert.equal(again.applied, false);
      assert.equal(again.reason, 'already-done');
      assert.equal((await s.listOutbox()).length, 1);
      await s.close();
    });

    test('a second message with the same Message-ID is a duplicate with no reply', async () => {
      const s = await factory.open();
      const a = spoolRec({ messageId: '<same@x>' });
      const b = spoolRec({ messageId: '<same@x>' });
      await s.spool(a);
      await s.spool(b);
      assert.equal((await s.complete(completion(a))).applied, true);
      const rb = await s.complete(completion(b));
      assert.equal(rb.applied, false);
      assert.equal(rb.reason, 'duplicate-message');
      assert.equal((await s.getSpooled(b.key))?.state, 'done');
      assert.equal((await s.getSpooled(b.key))?.outcome, 'duplicate');
      assert.equal((await s.listOutbox()).length, 1);
      assert.equal(await s.isProcessed('mid:<same@x>'), true);
      await s.close();
    });

    test('a signature used twice aborts the whole second transaction', async () => {
      const s = await factory.open();
      const a = spoolRec();
      const b = spoolRec();
      await s.spool(a);
      await s.spool(b);
      const sig = (k: string) => [{ signatureId: 'sig1', signer: 'F'.repeat(40), command: 'APPROVE', spoolKey: k }];
      await s.complete(completion(a, { signatures: sig(a.key) }));
      assert.equal(await s.isSignatureUsed('sig1'), true);
      await assert.rejects(s.complete(completion(b, { signatures: sig(b.key) })),
        (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
      // Nothing of b was recorded: it can be processed again and answered as a replay.
      assert.equal((await s.getSpooled(b.key))?.state, 'queued');
      assert.equal(await s.isProcessed(`mid:${b.messageId}`), false);
      assert.equal((await s.getOutbox(`reply-${b.key}`)), undefined);
      await s.close();
    });

    test('cursor per mailbox', async () => {
      const s = await factory.open();
      assert.equal(await s.getCursor('imap://a'), undefined);
      await s.setCursor('imap://a', { uidValidity: 5, lastUid: 10 });
      await s.setCursor('imap://a', { uidValidity: 5, lastUid: 11 });
      await s.setCursor('imap://b', { uidValidity: 9, lastUid: 1 });
      assert.deepEqual(await s.getCursor('imap://a'), { uidValidity: 5, lastUid: 11 });
      assert.deepEqual(await s.getCursor('imap://b'), { uidValidity: 9, lastUid: 1 });
      await s.close();
    });

    test("pendingOutbox(spoolKey): only that message's rows not sent yet", async () => {
      const s = await factory.open();
      const of = (id: string, spoolKey: string | null): OutboxRecord => ({ ...outboxRec(id), spoolKey });
      await s.addOutbox([of('reply:k1', 'k1'), of('notice:k1', 'k1'), of('reply:k2', 'k2'), of('digest-1', null)]);
      await s.claimSending('notice:k1', ME);
      await s.markSent('notice:k1');
      assert.deepEqual(await s.pendingOutbox('k1'), ['reply:k1']);
      assert.deepEqual(await s.pendingOutbox('k2'), ['reply:k2']);
      assert.deepEqual(await s.pendingOutbox('k3'), []);
      assert.deepEqual(await s.pendingOutbox(), ['digest-1', 'reply:k1', 'reply:k2']);
      await s.close();
    });

    test('outbox lifecycle: pending -> sending -> sent; failures counted; dead rows leave the queue', async () => {
      const s = await factory.open();
      await s.addOutbox([outboxRec('o1'), outboxRec('o2'), outboxRec('o3')]);
      await s.addOutbox([outboxRec('o1')]);
      assert.deepEqual(await s.pendingOutbox(), ['o1', 'o2', 'o3']);
      const c1 = await s.claimSending('o1', ME);
      assert.ok('row' in c1);
      assert.equal(c1.row.status, 'sending');
      assert.equal(c1.row.attempts, 1);
      assert.deepEqual(c1.row.raw, Buffer.from('mail o1'), 'the claim hands over the row to send');
      assert.equal((await s.getOutbox('o1'))?.status, 'sending');
      assert.deepEqual(await s.pendingOutbox(), ['o1', 'o2', 'o3'], 'a row in flight at a crash is still pending');
      await s.markSent('o1');
      await s.claimSending('o2', ME);
      await s.markFailed('o2', '451 try later', false);
      await s.claimSending('o3', ME);
      await s.markFailed('o3', '550 no such user', true);
      const o1 = await s.getOutbox('o1');
      const o2 = await s.getOutbox('o2');
      assert.equal(o1?.status, 'sent');
      assert.ok(o1?.sentAt);
      assert.equal(o2?.status, 'pending');
      assert.equal(o2?.attempts, 1);
      assert.equal(o2?.lastError, '451 try later');
      assert.equal((await s.getOutbox('o3'))?.status, 'dead');
      assert.deepEqual(await s.pendingOutbox(), ['o2']);
      // A late failure report never un-sends a sent row.
      await s.markFailed('o1', 'late', false);
      assert.equal((await s.getOutbox('o1'))?.status, 'sent');
      assert.deepEqual((await s.getOutbox('o1'))?.raw, Buffer.from('mail o1'));
      // Nothing to claim once sent or dead, or without a row.
      assert.deepEqual(await s.claimSending('o1', ME), { refused: 'sent' });
      assert.deepEqual(await s.claimSending('o3', ME), { refused: 'dead' });
      assert.deepEqual(await s.claimSending('nope', ME), { refused: 'missing' });
      assert.equal((await s.getOutbox('o1'))?.attempts, 1, 'a refused claim counts no attempt');
      await s.close();
    });

    test('a claim to send holds against other senders while its owner runs, and is taken up once it does not', async () => {
      const s = await factory.open();
      await s.addOutbox([outboxRec('h1'), outboxRec('h2'), outboxRec('h3'), outboxRec('h4')]);
      // Another host: cannot be seen from here, so its claim holds (until OUTBOX_BOUNDS.claimHoldsMs).
      const elsewhere = 'other-host.example/4242/abcdef';
      assert.ok('row' in await s.claimSending('h1', elsewhere));
      assert.deepEqual(await s.claimSending('h1', ME), { refused: 'held', by: elsewhere });
      assert.deepEqual(await s.claimSending('h1', 'third-host.example/1/00'), { refused: 'held', by: elsewhere });
      const h1 = await s.getOutbox('h1');
      assert.equal(h1?.status, 'sending');
      assert.equal(h1?.attempts, 1, 'refused claims change nothing');
      // A process of this host that has exited: its claim (a crash mid-send) is taken up at once.
      const gone = await exitedPid();
      const crashed = `${HERE}/${gone}/0badc0ffee00`;
      assert.ok('row' in await s.claimSending('h2', crashed));
      const retaken = await s.claimSending('h2', ME);
      assert.ok('row' in retaken, 'the claim of a process that no longer runs is taken up');
      assert.equal(retaken.row.attempts, 2);
      // A running process of this host (this test's parent) holds its claim.
      const parent = `${HERE}/${process.ppid}/0123456789ab`;
      assert.ok('row' in await s.claimSending('h3', parent));
      assert.deepEqual(await s.claimSending('h3', ME), { refused: 'held', by: parent });
      // An earlier process under this pid (a restart that got the same pid): not held.
      assert.ok('row' in await s.claimSending('h4', `${HERE}/${process.pid}/ffffffffffff`));
      assert.ok('row' in await s.claimSending('h4', ME));
      // Once settled, nobody claims it again.
      await s.markFailed('h1', '451 later', false);
      assert.ok('row' in await s.claimSending('h1', ME), 'a failed send is pending again, for any sender');
      await s.close();
    });

    test('replies per recipient are counted for rate limiting (case-insensitive)', async () => {
      const s = await factory.open();
      const since = new Date(Date.now() - 1000).toISOString();
      await s.addOutbox([outboxRec('r1', 'X@Example.org'), outboxRec('r2', 'x@example.org'), outboxRec('r3', 'y@example.org')]);
      assert.equal(await s.countRepliesTo('x@EXAMPLE.org', since), 2);
      assert.equal(await s.countRepliesTo('x@example.org', new Date(Date.now() + 60_000).toISOString()), 0);
      // Notices and digests to the same address do not use up its replies.
      await s.addOutbox([{ ...outboxRec('n1', 'x@example.org'), kind: 'notice' }, { ...outboxRec('d1', 'x@example.org'), kind: 'digest' }]);
      assert.equal(await s.countRepliesTo('x@example.org', since), 2);
      await s.close();
    });

    test('a Message-ID is a duplicate only with the same content: either key seen before makes one', async () => {
      const s = await factory.open();
      const [a, b, c, d] = [spoolRec(), spoolRec(), spoolRec(), spoolRec()];
      for (const r of [a, b, c, d]) await s.spool(r);
      const key = (digest: string) => `mid:<chosen@x>#raw:${digest}`;
      assert.equal((await s.complete(completion(a, { messageKey: key('1'.repeat(64)) }))).applied, true);
      // Same Message-ID, other bytes: not a duplicate.
      const rb = await s.complete(completion(b, { messageKey: key('2'.repeat(64)), contentKey: 'mid:<chosen@x>#sig:s1' }));
      assert.equal(rb.applied, true);
      assert.equal(await s.isProcessed(key('2'.repeat(64))), true);
      assert.equal(await s.isProcessed('mid:<chosen@x>#sig:s1'), true);
      // Other bytes, but the same signed content (a list's re-wrapped copy): a duplicate.
      const rc = await s.complete(completion(c, { messageKey: key('3'.repeat(64)), contentKey: 'mid:<chosen@x>#sig:s1' }));
      assert.deepEqual([rc.applied, rc.reason], [false, 'duplicate-message']);
      assert.equal(await s.isProcessed(key('3'.repeat(64))), false, 'a duplicate records nothing');
      // The same bytes again: a duplicate.
      const rd = await s.complete(completion(d, { messageKey: key('1'.repeat(64)) }));
      assert.deepEqual([rd.applied, rd.reason], [false, 'duplicate-message']);
      assert.equal((await s.listOutbox()).length, 2);
      await s.close();
    });

    test('reply budgets: per key, a global cap, notices not counted, re-checked inside complete()', async () => {
      const s = await factory.open();
      const since = new Date(Date.now() - 1000).toISOString();
      const budget = (key: string, perHour = 2, globalPerHour: number | null = 3) => ({ key, perHour, globalPerHour, since });
      const charged = (id: string, key: string) => ({ ...outboxRec(id), budget: key });
      assert.equal(await s.replyBudgetSpent(budget('addr:a@x')), null);
      await s.addOutbox([charged('r1', 'addr:a@x'), charged('r2', 'key:F1'), { ...outboxRec('n1'), kind: 'notice' }]);
      assert.equal(await s.replyBudgetSpent(budget('addr:a@x')), null);
      await s.addOutbox([charged('r3', 'addr:a@x')]);
      assert.equal(await s.replyBudgetSpent(budget('addr:a@x')), 'sender');
      assert.equal(await s.replyBudgetSpent(budget('key:F1')), 'global', 'three replies in all');
      assert.equal(await s.replyBudgetSpent(budget('key:F1', 2, null)), null, 'a key budget under no global cap');
      assert.equal(await s.replyBudgetSpent({ ...budget('addr:a@x'), since: new Date(Date.now() + 60_000).toISOString() }), null);

      // Two messages decided on the same count: the second one's reply is dropped in the transaction.
      const [m1, m2] = [spoolRec(), spoolRec()];
      await s.spool(m1);
      await s.spool(m2);
      const b = budget('addr:b@x', 1, null);
      const c1 = await s.complete(completion(m1, { outbox: [charged(`reply-${m1.key}`, 'addr:b@x')], replyBudget: b }));
      assert.deepEqual(c1.outboxIds, [`reply-${m1.key}`]);
      assert.equal(c1.rateLimited, undefined);
      const c2 = await s.complete(completion(m2, { outbox: [charged(`reply-${m2.key}`, 'addr:b@x'), { ...outboxRec(`n-${m2.key}`), kind: 'notice' }], replyBudget: b }));
      assert.equal(c2.applied, true);
      assert.equal(c2.rateLimited, 'sender');
      assert.deepEqual(c2.outboxIds, [`n-${m2.key}`], 'the notice stays, the reply is dropped');
      assert.equal((await s.getSpooled(m2.key))?.outcome, 'rate-limited:help');
      assert.equal((await s.getOutbox(`reply-${m1.key}`))?.budget, 'addr:b@x');
      await s.close();
    });

    test('meta values', async () => {
      const s = await factory.open();
      assert.equal(await s.getMeta('nope'), undefined);
      await s.setMeta('a', '1');
      await s.setMeta('a', '2');
      assert.equal(await s.getMeta('a'), '2');
      await s.close();
    });

    test('ticket numbers count up and are never handed out twice', async () => {
      const s = await factory.open();
      const got = [await s.nextTicketNumber(), await s.nextTicketNumber(), await s.nextTicketNumber()];
      assert.deepEqual(got, [1, 2, 3]);
      await s.close();
    });

    test('a ticket is created with a message, votes move its version, a stale version aborts everything', async () => {
      const s = await factory.open();
      const r = spoolRec();
      await s.spool(r);
      const res = await s.complete(completion(r, { effects: [{ kind: 'ticket-create', ticket: newTicket('ZT-000001') }] }));
      assert.equal(res.applied, true);
      const t = await s.getTicket('ZT-000001');
      assert.equal(t?.state, 'pending');
      assert.equal(t?.version, 0);
      assert.equal(t?.content, 'ticket ZT-000001\n');
      assert.equal(t?.closedReason, null);
      assert.equal(await s.getTicket('ZT-000009'), undefined);
      assert.deepEqual((await s.openTicketsFor('A'.repeat(40))).map((x) => x.id), ['ZT-000001']);

      await s.commitEffects([{ kind: 'ticket-update', from: 'pending', ticketId: 'ZT-000001', expectVersion: 0, vote: vote('ZT-000001', 'M1') }], []);
      assert.equal((await s.getTicket('ZT-000001'))?.version, 1);
      // A second approval decided on version 0 (a concurrent message) is refused as a whole: no vote, no mail.
      await assert.rejects(s.commitEffects([{ kind: 'ticket-update', from: 'pending', ticketId: 'ZT-000001', expectVersion: 0, vote: vote('ZT-000001', 'M2') }],
        [outboxRec('lost')]), (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
      assert.equal(await s.getOutbox('lost'), undefined);
      assert.deepEqual((await s.getVotes('ZT-000001')).map((v) => v.voter), ['M1']);

      // Decided again on version 1: the vote, the state change and the change request land together.
      const eff = await s.commitEffects([
        { kind: 'ticket-update', from: 'pending', ticketId: 'ZT-000001', expectVersion: 1, vote: vote('ZT-000001', 'M2'), state: 'approved' },
        { kind: 'change-create', change: newChange('c-ZT-000001', { ticketId: 'ZT-000001', approvers: ['M1', 'M2'] }) },
      ], [outboxRec('n1')]);
      assert.deepEqual(eff, { changeIds: ['c-ZT-000001'], outboxIds: ['n1'] });
      const t2 = await s.getTicket('ZT-000001');
      assert.equal(t2?.state, 'approved');
      assert.equal(t2?.version, 2);
      const votes = await s.getVotes('ZT-000001');
      assert.deepEqual(votes.map((v) => [v.voter, v.vote]), [['M1', 'approve'], ['M2', 'approve']]);
      assert.deepEqual((await s.listTickets({ states: ['approved'] })).map((x) => x.id), ['ZT-000001']);
      assert.deepEqual(await s.listTickets({ states: ['pending'] }), []);
      await s.close();
    });

    test('a ticket id is created once; a duplicate aborts the transaction', async () => {
      const s = await factory.open();
      const a = spoolRec();
      const b = spoolRec();
      await s.spool(a);
      await s.spool(b);
      await s.complete(completion(a, { effects: [{ kind: 'ticket-create', ticket: newTicket('ZT-000007') }] }));
      await assert.rejects(s.complete(completion(b, { effects: [{ kind: 'ticket-create', ticket: newTicket('ZT-000007', { subject: 'other' }) }] })),
        (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
      assert.equal((await s.getSpooled(b.key))?.state, 'queued');
      assert.equal((await s.getTicket('ZT-000007'))?.subject, 'A'.repeat(40));
      await s.close();
    });

    test('a reject after an approve by the same maintainer replaces the vote; closed reasons are kept', async () => {
      const s = await factory.open();
      await s.commitEffects([{ kind: 'ticket-create', ticket: newTicket('ZT-000002') }], []);
      await s.commitEffects([{ kind: 'ticket-update', from: 'pending', ticketId: 'ZT-000002', expectVersion: 0, vote: vote('ZT-000002', 'M1') }], []);
      await s.commitEffects([{ kind: 'ticket-update', from: 'pending', ticketId: 'ZT-000002', expectVersion: 1, vote: vote('ZT-000002', 'M1', 'reject'),
        state: 'rejected', closedReason: 'not who they say' }], []);
      const t = await s.getTicket('ZT-000002');
      assert.equal(t?.state, 'rejected');
      assert.equal(t?.closedReason, 'not who they say');
      // An update decided on another state than the row's (here: pending, the row is rejected) writes nothing, even at the right version.
      await assert.rejects(s.commitEffects([{ kind: 'ticket-update', from: 'pending', ticketId: 'ZT-000002', expectVersion: 2, state: 'expired' }], []),
        (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
      assert.equal((await s.getTicket('ZT-000002'))?.state, 'rejected');
      assert.deepEqual((await s.getVotes('ZT-000002')).map((v) => [v.voter, v.vote, v.reason]), [['M1', 'reject', 'no']]);
      assert.deepEqual(await s.openTicketsFor('A'.repeat(40)), []);
      await s.close();
    });

    test('change requests: created once, queued until finished once, log index remembered', async () => {
      const s = await factory.open();
      const c1 = await s.commitEffects([{ kind: 'change-create', change: newChange('c-1') }], []);
      assert.deepEqual(c1.changeIds, ['c-1']);
      const again = await s.commitEffects([{ kind: 'change-create', change: newChange('c-1', { subject: 'other' }) }], []);
      assert.deepEqual(again.changeIds, [], 'the same change id is not created twice');
      await s.commitEffects([{ kind: 'change-create', change: newChange('c-2', { kind: 'revoke-key' }) }], []);
      assert.deepEqual(await s.pendingChanges(), ['c-1', 'c-2']);
      const row = await s.getChange('c-1');
      assert.equal(row?.state, 'queued');
      assert.equal(row?.subject, 'A'.repeat(40));
      assert.deepEqual(row?.signers, ['A'.repeat(40)]);
      assert.equal(row?.logIndex, null);
      await s.setChangeLogIndex('c-1', 41);
      assert.equal((await s.getChange('c-1'))?.logIndex, 41);

      await s.commitEffects([{ kind: 'change-finish', changeId: 'c-1', state: 'applied', commit: 'abc', logIndex: null, error: null }], [outboxRec('applied-1')]);
      const done = await s.getChange('c-1');
      assert.equal(done?.state, 'applied');
      assert.equal(done?.commit, 'abc');
      assert.equal(done?.logIndex, 41, 'a finish without an index keeps the one recorded');
      assert.deepEqual(await s.pendingChanges(), ['c-2']);
      assert.deepEqual(await s.pendingOutbox(), ['applied-1']);
      await assert.rejects(s.commitEffects([{ kind: 'change-finish', changeId: 'c-1', state: 'failed', commit: null, logIndex: null, error: 'x' }], []),
        (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
      await s.setChangeLogIndex('c-1', 99);
      assert.equal((await s.getChange('c-1'))?.logIndex, 41, 'a finished change keeps its index');
      await s.commitEffects([{ kind: 'change-finish', changeId: 'c-2', state: 'failed', commit: null, logIndex: null, error: 'key gone' }], []);
      assert.equal((await s.getChange('c-2'))?.error, 'key gone');
      assert.deepEqual((await s.listChanges({ states: ['failed'] })).map((c) => c.id), ['c-2']);
      assert.deepEqual((await s.listChanges()).map((c) => c.id), ['c-1', 'c-2']);
      assert.equal(await s.getChange('nope'), undefined);
      await s.close();
    });

    test('effects of a duplicate message are not applied', async () => {
      const s = await factory.open();
      const a = spoolRec({ messageId: '<dup-eff@x>' });
      const b = spoolRec({ messageId: '<dup-eff@x>' });
      await s.spool(a);
      await s.spool(b);
      await s.complete(completion(a));
      const rb = await s.complete(completion(b, { effects: [{ kind: 'change-create', change: newChange('c-dup') }] }));
      assert.equal(rb.applied, false);
      assert.equal(await s.getChange('c-dup'), undefined);
      await s.close();
    });

    test('log appends: pending, then done with the attestation index and the checkpoint, in one step', async () => {
      const s = await factory.open();
      await s.beginLogAppend({ key: 'attest:a', fromIndex: 4, count: 2, entriesDigest: 'f'.repeat(64) });
      await assert.rejects(s.beginLogAppend({ key: 'attest:a', fromIndex: 9, count: 1, entriesDigest: '0'.repeat(64) }),
        (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
      assert.deepEqual((await s.pendingLogAppends()).map((r) => [r.key, r.fromIndex, r.count, r.state]), [['attest:a', 4, 2, 'pending']]);
      const att = (i: number, digest: string) => ({ logIndex: i, digest, name: `file ${i}`, signer: 'B'.repeat(40), source: 'c'.repeat(64), time: '2025-01-01T00:00:00Z' });
      await s.finishLogAppend('attest:a', { attestations: [att(4, 'sha256:aa'), att(5, 'sha256:bb')], checkpoint: { size: 6, note: 'cp6\n' } });
      assert.deepEqual(await s.pendingLogAppends(), []);
      const rec = await s.getLogAppend('attest:a');
      assert.equal(rec?.state, 'done');
      assert.equal(rec?.fromIndex, 4);
      assert.equal(rec?.entriesDigest, 'f'.repeat(64));
      assert.deepEqual(await s.findAttestations('sha256:aa'), [att(4, 'sha256:aa')]);
      assert.deepEqual(await s.findAttestations('sha256:cc'), []);
      assert.equal(await s.getCheckpoint(6), 'cp6\n');
      // Finishing twice is a conflict, and a conflict changes nothing.
      await assert.rejects(s.finishLogAppend('attest:a', { attestations: [att(7, 'sha256:aa')], checkpoint: { size: 8, note: 'cp8\n' } }),
        (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
      assert.equal((await s.findAttestations('sha256:aa')).length, 1);
      assert.equal(await s.getCheckpoint(8), undefined);
      await assert.rejects(s.finishLogAppend('never-begun', { attestations: [], checkpoint: { size: 9, note: 'x\n' } }),
        (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
      await s.close();
    });

    test('log appends: an abandoned append is forgotten; a done one is kept', async () => {
      const s = await factory.open();
      await s.beginLogAppend({ key: 'k1', fromIndex: 0, count: 1, entriesDigest: 'a'.repeat(64) });
      await s.abandonLogAppend('k1');
      assert.equal(await s.getLogAppend('k1'), undefined);
      await s.beginLogAppend({ key: 'k1', fromIndex: 0, count: 1, entriesDigest: 'b'.repeat(64) });
      await s.finishLogAppend('k1', { attestations: [], checkpoint: { size: 1, note: 'one\n' } });
      await s.abandonLogAppend('k1');
      assert.equal((await s.getLogAppend('k1'))?.state, 'done');
      await s.close();
    });

    test('attestations of one digest come back in log order; checkpoints keep the first note per size', async () => {
      const s = await factory.open();
      const att = (i: number) => ({ logIndex: i, digest: 'sha512:' + 'e'.repeat(128), name: `n${i}`, signer: 'C'.repeat(40), source: 'd'.repeat(64), time: '2025-02-01T10:00:00Z' });
      await s.beginLogAppend({ key: 'late', fromIndex: 10, count: 1, entriesDigest: '1'.repeat(64) });
      await s.beginLogAppend({ key: 'early', fromIndex: 3, count: 1, entriesDigest: '2'.repeat(64) });
      await s.finishLogAppend('late', { attestations: [att(10)], checkpoint: { size: 11, note: 'a\n' } });
      await s.finishLogAppend('early', { attestations: [att(3)], checkpoint: { size: 4, note: 'b\n' } });
      assert.deepEqual((await s.findAttestations('sha512:' + 'e'.repeat(128))).map((a) => a.logIndex), [3, 10]);
      await s.recordCheckpoint(11, 'other\n');
      await s.recordCheckpoint(0, 'empty\n');
      assert.equal(await s.getCheckpoint(11), 'a\n');
      assert.deepEqual(await s.checkpointSizes(), [0, 4, 11]);
      await s.close();
    });

    test('source vouches: indexed with the log append, found by release (any case), by key, or all, in log order', async () => {
      const s = await factory.open();
      const key = 'A'.repeat(40);
      const other = 'B'.repeat(40);
      const v = (logIndex: number, release: string, fingerprint: string, type: 'source-key-added' | 'source-release-added') => ({
        logIndex, release, package: release.replace(/-\d.*$/, ''), fingerprint, voucher: 'C'.repeat(40), ticket: `ZT-00000${logIndex}`,
        time: '2026-01-01T00:00:00Z', type,
      });
      await s.beginLogAppend({ key: 'src:1', fromIndex: 2, count: 2, entriesDigest: '3'.repeat(64) });
      await s.beginLogAppend({ key: 'src:0', fromIndex: 0, count: 1, entriesDigest: '4'.repeat(64) });
      // Appended out of order: the index still answers in log order.
      await s.finishLogAppend('src:1', {
        attestations: [],
        sourceVouches: [v(2, 'openssh-9.9p2', key, 'source-release-added'), v(3, 'musl-1.2.5', other, 'source-key-added')],
        checkpoint: { size: 4, note: 'cp4\n' },
      });
      await s.finishLogAppend('src:0', {
        attestations: [],
        sourceVouches: [v(0, 'OpenSSH-9.9p1', key, 'source-key-added'), v(0, 'openssh-9.8p1', key, 'source-key-added')],
        checkpoint: { size: 1, note: 'cp1\n' },
      });
      assert.deepEqual(await s.findSourceVouches({ release: 'OPENSSH-9.8P1' }), [v(0, 'openssh-9.8p1', key, 'source-key-added')]);
      assert.deepEqual(await s.findSourceVouches({ release: 'openssh-9.9p1' }), [v(0, 'OpenSSH-9.9p1', key, 'source-key-added')], 'kept as written');
      assert.deepEqual(await s.findSourceVouches({ release: 'openssh-9.9' }), [], 'a release is matched whole, not as a prefix');
      // Within one entry, by release (lower-cased): the order does not depend on how the rows were inserted.
      assert.deepEqual((await s.findSourceVouches({ fingerprint: key })).map((x) => [x.logIndex, x.release]),
        [[0, 'openssh-9.8p1'], [0, 'OpenSSH-9.9p1'], [2, 'openssh-9.9p2']]);
      assert.deepEqual(await s.findSourceVouches({ fingerprint: key.toLowerCase() }), await s.findSourceVouches({ fingerprint: key }), 'a fingerprint in any case');
      assert.deepEqual((await s.findSourceVouches({ fingerprint: key })).map((x) => x.logIndex), [0, 0, 2]);
      assert.deepEqual((await s.findSourceVouches({ fingerprint: other })).map((x) => x.release), ['musl-1.2.5']);
      assert.deepEqual((await s.findSourceVouches({})).map((x) => x.logIndex), [0, 0, 2, 3]);
      assert.deepEqual(await s.findSourceVouches({ fingerprint: 'D'.repeat(40) }), []);
      // A conflict (finished twice) indexes nothing more.
      await assert.rejects(s.finishLogAppend('src:0', { attestations: [], sourceVouches: [v(9, 'zlib-1.3.1', key, 'source-release-added')], checkpoint: { size: 10, note: 'x\n' } }),
        (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
      assert.deepEqual(await s.findSourceVouches({ release: 'zlib-1.3.1' }), []);
      await s.close();
    });

    test('subscription tokens: recorded with the reply, used once, never after expiry; confirm applies the action', async () => {
      const s = await factory.open();
      const tok = (hash: string, address: string, action: 'subscribe' | 'unsubscribe', expiresAt = '2030-01-01T00:00:00.000Z') =>
        ({ kind: 'subscription-token' as const, token: { tokenHash: hash, address, action, createdAt: '2025-01-01T00:00:00.000Z', expiresAt, spoolKey: null } });
      await s.commitEffects([tok('h1', 'Sub@Example.org', 'subscribe'), tok('h2', 'sub@example.org', 'subscribe')], [outboxRec('tok-reply', 'sub@example.org')]);
      assert.equal((await s.getSubscriptionToken('h1'))?.address, 'sub@example.org', 'addresses are kept in lower case');
      assert.equal((await s.getSubscriptionToken('h1'))?.usedAt, null);
      assert.equal(await s.getSubscriptionToken('nope'), undefined);
      assert.equal(await s.getSubscriber('sub@example.org'), undefined, 'a token alone subscribes nobody');
      assert.deepEqual(await s.pendingOutbox(), ['tok-reply']);
      await assert.rejects(s.commitEffects([tok('h1', 'other@example.org', 'subscribe')], []),
        (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');

      const at = '2025-01-02T00:00:00.000Z';
      await s.commitEffects([{ kind: 'subscription-confirm', tokenHash: 'h1', at }], []);
      assert.deepEqual(await s.listSubscribers(), [{ address: 'sub@example.org', subscribedAt: at }]);
      assert.equal((await s.getSubscriber('SUB@example.org'))?.address, 'sub@example.org');
      assert.equal((await s.getSubscriptionToken('h1'))?.usedAt, at);
      assert.equal((await s.getSubscriptionToken('h2'))?.usedAt, at, 'the other pending token of the address is used up with it');
      for (const hash of ['h1', 'h2', 'unknown']) {
        await assert.rejects(s.commitEffects([{ kind: 'subscription-confirm', tokenHash: hash, at }], [outboxRec(`lost-${hash}`)]),
          (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
        assert.equal(await s.getOutbox(`lost-${hash}`), undefined, 'a refused confirm sends nothing');
      }

      // Expiry is decided against the confirm's time, inside the transaction.
      await s.commitEffects([tok('h3', 'sub@example.org', 'unsubscribe', '2025-01-03T00:00:00.000Z')], []);
      await assert.rejects(s.commitEffects([{ kind: 'subscription-confirm', tokenHash: 'h3', at: '2025-01-03T00:00:00.000Z' }], []),
        (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
      assert.equal((await s.getSubscriptionToken('h3'))?.usedAt, null);
      assert.equal((await s.listSubscribers()).length, 1);
      await s.commitEffects([{ kind: 'subscription-confirm', tokenHash: 'h3', at: '2025-01-02T23:59:59.000Z' }], []);
      assert.deepEqual(await s.listSubscribers(), []);
      await s.close();
    });

    if (factory.connect) {
      describe('two writers at once (two connections to one database)', () => {
        test('the same message is spooled once and completed once: one applied, one already-done', async () => {
          const a = await factory.open();
          const b = await factory.connect!(a);
          const r = spoolRec();
          assert.deepEqual((await Promise.all([a.spool(r), b.spool(r)])).sort(), [false, true]);
          const [ra, rb] = await Promise.all([runOp(a, { kind: 'complete', completion: completion(r) }), runOp(b, { kind: 'complete', completion: completion(r) })]);
          assert.deepEqual(sorted([ra, rb]), sorted([{ applied: true, reason: null }, { applied: false, reason: 'already-done' }]));
          assert.deepEqual((await a.listOutbox()).map((o) => o.id), [`reply-${r.key}`], 'one reply, not two');
          assert.deepEqual(await b.pendingSpool(), []);
          await b.close();
          await a.close();
        });

        test('one signature used by two messages at once: one accepted, one refused (STORE_CONFLICT), nothing of the loser recorded', async () => {
          const a = await factory.open();
          const b = await factory.connect!(a);
          const [m1, m2] = [spoolRec(), spoolRec()];
          await a.spool(m1);
          await a.spool(m2);
          const sig = (k: string) => [{ signatureId: 'sig-race', signer: 'F'.repeat(40), command: 'APPROVE', spoolKey: k }];
          const out = await Promise.all([
            runOp(a, { kind: 'complete', completion: completion(m1, { signatures: sig(m1.key) }) }),
            runOp(b, { kind: 'complete', completion: completion(m2, { signatures: sig(m2.key) }) }),
          ]);
          assert.deepEqual(sorted(out), sorted([{ applied: true, reason: null }, { error: 'STORE_CONFLICT' }]));
          const loser = (out[0] as { applied?: boolean }).applied ? m2 : m1;
          assert.equal((await a.getSpooled(loser.key))?.state, 'queued');
          assert.equal(await a.getOutbox(`reply-${loser.key}`), undefined);
          assert.equal(await b.isSignatureUsed('sig-race'), true);
          await b.close();
          await a.close();
        });

        test('one outbox row claimed by two senders at once: one sends it, the other is refused and changes nothing', async () => {
          for (const how of ['sent', 'dead'] as const) {
            const a = await factory.open();
            const b = await factory.connect!(a);
            const id = `o-race-${how}`;
            await a.addOutbox([outboxRec(id)]);
            // Senders on hosts this process cannot see: each one's claim holds against the other.
            const out = await Promise.all([runOp(a, { kind: 'settle', id, how, sender: 'host-a.example/1/aa' }),
              runOp(b, { kind: 'settle', id, how, sender: 'host-b.example/2/bb' })]);
            const won = out.filter((o) => 'settled' in (o as object));
            assert.deepEqual(won, [{ settled: how }], JSON.stringify(out));
            const lost = out.find((o) => !('settled' in (o as object))) as { refused: string };
            // Refused while the other was sending ('held'), or after it settled.
            assert.ok(['held', how].includes(lost.refused), JSON.stringify(out));
            const row = await b.getOutbox(id);
            assert.equal(row?.status, how);
            assert.equal(row?.attempts, 1, 'one hand-over, not two');
            assert.deepEqual(await a.pendingOutbox(), []);
            await b.close();
            await a.close();
          }
        });
      });
    }

    if (factory.childOpener) {
      describe('two writers at once (two processes)', () => {
        test('the same messages completed by two processes: each applied once and already-done once, one reply each', async () => {
          const s = await factory.open();
          const recs = Array.from({ length: 20 }, () => spoolRec());
          for (const r of recs) await s.spool(r);
          const op: ChildOp = { kind: 'completeAll', completions: recs.map((r) => completion(r)) };
          const [a, b] = (await inProcesses(factory.childOpener!(s), [op, op])) as unknown[][];
          recs.forEach((_r, i) => assert.deepEqual(sorted([a[i], b[i]]), sorted([{ applied: true, reason: null }, { applied: false, reason: 'already-done' }]), `message ${i}`));
          assert.deepEqual((await s.listOutbox()).map((o) => o.id).sort(), recs.map((r) => `reply-${r.key}`).sort());
          assert.deepEqual(await s.pendingSpool(), []);
          await s.close();
        });

        test('the same message spooled by two processes: stored once', async () => {
          const s = await factory.open();
          const r = spoolRec();
          const out = await inProcesses(factory.childOpener!(s), [{ kind: 'spool', rec: r as never }, { kind: 'spool', rec: r as never }]);
          assert.deepEqual(sorted(out), sorted([{ spooled: true }, { spooled: false }]));
          assert.deepEqual((await s.getSpooled(r.key))?.raw, r.raw);
          assert.deepEqual(await s.pendingSpool(), [r.key]);
          await s.close();
        });

        test('one signature used by two processes at once: accepted once, refused once', async () => {
          const s = await factory.open();
          const [m1, m2] = [spoolRec(), spoolRec()];
          await s.spool(m1);
          await s.spool(m2);
          const sig = (k: string) => [{ signatureId: 'sig-proc', signer: 'F'.repeat(40), command: 'APPROVE', spoolKey: k }];
          const out = await inProcesses(factory.childOpener!(s), [
            { kind: 'complete', completion: completion(m1, { signatures: sig(m1.key) }) },
            { kind: 'complete', completion: completion(m2, { signatures: sig(m2.key) }) },
          ]);
          assert.deepEqual(sorted(out), sorted([{ applied: true, reason: null }, { error: 'STORE_CONFLICT' }]));
          const states = [(await s.getSpooled(m1.key))?.state, (await s.getSpooled(m2.key))?.state].sort();
          assert.deepEqual(states, ['done', 'queued']);
          assert.equal((await s.listOutbox()).length, 1);
          await s.close();
        });

        test('one outbox row claimed by two processes at once: handed over once, settled by its claimant alone', async () => {
          for (let round = 0; round < 5; round++) {
            const s = await factory.open();
            const id = `o-proc-${round}`;
            await s.addOutbox([outboxRec(id)]);
            const out = await inProcesses(factory.childOpener!(s), [{ kind: 'settle', id, how: 'sent' }, { kind: 'settle', id, how: 'dead' }]);
            const won = out.filter((o) => 'settled' in (o as object)) as { settled: 'sent' | 'dead' }[];
            assert.equal(won.length, 1, `exactly one claimant: ${JSON.stringify(out)}`);
            const lost = out.find((o) => !('settled' in (o as object))) as { refused: string };
            // Refused while the winner was sending ('held'), or after it settled.
            assert.ok(['held', won[0].settled].includes(lost.refused), JSON.stringify(out));
            const row = await s.getOutbox(id);
            assert.equal(row?.status, won[0].settled);
            assert.equal(row?.attempts, 1, 'one hand-over, not two');
            await s.close();
          }
        });
      });
    }

    if (factory.reopen) {
      test('everything survives close and reopen', async () => {
        const s = await factory.open();
        const r = spoolRec();
        await s.spool(r);
        await s.complete(completion(r, { signatures: [{ signatureId: 'sigX', signer: 'S', command: 'ATTEST', spoolKey: r.key }] }));
        await s.setCursor('m', { uidValidity: 1, lastUid: 2 });
        await s.commitEffects([{ kind: 'ticket-create', ticket: newTicket('ZT-000003') },
          { kind: 'change-create', change: newChange('c-keep', { ticketId: 'ZT-000003' }) }], []);
        await s.nextTicketNumber();
        const s2 = await factory.reopen!(s);
        assert.equal((await s2.getTicket('ZT-000003'))?.state, 'pending');
        assert.deepEqual(await s2.pendingChanges(), ['c-keep']);
        assert.equal(await s2.nextTicketNumber(), 2);
        assert.equal((await s2.getSpooled(r.key))?.state, 'done');
        assert.equal(await s2.isSignatureUsed('sigX'), true);
        assert.deepEqual(await s2.getCursor('m'), { uidValidity: 1, lastUid: 2 });
        assert.deepEqual(await s2.pendingOutbox(), [`reply-${r.key}`]);
        await s2.close();
      });

      test('the log index survives close and reopen', async () => {
        const s = await factory.open();
        await s.beginLogAppend({ key: 'p', fromIndex: 0, count: 1, entriesDigest: '3'.repeat(64) });
        await s.beginLogAppend({ key: 'd', fromIndex: 1, count: 1, entriesDigest: '4'.repeat(64) });
        await s.finishLogAppend('d', { attestations: [{ logIndex: 1, digest: 'sha256:ab', name: 'x', signer: 'D'.repeat(40), source: 'e'.repeat(64), time: '2025-01-01T00:00:00Z' }],
          checkpoint: { size: 2, note: 'two\n' } });
        const s2 = await factory.reopen!(s);
        assert.deepEqual((await s2.pendingLogAppends()).map((r) => r.key), ['p']);
        assert.equal((await s2.findAttestations('sha256:ab'))[0]?.logIndex, 1);
        assert.equal(await s2.getCheckpoint(2), 'two\n');
        await s2.close();
      });
    }
  });
}
