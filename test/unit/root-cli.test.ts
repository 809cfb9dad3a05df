/**
 * `ztrust-bot root verify DIR [--root FILE]` and the `--root` pin of the
 * verifying tools, on a collection checkout laid out as the bot publishes it
 * (src/root/files.ts rootVersionFiles): maintainer keys in pgp/all, three
 * root versions approved by gpg-made signatures (inline and PGP/MIME), the
 * approvers' keys beside their approvals. A user's view: the binary, exit
 * codes 0/1/2, and the files as a clone would hold them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runMain } from './cli-capture.js';
import { resolveRootPin } from '../../cli/root-pin.js';
import { keyFileName } from '../../src/collection/naming.js';
import { formatRoot, rootDigest } from '../../src/root/document.js';
import { RootError } from '../../src/root/errors.js';
import { generateLogKey } from '../../src/tlog/note.js';
import { rootVersionFiles, type KeptApproval } from '../../src/root/files.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin', 'ztrust-bot.js');
const DAY = 86_400_000;
const ORIGIN = 'ztrust.example.org/log';
const VKEY = generateLogKey(ORIGIN).vkey;
const VKEY2 = generateLogKey(ORIGIN).vkey;
const BOT = 'AB'.repeat(20);

let gpg: GpgHome;
let work: string;
let A: string; let B: string; let C: string;
const texts: string[] = [];

const run = runMain;

function doc(version: number, maintainers: string[], threshold: number, previous: string | null, logKey = VKEY, days = 365): string {
  const issued = new Date(Date.now() - (10 - version) * DAY);
  return formatRoot({ version, issued, expires: new Date(issued.getTime() + days * DAY), threshold, maintainers, botKey: BOT, logOrigin: ORIGIN, logKey, previous });
}

async function approval(fpr: string, text: string, version: number, mime: boolean): Promise<KeptApproval> {
  const words = `APPROVE ROOT-${version} ${rootDigest(text)}\n`;
  const key = await gpg.exportPublic(fpr);
  if (!mime) return { fingerprint: fpr, cleartext: await gpg.clearsign(fpr, words), key };
  const data = Buffer.from(`Content-Type: text/plain; charset=us-ascii\r\n\r\n${words.replace(/\n/g, '\r\n')}`);
  return { fingerprint: fpr, data, signature: await gpg.detachSign(fpr, data, { armor: true }), key };
}

function publish(dir: string, version: number, text: string, approvals: KeptApproval[]): void {
  for (const [rel, bytes] of rootVersionFiles(version, text, rootDigest(text), approvals)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), bytes);
  }
}

/** A collection checkout with maintainer keys in pgp/all and root versions 1..n. */
async function checkout(name: string, n: number): Promise<string> {
  const dir = path.join(work, name);
  mkdirSync(path.join(dir, 'pgp', 'all'), { recursive: true });
  for (const [f, who] of [[A, 'alice@example.org'], [B, 'bob@example.org'], [C, 'carol@example.org']] as const) {
    writeFileSync(path.join(dir, 'pgp', 'all', keyFileName(f.slice(-16).toLowerCase(), who, 'public')), await gpg.exportPublic(f));
  }
  publish(dir, 1, texts[0], [await approval(A, texts[0], 1, false), await approval(B, texts[0], 1, true)]);
  if (n >= 2) publish(dir, 2, texts[1], [await approval(A, texts[1], 2, true), await approval(B, texts[1], 2, false), await approval(C, texts[1], 2, false)]);
  if (n >= 3) publish(dir, 3, texts[2], [await approval(B, texts[2], 3, false), await approval(C, texts[2], 3, false)]);
  return dir;
}

