/**
 * The collection on disk: file naming from hostile user IDs (atomic writes
 * and the lock: atomic-lock.test.ts, collection-lock.test.ts), deterministic bundles, the signed manifest (checked with
 * `gpg --verify` and `sha256sum -c`), one git commit per change with
 * trailers, and restore on failure.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { collectionLockFile } from '../../src/collection/lock.js';
import { Collection, formatCommitMessage, type Signer } from '../../src/collection/collection.js';
import { CollectionError } from '../../src/collection/errors.js';
import {
  IDENTITY_MAX,
  identityFromUserId,
  isSafeIdentity,
  keyFileName,
  parseKeyFileName,
  validateCertName,
} from '../../src/collection/naming.js';
import { readKeysAny } from '../../src/pgp/inspect.js';

const gpgMissing = spawnSync('gpg', ['--version']).status !== 0 ? 'gpg is not installed' : false;

function tmp(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

describe('naming: identities from hostile user IDs', () => {
  const cases: [string, string][] = [
    ['Rick Troth <rmt@casita.net>', 'rmt@casita.net'],
    ['Thomas Kern <TLK_sysprog@yahoo.com>', 'tlk_sysprog@yahoo.com'],
    ['Matt Hogstrom (e-Mail Signing Key) <matt@hogtopia.com>', 'matt@hogtopia.com'],
    ['trothr@protonmail.com', 'trothr@protonmail.com'],
    ['Just A Name', 'just-a-name'],
    ['../../etc/passwd', 'etc-passwd'],
    ['<../../etc/passwd@x.org>', 'etc-passwd@x.org'],
    ['.hidden <.hidden@x.org>', 'hidden@x.org'],
    // the newline breaks the <address> form, so the whole text is sanitised
    ['a\u0000b\nc\r\td <evil\nname@x.org>', 'a-b-c-d-evil-name@x.org'],
    // no Unicode folding: full-width letters do not turn into "evil"
    ['Ｅｖｉｌ <ｅｖｉｌ@example.org>', '@example.org'],
    ['', 'unknown'],
    ['....', 'unknown'],
    ['-- --', 'unknown'],
    ['x..y <x..y@z..org>', 'x.y@z.org'],
    ['C:\\Windows\\system32', 'c-windows-system32'],
    ['/', 'unknown'],
  ];
  for (const [uid, want] of cases) {
    test(`${JSON.stringify(uid)} -> ${JSON.stringify(want)}`, () => {
      const id = identityFromUserId(uid);
      assert.equal(id, want);
      assert.ok(isSafeIdentity(id), `${id} is safe`);
      assert.equal(identityFromUserId(uid), id, 'deterministic');
    });
  }

  test('every identity stays in the safe alphabet, whatever the input', () => {
    const hostile = ['\u202eevil', 'a/b\\c', 'ǅ', '𝔞𝔟', '%2e%2e%2f', '$(rm -rf /)', '`id`', 'a'.repeat(500) + '@x.org', '\u0000'.repeat(10),
      '@@@', 'x@', '@x', 'name <a@b> <c@d>', 'ＡＢＣ'];
    for (const h of hostile) {
      const id = identityFromUserId(h);
      assert.match(id, /^[a-z0-9_@+][a-z0-9._@+-]*$/, `${JSON.stringify(h)} -> ${id}`);
      assert.ok(id.length <= IDENTITY_MAX);
      assert.ok(!id.includes('..') && !id.includes('/') && !id.includes('\\'));
      const name = keyFileName('0123456789abcdef', id, 'public');
      assert.equal(path.basename(name), name, 'no path separator can survive');
      assert.deepEqual(parseKeyFileName(name), { keyId: '0123456789abcdef', identity: id, role: 'public' });
    }
  });

  test('keyFileName refuses what naming would never produce', () => {
    assert.throws(() => keyFileName('0123', 'x', 'public'), CollectionError);
    assert.throws(() => keyFileName('0123456789abcdef', '../x', 'public'), /unsafe identity/);
    assert.throws(() => keyFileName('0123456789abcdef', 'x', 'secret' as never), /unknown key role/);
    assert.equal(keyFileName('0x0123456789ABCDEF', 'a@b.c', 'email'), '0x0123456789abcdef-a@b.c-email.asc');
  });

  test('certificate names are validated, not rewritten', () => {
    assert.equal(validateCertName('master2022.casita.net'), 'master2022.casita.net');
    assert.equal(validateCertName('Root-CA_1'), 'root-ca_1');
    for (const bad of ['../x', 'a/b', '.hidden', 'x.crt', 'x..y', '', 'a'.repeat(65), 'a b', 'x.', 'é']) {
      assert.throws(() => validateCertName(bad), (e: unknown) => e instanceof CollectionError && e.code === 'COLLECTION_BAD_NAME', bad);
    }
  });
});

describe('Collection with GnuPG-made keys', { skip: gpgMissing }, () => {
  const home = tmp('zt-colg-');
  const gpg = (args: string[], input?: string | Buffer): Buffer => {
    const r = spawnSync('gpg', ['--homedir', home, '--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { input: input ?? '' });
    if (r.status !== 0) throw new Error(`gpg ${args.join(' ')}: ${r.stderr.toString()}`);
    return r.stdout;
  };
  const signer: Signer = async (data) => gpg(['-u', 'bot@example.org', '--armor', '--detach-sign', '--output', '-'], data).toString();
  const keys: Record<string, openpgp.PublicKey> = {};
  const dirs: string[] = [];
  const newCollection = async () => {
    const d = tmp('zt-col-');
    dirs.push(d);
    return Collection.open(d);
  };
  const git = (dir: string, args: string[]) => spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir } }).stdout;

  before(async () => {
    const uids = {
      bot: 'Ztrust Bot <bot@example.org>',
      alice: 'Alice <alice@example.org>',
      bob: 'Bob Example <bob@example.org>',
      hostile: '../../etc/passwd <../../root@evil.example>',
      unicode: 'Ｍallory \u202etxt.exe <mallory@example.org>',
    };
    for (const [k, uid] of Object.entries(uids)) {
      const status = gpg(['--status-fd', '1', '--quick-gen-key', uid, 'ed25519', 'sign', '2y']).toString();
      const fpr = status.match(/KEY_CREATED P ([0-9A-F]{40})/)![1];
      keys[k] = (await readKeysAny(gpg(['--armor', '--export', fpr]).toString()))[0];
    }
  });
  after(() => {
    spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
    rmSync(home, { recursive: true, force: true });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('writes outside apply are refused', async () => {
    const c = await newCollection();
    await assert.rejects(c.putKey(keys.alice, 'public'), (e: unknown) => e instanceof CollectionError && e.code === 'COLLECTION_NOT_LOCKED');
    await assert.rejects(c.putCert('x', Buffer.from('x'), null), /inside Collection.apply/);
  });

  test('apply: layout, role copies, bundle, signed manifest, one commit with trailers', async () => {
    const c = await newCollection();
    const r = await c.apply(async (col) => {
      await col.putKey(keys.alice, 'public');
      await col.putKey(keys.bob, 'email');
      return 'done';
    }, {
      message: 'Admit alice and bob',
      trailers: { 'Ztrust-Ticket': 'ZT-000042', 'Ztrust-Approved-By': ['AAAA1111', 'BBBB2222'], 'Ztrust-Log-Index': '7' },
      signer,
    });
    assert.equal(r.result, 'done');
    assert.match(r.commit ?? '', /^[0-9a-f]{40}$/);
    const aId = keys.alice.getKeyID().toHex();
    const bId = keys.bob.getKeyID().toHex();
    const files = await c.files();
    assert.deepEqual(files, [
      'SHA256SUMS', 'SHA256SUMS.asc',
      `pgp/all/0x${aId}-alice@example.org-public.asc`,
      `pgp/all/0x${bId}-bob@example.org-email.asc`,
      `pgp/email/0x${bId}-bob@example.org-email.asc`,
      'pgp/pgp-bundle.asc',
      `pgp/signing/0x${aId}-alice@example.org-public.asc`,
    ].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));

    // gpg verifies the manifest signature; sha256sum checks the manifest
    const bot = gpg(['--armor', '--export', 'bot@example.org']);
    const vh = tmp('zt-colv-');
    dirs.push(vh);
    spawnSync('gpg', ['--homedir', vh, '--batch', '--import'], { input: bot });
    const v = spawnSync('gpg', ['--homedir', vh, '--batch', '--verify', path.join(c.dir, 'SHA256SUMS.asc'), path.join(c.dir, 'SHA256SUMS')]);
    spawnSync('gpgconf', ['--homedir', vh, '--kill', 'gpg-agent']);
    assert.equal(v.status, 0, v.stderr.toString());
    const sums = spawnSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: c.dir, encoding: 'utf8' });
    assert.equal(sums.status, 0, sums.stdout + sums.stderr);
    assert.equal(sums.stdout.trim().split('\n').length, files.length - 2);

    // the bundle imports into gpg with both keys
    const bh = tmp('zt-colb-');
    dirs.push(bh);
    spawnSync('gpg', ['--homedir', bh, '--batch', '--import', path.join(c.dir, 'pgp/pgp-bundle.asc')]);
    const listed = spawnSync('gpg', ['--homedir', bh, '--with-colons', '--list-keys'], { encoding: 'utf8' }).stdout;
    spawnSync('gpgconf', ['--homedir', bh, '--kill', 'gpg-agent']);
    assert.equal(listed.split('\n').filter((l) => l.startsWith('pub:')).length, 2);

    // git: one commit, trailers as given (one Approved-By per approver), clean tree
    assert.equal(git(c.dir, ['rev-list', '--count', 'HEAD']).trim(), '1');
    assert.equal(git(c.dir, ['log', '-1', '--format=%(trailers:key=Ztrust-Approved-By,valueonly)']).trim(), 'AAAA1111\nBBBB2222');
    assert.equal(git(c.dir, ['log', '-1', '--format=%(trailers:key=Ztrust-Ticket,valueonly)']).trim(), 'ZT-000042');
    assert.equal(git(c.dir, ['log', '-1', '--format=%(trailers:key=Ztrust-Log-Index,valueonly)']).trim(), '7');
    assert.equal(git(c.dir, ['log', '-1', '--format=%an <%ae>']).trim(), 'ztrust-bot <ztrust-bot@localhost>');
    assert.equal(git(c.dir, ['status', '--porcelain']), '');

    // reading back
    assert.equal((await c.keys()).length, 2);
    assert.equal((await c.getKey(keys.alice.getFingerprint()))?.keyId, aId);
    assert.equal((await c.getKey(`0x${bId.toUpperCase()}`))?.keyId, bId);
    assert.equal((await c.getKey('BOB@example.org'))?.keyId, bId);
    assert.equal(await c.getKey('nobody@example.org'), null);
    const sub = keys.alice.subkeys[0];
    if (sub) assert.equal((await c.getKey(sub.getFingerprint()))?.keyId, aId);

    // a second change is a second commit; a no-op change commits nothing
    const r2 = await c.apply(async (col) => col.removeKey(bId), { message: 'Remove bob', trailers: { 'Ztrust-Ticket': 'ZT-000043' }, signer: null });
    assert.equal(r2.result.length, 2);
    assert.equal(git(c.dir, ['rev-list', '--count', 'HEAD']).trim(), '2');
    assert.equal(existsSync(path.join(c.dir, 'SHA256SUMS.asc')), false, 'a stale manifest signature is removed');
    const r3 = await c.apply(async () => undefined, { message: 'Nothing', signer: null });
    assert.equal(r3.commit, null);
    assert.equal(git(c.dir, ['rev-list', '--count', 'HEAD']).trim(), '2');
  });

  test('bundles and manifest are deterministic (order of insertion does not matter)', async () => {
    const c1 = await newCollection();
    const c2 = await newCollection();
    await c1.apply(async (c) => { await c.putKey(keys.alice, 'public'); await c.putKey(keys.bob, 'public'); }, { message: 'a', signer: null });
    await c2.apply(async (c) => { await c.putKey(keys.bob, 'public'); }, { message: 'b', signer: null });
    await c2.apply(async (c) => { await c.putKey(keys.alice, 'public'); }, { message: 'a', signer: null });
    for (const f of ['pgp/pgp-bundle.asc', 'SHA256SUMS']) {
      assert.ok(readFileSync(path.join(c1.dir, f)).equals(readFileSync(path.join(c2.dir, f))), `${f} identical`);
    }
    const before1 = readFileSync(path.join(c1.dir, 'pgp/pgp-bundle.asc'));
    const again = await c1.apply(async (c) => { await c.regenerate(null); }, { message: 'regenerate', signer: null });
    assert.equal(again.commit, null, 'regenerating twice changes no byte');
    assert.ok(before1.equals(readFileSync(path.join(c1.dir, 'pgp/pgp-bundle.asc'))));
    // the bundle is in key-id order
    const ids = (await readKeysAny(before1)).map((k) => k.getKeyID().toHex());
    assert.deepEqual(ids, [...ids].sort());
  });

  test('hostile user IDs produce safe file names inside pgp/all', async () => {
    const c = await newCollection();
    await c.apply(async (col) => {
      await col.putKey(keys.hostile, 'public');
      await col.putKey(keys.unicode, 'public');
    }, { message: 'hostile', signer: null });
    const names = readdirSync(path.join(c.dir, 'pgp/all'));
    assert.equal(names.length, 2);
    for (const n of names) assert.match(n, /^0x[0-9a-f]{16}-[a-z0-9_@+][a-z0-9._@+-]*-public\.asc$/);
    assert.ok(names.some((n) => n.includes('-root@evil.example-')), names.join(' '));
    assert.ok(names.some((n) => n.includes('-mallory@example.org-')), names.join(' '));
    assert.deepEqual(readdirSync(path.dirname(c.dir)).filter((n) => n === 'etc'), []);
  });

  test('a failure inside apply restores the tree (before and after the first commit)', async () => {
    const c = await newCollection();
    await assert.rejects(c.apply(async (col) => {
      await col.putKey(keys.alice, 'public');
      throw new Error('disk on fire');
    }, { message: 'x', signer: null }), /disk on fire/);
    assert.deepEqual(await c.files(), []);

    await c.apply(async (col) => { await col.putKey(keys.alice, 'public'); }, { message: 'alice', signer: null });
    const snapshot = await c.files();
    await assert.rejects(c.apply(async (col) => {
      await col.putKey(keys.bob, 'public');
      await col.removeKey(keys.alice.getFingerprint());
      throw new Error('late failure');
    }, { message: 'y', signer }), /late failure/);
    assert.deepEqual(await c.files(), snapshot);
    assert.equal(git(c.dir, ['status', '--porcelain']), '');
    // a signer that fails is a failure too
    await assert.rejects(c.apply(async (col) => { await col.putKey(keys.bob, 'public'); }, {
      message: 'z', signer: async () => { throw new Error('no signing key'); },
    }), /no signing key/);
    assert.deepEqual(await c.files(), snapshot);
    // and the lock was released each time
    assert.equal(existsSync(collectionLockFile(c.dir)), false);
  });

  test('a temp file left by an interrupted write is neither committed nor listed in SHA256SUMS', async () => {
    const c = await newCollection();
    mkdirSync(path.join(c.dir, 'pgp', 'all'), { recursive: true });
    writeFileSync(path.join(c.dir, 'pgp', 'all', '.0xabc-x-public.asc.tmp-123-abcdef'), 'half a key');
    await c.apply(async (col) => { await col.putKey(keys.alice, 'public'); }, { message: 'alice', signer: null });
    const tracked = git(c.dir, ['ls-files']);
    assert.ok(!tracked.includes('.tmp-'), tracked);
    assert.ok(!readFileSync(path.join(c.dir, 'SHA256SUMS'), 'utf8').includes('.tmp-'));
  });

  test('trailer values cannot forge more trailers', async () => {
    assert.throws(() => formatCommitMessage('m', { 'Ztrust-Ticket': 'ZT-1\nZtrust-Approved-By: MALLORY' }), /bad value/);
    assert.throws(() => formatCommitMessage('m', { 'Bad Key': 'x' }), /bad trailer key/);
    assert.equal(formatCommitMessage('Subject\n\nBody', { A: ['1', '2'] }), 'Subject\n\nBody\n\nA: 1\nA: 2\n');
    const c = await newCollection();
    await assert.rejects(c.apply(async (col) => { await col.putKey(keys.alice, 'public'); }, {
      message: 'm', trailers: { 'Ztrust-Ticket': 'a\nb' }, signer: null,
    }), /bad value/);
    assert.deepEqual(await c.files(), []);
  });

  test('certificates are stored byte-exact with their signature; a missing signature removes a stale one', async () => {
    const c = await newCollection();
    const pem = Buffer.from('-----BEGIN CERTIFICATE-----\r\nAAAA\r\n-----END CERTIFICATE-----\r\n');
    await c.apply(async (col) => { await col.putCert('Example.CA', pem, 'SIG'); }, { message: 'cert', signer: null });
    assert.ok(readFileSync(path.join(c.dir, 'pki/all/example.ca.crt')).equals(pem));
    assert.equal(readFileSync(path.join(c.dir, 'pki/all/example.ca.crt.asc'), 'utf8'), 'SIG');
    assert.ok(readFileSync(path.join(c.dir, 'pki/pki-bundle.pem')).equals(pem));
    const [cert] = await c.certs();
    assert.equal(cert.name, 'example.ca');
    assert.equal(cert.signature, 'SIG');
    await c.apply(async (col) => { await col.putCert('example.ca', pem, null); }, { message: 'cert', signer: null });
    assert.equal(existsSync(path.join(c.dir, 'pki/all/example.ca.crt.asc')), false);
    await assert.rejects(c.apply(async (col) => { await col.putCert('../../escape', pem, null); }, { message: 'x', signer: null }),
      (e: unknown) => e instanceof CollectionError && e.code === 'COLLECTION_BAD_NAME');
  });
});
