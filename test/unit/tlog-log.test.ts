/**
 * The tiled log on disk: layout, durability order and crash recovery, the
 * lock, tamper detection, and append semantics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LimitError } from '../../src/limits.js';
import {
  EMPTY_ROOT,
  generateLogKey,
  leafHash,
  parseCheckpoint,
  parseNote,
  TlogError,
  TransparencyLog,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
  type TransparencyLogOptions,
} from '../../src/tlog/index.js';

const ORIGIN = 'log.ztrust.example';
const REPO = fileURLToPath(new URL('../../', import.meta.url));

const isTlog = (code: string) => (err: unknown) => err instanceof TlogError && err.code === code;
const exists = (p: string) => access(p).then(() => true, () => false);

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'ztrust-tlog-log-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keys = generateLogKey(ORIGIN);
  const open = async (extra: Partial<TransparencyLogOptions> = {}) => {
    const log = await TransparencyLog.open(dir, { origin: ORIGIN, signer: keys.skey, ...extra });
    t.after(() => log.close());
    return log;
  };
  return { dir, keys, open };
}

const entries = (from: number, n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`entry ${from + i}\n`));

test('a new log publishes a signed size-0 checkpoint and its verifier key', async (t) => {
  const { dir, keys, open } = await setup(t);
  const log = await open();
  assert.equal(log.size(), 0);
  const v = verifyCheckpoint(await readFile(join(dir, 'checkpoint'), 'utf8'), keys.vkey);
  assert.equal(v.ok, true, v.reason);
  assert.equal(v.checkpoint?.size, 0);
  assert.ok(v.checkpoint?.root.equals(EMPTY_ROOT));
  assert.equal((await readFile(join(dir, 'log.vkey'), 'utf8')).trim(), keys.vkey);
  assert.equal(log.verifierKey(), keys.vkey);
});

test('the on-disk layout is C2SP tlog-tiles, and obsolete partial tiles are dropped', async (t) => {
  const { dir, open } = await setup(t);
  const log = await open();
  await log.append(entries(0, 3));
  for (const p of ['tile/0/000.p/3', 'tile/entries/000.p/3']) assert.ok(await exists(join(dir, p)), p);
  assert.equal((await readFile(join(dir, 'tile/0/000.p/3'))).length, 96);
  await log.append(entries(3, 254)); // 257 entries
  for (const p of ['tile/0/000', 'tile/0/001.p/1', 'tile/1/000.p/1', 'tile/entries/000', 'tile/entries/001.p/1']) {
    assert.ok(await exists(join(dir, p)), p);
  }
  assert.equal((await readFile(join(dir, 'tile/0/000'))).length, 8192);
  assert.equal(await exists(join(dir, 'tile/0/000.p')), false, 'partials of a full tile are dropped');
  assert.equal(await exists(join(dir, 'tile/entries/000.p')), false);
  assert.equal(await exists(join(dir, '.pending')), false);
  assert.deepEqual(await readdir(join(dir, '.tmp')), [], 'no temp files left behind');
  assert.equal((await log.entry(256)).toString(), 'entry 256\n');
  assert.equal((await log.entry(0)).toString(), 'entry 0\n');
});

test('append returns the first index and a checkpoint that commits to the entries', async (t) => {
  const { keys, open } = await setup(t);
  const log = await open();
  const a = await log.append(entries(0, 5));
  assert.equal(a.firstIndex, 0);
  const b = await log.append(entries(5, 2));
  assert.equal(b.firstIndex, 5);
  assert.equal(b.checkpoint, log.checkpoint());
  const cp = verifyCheckpoint(b.checkpoint, keys.vkey).checkpoint!;
  assert.equal(cp.size, 7);
  const proof = await log.inclusionProof(6, 7);
  assert.ok(verifyInclusion(leafHash(Buffer.from('entry 6\n')), 6, 7, proof, cp.root));
  const old = verifyCheckpoint(a.checkpoint, keys.vkey).checkpoint!;
  assert.ok(verifyConsistency(5, 7, await log.consistencyProof(5), old.root, cp.root));
  // Appends issued together are serialised, never interleaved.
  const results = await Promise.all([log.append(entries(7, 3)), log.append(entries(10, 1)), log.append(entries(11, 4))]);
  assert.deepEqual(results.map((r) => r.firstIndex), [7, 10, 11]);
  assert.equal(log.size(), 15);
  for (let i = 0; i < 15; i++) assert.equal((await log.entry(i)).toString(), `entry ${i}\n`);
});

test('bad appends are refused before anything is written', async (t) => {
  const { open } = await setup(t);
  const log = await open();
  await log.append(entries(0, 1));
  await assert.rejects(log.append([]), isTlog('TLOG_ENTRY_INVALID'));
  await assert.rejects(log.append(['text' as unknown as Buffer]), isTlog('TLOG_ENTRY_INVALID'));
  await assert.rejects(
    log.append([Buffer.alloc(1), Buffer.alloc(65536)]),
    (err: unknown) => err instanceof LimitError && err.code === 'LIMIT_LOG_ENTRY',
  );
  assert.equal(log.size(), 1);
  await log.append([Buffer.alloc(65535, 0x41)]); // the largest entry a bundle can hold
  assert.equal((await log.entry(1)).length, 65535);
  const small = await setup(t);
  const strict = await small.open({ maxEntryBytes: 10 });
  await assert.rejects(strict.append([Buffer.alloc(11)]), LimitError);
  await assert.rejects(log.entry(2), isTlog('TLOG_RANGE'));
  await assert.rejects(log.entry(-1), isTlog('TLOG_RANGE'));
  await assert.rejects(log.inclusionProof(0, 3), isTlog('TLOG_RANGE'));
  await assert.rejects(log.inclusionProof(2, 2), isTlog('TLOG_RANGE'));
  await assert.rejects(log.consistencyProof(2, 1), isTlog('TLOG_RANGE'));
  await assert.rejects(log.rootAt(3), isTlog('TLOG_RANGE'));
});

test('origin and key are checked at open', async (t) => {
  const { dir, open } = await setup(t);
  await assert.rejects(TransparencyLog.open(dir, { origin: 'other.example', signer: generateLogKey(ORIGIN).skey }), isTlog('TLOG_ORIGIN'));
  const log = await open();
  await log.append(entries(0, 1));
  await log.close();
  // Same name, different key: the published log.vkey would no longer verify the checkpoints.
  await assert.rejects(TransparencyLog.open(dir, { origin: ORIGIN, signer: generateLogKey(ORIGIN).skey }), isTlog('TLOG_KEY_INVALID'));
});

test('one process at a time: the lock refuses a second writer, and a stale lock is taken over', async (t) => {
  const { dir, keys, open } = await setup(t);
  const log = await open();
  await assert.rejects(TransparencyLog.open(dir, { origin: ORIGIN, signer: keys.skey }), isTlog('TLOG_LOCKED'));
  await log.close();
  await assert.rejects(log.append(entries(0, 1)), isTlog('TLOG_CLOSED'));

  // A lock left by a process that is gone (a child that has exited) is stale.
  const deadPid = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0']);
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid!));
  });
  const boot = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  await writeFile(join(dir, '.lock'), JSON.stringify({ pid: deadPid, host: hostname(), boot, token: 'x', since: 'then' }));
  const again = await open();
  assert.equal(again.size(), 0);
  await again.close();

  // A lock from another host is never taken over automatically.
  await writeFile(join(dir, '.lock'), JSON.stringify({ pid: 1, host: 'elsewhere.example', boot, token: 'y', since: 'then' }));
  await assert.rejects(TransparencyLog.open(dir, { origin: ORIGIN, signer: keys.skey }), isTlog('TLOG_LOCKED'));
  // A lock from before a reboot (another boot id) is stale even if its pid is alive now.
  await writeFile(join(dir, '.lock'), JSON.stringify({ pid: process.pid, host: hostname(), boot: 'an-earlier-boot', token: 'z', since: 'then' }));
  if (boot) {
    const rebooted = await open();
    await rebooted.close();
  } else {
    t.diagnostic('no boot id on this system: reboot staleness not tested');
  }
});

test('crash after tiles, before the checkpoint: reopen recovers, cleans up and appends on', async (t) => {
  const { dir, keys, open } = await setup(t);
  const log = await open({
    testHooks: {
      afterTiles: ({ to }) => {
        if (to === 270) throw new Error('simulated crash');
      },
    },
  });
  await log.append(entries(0, 250));
  const before = log.checkpoint();
  // This append crosses the tile boundary: it writes full tile 0, new partials, bundles.
  await assert.rejects(log.append(entries(250, 20)), /simulated crash/);
  assert.equal(log.size(), 250, 'memory still at the committed size');
  assert.equal(await readFile(join(dir, 'checkpoint'), 'utf8'), before, 'checkpoint on disk unchanged');
  assert.ok(await exists(join(dir, 'tile/0/000')), 'the uncommitted full tile reached the disk');
  assert.ok(await exists(join(dir, '.pending')));
  // The instance refuses to append from a state it can no longer trust.
  await assert.rejects(log.append(entries(250, 1)), isTlog('TLOG_POISONED'));
  await log.close();

  const reopened = await open();
  assert.equal(reopened.size(), 250);
  assert.equal(reopened.checkpoint(), before);
  assert.equal(verifyCheckpoint(reopened.checkpoint(), keys.vkey).ok, true);
  // Files past the checkpoint are gone; the committed partials are intact.
  for (const p of ['tile/0/000', 'tile/0/001.p/14', 'tile/1/000.p/1', 'tile/entries/000', 'tile/entries/001.p/14', '.pending']) {
    assert.equal(await exists(join(dir, p)), false, `${p} should have been removed`);
  }
  assert.ok(await exists(join(dir, 'tile/0/000.p/250')));
  assert.ok(await exists(join(dir, 'tile/entries/000.p/250')));

  // Appending continues, with different entries than the lost ones, and
  // the new tree extends the committed one.
  const other = Array.from({ length: 20 }, (_, i) => Buffer.from(`replacement ${i}\n`));
  const r = await reopened.append(other);
  assert.equal(r.firstIndex, 250);
  const oldCp = parseCheckpoint(parseNote(before).text);
  const newCp = parseCheckpoint(parseNote(r.checkpoint).text);
  assert.ok(verifyConsistency(250, 270, await reopened.consistencyProof(250), oldCp.root, newCp.root));
  assert.equal((await reopened.entry(255)).toString(), 'replacement 5\n');
  assert.equal((await reopened.entry(249)).toString(), 'entry 249\n');
});

test('a real crash: a writer killed between tiles and checkpoint leaves a log that reopens', async (t) => {
  const { dir, keys } = await setup(t);
  const child = join(dir, '..', `${join(dir).split('/').pop()}-child.mts`);
  t.after(() => rm(child, { force: true }));
  const indexUrl = new URL('../../src/tlog/index.ts', import.meta.url).href;
  await writeFile(
    child,
    `import { TransparencyLog } from ${JSON.stringify(indexUrl)};
const log = await TransparencyLog.open(process.env.LOG_DIR!, {
  origin: ${JSON.stringify(ORIGIN)},
  signer: process.env.LOG_SKEY!,
  testHooks: { afterTiles: ({ to }) => { if (to > 5) process.kill(process.pid, 'SIGKILL'); } },
});
await log.append([Buffer.from('a'), Buffer.from('b'), Buffer.from('c'), Buffer.from('d'), Buffer.from('e')]);
await log.append([Buffer.from('lost')]);
`,
  );
  const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child], { cwd: REPO, env: { ...process.env, LOG_DIR: dir, LOG_SKEY: keys.skey }, stdio: 'inherit' });
    p.on('error', reject);
    p.on('exit', (_code, sig) => resolve(sig));
  });
  assert.equal(signal, 'SIGKILL', 'the child died mid-append');
  assert.ok(await exists(join(dir, '.lock')), 'the dead writer left its lock');
  const log = await TransparencyLog.open(dir, { origin: ORIGIN, signer: keys.skey });
  t.after(() => log.close());
  assert.equal(log.size(), 5);
  assert.equal(await exists(join(dir, 'tile/0/000.p/6')), false);
  const r = await log.append([Buffer.from('f')]);
  assert.equal(r.firstIndex, 5);
  assert.equal((await log.entry(5)).toString(), 'f');
  const cp = verifyCheckpoint(r.checkpoint, keys.vkey).checkpoint!;
  assert.ok(verifyInclusion(leafHash(Buffer.from('a')), 0, 6, await log.inclusionProof(0), cp.root));
});

test('tampering with tiles or entries on disk is detected', async (t) => {
  const { dir, keys, open } = await setup(t);
  const log = await open();
  await log.append(entries(0, 300));
  await log.close();
  const flip = async (p: string, at: number) => {
    const b = await readFile(join(dir, p));
    b[at] ^= 1;
    await writeFile(join(dir, p), b);
  };
  // A flipped bit in the rightmost partial tile: the root no longer matches the checkpoint.
  await flip('tile/0/001.p/44', 40);
  await assert.rejects(TransparencyLog.open(dir, { origin: ORIGIN, signer: keys.skey }), isTlog('TLOG_CORRUPT'));
  await flip('tile/0/001.p/44', 40);
  // A flipped bit in the last entry bundle: caught at open.
  await flip('tile/entries/001.p/44', 10);
  await assert.rejects(TransparencyLog.open(dir, { origin: ORIGIN, signer: keys.skey }), isTlog('TLOG_CORRUPT'));
  await flip('tile/entries/001.p/44', 10);
  // A flipped bit in an older bundle's data: caught when the entry is read.
  await flip('tile/entries/000', 5);
  const reopened = await open();
  await assert.rejects(reopened.entry(0), isTlog('TLOG_CORRUPT'));
  assert.equal((await reopened.entry(1)).toString(), 'entry 1\n');
  await flip('tile/entries/000', 5);
  // ...and in a length prefix: the bundle no longer decodes.
  await flip('tile/entries/000', 10);
  await assert.rejects(reopened.entry(1), isTlog('TLOG_CORRUPT'));
  await flip('tile/entries/000', 10);
  assert.equal((await reopened.entry(1)).toString(), 'entry 1\n');
  // A damaged full hash tile: proof blocks that need it fail loudly instead of lying.
  await reopened.close();
  await flip('tile/0/000', 32 * 7 + 3);
  const damaged = await open();
  await assert.rejects(damaged.proofBlock(6), isTlog('TLOG_CORRUPT'));
  assert.match(await damaged.proofBlock(290), /^c2sp\.org\/tlog-proof@v1\nindex 290\n/, 'proofs that avoid the damage still work');
  await assert.rejects(damaged.entry(7), isTlog('TLOG_CORRUPT'));
  await damaged.close();
  await flip('tile/0/000', 32 * 7 + 3);
  const reopened2 = await open();
  assert.match(await reopened2.proofBlock(6), /^c2sp\.org\/tlog-proof@v1\nindex 6\n/);
  await reopened2.close();
  // A forged checkpoint (changed size, signature no longer valid).
  const cp = await readFile(join(dir, 'checkpoint'), 'utf8');
  await writeFile(join(dir, 'checkpoint'), cp.replace('\n300\n', '\n299\n'));
  await assert.rejects(TransparencyLog.open(dir, { origin: ORIGIN, signer: keys.skey }), isTlog('TLOG_CORRUPT'));
  await writeFile(join(dir, 'checkpoint'), cp);
  // Tiles without a checkpoint: refuse rather than start a new tree over them.
  await rm(join(dir, 'checkpoint'));
  await assert.rejects(TransparencyLog.open(dir, { origin: ORIGIN, signer: keys.skey }), isTlog('TLOG_CORRUPT'));
});

test('memory stays flat: proofs at size 10,000 use a bounded tile cache', async (t) => {
  const { open } = await setup(t);
  const log = await open({ cacheTiles: 8 });
  const batch = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`e${i}`));
  await log.append(batch);
  const cp = parseCheckpoint(parseNote(log.checkpoint()).text);
  for (let i = 0; i < 10_000; i += 997) {
    const proof = await log.inclusionProof(i);
    assert.ok(verifyInclusion(leafHash(batch[i]), i, 10_000, proof, cp.root), `index ${i}`);
  }
  for (const m of [1, 255, 256, 4097, 9999]) {
    const old = await log.rootAt(m);
    assert.ok(verifyConsistency(m, 10_000, await log.consistencyProof(m), old, cp.root), `from ${m}`);
  }
});
