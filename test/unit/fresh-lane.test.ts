/**
 * The fresh lane (queue/fresh.ts): messages spooled just now are processed
 * in process, at most `concurrency` at a time, with intake held back once
 * more than that wait; one that throws goes to the inbound queue, and
 * neither its failure nor a failed hand-over stops the others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { FreshLane } from '../../queue/fresh.js';
import { handleInbound } from '../../queue/inbound.js';
import type { OutboundProducer } from '../../queue/outbound.js';
import type { Dispatcher, ProcessOutcome } from '../../src/commands/dispatch.js';
import { silentLogger } from '../../src/logger.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { LimitError } from '../../src/limits.js';
import type { SpoolRow } from '../../src/store/types.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Each key's processing waits until released; records how many ran at once. */
function gated() {
  const release = new Map<string, (v?: unknown) => void>();
  const fail = new Map<string, (e: Error) => void>();
  let running = 0;
  let peak = 0;
  const started: string[] = [];
  const process = (key: string): Promise<unknown> => {
    started.push(key);
    running++;
    peak = Math.max(peak, running);
    return new Promise((res, rej) => {
      release.set(key, (v) => { running--; res(v); });
      fail.set(key, (e) => { running--; rej(e); });
    });
  };
  return { process, release, fail, started, peak: () => peak };
}

test('at most `concurrency` at once; submit waits while more than that wait to start; idle once all finished', async () => {
  const g = gated();
  const lane = new FreshLane(2, g.process, async () => undefined, silentLogger);
  let submitted = false;
  const sub = lane.submit(['a', 'b', 'c', 'd', 'e']).then(() => { submitted = true; });
  await tick();
  assert.deepEqual(g.started, ['a', 'b']);
  assert.equal(lane.busy, 5);
  assert.ok(lane.holds('a') && lane.holds('e') && !lane.holds('z'));
  assert.equal(submitted, false, 'three wait with room for two: intake is held');
  g.release.get('a')!();
  await tick();
  assert.deepEqual(g.started, ['a', 'b', 'c']);
  await sub;
  assert.equal(submitted, true, 'two waiting: intake goes on');
  let idle = false;
  const whenIdle = lane.idle().then(() => { idle = true; });
  for (const k of ['b', 'c', 'd']) {
    g.release.get(k)!();
    await tick();
  }
  assert.equal(idle, false);
  g.release.get('e')!();
  await whenIdle;
  assert.equal(lane.busy, 0);
  assert.equal(lane.holds('a'), false, 'a finished message is let go');
  assert.equal(g.peak(), 2);
  assert.deepEqual(g.started, ['a', 'b', 'c', 'd', 'e']);
});

test('a message whose processing throws is handed over by key; a failed hand-over is logged; the others finish', async () => {
  const g = gated();
  const handed: string[] = [];
  const lines: { msg: string; cid: string }[] = [];
  const logger = pino({ level: 'warn' }, new Writable({ write(c: Buffer, _e, cb) { lines.push(JSON.parse(c.toString()) as { msg: string; cid: string }); cb(); } }));
  const lane = new FreshLane(3, g.process, async (key) => {
    handed.push(key);
    if (key === 'y') throw new Error('redis down');
  }, logger);
  await lane.submit(['x', 'y', 'z']);
  await tick();
  g.fail.get('x')!(new Error('store conflict'));
  g.fail.get('y')!(new Error('store fault'));
  g.release.get('z')!();
  await lane.idle();
  assert.deepEqual(handed, ['x', 'y']);
  assert.deepEqual(lines.map((l) => [l.cid, l.msg]), [
    ['x', 'processing failed, or queueing its replies did; handed to the inbound queue to retry'],
    ['y', 'processing failed, or queueing its replies did; handed to the inbound queue to retry'],
    ['y', 'could not hand the message to the inbound queue; the store keeps it for the retry round'],
  ]);
});

test('a message asked for again while it is processed here (a retry round job for a key the lane holds) is processed once', async () => {
  const store = SqliteStore.open(':memory:');
  const raw = Buffer.from('Message-ID: <one@x>\r\n\r\nHELP\r\n');
  await store.spool({ key: 'k1', mailbox: 'INBOX', uidValidity: 1, uid: '1', messageId: '<one@x>', raw, receivedAt: new Date().toISOString() });
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const dispatcher = {
    async processMessage(row: SpoolRow): Promise<ProcessOutcome> {
      calls++;
      await gate;
      return { summary: 'help', completion: { spoolKey: row.key, messageKey: 'mid:<one@x>', outcome: 'help', sender: 'a@x', command: 'HELP', verdict: 'unsigned',
        signatures: [], outbox: [{ id: 'reply:k1', spoolKey: row.key, kind: 'reply', envelopeFrom: 'bot@x', recipients: ['a@x'], messageId: '<r1@x>', raw: Buffer.from('r') }] } };
    },
  } as unknown as Dispatcher;
  const sent: string[][] = [];
  const deps = {
    cfg: {} as never, store, dispatcher: async () => dispatcher, outbound: { enqueueNew: async () => undefined } as unknown as OutboundProducer,
    logger: silentLogger, sendNow: async (ids: readonly string[]) => { sent.push([...ids]); },
  };
  const first = handleInbound('k1', deps);
  const second = handleInbound('k1', deps);
  release();
  assert.deepEqual(await Promise.all([first, second]), ['help', 'help']);
  assert.equal(calls, 1, 'the dispatcher ran once');
  assert.deepEqual(sent, [['reply:k1']], 'its reply went out once');
  // Once finished, asking again finds the row done and processes nothing;
  // it enqueues the message's own reply that is not sent yet (a crash may
  // have come before it was queued), not another message's.
  await store.addOutbox([{ id: 'reply:k2', spoolKey: 'k2', kind: 'reply', envelopeFrom: 'bot@x', recipients: ['b@x'], messageId: '<r2@x>', raw: Buffer.from('r') }]);
  const enqueued: string[][] = [];
  const again = { ...deps, outbound: { enqueue: async (ids: string[]) => { enqueued.push([...ids]); return []; } } as unknown as OutboundProducer };
  assert.equal(await handleInbound('k1', again), 'already-done');
  assert.equal(calls, 1);
  assert.deepEqual(enqueued, [['reply:k1']]);
  await store.close();
});

