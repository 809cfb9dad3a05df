/**
 * The log directory served as static files over loopback HTTP (a plain
 * node:http file server, as any web server would publish it), and proofs
 * built and verified from the fetched files alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  generateLogKey,
  leafHash,
  parseTilePath,
  TileClient,
  TlogError,
  TransparencyLog,
  verifyConsistencyBlock,
  verifyInclusion,
  verifyProofBlock,
} from '../../src/tlog/index.js';

const ORIGIN = 'log.ztrust.example';

interface Served {
  base: string;
  requests: string[];
  /** Paths to answer with 404, or to corrupt. */
  hide: Set<string>;
  corrupt: Set<string>;
}

async function serve(t: { after: (fn: () => Promise<void>) => void }, root: string): Promise<Served> {
  const state = { requests: [] as string[], hide: new Set<string>(), corrupt: new Set<string>() };
  const server: Server = createServer((req, res) => void (async () => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    state.requests.push(rel);
    const path = normalize(join(root, rel));
    // Only what a log publishes: the checkpoint, the key, canonical tile paths.
    let allowed = path.startsWith(root + sep) && (rel === 'checkpoint' || rel === 'log.vkey');
    if (!allowed) {
      try {
        parseTilePath(rel);
        allowed = true;
      } catch {
        allowed = false;
      }
    }
    if (req.method !== 'GET' || !allowed || state.hide.has(rel)) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(path);
      if (state.corrupt.has(rel)) body[body.length - 1] ^= 1;
      const type = rel === 'checkpoint' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
      res.writeHead(200, { 'content-type': type, 'content-length': body.length }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  })());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, ...state };
}

/** A fresh log in a temporary directory, closed and removed after the test. */
async function newLog(t: { after: (fn: () => Promise<void> | void) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'ztrust-tlog-http-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keys = generateLogKey(ORIGIN);
  const log = await TransparencyLog.open(dir, { origin: ORIGIN, signer: keys.skey });
  t.after(() => log.close());
  return { dir, keys, log };
}

test('a proof built from fetched tiles alone verifies offline and equals the log own proof', async (t) => {
  const { dir, keys, log } = await newLog(t);
  const entries = Array.from({ length: 70 }, (_, i) => Buffer.from(`entry ${i}\n`));
  for (let i = 0; i < 700; i += 70) await log.append(entries.map((e) => Buffer.concat([e, Buffer.from(String(i))])));
  const all = Array.from({ length: 700 }, (_, i) => Buffer.concat([entries[i % 70], Buffer.from(String(i - (i % 70)))]));
  const srv = await serve(t, dir);
  const client = new TileClient(srv.base);
  const vkey = (await (await fetch(new URL('log.vkey', srv.base))).text()).trim();
  assert.equal(vkey, keys.vkey, 'the published key is the log key');

  for (const index of [0, 255, 256, 511, 512, 699]) {
    const { block, entry, checkpoint } = await client.proveEntry(index, vkey);
    assert.ok(entry.equals(all[index]), `entry ${index} fetched from its bundle`);
    assert.equal(checkpoint.size, 700);
    const r = verifyProofBlock(block, entry, vkey);
    assert.equal(r.ok, true, r.reason);
    assert.equal(block, await log.proofBlock(index), 'same block as the log builds locally');
  }
  assert.ok(srv.requests.includes('tile/0/002.p/188') && srv.requests.includes('tile/1/000.p/2'));
  await assert.rejects(client.proveEntry(700, vkey), (err: unknown) => err instanceof TlogError && err.code === 'TLOG_RANGE');
});

test('consistency from a kept checkpoint, old tiles via the full-tile fallback, and hostile servers', async (t) => {
  const { dir, keys, log } = await newLog(t);
  const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`e${from + i}`));
  await log.append(batch(0, 250));
  const kept = log.checkpoint();
  await log.append(batch(250, 30)); // tile 0 fills: its partial 000.p/250 is dropped
  const srv = await serve(t, dir);
  const client = new TileClient(srv.base);

  const block = await client.proveConsistency(kept, keys.vkey);
  const r = verifyConsistencyBlock(block, keys.vkey);
  assert.equal(r.ok, true, r.reason);
  assert.deepEqual([r.oldSize, r.newSize], [250, 280]);
  assert.equal(block, await log.consistencyBlock(kept));
  assert.equal(verifyConsistencyBlock(await client.proveConsistency(null, keys.vkey), keys.vkey).ok, true);

  // A reader at the old size needs tile/0/000.p/250, which is gone: it falls
  // back to the full tile's prefix, as tlog-tiles suggests.
  const proofAt250 = await client.reader(250).inclusionProof(3, 250);
  assert.deepEqual(proofAt250, await log.inclusionProof(3, 250));
  assert.ok(srv.requests.includes('tile/0/000.p/250') && srv.requests.includes('tile/0/000'));
  const oldRoot = await log.rootAt(250);
  assert.ok(verifyInclusion(leafHash(Buffer.from('e3')), 3, 250, proofAt250, oldRoot));

  // A server that corrupts a tile: the client refuses to hand out a proof.
  srv.corrupt.add('tile/0/001.p/24');
  const fresh = new TileClient(srv.base);
  await assert.rejects(fresh.proveEntry(260, keys.vkey), (err: unknown) => err instanceof TlogError && err.code === 'TLOG_PROOF_INVALID');
  srv.corrupt.clear();
  // A server missing a tile the proof needs (the level-1 hash of tile 0).
  srv.hide.add('tile/1/000.p/1');
  await assert.rejects(new TileClient(srv.base).proveEntry(260, keys.vkey), (err: unknown) => err instanceof TlogError && err.code === 'TLOG_FETCH');
  srv.hide.clear();
  // A server that serves a checkpoint signed by another key.
  await assert.rejects(new TileClient(srv.base).proveEntry(1, generateLogKey(ORIGIN).vkey), (err: unknown) => err instanceof TlogError && err.code === 'TLOG_NOTE_SIGNATURE');
  // Nothing is listening.
  await assert.rejects(new TileClient('http://127.0.0.1:9/').fetchCheckpoint(), (err: unknown) => err instanceof TlogError && err.code === 'TLOG_FETCH');
});

