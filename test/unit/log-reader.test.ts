/**
 * Reading the log without its lock (what the CLI and the read-only
 * commands do while the worker writes), fsck of every stored byte, and the
 * log directory published as it is by a static web server over loopback
 * HTTP, checked from the fetched files alone.
 */
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { directoryReader, LogReader } from '../../src/ledger/reader.js';
import { checkLogText } from '../../src/ledger/proofmail.js';
import { framed, FRAME_ENTRY, FRAME_PROOF } from '../../src/ledger/replies.js';
import { LogService } from '../../src/ledger/service.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { TLOG_BOUNDS } from '../../src/limits.js';
import { entriesPath, generateLogKey, parseEntry, TileClient, tilePath, TlogError, verifyConsistencyBlock, verifyProofBlock, type LogEntry } from '../../src/tlog/index.js';

const ORIGIN = 'reader.ztrust.test';

function entry(i: number): LogEntry {
  return { type: 'attestation', subject: `sha256:${(i % 16).toString(16).repeat(64)}`, name: `artifact-${i}.tar`, signers: ['D'.repeat(40)], time: '2025-06-01T00:00:00Z', source: 'a'.repeat(64) };
}

async function makeLog(total: number, batch: number): Promise<{ dir: string; svc: LogService; store: SqliteStore; vkey: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'zt-reader-'));
  const k = generateLogKey(ORIGIN);
  const store = SqliteStore.open(':memory:');
  const svc = await LogService.open({ dir, origin: ORIGIN, signer: k.skey, store });
  for (let i = 0; i < total; i += batch) {
    await svc.appendEntries(Array.from({ length: Math.min(batch, total - i) }, (_, j) => entry(i + j)));
  }
  return { dir, svc, store, vkey: k.vkey };
}

describe('LogReader: while the writer holds the lock', () => {
  let log: Awaited<ReturnType<typeof makeLog>>;
  before(async () => { log = await makeLog(600, 37); });
  after(async () => { await log.svc.close(); });

  test('reads and verifies the current checkpoint; refuses another key', async () => {
    const r = await LogReader.open(log.dir);
    assert.equal(r.size, 600);
    assert.equal(r.note, log.svc.checkpoint());
    await assert.rejects(LogReader.open(log.dir, generateLogKey(ORIGIN).vkey), /signature/);
  });

  test('consistency between any two checkpoints the log signed, checked against both roots', async () => {
    const r = await LogReader.open(log.dir);
    const sizes = await log.store.checkpointSizes();
    assert.equal(sizes.length, 18, 'one checkpoint per append, and the empty one');
    for (const [a, b] of [[37, 74], [37, 600], [259, 592], [0, 37], [600, 600]] as const) {
      const oldNote = a === 0 ? null : (await log.store.getCheckpoint(a))!;
      const newNote = (await log.store.getCheckpoint(b))!;
      const block = await r.consistency(oldNote, newNote);
      const v = verifyConsistencyBlock(block, log.vkey);
      assert.equal(v.ok, true, `${a} -> ${b}: ${v.reason}`);
      assert.deepEqual([v.oldSize, v.newSize], [a, b]);
    }
    await assert.rejects(r.consistency((await log.store.getCheckpoint(592))!, (await log.store.getCheckpoint(37))!), /newer than the new one/);
  });

  test('fsck checks every entry and tile and finds nothing wrong', async () => {
    const r = await LogReader.open(log.dir);
    const rep = await r.fsck();
    assert.deepEqual(rep, { ok: true, size: 600, entries: 600, tiles: rep.tiles, problems: [] });
    assert.ok(rep.tiles >= 4, `tiles checked: ${rep.tiles}`);
  });

  test('the directory reader never leaves the log directory', () => {
    const read = directoryReader(log.dir);
    const max = TLOG_BOUNDS.checkpointBytes;
    assert.equal(read('checkpoint', max)?.toString('utf8'), readFileSync(path.join(log.dir, 'checkpoint'), 'utf8'));
    for (const out of ['../../etc/passwd', '/etc/passwd', '..', 'tile/../../checkpoint']) {
      assert.throws(() => read(out, max), (err: unknown) => err instanceof TlogError && err.code === 'TLOG_FETCH' && /outside the log directory/.test(err.message), out);
    }
    assert.equal(read('nope', max), null);
    assert.equal(read('checkpoint/under-a-file', max), null);
  });
});

