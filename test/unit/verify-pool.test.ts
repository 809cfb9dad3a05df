/**
 * queue/verify-pool.ts: signature checks on threads give exactly the
 * worker's own verifyMail answer (the same object, its bytes as Buffers), or
 * the worker's own check runs instead: when the thread's keys are of
 * another commit, when a thread fails or exits, when the pool is closed.
 * Real threads (the thread module under tsx, as the worker starts it from
 * source), real keys and mail made with openpgp.js.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initDataDir } from '../../src/app/init.js';
import { openApp } from '../../src/app/app.js';
import { Collection } from '../../src/collection/collection.js';
import type { LoadedConfig } from '../../src/config/load.js';
import type { VerifySettings } from '../../queue/verify-pool.js';
import { createLogger } from '../../src/logger.js';
import { verifyMail, type MailVerification } from '../../src/mail/verify-mail.js';
import type { Keyring } from '../../src/pgp/keyring.js';
import { defaultVerifyThreads, VerifyPool } from '../../queue/verify-pool.js';
import { person, World, type Person } from './commands-world.js';

const logger = createLogger('silent');
const settings = (): VerifySettings => ({ dataDir: w.cfg.dataDir, policy: w.policy, limits: w.cfg.limits });
let w: World;
let alice: Person;
let mallory: Person;
let keyring: Keyring;
let head: string | null;
let pool: VerifyPool;

before(async () => {
  w = await World.create();
  alice = await person('Alice', 'alice@people.test');
  mallory = await person('Mallory', 'mallory@people.test');
  await w.seed([alice.pub]);
  ({ keyring, head } = await w.known.getWithHead());
  assert.ok(head, 'the seed made a commit');
  pool = new VerifyPool(settings(), 2, logger);
  await pool.ready();
  assert.equal(pool.size, 2);
});
after(async () => {
  await pool.close();
});

/** The worker's own check, and a counter of how often the pool fell back to it. */
function local(raw: Buffer, now: Date, cfg: LoadedConfig = w.cfg): { run: () => Promise<MailVerification>; calls: () => number } {
  let n = 0;
  return { run: () => { n++; return verifyMail(raw, keyring, { policy: w.policy, limits: cfg.limits, now }); }, calls: () => n };
}

async function messages(): Promise<[string, Buffer][]> {
  const good = await w.mail(alice, 'VERIFY 0000000000000000000000000000000000000000000000000000000000000000');
  const tampered = Buffer.from(good.toString('latin1').replace('VERIFY 0000', 'VERIFY 1111'), 'latin1');
  return [
    ['PGP/MIME by a known key', good],
    ['inline by a known key', await w.mail(alice, 'HELP', { signing: 'inline' })],
    ['PGP/MIME with an attachment in the signed part', await w.mail(alice, 'SUBMIT KEY', { attachments: [{ filename: 'key.asc', contentType: 'application/pgp-keys', content: alice.pub.armor() }] })],
    ['signed by a key not in the collection', await w.mail(mallory, 'HELP')],
    ['changed after signing', tampered],
    ['unsigned', await w.mail(null, 'HELP')],
    ['not a mail at all', Buffer.from('\u0000\u00ff-----BEGIN PGP SIGNATURE-----\r\n\r\n=====\r\n', 'latin1')],
  ];
}

test('a thread answers exactly what the worker itself would, with Buffers where verifyMail gives Buffers', async () => {
  const verdicts: string[] = [];
  for (const [what, raw] of await messages()) {
    const now = new Date();
    const own = local(raw, now);
    const expected = await verifyMail(raw, keyring, { policy: w.policy, limits: w.cfg.limits, now });
    const got = await pool.verify(raw, now, head, own.run);
    assert.equal(own.calls(), 0, `${what}: answered by a thread`);
    assert.deepEqual(got, expected, what);
    const ev = got.signedEvidence;
    if (ev && 'data' in ev) assert.ok(Buffer.isBuffer(ev.data) && Buffer.isBuffer(ev.signature), `${what}: evidence as Buffers`);
    for (const a of got.signedAttachments) assert.ok(Buffer.isBuffer(a.content), `${what}: attachment as a Buffer`);
    verdicts.push(got.verdict);
  }
  // The cases are what they say they are.
  assert.deepEqual(verdicts, ['good', 'good', 'good', 'nokey', 'bad', 'unsigned', 'unsigned']);
});

