/**
 * The log service: the one append path, its idempotency keys, and the
 * crash-safety bracket between the log and the state store (pending row,
 * append, done row) settled from the log itself after a crash.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '../../src/errors.js';
import { LimitError } from '../../src/limits.js';
import { entriesDigest, LazyLog, LogService } from '../../src/ledger/service.js';
import { LogServiceError } from '../../src/ledger/errors.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { StateStore } from '../../src/store/types.js';
import { formatEntry, generateLogKey, TlogError, TransparencyLog, verifyProofBlock, type LogEntry, type TransparencyLogOptions } from '../../src/tlog/index.js';
import { parseConfig } from '../../src/config/load.js';
import { initDataDir } from '../../src/app/init.js';
import { openApp } from '../../src/app/app.js';
import { silentLogger } from '../../src/logger.js';

const ORIGIN = 'log.ztrust.test';
const FPR = 'A'.repeat(40);

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'zt-logsvc-'));
}

function att(hex: string, name: string, n = 0): LogEntry {
  return { type: 'attestation', subject: `sha256:${hex.repeat(64 / hex.length)}`, name, signers: [FPR], time: `2025-03-0${1 + (n % 9)}T10:00:00Z`, source: 'e'.repeat(64) };
}
const keyAdded: LogEntry = { type: 'key-added', subject: 'B'.repeat(40), name: 'Bob', signers: ['B'.repeat(40)], ticket: 'ZT-000001', approvers: [FPR], time: '2025-03-01T10:00:00Z', source: 'f'.repeat(64) };

async function fresh(opts: { store?: StateStore; dir?: string; skey?: string; hooks?: TransparencyLogOptions['testHooks'] } = {}) {
  const dir = opts.dir ?? tmp();
  const store = opts.store ?? SqliteStore.open(':memory:');
  const skey = opts.skey ?? generateLogKey(ORIGIN).skey;
  const svc = await LogService.open({ dir, origin: ORIGIN, signer: skey, store, ...(opts.hooks ? { testHooks: opts.hooks } : {}) });
  return { dir, store, skey, svc };
}

/** A service whose next append fails after its tiles are durable (before the checkpoint), once per failOnce(). */
async function failingOnce() {
  let fail = false;
  const { svc, store } = await fresh({ hooks: { afterTiles: () => { if (fail) { fail = false; throw new Error('disk gone'); } } } });
  return { svc, store, failOnce: () => { fail = true; } };
}