test('an attempt that outlasts the deadline fails (LIMIT_PROCESS_TIME) and frees the slot; the work goes on holding the key, so a second attempt joins it rather than running a second dispatcher; slow work commits and answers once; work that never settles commits nothing', { timeout: 10_000 }, async () => {
  const store = SqliteStore.open(':memory:');
  const spool = (key: string) => store.spool({ key, mailbox: 'INBOX', uidValidity: 1, uid: key, messageId: `<${key}@x>`, raw: Buffer.from(`Message-ID: <${key}@x>\r\n\r\nHELP\r\n`), receivedAt: new Date().toISOString() });
  await spool('slow');
  await spool('stuck');
  const calls = new Map<string, number>();
  let finishSlow!: () => void;
  const slowDone = new Promise<void>((r) => { finishSlow = r; });
  const dispatcher = {
    async processMessage(row: SpoolRow): Promise<ProcessOutcome> {
      calls.set(row.key, (calls.get(row.key) ?? 0) + 1);
      await (row.key === 'stuck' ? new Promise(() => undefined) : slowDone);
      return { summary: 'help', completion: { spoolKey: row.key, messageKey: `mid:<${row.key}@x>`, outcome: 'help', sender: 'a@x', command: 'HELP', verdict: 'unsigned',
        signatures: [], outbox: [{ id: `reply:${row.key}`, spoolKey: row.key, kind: 'reply', envelopeFrom: 'bot@x', recipients: ['a@x'], messageId: `<r.${row.key}@x>`, raw: Buffer.from('r') }] } };
    },
  } as unknown as Dispatcher;
  const sent: string[][] = [];
  const deps = {
    cfg: {} as never, store, dispatcher: async () => dispatcher,
    outbound: { enqueueNew: async () => undefined, enqueue: async () => [] } as unknown as OutboundProducer,
    logger: silentLogger, sendNow: async (ids: readonly string[]) => { sent.push([...ids]); }, processMs: 150,
  };
  const isLate = (err: unknown) => err instanceof LimitError && err.code === 'LIMIT_PROCESS_TIME';
  const handed: string[] = [];
  const lane = new FreshLane(2, (key) => handleInbound(key, deps), async (key) => { handed.push(key); }, silentLogger);
  const t0 = Date.now();
  await lane.submit(['slow', 'stuck']);
  await lane.idle();
  const took = Date.now() - t0;
  assert.ok(took >= 140 && took < 2000, `the slots came free at the deadline (${took} ms)`);
  assert.deepEqual(handed.sort(), ['slow', 'stuck'], 'both handed to the inbound queue to try again');
  assert.equal(lane.busy, 0);
  // Second attempts join the work under way: still late, no second dispatcher.
  await assert.rejects(handleInbound('stuck', deps), isLate);
  await assert.rejects(handleInbound('slow', deps), isLate);
  assert.deepEqual([calls.get('slow'), calls.get('stuck')], [1, 1]);
  assert.deepEqual(sent, []);
  // The slow work finishes: it commits and answers, once; a later attempt finds it done.
  finishSlow();
  for (let i = 0; i < 50 && !sent.length; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(sent, [['reply:slow']]);
  assert.equal((await store.getSpooled('slow'))?.state, 'done');
  assert.equal(await handleInbound('slow', deps), 'already-done');
  assert.equal(calls.get('slow'), 1);
  // The stuck one: nothing committed, still queued, no reply row.
  assert.equal((await store.getSpooled('stuck'))?.state, 'queued');
  assert.deepEqual(await store.pendingOutbox('stuck'), []);
  assert.deepEqual(sent, [['reply:slow']], 'answered once in all');
  await store.close();
});

test('closed (a stop cut short): messages waiting to start are let go, later ones are not taken, idle once the running ones finish', async () => {
  const g = gated();
  const lane = new FreshLane(1, g.process, async () => undefined, silentLogger);
  void lane.submit(['a', 'b', 'c']);
  await tick();
  lane.close();
  await lane.submit(['d']);
  assert.equal(lane.busy, 1, 'only the running one is left');
  assert.deepEqual(['a', 'b', 'd'].map((k) => lane.holds(k)), [true, false, false]);
  let idle = false;
  const whenIdle = lane.idle().then(() => { idle = true; });
  await tick();
  assert.equal(idle, false);
  g.release.get('a')!();
  await whenIdle;
  assert.deepEqual(g.started, ['a']);
});