test('a thread whose keys are of another commit than the dispatcher\'s: the worker checks the message itself', async () => {
  const raw = await w.mail(alice, 'HELP');
  const now = new Date();
  const own = local(raw, now);
  const got = await pool.verify(raw, now, 'f'.repeat(40), own.run);
  assert.equal(own.calls(), 1);
  assert.equal(got.verdict, 'good');
  // A dispatcher whose collection has no commit yet (null) is not a thread's commit either.
  const own2 = local(raw, now);
  await pool.verify(raw, now, null, own2.run);
  assert.equal(own2.calls(), 1);
});

test('many messages at once over two threads: every answer is the worker\'s own', async () => {
  const raws = await Promise.all(Array.from({ length: 40 }, (_, i) => w.mail(i % 3 ? alice : mallory, `HELP ${i}`, { signing: i % 2 ? 'inline' : 'pgpmime' })));
  const now = new Date();
  const owns = raws.map((raw) => local(raw, now));
  const got = await Promise.all(raws.map((raw, i) => pool.verify(raw, now, head, owns[i].run)));
  const expected = await Promise.all(raws.map((raw) => verifyMail(raw, keyring, { policy: w.policy, limits: w.cfg.limits, now })));
  assert.deepEqual(got, expected);
  assert.equal(owns.reduce((n, o) => n + o.calls(), 0), 0);
});

/** `fn` with a pool of one thread (of the module `opts.threadUrl`, if given), closed after it whatever happens. */
async function withPool(opts: { threadUrl?: URL; answerMs?: number; restartWindowMs?: number }, fn: (pool: VerifyPool) => Promise<void>): Promise<void> {
  const made = new VerifyPool(settings(), 1, logger, opts);
  try {
    await fn(made);
  } finally {
    await made.close();
  }
}

/** A thread module that does `body` with each request (a data: URL module, as Worker accepts). */
const threadDoing = (body: string) => new URL(`data:text/javascript,${encodeURIComponent(`import { parentPort } from 'node:worker_threads'; parentPort.on('message', (m) => { ${body} }); parentPort.postMessage({ ready: true });`)}`);

test('a thread that fails, exits or says it could not check: each message is checked by the worker, none is lost', async () => {
  const raw = await w.mail(alice, 'HELP');
  const now = new Date();
  for (const [what, body] of [
    ['throws', "throw new Error('boom');"],
    ['exits', 'process.exit(3);'],
    ['answers with an error', "parentPort.postMessage({ id: m.id, error: 'git failed' });"],
  ] as const) {
    await withPool({ threadUrl: threadDoing(body) }, async (broken) => {
      await broken.ready();
      assert.equal(broken.size, 1);
      const owns = [local(raw, now), local(raw, now), local(raw, now)];
      const got = await Promise.all(owns.map((o) => broken.verify(raw, now, head, o.run)));
      assert.ok(got.every((g) => g.verdict === 'good'), what);
      assert.deepEqual(owns.map((o) => o.calls()), [1, 1, 1], `${what}: every message checked once by the worker`);
      if (what !== 'answers with an error') {
        assert.equal(broken.size, 0, `${what}: the thread is no longer used`);
        const later = local(raw, now);
        await broken.verify(raw, now, head, later.run);
        assert.equal(later.calls(), 1, `${what}: later messages are checked by the worker`);
      } else {
        assert.equal(broken.size, 1, 'a thread that answered stays in use');
      }
    });
  }
});

