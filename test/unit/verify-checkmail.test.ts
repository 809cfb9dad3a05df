/**
 * check-mail over real gpg-signed messages on disk: single files, a Maildir
 * (cur/ and new/, never tmp/), a directory of .eml files; and the command
 * run in-process on the CLI's own program (exitOverride, captured output)
 * for its output formats and exit statuses.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { makeGpgHome, type GpgHome, type MessageHeaders } from '../harness/gpg.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { checkMailPaths, type CheckMailResult } from '../../src/mail/checkmail.js';
import { buildProgram } from '../../cli/main.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';
import { mailmanWrap, pgpMimeAt, replaceOnce } from './verify-gpg-mail.js';

const headers = (subject: string): MessageHeaders => ({ from: 'V <v@example.org>', to: 'bot@example.org', subject });

let home: GpgHome;
let dir: string;
let alice: string;
let bob: string;
let keyringFile: string;
let bobKeyFile: string;
let maildir: string;
let emlDir: string;
let goodFile: string;

before(async () => {
  home = await makeGpgHome();
  dir = mkdtempSync(join(tmpdir(), 'verify-checkmail-'));
  alice = await home.genKey('Alice <alice@example.org>', { encryptSubkey: false });
  bob = await home.genKey('Bob <bob@example.org>', { encryptSubkey: false });
  keyringFile = join(dir, 'alice.asc');
  writeFileSync(keyringFile, await home.exportPublic(alice));
  bobKeyFile = join(dir, 'bob.asc');
  writeFileSync(bobKeyFile, await home.exportPublic(bob));

  const good = await home.pgpMimeMessage(alice, headers('good'), 'STATUS ZT-000001\n');
  const inline = await home.inlineMessage(alice, headers('inline'), 'STATUS ZT-000002\n');
  const byBob = await home.pgpMimeMessage(bob, headers('bob'), 'STATUS ZT-000003\n');
  const tampered = replaceOnce(await home.pgpMimeMessage(alice, headers('bad'), 'STATUS ZT-000004\n'), 'ZT-000004', 'ZT-000005');

  goodFile = join(dir, 'good.eml');
  writeFileSync(goodFile, good);

  // A Maildir as Dovecot/getmail leave it: LF files, flags in the names.
  maildir = join(dir, 'Maildir');
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
  writeFileSync(join(maildir, 'cur', '1700000001.M1P1.host:2,S'), good);
  writeFileSync(join(maildir, 'cur', '1700000002.M2P1.host:2,S'), mailmanWrap(inline));
  writeFileSync(join(maildir, 'new', '1700000003.M3P1.host'), byBob);
  writeFileSync(join(maildir, 'new', '.hidden'), 'not a message');
  writeFileSync(join(maildir, 'tmp', '1700000004.M4P1.host'), tampered); // still being delivered: skipped

  emlDir = join(dir, 'eml');
  mkdirSync(emlDir);
  writeFileSync(join(emlDir, 'b-tampered.eml'), tampered);
  writeFileSync(join(emlDir, 'a-good.eml'), good);
  writeFileSync(join(emlDir, 'notes.txt'), 'not a message');
});

after(async () => {
  await home?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function collect(paths: string[], keyring: Keyring, limits = DEFAULT_LIMITS): Promise<CheckMailResult[]> {
  const out: CheckMailResult[] = [];
  for await (const r of checkMailPaths(paths, keyring, { limits })) out.push(r);
  return out;
}

describe('checkMailPaths', () => {
  test('a Maildir: cur/ then new/, sorted; tmp/ and dot files skipped', async () => {
    const keyring = await Keyring.fromArmored(`${await home.exportPublic(alice)}`);
    const results = await collect([maildir], keyring);
    assert.deepEqual(results.map((r) => r.file), [
      join(maildir, 'cur', '1700000001.M1P1.host:2,S'),
      join(maildir, 'cur', '1700000002.M2P1.host:2,S'),
      join(maildir, 'new', '1700000003.M3P1.host'),
    ]);
    assert.deepEqual(results.map((r) => [r.kind, r.verdict]), [['pgpmime', 'good'], ['inline', 'good'], ['pgpmime', 'nokey']]);
    assert.equal(results[0].signer, alice);
    assert.equal(results[0].keyId, alice.slice(-16));
    assert.equal(results[1].signedPartPath, 'multipart/mixed>text/plain');
    assert.equal(results[2].signer, null);
    assert.equal(results[2].keyId, bob.slice(-16));
  });

  test('a directory of .eml files and single files; unreadable paths are reported, not thrown', async () => {
    const keyring = await Keyring.fromArmored(await home.exportPublic(alice));
    const results = await collect([emlDir, goodFile, join(dir, 'missing.eml')], keyring);
    assert.deepEqual(results.map((r) => [r.file, r.verdict]), [
      [join(emlDir, 'a-good.eml'), 'good'],
      [join(emlDir, 'b-tampered.eml'), 'bad'],
      [goodFile, 'good'],
      [join(dir, 'missing.eml'), 'malformed'],
    ]);
    assert.ok(results[1].hint);
    assert.match(results[3].detail, /cannot read/);
  });

  test('an oversize file is malformed without being read whole', async () => {
    const keyring = Keyring.fromKeys([]);
    const [r] = await collect([goodFile], keyring, { ...DEFAULT_LIMITS, maxMessageBytes: 64 });
    assert.equal(r.verdict, 'malformed');
    assert.match(r.detail, /larger than/);
  });
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const program = buildProgram();
  // Subcommands copy the output settings when they are created: configure each.
  for (const c of [program, ...program.commands]) c.configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => err.push(s) });
  let code = 0;
  try {
    await program.parseAsync(['check-mail', ...args], { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    code = e.exitCode;
  }
  return { code, out: out.join(''), err: err.join('') };
}

describe('check-mail command', () => {
  test('all good: exit 0, one readable line per message', async () => {
    const r = await cli([goodFile, '--keyring', keyringFile]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trimEnd().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0], new RegExp(`^${goodFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: good \\(pgpmime\\) signer ${alice} - good signature`));
  });

  test('--json over a Maildir: one object per line; any non-good message makes exit 1', async () => {
    const r = await cli(['--json', '--keyring', keyringFile, maildir]);
    assert.equal(r.code, 1);
    const objs = r.out.trimEnd().split('\n').map((l) => JSON.parse(l) as CheckMailResult);
    assert.equal(objs.length, 3);
    for (const o of objs) for (const k of ['file', 'kind', 'verdict', 'signer', 'detail', 'keyId']) assert.ok(k in o, `${k} in output`);
    assert.deepEqual(objs.map((o) => o.verdict), ['good', 'good', 'nokey']);
    assert.match(r.err, /1 of 3 messages did not verify as good/);
  });

  test('--keyring may be repeated', async () => {
    const r = await cli(['--json', '--keyring', keyringFile, '--keyring', bobKeyFile, maildir]);
    assert.equal(r.code, 0, r.err);
    const objs = r.out.trimEnd().split('\n').map((l) => JSON.parse(l) as CheckMailResult);
    assert.deepEqual(objs.map((o) => o.signer), [alice, alice, bob]);
  });

  test('without --keyring every signature is nokey (exit 1); bad messages print a hint line', async () => {
    const none = await cli([goodFile]);
    assert.equal(none.code, 1);
    assert.match(none.out, /: nokey \(pgpmime\) key [0-9A-F]{16} - /);
    const bad = await cli([emlDir, '--keyring', keyringFile]);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /b-tampered\.eml: bad \(pgpmime\)[^\n]*\n {2}hint: /);
  });

  test('issue 8 item 3: PGP/MIME by an RSA-3072 key with --digest-algo RIPEMD160 is weak (was good), exit 1', async () => {
    const rsa = await home.genKey('Rsa <rsa@example.org>', { algo: 'rsa3072', encryptSubkey: false });
    const ripemdFile = join(dir, 'ripemd.eml');
    writeFileSync(ripemdFile, await pgpMimeAt(home, rsa, 'APPROVE ZT-000042 3f1d2c\n', { digest: 'RIPEMD160' }));
    const rsaKeyFile = join(dir, 'rsa.asc');
    writeFileSync(rsaKeyFile, await home.exportPublic(rsa));
    const r = await cli(['--json', '--keyring', rsaKeyFile, ripemdFile]);
    assert.equal(r.code, 1, r.err);
    const o = JSON.parse(r.out) as CheckMailResult;
    assert.equal(o.verdict, 'weak', o.detail);
    assert.equal(o.kind, 'pgpmime');
    assert.equal(o.signer, rsa, 'names the key the signature claims');
    assert.match(o.detail, /RIPEMD-160 is refused by the policy/);
    assert.match(o.hint ?? '', /personal-digest-preferences SHA512/);
    assert.equal(o.authorises, false);
    const text = await cli(['--keyring', rsaKeyFile, ripemdFile]);
    assert.match(text.out, /: weak \(pgpmime\) key [0-9A-F]{40} - [^\n]*RIPEMD-160[^\n]*\n {2}hint: Sign again with SHA-512/);
  });

  test('usage errors exit 2: a missing keyring file, a keyring that is no key, a missing path', async () => {
    const noFile = await cli([goodFile, '--keyring', join(dir, 'nope.asc')]);
    assert.equal(noFile.code, 2);
    assert.match(noFile.err, /nope\.asc/);
    const notKey = await cli([goodFile, '--keyring', goodFile]);
    assert.equal(notKey.code, 2);
    assert.match(notKey.err, /no armoured OpenPGP key block/);
    const noPath = await cli([join(dir, 'missing.eml'), '--keyring', keyringFile]);
    assert.equal(noPath.code, 2);
    assert.match(noPath.err, /missing\.eml/);
    assert.equal(noPath.out, '');
  });
});