before(async () => {
  gpg = await makeGpgHome();
  work = mkdtempSync(path.join(tmpdir(), 'zt-root-cli-'));
  A = await gpg.genKey('Alice <alice@example.org>', { encryptSubkey: false });
  B = await gpg.genKey('Bob <bob@example.org>', { encryptSubkey: false });
  C = await gpg.genKey('Carol <carol@example.org>', { encryptSubkey: false });
  texts.push(doc(1, [A, B], 2, null));
  // Version 2 adds Carol (she approves it) and rotates the log key; version 3 drops Alice.
  texts.push(doc(2, [A, B, C], 2, rootDigest(texts[0]), VKEY2));
  texts.push(doc(3, [B, C], 2, rootDigest(texts[1]), VKEY2));
});
after(async () => {
  await gpg?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('root verify', () => {
  test('a chain of three versions verifies from version 1 and from a saved root; the binary prints the current root', async () => {
    const dir = await checkout('good', 3);
    const r = await run(['root', 'verify', dir]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^ok: root version 1 \(sha256 [0-9a-f]{64}\) approved by /m);
    assert.match(r.out, new RegExp(`^ok: root version 3 \\(sha256 ${rootDigest(texts[2])}\\) approved by ${[B, C].sort().join(', ')}$`, 'm'));
    assert.match(r.out, /trusted on first use: pin a root with --root FILE/);
    const saved = path.join(work, 'saved-1.txt');
    writeFileSync(saved, texts[0]);
    const bin = spawnSync(process.execPath, [BIN, 'root', 'verify', dir, '--root', saved, '--json'], { encoding: 'utf8' });
    assert.equal(bin.status, 0, bin.stderr);
    const j = JSON.parse(bin.stdout) as { ok: boolean; version: number; logKey: string; maintainers: string[]; steps: unknown[] };
    assert.deepEqual([j.ok, j.version, j.logKey, j.maintainers, j.steps.length], [true, 3, VKEY2, [B, C].sort(), 2]);
  });

  test('a version with one approval too few: exit 1, named', async () => {
    const dir = await checkout('few', 2);
    rmSync(path.join(dir, 'root', '2.sig', `${B}.asc`));
    const r = await run(['root', 'verify', dir]);
    assert.equal(r.code, 1);
    assert.match(r.err, /root version 2 is not approved: 1 of the previous version's \(1\) maintainers approved it, 2 must/);
  });

  test('a root edited after approval (a maintainer swapped in): exit 1', async () => {
    const dir = await checkout('edited', 2);
    const file = path.join(dir, 'root', '2.txt');
    writeFileSync(file, readFileSync(file, 'latin1').replace('Threshold: 2', 'Threshold: 1'));
    const r = await run(['root', 'verify', dir]);
    assert.equal(r.code, 1);
    assert.match(r.err, /root version 2 is not approved/);
  });

  test('a rollback (the saved root is newer than the published ones) and a stale root/current: exit 1', async () => {
    const dir = await checkout('rolled', 2);
    const saved = path.join(work, 'saved-3.txt');
    writeFileSync(saved, texts[2]);
    const r = await run(['root', 'verify', dir, '--root', saved]);
    assert.equal(r.code, 1);
    assert.match(r.err, /trusted root is version 3, but the newest published is version 2/);
    writeFileSync(path.join(dir, 'root', 'current'), `1 ${rootDigest(texts[0])}\n`);
    const s = await run(['root', 'verify', dir]);
    assert.equal(s.code, 1);
    assert.match(s.err, /root\/current names version 1 .* but the newest approved root is version 2/);
  });

  test('an unreadable --root is a usage error (2); a collection without root/ is unrooted (1)', async () => {
    const dir = await checkout('plain', 1);
    assert.equal((await run(['root', 'verify', dir, '--root', path.join(work, 'nope.txt')])).code, 2);
    const bare = path.join(work, 'bare');
    mkdirSync(bare);
    const r = await run(['root', 'verify', bare]);
    assert.equal(r.code, 1);
    assert.match(r.err, /holds no root: the collection is unrooted/);
  });
});

describe('--root on the verifying tools', () => {
  test('the pin yields the current root\'s keys; a rollback throws; verify-proof refuses a --log-key the root does not name', async () => {
    const dir = await checkout('pin', 3);
    const saved = path.join(work, 'pin-1.txt');
    writeFileSync(saved, texts[0]);
    const pin = await resolveRootPin({ root: saved, collection: dir });
    assert.deepEqual(pin, { version: 3, botKey: BOT, botKeys: [BOT], logKey: VKEY2, maintainers: [B, C].sort() });
    const newer = path.join(work, 'pin-3.txt');
    writeFileSync(newer, texts[2]);
    await assert.rejects(resolveRootPin({ root: newer, collection: await checkout('pin-old', 1) }), (e: unknown) => e instanceof RootError && e.code === 'ROOT_ROLLBACK');
    await assert.rejects(resolveRootPin({ root: saved }), /--root needs --collection DIR/);

    const block = path.join(work, 'none.txt');
    writeFileSync(block, 'no proof here\n');
    const mismatch = await run(['verify-proof', block, '--root', saved, '--collection', dir, '--log-key', VKEY]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.err, /is not the log key of the current root \(version 3\)/);
    // With the root's own key the check goes on to the file (which holds no proof: exit 1 for that reason).
    const none = await run(['verify-proof', block, '--root', saved, '--collection', dir]);
    assert.equal(none.code, 1);
    assert.match(none.err, /no complete c2sp.org\/tlog-proof@v1 .* block found/);
  });
});
