/**
 * The start check (src/state/consistency.ts) on a real data directory: a
 * collection git repository, a log on disk and state.db, built by real mail
 * through the dispatcher and the apply step (an ATTEST, a key admitted by a
 * ticket two maintainers approved, a key revoked). Each test damages a copy
 * of that directory one way and expects the finding that names the file and
 * the repair; the undamaged copy has none.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite.js';
import { checkState, startCheck } from '../../src/state/consistency.js';
import { silentLogger } from '../../src/logger.js';
import type { StateFinding } from '../../src/state/errors.js';
import { runCli } from '../integration/bot.js';
import { BOT, openTicket, revocationOf, stateWorld, statusOf, type StateWorld } from './state-world.js';

let w: StateWorld;
/** The data directory after the traffic, closed (nothing holds a lock or an open WAL). */
let golden: string;
/** state.db as it was after the ATTEST, before the ticket: an "old backup". */
let oldStore: string;
/** Carol's key file and its bytes before her revocation. */
let carolFile: string;
let carolOld: Buffer;

const sha = (s: string) => execFileSync('sha256sum', { input: s }).toString().slice(0, 64);

async function buildTraffic(world: StateWorld): Promise<{ ticket: string; carolFile: string; carolOld: Buffer }> {
  const [alice, bob, carol] = world.members as [typeof world.members[0], typeof world.members[0], typeof world.members[0]];
  const att = await world.deliver(await world.mail(alice, `ATTEST\nTo: ${BOT}\n${sha('release-1')}  release-1.tar.gz\n`));
  assert.deepEqual(att.applied.map((a) => a.state), ['applied'], att.outcome);

  const { ticket, digest } = await openTicket(world);
  return { ticket, ...(await approveAndRevoke(world, ticket, digest, alice, bob, carol)) };
}

async function approveAndRevoke(world: StateWorld, ticket: string, digest: string, ...[alice, bob, carol]: StateWorld['members']) {
  await world.deliver(await world.mail(alice, `APPROVE ${ticket} ${digest}\nTo: ${BOT}\n`));
  const second = await world.deliver(await world.mail(bob, `APPROVE ${ticket} ${digest}\nTo: ${BOT}\n`));
  assert.deepEqual(second.applied.map((a) => a.state), ['applied'], second.outcome);

  const col = await (await import('../../src/changes/apply.js')).collectionOf(world.cfg);
  const stored = (await col.findKeys(carol.fpr))[0];
  const carolOld = readFileSync(path.join(col.dir, stored.file));
  const revoked = await world.deliver(await world.mail(carol, `REVOKE KEY\n\n${revocationOf(world, carol.fpr)}`));
  assert.deepEqual(revoked.applied.map((a) => a.state), ['applied'], revoked.outcome);
  assert.ok(revoked.mails.some((m) => statusOf(m) === 'applied'));
  return { carolFile: stored.file, carolOld };
}

/** A fresh copy of the golden data directory. */
function copy(): string {
  const d = path.join(mkdtempSync(path.join(os.tmpdir(), 'zt-state-copy-')), 'data');
  cpSync(golden, d, { recursive: true });
  return d;
}

/** The partial tile the current checkpoint uses (older, narrower ones stay beside it). */
function widest(dir: string): string {
  return readdirSync(dir).sort((a, b) => Number(b) - Number(a))[0];
}

function codes(f: StateFinding[]): string[] {
  return [...new Set(f.map((x) => x.code))].sort();
}

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], { env: { PATH: process.env.PATH, HOME: dir, GIT_CONFIG_NOSYSTEM: '1' } }).toString();
}

before(async () => {
  w = await stateWorld();
  const [alice] = w.members;
  await w.deliver(await w.mail(alice, `ATTEST\nTo: ${BOT}\n${sha('release-0')}  release-0.tar.gz\n`));
  oldStore = path.join(w.dir, 'old-state.db');
  (w.app.store as SqliteStore).db.exec(`VACUUM INTO '${oldStore}'`);
  const t = await buildTraffic(w);
  carolFile = t.carolFile;
  carolOld = t.carolOld;
  await w.close();
  golden = w.cfg.dataDir;
});

after(async () => {
  await w.gpg.cleanup();
});

