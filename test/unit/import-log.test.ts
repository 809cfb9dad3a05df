/** `ztrust-bot import` logs what it changed, once, and never leaves an unlogged change. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync, spawn } from 'node:child_process';
import * as openpgp from 'openpgp';
import { initDataDir } from '../../src/app/init.js';
import { LogReader } from '../../src/ledger/reader.js';
import { parseEntry } from '../../src/tlog/index.js';

const CLI = path.resolve(import.meta.dirname, '../../bin/ztrust-bot.js');

async function seedDir(root: string, n: number): Promise<string[]> {
  const dir = path.join(root, 'seed', 'pgp');
  mkdirSync(dir, { recursive: true });
  const keys = await Promise.all([...Array(n).keys()].map(async (i) =>
    (await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: `P${i}`, email: `p${i}@example.org` }], format: 'object' })).privateKey));
  const fprs: string[] = [];
  for (const k of keys) {
    const certified = await k.toPublic().signAllUsers(keys.filter((o) => o !== k));
    writeFileSync(path.join(dir, `0x${k.getKeyID().toHex()}-${k.getUserIDs()[0].match(/<(.*)>/)![1]}-public.asc`), certified.armor());
    fprs.push(k.getFingerprint().toUpperCase());
  }
  return fprs;
}

test('import appends one key-added entry per new key file, and nothing when run again', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'zimplog-'));
  const init = await initDataDir({ dataDir: path.join(root, 'data'), address: 'bot@example.org', name: 'b', origin: 'example.org/log' });
  const fprs = await seedDir(root, 3);
  const r1 = spawnSync(process.execPath, [CLI, 'import', path.join(root, 'seed'), '--config', init.configPath], { encoding: 'utf8' });
  assert.equal(r1.status, 0, r1.stderr);
  assert.match(r1.stdout, /logged as entries 0-2 of the transparency log/);
  const reader = await LogReader.open(path.join(init.config.dataDir, 'log'));
  assert.equal(reader.size, 3);
  // Each entry is proven against the signed checkpoint from the files alone.
  const entries = await Promise.all([0, 1, 2].map(async (i) => parseEntry((await reader.client.proveEntry(i, reader.vkey)).entry)));
  assert.deepEqual(entries.map((e) => e.type), ['key-added', 'key-added', 'key-added']);
  assert.deepEqual(entries.map((e) => e.subject).sort(), [...fprs].sort());
  assert.ok(entries.every((e) => e.ticket === 'import' && /^[0-9a-f]{64}$/.test(e.source)));

  const r2 = spawnSync(process.execPath, [CLI, 'import', path.join(root, 'seed'), '--config', init.configPath], { encoding: 'utf8' });
  assert.equal(r2.status, 0, r2.stderr);
  assert.match(r2.stdout, /nothing changed/);
  assert.doesNotMatch(r2.stdout, /logged as entries/);
  const again = await LogReader.open(path.join(init.config.dataDir, 'log'));
  assert.equal(again.size, 3);
});

test('import refuses before touching the collection while another process holds the log', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'zimplog-'));
  const init = await initDataDir({ dataDir: path.join(root, 'data'), address: 'bot@example.org', name: 'b', origin: 'example.org/log' });
  await seedDir(root, 2);
  // A second process holds the log (as a running worker does).
  const holder = spawn(process.execPath, ['--import', 'tsx', '-e', `
    const { LogService } = await import(${JSON.stringify(path.resolve(import.meta.dirname, '../../src/ledger/service.ts'))});
    const { SqliteStore } = await import(${JSON.stringify(path.resolve(import.meta.dirname, '../../src/store/sqlite.ts'))});
    const { loadConfig } = await import(${JSON.stringify(path.resolve(import.meta.dirname, '../../src/config/load.ts'))});
    const cfg = loadConfig(${JSON.stringify(init.configPath)});
    await LogService.fromConfig(cfg, SqliteStore.open(${JSON.stringify(path.join(root, 'holder.db'))}));
    console.log('held'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'], cwd: path.resolve(import.meta.dirname, '../..') });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (d: Buffer) => { if (d.toString().includes('held')) resolve(); });
      holder.once('exit', (c) => reject(new Error(`holder exited ${c}`)));
    });
    const r = spawnSync(process.execPath, [CLI, 'import', path.join(root, 'seed'), '--config', init.configPath], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot open the transparency log/);
    assert.equal(existsSync(path.join(init.config.dataDir, 'collection', 'pgp', 'all')), false, 'the collection was not touched');
  } finally {
    holder.kill('SIGKILL');
  }
});
