/**
 * verify-source's checks (src/ledger/verify-source.ts) on a collection
 * written by the collection code, with keys and signatures made by real
 * GnuPG, some at a faked time: what the integration test cannot make on the
 * live stack (a key that has expired since it signed, a SHA-1 signature),
 * and the order in which the checks stop.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Collection } from '../../src/collection/collection.js';
import { verifySource, type VerifySourceInput } from '../../src/ledger/verify-source.js';
import { readKeysAny } from '../../src/pgp/inspect.js';
import { DEFAULT_CRYPTO_POLICY } from '../../src/policy/index.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';

let gpg: GpgHome;
let dir: string;
let tarball: string;
const bytes = randomBytes(30_000);
let oldFpr: string;
let newFpr: string;

/** gpg at a faked time, the data on stdin, the output on stdout. */
async function at(time: string, args: string[], input?: Buffer): Promise<Buffer> {
  const r = await gpg.run(['--faked-system-time', time, ...args], input);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

async function fingerprintOf(uid: string): Promise<string> {
  const out = (await gpg.run(['--with-colons', '--list-keys', uid])).stdout.toString('utf8');
  return /^fpr:+([0-9A-F]{40}):/m.exec(out)![1];
}

before(async () => {
  gpg = await makeGpgHome();
  // A key made in 2020 that expired two days later, and the signature it made while valid.
  await at('20200101T000000', ['--quick-gen-key', 'Old Release <old@upstream.example>', 'ed25519', 'sign', '2d']);
  oldFpr = await fingerprintOf('old@upstream.example');
  newFpr = await gpg.genKey('New Release <new@upstream.example>', { algo: 'ed25519', encryptSubkey: false });
  dir = mkdtempSync(path.join(tmpdir(), 'zt-vs-'));
  tarball = path.join(dir, 'bash-5.3.tar.gz');
  writeFileSync(tarball, bytes);
  const col = await Collection.open(path.join(dir, 'collection'));
  await col.apply(async (c) => {
    for (const fpr of [oldFpr, newFpr]) {
      const armored = await gpg.exportPublic(fpr);
      const file = await c.putSourceKey((await readKeysAny(armored))[0], { armored });
      await c.addSourceRows([{ key: path.basename(file), release: 'bash-5.3' }]);
    }
  }, { message: 'two upstream keys for bash-5.3', signer: null });
});
after(async () => gpg?.cleanup());

function input(signature: Buffer, o: Partial<VerifySourceInput> = {}): VerifySourceInput {
  return {
    artifactPath: tarball, signature, signatureName: 'bash-5.3.tar.gz.sig', collectionDir: path.join(dir, 'collection'),
    log: null, noLog: true, policy: DEFAULT_CRYPTO_POLICY, now: new Date(), ...o,
  };
}

test('a key expired since it signed: the signature still counts, and the result says the key has expired since', async () => {
  const sig = await at('20200101T120000', ['-u', oldFpr, '--detach-sign'], bytes);
  const r = await verifySource(input(sig));
  assert.equal(r.ok, true, JSON.stringify(r.checks));
  assert.deepEqual(r.checks.map((c) => [c.name, c.state]), [['signature', 'ok'], ['key', 'ok'], ['release', 'ok'], ['log', 'skipped']]);
  assert.equal(r.checks[1].detail, 'not revoked; expired 2020-01-03, after it made this signature');
  assert.equal(r.key?.fingerprint, oldFpr);
});

test('a SHA-1 signature by a vouched key: refused by the policy, no other check runs', async () => {
  const sig = (await gpg.detachSign(newFpr, bytes, { digest: 'SHA1' }));
  const r = await verifySource(input(sig));
  assert.equal(r.ok, false);
  assert.deepEqual(r.checks.map((c) => [c.name, c.state]), [['signature', 'failed']]);
  assert.match(r.checks[0].detail, /SHA-1/i);
});

test('--release names another release: no row, exit-worthy; no log and no --no-log: the vouch is unchecked and that fails', async () => {
  const sig = await gpg.detachSign(newFpr, bytes);
  const other = await verifySource(input(sig, { release: 'bash-5.2' }));
  assert.equal(other.ok, false);
  assert.match(other.checks.at(-1)!.detail, /no row for this key and bash-5\.2: the key is listed for bash-5\.3 only/);
  const noLog = await verifySource(input(sig, { noLog: false }));
  assert.equal(noLog.ok, false);
  assert.deepEqual(noLog.checks.map((c) => [c.name, c.state]), [['signature', 'ok'], ['key', 'ok'], ['release', 'ok'], ['log', 'failed']]);
  const good = await verifySource(input(sig));
  assert.equal(good.ok, true);
  assert.deepEqual(good.row, { key: path.basename(good.key!.file!), release: 'bash-5.3' });
});

test('a directory that is no collection', async () => {
  const r = await verifySource(input(await gpg.detachSign(newFpr, bytes), { collectionDir: dir }));
  assert.equal(r.ok, false);
  assert.match(r.checks[0].detail, /holds no pgp\/ folder/);
});