describe('LogService: appends', () => {
  test('a batch gets consecutive indexes; attestations are indexed, other entries are not; the checkpoint is kept', async () => {
    const { svc, store } = await fresh();
    assert.equal(svc.size(), 0);
    assert.deepEqual(await store.checkpointSizes(), [0], 'the empty checkpoint is recorded at open');
    const a = await svc.appendEntries([keyAdded]);
    assert.deepEqual(a.indexes, [0]);
    const b = await svc.appendEntries([att('1', 'one.tar'), att('2', 'two.tar')], { key: 'attest:x' });
    assert.deepEqual(b, { firstIndex: 1, indexes: [1, 2], checkpoint: svc.checkpoint(), reused: false });
    assert.equal(svc.size(), 3);
    const rows = await store.findAttestations(`sha256:${'2'.repeat(64)}`);
    assert.deepEqual(rows, [{ logIndex: 2, digest: `sha256:${'2'.repeat(64)}`, name: 'two.tar', signer: FPR, source: 'e'.repeat(64), time: '2025-03-01T10:00:00Z' }]);
    assert.deepEqual(await store.findAttestations(`sha256:${'B'.repeat(64)}`), []);
    assert.deepEqual(await store.checkpointSizes(), [0, 1, 3]);
    assert.equal(await svc.checkpointAt(3), svc.checkpoint());
    // What the log holds is exactly the canonical entry, and its proof verifies.
    const e = await svc.entry(1);
    assert.deepEqual(e.bytes, formatEntry(att('1', 'one.tar')));
    assert.equal(verifyProofBlock(await svc.proofBlock(1), e.bytes, svc.verifierKey()).ok, true);
    await svc.close();
  });

  test('the same key again writes nothing and returns the first indexes; another count is refused', async () => {
    const { svc } = await fresh();
    const first = await svc.appendEntries([att('3', 'a'), att('4', 'b')], { key: 'change:c-1' });
    const again = await svc.appendEntries([att('3', 'a', 5), att('4', 'b', 5)], { key: 'change:c-1' });
    assert.deepEqual(again.indexes, first.indexes);
    assert.equal(again.reused, true);
    assert.equal(svc.size(), 2);
    await assert.rejects(svc.appendEntries([att('3', 'a')], { key: 'change:c-1' }), (e: unknown) => e instanceof LogServiceError && e.code === 'LOG_KEY_REUSED');
    assert.equal(await svc.appendEntry(keyAdded, 'change:c-2'), 2);
    assert.equal(await svc.appendEntry(keyAdded, 'change:c-2'), 2, 'appendEntry is idempotent per key as the apply step needs');
    await svc.close();
  });

  test('concurrent appends are serialised into distinct, gap-free indexes', async () => {
    const { svc, store } = await fresh();
    const outs = await Promise.all(Array.from({ length: 12 }, (_, i) => svc.appendEntries([att(String(i % 10), `f${i}`, i), att('a', `g${i}`, i)], { key: `k${i}` })));
    const all = outs.flatMap((o) => o.indexes).sort((x, y) => x - y);
    assert.deepEqual(all, Array.from({ length: 24 }, (_, i) => i));
    assert.equal((await store.findAttestations(`sha256:${'a'.repeat(64)}`)).length, 12);
    await svc.close();
  });

  test('appends queued while one is in flight become one log append (one checkpoint), each with its own key, range and index rows', async () => {
    const { svc, store, dir, skey } = await fresh();
    await svc.appendEntries([keyAdded], { key: 'first' });
    const burst = Array.from({ length: 6 }, (_, i) => svc.appendEntries([att(String(i + 1), `b${i}`, i), att('a', `c${i}`, i)], { key: `burst:${i}` }));
    const again = svc.appendEntries([att('1', 'b0', 0), att('a', 'c0', 0)], { key: 'burst:0' }); // the same key in the same burst
    const outs = await Promise.all(burst);
    assert.deepEqual(outs.map((o) => o.indexes), Array.from({ length: 6 }, (_, i) => [1 + 2 * i, 2 + 2 * i]), 'in call order, gap-free');
    assert.ok(outs.every((o) => o.checkpoint === outs[0].checkpoint && !o.reused), 'one signed checkpoint commits the whole burst');
    assert.deepEqual(await store.checkpointSizes(), [0, 1, 13], 'one log append for the six requests');
    const dup = await again;
    assert.equal(dup.reused, true);
    assert.deepEqual(dup.indexes, [1, 2], 'a repeated key is logged once');
    assert.equal(svc.size(), 13);
    for (let i = 0; i < 6; i++) {
      const row = await store.getLogAppend(`burst:${i}`);
      assert.deepEqual([row?.state, row?.fromIndex, row?.count], ['done', 1 + 2 * i, 2]);
      assert.equal((await store.findAttestations(`sha256:${String(i + 1).repeat(64)}`))[0]?.logIndex, 1 + 2 * i);
    }
    await svc.close();
    // What is on disk is what lone appends would have written: same entries, same tree.
    const raw = await TransparencyLog.open(dir, { origin: ORIGIN, signer: skey });
    assert.deepEqual((await raw.entry(3)).toString(), formatEntry(att('2', 'b1', 1)).toString());
    await raw.close();
  });

  test('a failed group append fails each request in it, drops their rows, and the next appends go on from the same size', async () => {
    const { svc, store, failOnce } = await failingOnce();
    await svc.appendEntries([keyAdded], { key: 'before' });
    await svc.appendEntries([att('3', 'before2')], { key: 'before2' });
    failOnce(); // lone appends would fail only the first of the three
    const group = ['g1', 'g2', 'g3'].map((k, i) => svc.appendEntries([att(String(4 + i), k)], { key: k }));
    for (const p of group) await assert.rejects(p, /disk gone/);
    assert.equal(svc.size(), 2);
    for (const k of ['g1', 'g2', 'g3']) assert.equal(await store.getLogAppend(k), undefined, `${k}: pending row dropped`);
    assert.deepEqual(await store.pendingLogAppends(), []);
    const out = await svc.appendEntries([att('4', 'g1')], { key: 'g1' });
    assert.deepEqual(out.indexes, [2]);
    await svc.close();
  });

  test('an oversized or invalid entry is refused before anything is written', async () => {
    const { svc, store } = await fresh();
    await assert.rejects(svc.appendEntries([att('1', 'x'.repeat(70_000))], { key: 'big' }), (e: unknown) => e instanceof LimitError && e.code === 'LIMIT_LOG_ENTRY');
    await assert.rejects(svc.appendEntries([{ ...keyAdded, time: 'yesterday' }], { key: 'bad' }), (e: unknown) => e instanceof TlogError && e.code === 'TLOG_ENTRY_INVALID');
    await assert.rejects(svc.appendEntries([]), (e: unknown) => e instanceof TlogError);
    assert.equal(svc.size(), 0);
    assert.equal(await store.getLogAppend('big'), undefined);
    assert.deepEqual(await store.pendingLogAppends(), []);
    await svc.close();
  });

  test('the origin must be the log key name; the directory lock keeps a second writer out', async () => {
    const dir = tmp();
    const store = SqliteStore.open(':memory:');
    await assert.rejects(LogService.open({ dir, origin: 'other.origin', signer: generateLogKey(ORIGIN).skey, store }),
      (e: unknown) => e instanceof LogServiceError && e.code === 'LOG_CONFIG' && /set log\.origin to "log\.ztrust\.test"/.test(e.message));
    const { svc, skey } = await fresh({ dir, store });
    await assert.rejects(LogService.open({ dir, origin: ORIGIN, signer: skey, store }), (e: unknown) => e instanceof TlogError && e.code === 'TLOG_LOCKED');
    await svc.close();
    const again = await LogService.open({ dir, origin: ORIGIN, signer: skey, store });
    await again.close();
  });
});