describe('a local log read directly', () => {
  test('a checkpoint over its bound, a directory, a symbolic link, a FIFO and a missing one are refused, not read', async () => {
    const { dir, svc } = await makeLog(3, 3);
    await svc.close();
    const cp = path.join(dir, 'checkpoint');
    const good = readFileSync(cp, 'utf8');
    assert.equal((await LogReader.open(dir)).size, 3);
    const refused = (msg: RegExp) => (err: unknown) => err instanceof TlogError && err.code === 'TLOG_FETCH' && msg.test(err.message);
    writeFileSync(cp, good + 'x'.repeat(TLOG_BOUNDS.checkpointBytes));
    await assert.rejects(LogReader.open(dir), refused(/checkpoint: \d+ bytes is more than 1048576/));
    rmSync(cp);
    mkdirSync(cp);
    await assert.rejects(LogReader.open(dir), refused(/checkpoint is not a regular file/));
    rmSync(cp, { recursive: true });
    // A link to a good copy elsewhere is not followed: the log's files are the directory's own.
    const elsewhere = path.join(mkdtempSync(path.join(tmpdir(), 'ztrust-elsewhere-')), 'checkpoint');
    writeFileSync(elsewhere, good);
    symlinkSync(elsewhere, cp);
    await assert.rejects(LogReader.open(dir), refused(/checkpoint is a symbolic link/));
    rmSync(cp);
    // A FIFO nobody writes to: refused at once, not waited on (the open would block the worker's thread).
    execFileSync('mkfifo', [cp]);
    await assert.rejects(LogReader.open(dir), refused(/checkpoint is not a regular file/));
    rmSync(cp);
    await assert.rejects(LogReader.open(dir), refused(/the log has no checkpoint/));
    writeFileSync(cp, good);
    assert.equal((await LogReader.open(dir)).size, 3);
  });
});

describe('fsck finds damage', () => {
  test('a changed entry, a changed inner tile, a missing bundle', async () => {
    const { dir, svc } = await makeLog(300, 300);
    await svc.close();
    const bundle = path.join(dir, entriesPath(0));
    const original = readFileSync(bundle);
    const bad = Buffer.from(original);
    bad[bad.length - 3] ^= 0x01;
    writeFileSync(bundle, bad);
    let r = await (await LogReader.open(dir)).fsck();
    assert.equal(r.ok, false);
    assert.match(r.problems.join('\n'), /entry 255: its leaf hash is not the one in tile 0\/0/);
    writeFileSync(bundle, original);

    // Level 0 tile 0 is full; its hash is in level 1. Change one hash in it.
    const tile = path.join(dir, tilePath(0, 0));
    const t = readFileSync(tile);
    const t2 = Buffer.from(t);
    t2[40] ^= 0x80;
    writeFileSync(tile, t2);
    r = await (await LogReader.open(dir)).fsck();
    assert.match(r.problems.join('\n'), /tile 0\/0 does not hash to its parent in tile 1\/0/);
    writeFileSync(tile, t);

    rmSync(path.join(dir, entriesPath(1, 44)));
    r = await (await LogReader.open(dir)).fsck();
    assert.match(r.problems.join('\n'), /entry bundle 1 \(width 44\)/);
  });
});

describe('publishing: the log directory on a static web server', () => {
  test('a proof built from the fetched files alone verifies with the out-of-band key; private files are not needed', async (t) => {
    const { dir, svc, vkey, store } = await makeLog(70, 7);
    // Like nginx with `location ~ /\\. { deny all; }`: every file but dotfiles.
    const requested: string[] = [];
    const server: Server = createServer((req, res) => void (async () => {
      const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
      requested.push(rel);
      const file = path.resolve(dir, rel);
      if (!file.startsWith(dir + path.sep) || rel.split('/').some((p) => p.startsWith('.'))) return res.writeHead(404).end();
      try {
        const body = await readFile(file);
        res.writeHead(200, { 'content-length': body.length }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    })());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    t.after(() => svc.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

    // The verifier key comes out of band (the bot's `key --log`, a reply); the served copy must match it.
    assert.equal((await (await fetch(new URL('log.vkey', base))).text()).trim(), vkey);
    const client = new TileClient(base);
    const idx = (await store.findAttestations(`sha256:${(33 % 16).toString(16).repeat(64)}`)).map((a) => a.logIndex);
    assert.deepEqual(idx, [1, 17, 33, 49, 65]);
    const { block, entry: bytes } = await client.proveEntry(33, vkey);
    assert.equal(parseEntry(bytes).name, 'artifact-33.tar');
    assert.equal(verifyProofBlock(block, bytes, vkey).ok, true);
    // The same proof as the bot mails it, checked by verify-proof's checker.
    const mailed = `Status: found\nDigest: ${'1'.repeat(64)}\n\n${framed(FRAME_ENTRY, bytes.toString())}${framed(FRAME_PROOF, block)}`;
    assert.equal(checkLogText(mailed, vkey).ok, true);
    // A consistency proof from a checkpoint a reader kept earlier.
    const kept = (await store.getCheckpoint(14))!;
    assert.equal(verifyConsistencyBlock(await client.proveConsistency(kept, vkey), vkey).ok, true);
    assert.ok(requested.every((r) => r === 'log.vkey' || r === 'checkpoint' || r.startsWith('tile/')), requested.join(' '));
    // What is in the directory: the public files, and private dotfiles only.
    const top = readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
    assert.deepEqual(top, ['checkpoint', 'log.vkey', 'tile']);
    assert.ok(statSync(path.join(dir, '.lock')).isFile(), 'the lock file is private (a dotfile)');
  });
});