// The client skips the signature check only for the very text it verified
// with the very key and origin before (TileClient.verifiedCheckpoint): the
// same client must still refuse a changed checkpoint and another key.
test('a client that verified the checkpoint once still refuses a tampered one, another key and another origin', async (t) => {
  const { dir, keys, log } = await newLog(t);
  await log.append([Buffer.from('e0'), Buffer.from('e1')]);
  const srv = await serve(t, dir);
  const client = new TileClient(srv.base);
  const first = await client.verifiedCheckpoint(keys.vkey);
  assert.equal(first.checkpoint.size, 2);
  assert.deepEqual((await client.verifiedCheckpoint(keys.vkey)).checkpoint, first.checkpoint, 'the same checkpoint again');

  // The same signed note claiming another tree size.
  const good = await readFile(join(dir, 'checkpoint'), 'utf8');
  const forged = good.replace(/^2$/m, '3');
  assert.notEqual(forged, good);
  await writeFile(join(dir, 'checkpoint'), forged);
  await assert.rejects(client.verifiedCheckpoint(keys.vkey), (err: unknown) => err instanceof TlogError && err.code === 'TLOG_NOTE_SIGNATURE');
  await writeFile(join(dir, 'checkpoint'), good);
  await assert.rejects(client.verifiedCheckpoint(generateLogKey(ORIGIN).vkey), (err: unknown) => err instanceof TlogError && err.code === 'TLOG_NOTE_SIGNATURE');
  await assert.rejects(client.verifiedCheckpoint(keys.vkey, 'another.example/log'), (err: unknown) => err instanceof TlogError && err.code === 'TLOG_ORIGIN');

  // The log moves on: the new checkpoint is fetched and verified, not the remembered one served.
  await log.append([Buffer.from('e2')]);
  assert.equal((await client.verifiedCheckpoint(keys.vkey)).checkpoint.size, 3);
});
