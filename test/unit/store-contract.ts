/**
 * The state-store contract: every backend (SQLite today, PostgreSQL later)
 * must pass this suite unchanged. Call `storeContract(name, open)` from a
 * backend's test file.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreError } from '../../src/errors.js';
import type { Completion, OutboxRecord, SpoolRecord, StateStore } from '../../src/store/types.js';

export interface StoreFactory {
  /** A new, empty store. */
  open(): Promise<StateStore>;
  /** The same store, closed and opened again (durability). Optional for in-memory backends. */
  reopen?(s: StateStore): Promise<StateStore>;
}

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

    test('complete records the outcome and the replies in one step, once', async () => {
      const s = await factory.open();
      const r = spoolRec();
      await s.spool(r);
      const res = await s.complete(completion(r));
      assert.deepEqual(res, { applied: true, outboxIds: [`reply-${r.key}`] });
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

    test('outbox lifecycle: pending -> sending -> sent; failures counted; dead rows leave the queue', async () => {
      const s = await factory.open();
      await s.addOutbox([outboxRec('o1'), outboxRec('o2'), outboxRec('o3')]);
      await s.addOutbox([outboxRec('o1')]);
      assert.deepEqual(await s.pendingOutbox(), ['o1', 'o2', 'o3']);
      await s.markSending('o1');
      assert.equal((await s.getOutbox('o1'))?.status, 'sending');
      assert.deepEqual(await s.pendingOutbox(), ['o1', 'o2', 'o3'], 'a row in flight at a crash is still pending');
      await s.markSent('o1');
      await s.markSending('o2');
      await s.markFailed('o2', '451 try later', false);
      await s.markSending('o3');
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
      await s.close();
    });

    test('replies per recipient are counted for rate limiting (case-insensitive)', async () => {
      const s = await factory.open();
      const since = new Date(Date.now() - 1000).toISOString();
      await s.addOutbox([outboxRec('r1', 'X@Example.org'), outboxRec('r2', 'x@example.org'), outboxRec('r3', 'y@example.org')]);
      assert.equal(await s.countRepliesTo('x@EXAMPLE.org', since), 2);
      assert.equal(await s.countRepliesTo('x@example.org', new Date(Date.now() + 60_000).toISOString()), 0);
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

    if (factory.reopen) {
      test('everything survives close and reopen', async () => {
        const s = await factory.open();
        const r = spoolRec();
        await s.spool(r);
        await s.complete(completion(r, { signatures: [{ signatureId: 'sigX', signer: 'S', command: 'ATTEST', spoolKey: r.key }] }));
        await s.setCursor('m', { uidValidity: 1, lastUid: 2 });
        const s2 = await factory.reopen!(s);
        assert.equal((await s2.getSpooled(r.key))?.state, 'done');
        assert.equal(await s2.isSignatureUsed('sigX'), true);
        assert.deepEqual(await s2.getCursor('m'), { uidValidity: 1, lastUid: 2 });
        assert.deepEqual(await s2.pendingOutbox(), [`reply-${r.key}`]);
        await s2.close();
      });
    }
  });
}
