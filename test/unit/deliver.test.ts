/**
 * The one delivery step (queue/deliver.ts): a row is handed to the transport
 * once, however many callers in this process ask for it at once (the
 * outbound worker and a retry round), never while another process's claim
 * holds, and never again once sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliverRow, deliveriesSettled } from '../../queue/deliver.js';
import type { OutgoingEnvelope, Transport } from '../../queue/transport.js';
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
