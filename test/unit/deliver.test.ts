/**
 * The one delivery step (queue/deliver.ts): a row is handed to the transport
 * once, however many callers in this process ask for it at once (the
 * outbound worker and a retry round), never while another process's claim
 * holds, and never again once sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliverRow, deliveriesSettled } from '../../queue/deliver.js';
import { FreshSender, type OutboundProducer } from '../../queue/outbound.js';
import type { OutgoingEnvelope, Transport } from '../../queue/transport.js';
import { silentLogger } from '../../src/logger.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { OutboxRecord } from '../../src/store/types.js';

/** Captures each hand-over; each send waits until released, so callers overlap. */
class HeldTransport implements Transport {
  readonly where = 'test:held';
  readonly sent: { id: string; envelope: OutgoingEnvelope; raw: string }[] = [];
  private releases: (() => void)[] = [];
  async send(id: string, envelope: OutgoingEnvelope, raw: Buffer): Promise<void> {
    this.sent.push({ id, envelope, raw: raw.toString() });
    await new Promise<void>((r) => this.releases.push(r));
  }
  release(): void {
    for (const r of this.releases.splice(0)) r();
  }
  close(): void { /* nothing */ }
}

const rec = (id: string): OutboxRecord => ({
  id, spoolKey: null, kind: 'reply', envelopeFrom: 'bot@x', recipients: ['a@example.org'], messageId: `<${id}@x>`, raw: Buffer.from(`mail ${id}`),
});

test('two callers at once in one process: one hand-over, both told it was sent; a later call sends nothing', async () => {
  const store = SqliteStore.open(':memory:');
  await store.addOutbox([rec('o1')]);
  const t = new HeldTransport();
  const first = deliverRow(store, t, 'o1');
  const second = deliverRow(store, t, 'o1');
  await new Promise((r) => setImmediate(r));
  t.release();
  assert.deepEqual(await Promise.all([first, second]), [
    { outcome: 'sent', recipients: ['a@example.org'] }, { outcome: 'sent', recipients: ['a@example.org'] }]);
  await deliveriesSettled();
  assert.deepEqual(await deliverRow(store, t, 'o1'), { outcome: 'already-sent' });
  assert.deepEqual(t.sent, [{ id: 'o1', envelope: { from: 'bot@x', to: ['a@example.org'] }, raw: 'mail o1' }]);
  const row = await store.getOutbox('o1');
  assert.equal(row?.status, 'sent');
  assert.equal(row?.attempts, 1);
  await store.close();
});

test('a row another process claimed is not sent here while the claim holds, and nothing about it changes', async () => {
  const store = SqliteStore.open(':memory:');
  await store.addOutbox([rec('o2')]);
  const elsewhere = 'other-host.example/77/abcdef';
  assert.ok('row' in await store.claimSending('o2', elsewhere));
  const before = await store.getOutbox('o2');
  const t = new HeldTransport();
  assert.deepEqual(await deliverRow(store, t, 'o2'), { outcome: 'held', by: elsewhere });
  assert.deepEqual(t.sent, []);
  assert.deepEqual(await store.getOutbox('o2'), before);
  assert.deepEqual(await deliverRow(store, t, 'missing'), { outcome: 'missing' });
  await store.close();
});

test('fresh replies: sent at once up to the limit without waiting for the send, the rest queued; a temporary failure queues the other attempts; nothing starts once closed', async () => {
  const store = SqliteStore.open(':memory:');
  await store.addOutbox([rec('f1'), rec('f2'), rec('f3'), rec('f4')]);
  const calls: string[] = [];
  const outbound = {
    enqueueNew: async (ids: string[]) => { calls.push(`queued ${ids.join(',')}`); },
    enqueue: async (ids: string[]) => { calls.push(`requeued ${ids.join(',')}`); return []; },
    enqueueAfterFirstTry: async (id: string) => { calls.push(`retry ${id}`); },
  } as unknown as OutboundProducer;
  let fail = true;
  const sent: string[] = [];
  const transport: Transport = {
    where: 'test', close() { /* nothing */ },
    async send(id) {
      await new Promise((r) => setImmediate(r));
      if (fail) throw Object.assign(new Error('451 later'), { responseCode: 451 });
      sent.push(id);
    },
  };
  const sender = new FreshSender(1, store, transport, outbound, silentLogger);
  await sender.take(['f1', 'f2']);
  assert.deepEqual(calls, ['queued f2'], 'one slot: f1 is under way, f2 goes to the queue, and take did not wait for f1');
  assert.equal(sender.busy, 1, 'run --once waits for it');
  await deliveriesSettled();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls, ['queued f2', 'retry f1']);
  assert.equal(sender.busy, 0);
  assert.equal((await store.getOutbox('f1'))?.status, 'pending');
  fail = false;
  await sender.take(['f3']);
  await deliveriesSettled();
  assert.deepEqual(sent, ['f3']);
  assert.equal((await store.getOutbox('f3'))?.status, 'sent');
  sender.close();
  await sender.take(['f4']);
  await deliveriesSettled();
  assert.deepEqual(sent, ['f3'], 'closed: f4 stays pending for the next start');
  assert.equal((await store.getOutbox('f4'))?.status, 'pending');
  assert.deepEqual(calls, ['queued f2', 'retry f1']);
  await store.close();
});
