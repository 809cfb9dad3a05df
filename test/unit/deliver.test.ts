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

test('fresh replies: sent at once up to the limit without waiting for the send, the rest wait here for a slot (no job each); a temporary failure queues the other attempts; nothing more starts once closed', async () => {
  const store = SqliteStore.open(':memory:');
  await store.addOutbox(['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7'].map(rec));
  const calls: string[] = [];
  const outbound = {
    enqueueNew: async (ids: string[]) => { calls.push(`queued ${ids.join(',')}`); },
    enqueue: async (ids: string[]) => { calls.push(`requeued ${ids.join(',')}`); return []; },
    enqueueAfterFirstTry: async (id: string) => { calls.push(`retry ${id}`); },
  } as unknown as OutboundProducer;
  let fail = true;
  const started: string[] = [];
  const sent: string[] = [];
  const gates: (() => void)[] = [];
  const transport: Transport = {
    where: 'test', close() { /* nothing */ },
    async send(id) {
      started.push(id);
      await new Promise<void>((r) => gates.push(r));
      if (fail) throw Object.assign(new Error('451 later'), { responseCode: 451 });
      sent.push(id);
    },
  };
  const turn = () => new Promise((r) => setImmediate(r));
  /** Lets the one send under way finish, then lets its bookkeeping and the next start run. */
  const releaseOne = async () => {
    for (let i = 0; i < 20 && !gates.length; i++) await turn();
    assert.equal(gates.length, 1, 'one send under way (the limit)');
    gates.shift()!();
    for (let i = 0; i < 20; i++) await turn();
  };
  const sender = new FreshSender(1, store, transport, outbound, silentLogger);
  await sender.take(['f1', 'f2']);
  await sender.take(['f2']);
  for (let i = 0; i < 5; i++) await turn();
  assert.deepEqual(started, ['f1'], 'one slot: f1 under way, f2 waits, and take did not wait for f1');
  assert.equal(sender.busy, 2, 'run --once waits for both');
  assert.ok(sender.holds('f2') && sender.holds('f1'), 'the retry round leaves both alone');
  await releaseOne();
  assert.deepEqual(started, ['f1', 'f2'], 'f2 takes the slot f1 left, once');
  assert.deepEqual(calls, ['retry f1']);
  await releaseOne();
  assert.deepEqual(calls, ['retry f1', 'retry f2'], 'each failed row queued for its other attempts; none queued for want of a slot');
  assert.equal(sender.busy, 0);
  assert.equal(sender.holds('f1'), false);
  assert.equal((await store.getOutbox('f1'))?.status, 'pending');
  fail = false;
  await sender.take(['f3', 'f4']);
  await releaseOne();
  await releaseOne();
  assert.deepEqual(sent, ['f3', 'f4'], 'in the order taken');
  assert.equal((await store.getOutbox('f4'))?.status, 'sent');
  await sender.take(['f5', 'f6']);
  for (let i = 0; i < 5; i++) await turn();
  sender.close();
  assert.equal(sender.busy, 1, 'the send under way still counts; the one waiting is let go');
  await releaseOne();
  await sender.take(['f7']);
  for (let i = 0; i < 20; i++) await turn();
  assert.deepEqual(started, ['f1', 'f2', 'f3', 'f4', 'f5'], 'closed: f6 and f7 never start');
  assert.deepEqual(sent, ['f3', 'f4', 'f5']);
  for (const id of ['f6', 'f7']) assert.equal((await store.getOutbox(id))?.status, 'pending', `${id} stays pending for the next start`);
  assert.equal(sender.busy, 0);
  assert.deepEqual(calls, ['retry f1', 'retry f2']);
  await store.close();
});

test('fresh replies at a stop: the sends under way finish and stop waits for them; those waiting for a slot are not started and stay pending; past the bound in line, the rest go to the outbound queue', async () => {
  const store = SqliteStore.open(':memory:');
  await store.addOutbox(['s1', 's2', 's3', 's4', 's5'].map(rec));
  const queued: string[] = [];
  const outbound = {
    enqueueNew: async (ids: string[]) => { queued.push(...ids); },
    enqueue: async () => [],
    enqueueAfterFirstTry: async () => undefined,
  } as unknown as OutboundProducer;
  const t = new HeldTransport();
  // One slot, two in line at most.
  const sender = new FreshSender(1, store, t, outbound, silentLogger, 2);
  await sender.take(['s1', 's2', 's3', 's4']);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(t.sent.map((m) => m.id), ['s1'], 's1 under way');
  assert.deepEqual(queued, ['s4'], 'past two in line: to the outbound queue');
  assert.equal(sender.busy, 3);
  let stopped = false;
  const stop = sender.stop().then(() => { stopped = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(stopped, false, 'the send under way is waited for');
  t.release();
  await stop;
  await sender.take(['s5']);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(t.sent.map((m) => m.id), ['s1'], 'nothing started after the stop');
  assert.equal((await store.getOutbox('s1'))?.status, 'sent');
  for (const id of ['s2', 's3', 's5']) assert.equal((await store.getOutbox(id))?.status, 'pending', `${id} pending for the next start`);
  assert.equal(sender.busy, 0);
  await store.close();
});