/** Resolves when `cond` holds, polling; fails the test after `ms`. */
async function until(cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    assert.ok(Date.now() < end, 'timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a thread that stopped is replaced, five times within the hour, then the worker checks every signature itself until the hour is over', async () => {
  const raw = await w.mail(alice, 'HELP');
  const now = new Date();
  // Exits on a one-byte message, answers "could not check" to any other.
  // The hour is 12 s here.
  await withPool({ threadUrl: threadDoing("if (m.raw.length === 1) process.exit(1); parentPort.postMessage({ id: m.id, error: 'no keys' });"), restartWindowMs: 12_000 }, async (flaky) => {
    await flaky.ready();
    for (let i = 0; i < 6; i++) {
      assert.equal(flaky.size, 1);
      const poison = Buffer.from('x');
      const own = local(poison, now);
      assert.equal((await flaky.verify(poison, now, head, own.run)).verdict, 'unsigned');
      assert.equal(own.calls(), 1, 'the message the thread took down with it is checked by the worker');
      assert.equal(flaky.size, 0, 'the thread that stopped is not used');
      if (i < 5) {
        await until(() => flaky.size === 1);
        await flaky.ready();
      }
    }
    // The sixth stop within the hour: no other thread is started.
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(flaky.size, 0);
    const own = local(raw, now);
    assert.equal((await flaky.verify(raw, now, head, own.run)).verdict, 'good');
    assert.equal(own.calls(), 1);
    // Once the first of those restarts has left the window, another thread starts.
    await until(() => flaky.size === 1, 20_000);
  });
});

test('a thread that does not answer in time: the message fails for now (QUEUE_VERIFY_TIME), the thread is replaced', async () => {
  const raw = await w.mail(alice, 'HELP');
  const now = new Date();
  await withPool({ threadUrl: threadDoing(''), answerMs: 300 }, async (mute) => {
    await mute.ready();
    const own = local(raw, now);
    await assert.rejects(mute.verify(raw, now, head, own.run), (err: Error & { code?: string }) => err.code === 'QUEUE_VERIFY_TIME');
    assert.equal(own.calls(), 0, 'not checked in the main thread: what held the thread would hold it');
    await until(() => mute.size === 0);
    await until(() => mute.size === 1);
  });
});

test('no thread to be had (it cannot even be created): every message is checked by the worker, and the process goes on', async () => {
  const raw = await w.mail(alice, 'HELP');
  const now = new Date();
  await withPool({ threadUrl: new URL('http://example.invalid/verify-thread.js') }, async (none) => {
    for (let i = 0; i < 3; i++) {
      const own = local(raw, now);
      assert.equal((await none.verify(raw, now, head, own.run)).verdict, 'good');
      assert.equal(own.calls(), 1);
      await none.ready();
      assert.equal(none.size, 0);
    }
  });
});

test('an answer for another commit than the one asked for is not used, whatever the thread says', async () => {
  const raw = await w.mail(mallory, 'HELP');
  const now = new Date();
  // A thread that claims a good signature by a commit of its own.
  await withPool({ threadUrl: threadDoing("parentPort.postMessage({ id: m.id, head: 'other', result: { verdict: 'good', signedAttachments: [] } });") }, async (liar) => {
    await liar.ready();
    const own = local(raw, now);
    assert.equal((await liar.verify(raw, now, head, own.run)).verdict, 'nokey');
    assert.equal(own.calls(), 1);
  });
});

const built = new URL('../../dist/bundle/verify-thread.js', import.meta.url);
test('the built thread (dist/bundle/verify-thread.js, what a worker from the package runs) answers as the worker would', { skip: existsSync(built) ? false : 'no build in dist/ (npm run build)' }, async () => {
  await withPool({ threadUrl: built }, async (pooled) => {
    await pooled.ready();
    assert.equal(pooled.size, 1, 'the built thread loaded');
    for (const [what, raw] of await messages()) {
      const now = new Date();
      const own = local(raw, now);
      const got = await pooled.verify(raw, now, head, own.run);
      assert.equal(own.calls(), 0, `${what}: answered by the built thread`);
      assert.deepEqual(got, await verifyMail(raw, keyring, { policy: w.policy, limits: w.cfg.limits, now }), what);
    }
  });
});

test('a closed pool, and a pool of no threads, leave every check to the worker', async () => {
  const raw = await w.mail(alice, 'HELP');
  const now = new Date();
  const none = new VerifyPool(settings(), 0, logger);
  const own = local(raw, now);
  assert.equal((await none.verify(raw, now, head, own.run)).verdict, 'good');
  assert.equal(own.calls(), 1);
  const closing = new VerifyPool(settings(), 1, logger);
  await closing.ready();
  const pending = local(raw, now);
  const inFlight = closing.verify(raw, now, head, pending.run);
  await closing.close();
  // Answered: by the thread if it got there first, else by the worker.
  assert.equal((await inFlight).verdict, 'good');
  const after = local(raw, now);
  assert.equal((await closing.verify(raw, now, head, after.run)).verdict, 'good');
  assert.equal(after.calls(), 1);
});

test('threads start with the first message, which the worker checks itself while they load', async () => {
  const raw = await w.mail(alice, 'HELP');
  const now = new Date();
  await withPool({}, async (lazy) => {
    assert.equal(lazy.size, 0, 'no thread before a message comes');
    const first = local(raw, now);
    assert.equal((await lazy.verify(raw, now, head, first.run)).verdict, 'good');
    assert.equal(first.calls(), 1, 'the first message is not held up by the thread loading');
    assert.equal(lazy.size, 1, 'the first message started the thread');
    await lazy.ready();
    const next = local(raw, now);
    assert.equal((await lazy.verify(raw, now, head, next.run)).verdict, 'good');
    assert.equal(next.calls(), 0, 'a loaded thread answers');
  });
});

test('threads by default: one per core but the main thread\'s, at most 4', () => {
  assert.deepEqual([1, 2, 3, 4, 8, 64].map(defaultVerifyThreads), [0, 1, 2, 3, 4, 4]);
});

test('the app\'s dispatcher hands its check to the pool with the commit of the keys it holds, and checks itself without one', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'zt-vpool-'));
  const init = await initDataDir({ dataDir: path.join(root, 'data'), address: 'bot@ztrust.test', name: 'ztrust-bot', origin: 'test/log' });
  const col = await Collection.open(path.join(init.config.dataDir, 'collection'));
  await col.apply(async (c) => { await c.putKey(alice.pub, 'public'); }, { message: 'seed', signer: null });
  const app = await openApp(init.config, logger);
  try {
    const { head: appHead } = await app.knownKeys.getWithHead();
    assert.ok(appHead);
    const raw = await w.mail(alice, 'HELP');
    const row = { key: 'k1', mailbox: 'INBOX', uidValidity: 1, uid: '1', messageId: '<k1@people.test>', raw, receivedAt: new Date().toISOString(), declaredSize: null, state: 'queued' as const, outcome: null };
    const asked: { head: string | null; local: MailVerification }[] = [];
    app.verifyElsewhere = async (r, _now, h, own) => {
      assert.equal(r, raw);
      const v = await own();
      asked.push({ head: h, local: v });
      return v;
    };
    const viaPool = await (await app.dispatcher()).processMessage(row);
    assert.equal(asked.length, 1, 'the dispatcher asked the pool');
    assert.equal(asked[0].head, appHead, 'with the commit of its keys');
    assert.equal(asked[0].local.verdict, 'good', 'and its own check, with its keys, as the fallback');
    assert.equal(viaPool.completion.verdict, 'good');
    app.verifyElsewhere = null;
    const own = await (await app.dispatcher()).processMessage({ ...row, key: 'k2' });
    assert.equal(asked.length, 1, 'no pool: not asked');
    assert.equal(own.completion.verdict, 'good');
  } finally {
    await app.close();
  }
});
