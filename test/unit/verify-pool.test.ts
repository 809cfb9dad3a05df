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
    const broken = new VerifyPool(settings(), 1, logger, threadDoing(body));
    try {
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
    } finally {
      await broken.close();
    }
  }
});

test('a thread that stopped is replaced, a few times, then the worker checks every signature itself', async () => {
  const raw = await w.mail(alice, 'HELP');
  const now = new Date();
  // Exits on a one-byte message, answers "could not check" to any other.
  const flaky = new VerifyPool(settings(), 1, logger, threadDoing("if (m.raw.length === 1) process.exit(1); parentPort.postMessage({ id: m.id, error: 'no keys' });"));
  try {
    await flaky.ready();
    const sizes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const poison = Buffer.from('x');
      const own = local(poison, now);
      assert.equal((await flaky.verify(poison, now, head, own.run)).verdict, 'unsigned');
      assert.equal(own.calls(), 1, 'the message the thread took down with it is checked by the worker');
      sizes.push(flaky.size);
      await new Promise((r) => setTimeout(r, 1_300));
      sizes.push(flaky.size);
    }
    // Down after each exit, back a second later, five times; then never again.
    assert.deepEqual(sizes, [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0]);
    const own = local(raw, now);
    assert.equal((await flaky.verify(raw, now, head, own.run)).verdict, 'good');
    assert.equal(own.calls(), 1);
  } finally {
    await flaky.close();
  }
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
  const lazy = new VerifyPool(settings(), 1, logger);
  try {
    assert.equal(lazy.size, 0, 'no thread before a message comes');
    const first = local(raw, now);
    assert.equal((await lazy.verify(raw, now, head, first.run)).verdict, 'good');
    assert.equal(first.calls(), 1, 'the first message is not held up by the thread loading');
    assert.equal(lazy.size, 1, 'the first message started the thread');
    await lazy.ready();
    const next = local(raw, now);
    assert.equal((await lazy.verify(raw, now, head, next.run)).verdict, 'good');
    assert.equal(next.calls(), 0, 'a loaded thread answers');
  } finally {
    await lazy.close();
  }
});

test('threads by default: one per core but the main thread\'s, at most 4', () => {
  assert.deepEqual([1, 2, 3, 4, 8, 64].map(defaultVerifyThreads), [0, 1, 2, 3, 4, 4]);
});
