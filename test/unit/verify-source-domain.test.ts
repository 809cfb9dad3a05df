/**
 * verify-source's checks (src/ledger/verify-source.ts) on a collection
 * written by the collection code, with keys and signatures made by real
 * GnuPG, some at a faked time: what the integration test cannot make on the
 * live stack (a key that has expired since it signed, a SHA-1 signature),
 * and the order in which the checks stop.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
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
let memberFpr: string;

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
  memberFpr = await gpg.genKey('A Member <member@community.example>', { algo: 'ed25519', encryptSubkey: false });
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
    // A community member's key: in pgp/all/, not a source-signing key, no row.
    const armored = await gpg.exportPublic(memberFpr);
    await c.putKey((await readKeysAny(armored))[0], 'signing', { armored });
  }, { message: 'two upstream keys for bash-5.3, one member key', signer: null });
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
  // The release checked is named, not the file (which is bash-5.3, a release the key IS vouched for).
  assert.match(other.checks.at(-1)!.detail, /NOT vouched to sign release bash-5\.2 \(named by --release; the file is bash-5\.3\.tar\.gz\)$/);
  assert.doesNotMatch(other.checks.at(-1)!.detail, /NOT vouched to sign bash-5\.3/);
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

test('--release that is no release name (a path) fails the release check before any key is tried', async () => {
  for (const bad of ['../x', 'a/b-1.0', '', 'bash 5.3']) {
    const r = await verifySource(input(await gpg.detachSign(newFpr, bytes), { release: bad }));
    assert.equal(r.ok, false, bad);
    assert.deepEqual(r.checks.map((c) => [c.name, c.state]), [['release', 'failed']], bad);
    assert.match(r.checks[0].detail, /is not a release name/, bad);
  }
});

describe('a .sig file holding several signature packets (made by GnuPG, joined as upstreams publish them)', () => {
  test('the same key, SHA-1 then SHA-512: the SHA-512 packet is checked on its own and passes; the result names it', async () => {
    const weak = await gpg.detachSign(newFpr, bytes, { digest: 'SHA1' });
    const strong = await gpg.detachSign(newFpr, bytes, { digest: 'SHA512' });
    const r = await verifySource(input(Buffer.concat([weak, strong])));
    assert.equal(r.ok, true, JSON.stringify(r.checks));
    assert.deepEqual(r.packet, { number: 2, of: 2 });
    assert.equal(r.key?.fingerprint, newFpr);
    assert.match(r.checks[0].detail, /^bash-5\.3\.tar\.gz\.sig \(signature packet 2 of 2\) is a good signature/);
    // The SHA-1 packet alone is still refused.
    const alone = await verifySource(input(weak));
    assert.equal(alone.ok, false);
  });

  test('a signature over other data first, then a good one by the same key: passes with the second packet', async () => {
    const other = await gpg.detachSign(newFpr, Buffer.from('other data\n'));
    const good = await gpg.detachSign(newFpr, bytes);
    const r = await verifySource(input(Buffer.concat([other, good])));
    assert.equal(r.ok, true, JSON.stringify(r.checks));
    assert.deepEqual(r.packet, { number: 2, of: 2 });
    // Only signatures over other data: the failure names each packet.
    const none = await verifySource(input(Buffer.concat([other, other])));
    assert.equal(none.ok, false);
    assert.deepEqual(none.checks.map((c) => [c.name, c.state]), [['signature', 'failed']]);
    assert.match(none.checks[0].detail, /signature packet 1 of 2, by 0x[0-9a-f]{16}: .*; signature packet 2 of 2, by 0x/);
  });

  test('a member key and the vouched upstream key (gpg -u member -u upstream, and the packets joined member first): the upstream packet is tried first and passes', async () => {
    const both = await gpg.run(['-u', memberFpr, '-u', newFpr, '--detach-sign'], bytes);
    assert.equal(both.code, 0, both.stderr);
    const joined = Buffer.concat([await gpg.detachSign(memberFpr, bytes), await gpg.detachSign(newFpr, bytes)]);
    for (const sig of [both.stdout, joined]) {
      const r = await verifySource(input(sig));
      assert.equal(r.ok, true, JSON.stringify(r.checks));
      assert.equal(r.key?.fingerprint, newFpr);
      assert.equal(r.key?.kind, 'source');
      assert.equal(r.packet?.of, 2);
    }
    // The member alone: a good signature, but no row for a member key; reported as such.
    const member = await verifySource(input(await gpg.detachSign(memberFpr, bytes)));
    assert.equal(member.ok, false);
    assert.deepEqual(member.checks.map((c) => [c.name, c.state]), [['signature', 'ok'], ['key', 'ok'], ['release', 'failed']]);
    assert.equal(member.key?.kind, 'member');
  });

  test('a good upstream packet with no row for the release, after a packet by a member over other data: the furthest failure is reported, the other packet noted', async () => {
    const good = await gpg.detachSign(newFpr, bytes);
    const r = await verifySource(input(Buffer.concat([await gpg.detachSign(memberFpr, Buffer.from('x')), good]), { release: 'bash-5.2' }));
    assert.equal(r.ok, false);
    assert.deepEqual(r.checks.map((c) => [c.name, c.state]), [['signature', 'ok'], ['key', 'ok'], ['release', 'failed']]);
    assert.deepEqual(r.packet, { number: 2, of: 2 });
    assert.equal(r.notes.length, 1);
    assert.match(r.notes[0], /^signature packet 1 fails too: signature: signature packet 1 of 2, by 0x[0-9a-f]{16}: the signature does not verify over the file/);
  });
});

test('a pass says the release comes from the file name, which the signature does not cover, and gives the SHA-256', async () => {
  const sig = await gpg.detachSign(newFpr, bytes);
  const r = await verifySource(input(sig));
  assert.equal(r.ok, true);
  assert.equal(r.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.equal(r.notes.length, 1);
  assert.match(r.notes[0], /^the release \(bash-5\.3\) is taken from the file name, which the signature does not cover: a file renamed to another release this key signed is not detected \(compare the SHA-256 [0-9a-f]{64} with the project's announcement/);
  // The renamed file the note warns of: the same bytes as bash-5.4, a release this key is also vouched for, pass.
  const renamed = path.join(dir, 'bash-5.4.tar.gz');
  copyFileSync(tarball, renamed);
  const col = await Collection.open(path.join(dir, 'collection'));
  await col.apply(async (c) => {
    const file = (await c.sourceKeys()).find((k) => k.fingerprint === newFpr)!.file;
    await c.addSourceRows([{ key: path.basename(file), release: 'bash-5.4' }]);
  }, { message: 'bash-5.4 too', signer: null });
  const moved = await verifySource(input(sig, { artifactPath: renamed, signatureName: 'bash-5.4.tar.gz.sig' }));
  assert.equal(moved.ok, true);
  assert.equal(moved.release, 'bash-5.4');
  assert.match(moved.notes[0], /^the release \(bash-5\.4\) is taken from the file name, which the signature does not cover/);
});