describe('LogService: crash between the log and the store', () => {
  test('an append that reached the log but not the store is finished on the next open, and its key reused', async () => {
    const dir = tmp();
    const store = SqliteStore.open(':memory:');
    const { skey } = generateLogKey(ORIGIN);
    // Steps 1 and 2 of the bracket, then "crash": no step 3.
    const entries = [att('5', 'crash.tar'), att('6', 'crash2.tar')];
    const bytes = entries.map((e) => formatEntry(e));
    await store.beginLogAppend({ key: 'change:c-9', fromIndex: 0, count: 2, entriesDigest: entriesDigest(bytes) });
    const raw = await TransparencyLog.open(dir, { origin: ORIGIN, signer: skey });
    await raw.append(bytes);
    await raw.close();

    const svc = await LogService.open({ dir, origin: ORIGIN, signer: skey, store });
    assert.deepEqual(await store.pendingLogAppends(), []);
    assert.equal((await store.getLogAppend('change:c-9'))?.state, 'done');
    assert.equal((await store.findAttestations(`sha256:${'6'.repeat(64)}`))[0]?.logIndex, 1);
    assert.equal(await store.getCheckpoint(2), svc.checkpoint());
    const retry = await svc.appendEntries(entries, { key: 'change:c-9' });
    assert.equal(retry.reused, true);
    assert.deepEqual(retry.indexes, [0, 1]);
    assert.equal(svc.size(), 2, 'logged once');
    await svc.close();
  });

  test('an append recorded but never committed to the log is dropped, and then made afresh', async () => {
    const { dir, store, skey, svc } = await fresh();
    await svc.appendEntries([keyAdded]);
    await svc.close();
    await store.beginLogAppend({ key: 'attest:lost', fromIndex: 1, count: 1, entriesDigest: entriesDigest([formatEntry(att('7', 'lost'))]) });
    // A pending row whose position now holds other entries (cannot happen
    // with one writer, but must not be mistaken for a done append).
    await store.beginLogAppend({ key: 'attest:other', fromIndex: 0, count: 1, entriesDigest: '0'.repeat(64) });
    const svc2 = await LogService.open({ dir, origin: ORIGIN, signer: skey, store });
    assert.deepEqual(await store.pendingLogAppends(), []);
    assert.equal(await store.getLogAppend('attest:lost'), undefined);
    assert.equal(await store.getLogAppend('attest:other'), undefined);
    const out = await svc2.appendEntries([att('7', 'lost')], { key: 'attest:lost' });
    assert.deepEqual(out.indexes, [1]);
    assert.equal(out.reused, false);
    await svc2.close();
  });

  test('a failure inside the append (before the checkpoint) leaves nothing behind and the service keeps working', async () => {
    const { svc, store, failOnce } = await failingOnce();
    await svc.appendEntries([keyAdded]);
    failOnce();
    await assert.rejects(svc.appendEntries([att('8', 'x')], { key: 'k-fail' }), /disk gone/);
    assert.equal(svc.size(), 1);
    assert.equal(await store.getLogAppend('k-fail'), undefined, 'the pending row was settled (dropped)');
    const out = await svc.appendEntries([att('8', 'x')], { key: 'k-fail' });
    assert.deepEqual(out.indexes, [1], 'the reopened log appends at the right place');
    await svc.close();
  });

  test('a store failure after the append is LOG_INDEX; the next append settles it first', async () => {
    const real = SqliteStore.open(':memory:');
    let failFinish = true;
    const store = new Proxy(real, {
      get(target, prop, recv) {
        if (prop === 'finishLogAppend') {
          return async (...args: Parameters<StateStore['finishLogAppend']>) => {
            if (failFinish) { failFinish = false; throw new Error('database is locked'); }
            return target.finishLogAppend(...args);
          };
        }
        const v: unknown = Reflect.get(target, prop, recv);
        return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
      },
    });
    const { svc } = await fresh({ store });
    await assert.rejects(svc.appendEntries([att('9', 'late.tar')], { key: 'k-late' }),
      (e: unknown) => e instanceof LogServiceError && e.code === 'LOG_INDEX' && /entries 0\.\.0 are in the log/.test(e.message));
    assert.equal((await real.getLogAppend('k-late'))?.state, 'pending');
    await svc.appendEntries([keyAdded]);
    assert.equal((await real.getLogAppend('k-late'))?.state, 'done');
    assert.equal((await real.findAttestations(`sha256:${'9'.repeat(64)}`))[0]?.logIndex, 0);
    const again = await svc.appendEntries([att('9', 'late.tar')], { key: 'k-late' });
    assert.equal(again.reused, true);
    assert.equal(svc.size(), 2);
    await svc.close();
  });
});