describe('state consistency at start', () => {
  test('the data directory the bot wrote is consistent', async () => {
    assert.deepEqual(await checkState({ dataDir: copy(), deep: true }), []);
  });

  test('state.db deleted: missing, with the log size and the repair', async () => {
    const d = copy();
    rmSync(path.join(d, 'state.db'));
    const f = await checkState({ dataDir: d, deep: true });
    assert.deepEqual(codes(f), ['STATE_STORE_MISSING']);
    assert.equal(f[0].file, path.join(d, 'state.db'));
    assert.match(f[0].message, /the log has 4 entries/);
    assert.match(f[0].repair, /restore state\.db from the last backup/);
  });

  test('state.db replaced by an empty store: none of the log is known, tickets would be reused', async () => {
    const d = copy();
    rmSync(path.join(d, 'state.db'));
    await SqliteStore.open(path.join(d, 'state.db')).close();
    const f = await checkState({ dataDir: d, deep: true });
    assert.deepEqual(codes(f), ['STATE_STORE_MISSING', 'STATE_TICKET_MISSING']);
    assert.ok(f.some((x) => /ticket counter is at 0, but the log already has ticket ZT-000001/.test(x.message)), JSON.stringify(f));
  });

  test('state.db of garbage bytes: corrupt, named', async () => {
    const d = copy();
    writeFileSync(path.join(d, 'state.db'), Buffer.alloc(8192, 0x5a));
    const f = await checkState({ dataDir: d, deep: true });
    assert.deepEqual(codes(f), ['STATE_STORE_CORRUPT']);
    assert.match(f[0].message, /state\.db cannot be read: file is not a database/);
  });

  test('state.db from an old backup: entries and a ticket it does not know', async () => {
    const d = copy();
    for (const s of ['-wal', '-shm']) rmSync(path.join(d, `state.db${s}`), { force: true });
    cpSync(oldStore, path.join(d, 'state.db'));
    const f = await checkState({ dataDir: d, deep: true });
    assert.deepEqual(codes(f), ['STATE_STORE_BEHIND', 'STATE_TICKET_MISSING']);
    assert.match(f.find((x) => x.code === 'STATE_STORE_BEHIND')!.message, /does not know 3 of the log's 4 entries \(first 1\.\.3\)/);
  });

  test('a flipped byte in tile/0/000: the tile is named', async () => {
    const d = copy();
    const tileDir = path.join(d, 'log', 'tile', '0');
    const tile = existsSync(path.join(tileDir, '000')) ? path.join(tileDir, '000') : path.join(tileDir, '000.p', widest(path.join(tileDir, '000.p')));
    const b = readFileSync(tile);
    b[5] ^= 0x01;
    writeFileSync(tile, b);
    const f = await checkState({ dataDir: d, deep: true });
    assert.deepEqual(codes(f), ['STATE_LOG_DAMAGED']);
    assert.ok(f.every((x) => x.file.startsWith(path.join(d, 'log'))), JSON.stringify(f));
    assert.ok(f.some((x) => x.file === path.join(tileDir, '000') || x.message.includes(path.join(tileDir, '000'))), JSON.stringify(f));
    assert.match(f[0].repair, /ztrust-bot log fsck/);
  });

  test('a flipped byte in an entry bundle: the bundle is named', async () => {
    const d = copy();
    const dir = path.join(d, 'log', 'tile', 'entries', '000.p');
    const file = path.join(dir, widest(dir));
    const b = readFileSync(file);
    b[40] ^= 0x01;
    writeFileSync(file, b);
    const f = await checkState({ dataDir: d, deep: true });
    assert.deepEqual(codes(f), ['STATE_LOG_DAMAGED']);
    assert.ok(f.some((x) => x.file.startsWith(path.join(d, 'log', 'tile', 'entries', '000'))), JSON.stringify(f));
  });

  test('.git/HEAD deleted: the collection is broken', async () => {
    const d = copy();
    rmSync(path.join(d, 'collection', '.git', 'HEAD'));
    const f = await checkState({ dataDir: d, deep: true });
    assert.deepEqual(codes(f), ['STATE_COLLECTION_BROKEN']);
    assert.match(f[0].repair, /git -C .* fsck/);
  });

  test('a corrupt git object: git fsck finds it, the start refuses', async () => {
    const d = copy();
    const col = path.join(d, 'collection');
    const blob = git(col, 'rev-parse', 'HEAD:SHA256SUMS').trim();
    const obj = path.join(col, '.git', 'objects', blob.slice(0, 2), blob.slice(2));
    chmodSync(obj, 0o644);
    writeFileSync(obj, Buffer.from('not a zlib stream at all'));
    const f = await checkState({ dataDir: d, deep: true });
    assert.deepEqual(codes(f), ['STATE_COLLECTION_BROKEN']);
    assert.match(f[0].message, /git fsck/);
  });

  test('a stale .git/index.lock: named, with the repair', async () => {
    const d = copy();
    writeFileSync(path.join(d, 'collection', '.git', 'index.lock'), '');
    const f = await checkState({ dataDir: d, deep: true });
    assert.deepEqual(codes(f), ['STATE_COLLECTION_LOCKED']);
    assert.equal(f[0].file, path.join(d, 'collection', '.git', 'index.lock'));
    assert.match(f[0].repair, /no git process runs .* then remove/);
  });

  test('the revoked key file put back to its old copy: dirty; committed by hand: diverged from the log', async () => {
    const d = copy();
    const col = path.join(d, 'collection');
    writeFileSync(path.join(col, carolFile), carolOld);
    const f = await checkState({ dataDir: d, deep: true });
    assert.deepEqual(codes(f), ['STATE_COLLECTION_DIRTY']);
    assert.equal(f[0].file, path.join(col, carolFile));
    assert.match(f[0].repair, /checkout --/);

    git(col, '-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '-am', 'put it back');
    const g = await checkState({ dataDir: d, deep: true });
    assert.deepEqual(codes(g), ['STATE_COLLECTION_DIVERGED']);
    assert.match(g[0].message, /log entry 3 revoked key [0-9A-F]{40}, but .* is not revoked/);
  });

  test('the collection reset to an older commit: the log and state.db know commits it lacks', async () => {
    const d = copy();
    const col = path.join(d, 'collection');
    git(col, 'reset', '-q', '--hard', 'HEAD~1');
    const f = await checkState({ dataDir: d, deep: true });
    assert.deepEqual(codes(f), ['STATE_COLLECTION_BEHIND', 'STATE_COLLECTION_DIVERGED']);
    assert.ok(f.some((x) => /log entry 3 \(key-revoked [0-9A-F]{40}\) has no commit/.test(x.message)), JSON.stringify(f));
  });

  test('an apply killed half-way (its lock left, owner dead): the start puts the tree back and finds nothing else', async () => {
    const d = copy();
    const col = path.join(d, 'collection');
    const dead = Number(execFileSync('sh', ['-c', 'echo $$']).toString().trim());
    writeFileSync(path.join(col, '.git', 'ztrust-bot.lock'), JSON.stringify({ pid: dead, host: os.hostname(), nonce: 'n', created: new Date().toISOString() }));
    writeFileSync(path.join(col, carolFile), carolOld);
    writeFileSync(path.join(col, 'pgp', 'all', '0x0123456789abcdef-half-public.asc'), 'half a key');
    assert.deepEqual(await startCheck(d, silentLogger), []);
    assert.equal(git(col, 'status', '--porcelain', '--untracked-files=all'), '');
    assert.equal(existsSync(path.join(col, '.git', 'ztrust-bot.lock')), false);
  });

  test('the same files changed without a crashed apply (no stale lock of the bot): reported, not repaired', async () => {
    const d = copy();
    const col = path.join(d, 'collection');
    writeFileSync(path.join(col, carolFile), carolOld);
    assert.deepEqual(codes(await startCheck(d, silentLogger)), ['STATE_COLLECTION_DIRTY']);
    assert.equal(readFileSync(path.join(col, carolFile)).equals(carolOld), true, 'left for the operator to look at');
  });

  test('`ztrust-bot run --once` on a corrupt state.db exits 2 with the finding, and creates nothing', async () => {
    const d = copy();
    writeFileSync(path.join(d, 'state.db'), Buffer.alloc(8192, 0x5a));
    const cfgFile = path.join(path.dirname(d), 'ztrust.yaml');
    writeFileSync(cfgFile, readFileSync(w.configPath, 'utf8').replace(/^dataDir: .*$/m, `dataDir: ${d}`));
    const r = await runCli(['run', '--once', '--config', cfgFile], { ...process.env, ZTRUST_LOG_LEVEL: 'error' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`ztrust-bot: STATE_STORE_CORRUPT: state\\.db cannot be read: .* \\[${d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/state\\.db\\]; repair: stop the bot, restore state\\.db`));
    assert.match(r.stderr, /refusing to start/);
    const json = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { code?: string });
    assert.ok(json.some((j) => j.code === 'STATE_STORE_CORRUPT'), r.stderr);
    assert.equal(readFileSync(path.join(d, 'state.db')).equals(Buffer.alloc(8192, 0x5a)), true);
  });
});
