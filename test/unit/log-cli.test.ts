/**
 * `ztrust-bot verify-proof` and `ztrust-bot log ...`: exit status 0 / 1 /
 * 2 and what they print. Run in-process through the CLI's main() (fast),
 * and once through the real binary for the exit code a shell sees.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CommanderError, type Command } from 'commander';
import { buildProgram } from '../../cli/main.js';
import { ConfigError } from '../../src/errors.js';
import { initDataDir } from '../../src/app/init.js';
import { framed, FRAME_ENTRY, FRAME_PROOF } from '../../src/ledger/replies.js';
import { LogService } from '../../src/ledger/service.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { entriesPath, verifyConsistencyBlock, type LogEntry } from '../../src/tlog/index.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let dir: string;
let configPath: string;
let dataDir: string;
let vkey: string;
let reply: string;
let bareProof: string;
let entry7: Buffer;

/** The CLI in-process, its output captured through commander's output configuration. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const program = buildProgram();
  const configure = (c: Command): void => {
    c.configureOutput({ writeOut: (s) => { out += s; }, writeErr: (s) => { err += s; }, outputError: (s, w) => w(s) });
    c.exitOverride();
    for (const sub of c.commands) configure(sub);
  };
  configure(program);
  try {
    await program.parseAsync(args, { from: 'user' });
    return { code: 0, out, err };
  } catch (e) {
    // As main() maps them: our own codes carry their exit status, the rest is usage.
    if (e instanceof CommanderError) return { code: e.code.startsWith('ztrust.') ? e.exitCode : 2, out, err };
    return { code: e instanceof ConfigError ? 2 : 1, out, err: err + String(e) };
  }
}

function att(i: number): LogEntry {
  return { type: 'attestation', subject: `sha256:${String(i % 10).repeat(64)}`, name: `file-${i}`, signers: ['A'.repeat(40)], time: '2025-07-01T08:00:00Z', source: 'b'.repeat(64) };
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'zt-logcli-'));
  const init = await initDataDir({ dataDir: path.join(dir, 'data'), address: 'bot@ztrust.test', name: 'ztrust-bot', origin: 'cli.ztrust.test/log', passphrase: 'x' });
  configPath = init.configPath;
  dataDir = init.config.dataDir;
  vkey = init.logVerifierKey;
  const store = SqliteStore.open(path.join(dataDir, 'state.db'));
  const svc = await LogService.fromConfig(init.config, store);
  for (let i = 0; i < 30; i += 6) await svc.appendEntries(Array.from({ length: 6 }, (_, j) => att(i + j)));
  entry7 = (await svc.entry(7)).bytes;
  bareProof = await svc.proofBlock(7);
  reply = `Status: found\nDigest: ${'7'.repeat(64)}\nLog-Index: 7\n\nprose\n\n${framed(FRAME_ENTRY, entry7.toString())}${framed(FRAME_PROOF, bareProof)}`;
  await svc.close();
  await store.close();
});

describe('verify-proof', () => {
  test('a good reply: exit 0; the key as text, as a file, or from the config', async () => {
    const f = path.join(dir, 'reply.txt');
    writeFileSync(f, reply);
    const a = await run(['verify-proof', f, '--log-key', vkey]);
    assert.equal(a.code, 0, a.err);
    assert.match(a.out, /^ok: entry 7 is in log cli\.ztrust\.test\/log at tree size 30: attestation of sha256:7{64} \("file-7"\)/);
    const b = await run(['verify-proof', f, '--log-key', path.join(dataDir, 'log', 'log.vkey')]);
    assert.equal(b.code, 0, b.err);
    const c = await run(['verify-proof', f, '--config', configPath]);
    assert.equal(c.code, 0, c.err);
    const j = await run(['verify-proof', f, '--log-key', vkey, '--json']);
    assert.equal((JSON.parse(j.out) as { ok: boolean }).ok, true);
  });

  test('a flipped byte in the proof, another entry, or no block: exit 1 with the reason', async () => {
    const f = path.join(dir, 'bad.txt');
    const lines = reply.split('\n');
    const i = lines.findIndex((l) => l === 'index 7') + 1;
    lines[i] = (lines[i][0] === 'A' ? 'B' : 'A') + lines[i].slice(1);
    writeFileSync(f, lines.join('\n'));
    const a = await run(['verify-proof', f, '--log-key', vkey]);
    assert.equal(a.code, 1);
    assert.match(a.out, /^FAILED: inclusion .* of entry 7: the entry is not included at index 7/);
    assert.match(a.err, /1 of 1 block did not verify/);

    writeFileSync(f, reply.replace('name: file-7', 'name: file-8'));
    assert.equal((await run(['verify-proof', f, '--log-key', vkey])).code, 1);
    writeFileSync(f, 'Status: not-found\n\nno proof here\n');
    const n = await run(['verify-proof', f, '--log-key', vkey]);
    assert.equal(n.code, 1);
    assert.match(n.err, /no complete c2sp\.org\/tlog-proof@v1/);
  });

  test('a bare proof block needs the entry; consistency blocks are checked too', async () => {
    const p = path.join(dir, 'bare.proof');
    const e = path.join(dir, 'entry7');
    writeFileSync(p, bareProof);
    writeFileSync(e, entry7);
    assert.equal((await run(['verify-proof', p, '--log-key', vkey])).code, 1);
    assert.equal((await run(['verify-proof', p, '--log-key', vkey, '--entry', e])).code, 0);
    const cons = await run(['log', 'consistency', '6', '--config', configPath]);
    assert.equal(cons.code, 0, cons.err);
    const cf = path.join(dir, 'cons.txt');
    writeFileSync(cf, cons.out);
    const v = await run(['verify-proof', cf, '--log-key', vkey]);
    assert.equal(v.code, 0, v.err);
    assert.match(v.out, /ok: consistency .* the tree of size 30 extends the tree of size 6/);
  });

  test('usage errors: exit 2', async () => {
    const f = path.join(dir, 'reply2.txt');
    writeFileSync(f, reply);
    const env = process.env.ZTRUST_CONFIG;
    delete process.env.ZTRUST_CONFIG;
    try {
      const a = await run(['verify-proof', f]);
      assert.equal(a.code, 2);
      assert.match(a.err, /no log key: give --log-key KEY/);
    } finally {
      if (env !== undefined) process.env.ZTRUST_CONFIG = env;
    }
    assert.equal((await run(['verify-proof', f, '--log-key', 'nonsense'])).code, 2);
    assert.equal((await run(['verify-proof', path.join(dir, 'missing.eml'), '--log-key', vkey])).code, 2);
    const keyFile = path.join(dir, 'notakey');
    writeFileSync(keyFile, 'hello\n');
    const k = await run(['verify-proof', f, '--log-key', keyFile]);
    assert.equal(k.code, 2);
    assert.match(k.err, /does not hold a log verifier key/);
  });

  test('the real binary exits 0 and 1 as a shell sees it', () => {
    const f = path.join(dir, 'reply3.txt');
    writeFileSync(f, reply);
    const ok = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'ztrust-bot.js'), 'verify-proof', f, '--log-key', vkey], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    writeFileSync(f, reply.replace('index 7', 'index 6'));
    const bad = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'ztrust-bot.js'), 'verify-proof', f, '--log-key', vkey], { encoding: 'utf8' });
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
  });
});

describe('log', () => {
  test('checkpoint prints the signed checkpoint', async () => {
    const r = await run(['log', 'checkpoint', '--config', configPath]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, readFileSync(path.join(dataDir, 'log', 'checkpoint'), 'utf8'));
  });

  test('consistency between sizes the log signed, or from a checkpoint file; refusals', async () => {
    const r = await run(['log', 'consistency', '12', '24', '--config', configPath]);
    assert.equal(r.code, 0, r.err);
    const v = verifyConsistencyBlock(r.out, vkey);
    assert.deepEqual([v.ok, v.oldSize, v.newSize], [true, 12, 24]);
    const zero = await run(['log', 'consistency', '0', '--config', configPath]);
    assert.deepEqual([verifyConsistencyBlock(zero.out, vkey).oldSize, verifyConsistencyBlock(zero.out, vkey).newSize], [0, 30]);
    const cpFile = path.join(dir, 'old.checkpoint');
    const store = SqliteStore.open(path.join(dataDir, 'state.db'));
    writeFileSync(cpFile, (await store.getCheckpoint(18))!);
    await store.close();
    const fromFile = await run(['log', 'consistency', cpFile, '--config', configPath]);
    assert.equal(fromFile.code, 0, fromFile.err);
    assert.equal(verifyConsistencyBlock(fromFile.out, vkey).oldSize, 18);

    const none = await run(['log', 'consistency', '13', '--config', configPath]);
    assert.equal(none.code, 1);
    assert.match(none.err, /no recorded checkpoint at size 13; sizes with one: 0 6 12 18 24 30/);
    assert.equal((await run(['log', 'consistency', '99', '--config', configPath])).code, 1);
    assert.equal((await run(['log', 'consistency', path.join(dir, 'nope'), '--config', configPath])).code, 2);
    writeFileSync(cpFile, 'not a checkpoint\n');
    assert.equal((await run(['log', 'consistency', cpFile, '--config', configPath])).code, 1);
    assert.equal((await run(['log', 'checkpoint', '--config', path.join(dir, 'missing.yaml')])).code, 2);
  });

  test('fsck: clean, then a damaged entry bundle is found (exit 1)', async () => {
    const ok = await run(['log', 'fsck', '--config', configPath]);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /tree size 30, 30 entries and \d+ tiles checked/);
    const bundle = path.join(dataDir, 'log', entriesPath(0, 30));
    const orig = readFileSync(bundle);
    const bad = Buffer.from(orig);
    bad[10] ^= 0x20;
    writeFileSync(bundle, bad);
    try {
      const r = await run(['log', 'fsck', '--config', configPath]);
      assert.equal(r.code, 1);
      assert.match(r.out, /problem: entry 0: its leaf hash is not the one in tile 0\/0/);
    } finally {
      writeFileSync(bundle, orig);
    }
  });
});