describe('LogService from the config, and the app wiring', () => {
  test('fromConfig reads keys/log.key and log.origin; a missing or bad key file is a config error', async () => {
    const dir = tmp();
    const cfg = parseConfig({ bot: { address: 'bot@ztrust.test' }, mailbox: { url: 'maildir:in' }, outbox: { url: 'dir:out' }, log: { origin: ORIGIN } }, dir);
    const store = SqliteStore.open(':memory:');
    await assert.rejects(LogService.fromConfig(cfg, store), (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_SECRET');
    mkdirSync(path.join(cfg.dataDir, 'keys'), { recursive: true });
    writeFileSync(path.join(cfg.dataDir, 'keys', 'log.key'), 'not a key\n');
    await assert.rejects(LogService.fromConfig(cfg, store), (e: unknown) => e instanceof ConfigError && /not a signed-note private key/.test(e.message));
    const k = generateLogKey(ORIGIN);
    writeFileSync(path.join(cfg.dataDir, 'keys', 'log.key'), `${k.skey}\n`);
    chmodSync(path.join(cfg.dataDir, 'keys', 'log.key'), 0o600);
    const svc = await LogService.fromConfig(cfg, store);
    assert.equal(svc.verifierKey(), k.vkey);
    assert.equal(readFileSync(path.join(cfg.dataDir, 'log', 'log.vkey'), 'utf8').trim(), k.vkey);
    await svc.close();
  });

  test('LazyLog opens once, retries a failed open, and closes', async () => {
    let opens = 0;
    let failing = true;
    const { dir, store, skey, svc } = await fresh();
    await svc.close();
    const lazy = new LazyLog(async () => {
      opens++;
      if (failing) throw new Error('not yet');
      return LogService.open({ dir, origin: ORIGIN, signer: skey, store });
    });
    await assert.rejects(lazy.get(), /not yet/);
    failing = false;
    const [a, b] = await Promise.all([lazy.get(), lazy.get()]);
    assert.equal(a, b);
    assert.equal(opens, 2);
    await lazy.close();
    // Closed: the lock is free again, and the lazy log opens nothing more.
    const again = await LogService.open({ dir, origin: ORIGIN, signer: skey, store });
    await assert.rejects(lazy.get(), (err: unknown) => err instanceof LogServiceError && err.code === 'LOG_CLOSED');
    assert.equal(opens, 2);
    await again.close();
  });

  test('openApp wires the apply step seam: one entry per change id, even when called twice', async () => {
    const dir = tmp();
    const init = await initDataDir({ dataDir: path.join(dir, 'data'), address: 'bot@ztrust.test', name: 'ztrust-bot', origin: ORIGIN, passphrase: 'pw' });
    const doc = YAML.parse(readFileSync(init.configPath, 'utf8')) as Record<string, unknown>;
    assert.equal((doc.log as { origin: string }).origin, ORIGIN);
    process.env.ZTRUST_KEY_PASSPHRASE = 'pw';
    const app = await openApp(init.config, silentLogger);
    try {
      const i1 = await app.logAppend!(keyAdded, 'c-1');
      const i2 = await app.logAppend!(keyAdded, 'c-1');
      const i3 = await app.logAppend!({ ...keyAdded, type: 'key-updated' }, 'c-2');
      assert.deepEqual([i1, i2, i3], [0, 0, 1]);
      assert.equal((await app.log.get()).size(), 2);
      assert.equal(typeof app.applyAttestation, 'function');
    } finally {
      await app.close();
    }
  });
});
