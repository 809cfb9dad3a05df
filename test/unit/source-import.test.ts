/**
 * `ztrust-bot import` and `audit` of a collection with pgp/for-source/ (the
 * upstream release-signing keys) and key-and-source.md, with keys made by
 * real GnuPG: every file kept byte for byte under its own name, the list
 * byte for byte, the audit's findings for the folder exactly, one
 * source-key-added log entry per key rows point at, the store's index of
 * vouches filled from those entries, and a second import that changes nothing.
 * Needs `npm run build` (the test runs bin/ztrust-bot.js).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { initDataDir } from '../../src/app/init.js';
import type { Finding } from '../../src/collection/audit.js';
import { loadConfig } from '../../src/config/load.js';
import { LogReader } from '../../src/ledger/reader.js';
import { openStore } from '../../src/store/open.js';
import { parseEntry, type LogEntry } from '../../src/tlog/index.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';

const CLI = path.resolve(import.meta.dirname, '../../bin/ztrust-bot.js');
const root = mkdtempSync(path.join(os.tmpdir(), 'zt-srcimp-'));
let gpg: GpgHome;
after(async () => {
  await gpg?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

const keyId = (fpr: string) => fpr.slice(-16).toLowerCase();
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

/** Make a key with gpg (at a faked past time when `at` is given) and return its fingerprint. */
async function genKey(uid: string, algo: string, opts: { at?: string; expire?: string; digest?: string } = {}): Promise<string> {
  const r = await gpg.run([
    ...(opts.at ? ['--faked-system-time', opts.at] : []),
    ...(opts.digest ? ['--cert-digest-algo', opts.digest, '--digest-algo', opts.digest] : []),
    '--status-fd', '1', '--quick-gen-key', uid, algo, 'sign', opts.expire ?? 'never',
  ]);
  const fpr = /KEY_CREATED \w ([0-9A-F]{40})/.exec(r.stdout.toString())?.[1];
  assert.ok(fpr, r.stderr);
  return fpr;
}

interface World {
  src: string;
  data: string;
  config: string;
  fpr: Record<'ed' | 'rsa' | 'bare' | 'revoked' | 'unlisted' | 'expired' | 'sha1', string>;
  file: Record<'ed' | 'rsa' | 'bare' | 'revoked' | 'unlisted' | 'expired' | 'sha1', string>;
  missing: string;
  list: Buffer;
}
let w: World;

const pad = (key: string, release: string) => `    ${key}${' '.repeat(Math.max(2, 64 - key.length))}${release}`;

before(async () => {
  gpg = await makeGpgHome();
  const src = path.join(root, 'wg');
  mkdirSync(path.join(src, 'pgp', 'all'), { recursive: true });
  mkdirSync(path.join(src, 'pgp', 'signing'), { recursive: true });
  mkdirSync(path.join(src, 'pgp', 'for-source'), { recursive: true });

  // Two members, certifying each other (as in the group's pgp/all).
  const members = [await genKey('Ann Member <ann@wg.example>', 'ed25519'), await genKey('Bob Member <bob@wg.example>', 'ed25519')];
  await gpg.signKey(members[0], members[1]);
  await gpg.signKey(members[1], members[0]);
  for (const [i, m] of members.entries()) {
    const name = `0x${keyId(m)}-${['ann', 'bob'][i]}@wg.example-public.asc`;
    const armored = await gpg.exportPublic(m);
    writeFileSync(path.join(src, 'pgp', 'all', name), armored);
    writeFileSync(path.join(src, 'pgp', 'signing', name), armored);
  }

  const fpr = {
    ed: await genKey('Damien Miller <djm@mindrot.example>', 'ed25519'),
    rsa: await genKey('GnuPG Release <gnupg@gnupg.example>', 'rsa3072'),
    bare: await genKey('Mark Adler <madler@zlib.example>', 'ed25519'),
    revoked: await genKey('Tor Releases <tor@torproject.example>', 'ed25519'),
    unlisted: await genKey('Nobody Listed <nobody@nowhere.example>', 'ed25519'),
    expired: await genKey('Rich Felker <musl@libc.example>', 'ed25519', { at: '20200101T000000!', expire: '1y' }),
    // RSA: an Ed25519 signature over SHA-1 does not verify at all (EdDSA wants a 256-bit hash).
    sha1: await genKey('Daniel Stenberg <daniel@curl.example>', 'rsa3072', { digest: 'SHA1' }),
  };
  // Revoke with the certificate gpg wrote at generation (its armour line is escaped with ':').
  const rev = readFileSync(path.join(gpg.home, 'openpgp-revocs.d', `${fpr.revoked}.rev`), 'utf8').replace(/^:-----BEGIN/m, '-----BEGIN');
  await gpg.importKeys(rev);

  const file = {
    ed: `0x${keyId(fpr.ed)}-djm@mindrot.example-signing.asc`,
    rsa: `0x${keyId(fpr.rsa)}-gnupg@gnupg.example-signing.asc`,
    bare: `0x${keyId(fpr.bare)}`,
    revoked: `0x${keyId(fpr.revoked)}-tor@torproject.example-signing.asc`,
    unlisted: `0x${keyId(fpr.unlisted)}-nobody@nowhere.example-signing.asc`,
    expired: `0x${keyId(fpr.expired)}-musl@libc.example-signing.asc`,
    sha1: `0x${keyId(fpr.sha1)}-daniel@curl.example-signing.asc`,
  };
  for (const k of Object.keys(fpr) as (keyof typeof fpr)[]) writeFileSync(path.join(src, 'pgp', 'for-source', file[k]), await gpg.exportPublic(fpr[k]));
  // A file that holds no key (the group keeps notes there too).
  writeFileSync(path.join(src, 'pgp', 'for-source', 'notes.txt'), 'fingerprints checked at FOSDEM\n');

  const missing = '0x528897b826403ada';
  const list = Buffer.from([
    '# Keys for software we build from source',
    '',
    'Größe egal: one row a release.',
    '',
    pad(missing, 'bash-5.3'),
    pad(file.sha1, 'curl-8.10.1'),
    pad(file.rsa, 'gnupg-2.4.3'),
    pad(file.expired, 'musl-1.2.5'),
    pad(file.ed, 'openssh-9.8p1'),
    pad(file.ed, 'openssh-9.9p1'),
    pad(file.revoked, 'tor-0.4.8.12'),
    pad(file.bare, 'zlib-1.3.1'),
    `    0x${keyId(fpr.ed)}`,
    '',
    'I downloaded bash-5.3.tar.gz and bash-5.3.tar.gz.sig: which key should I',
    'trust, and does it check out?',
    '',
  ].join('\n'), 'utf8');
  writeFileSync(path.join(src, 'pgp', 'for-source', 'key-and-source.md'), list);

  const init = await initDataDir({ dataDir: path.join(root, 'data'), address: 'bot@example.org', name: 'b', origin: 'example.org/log' });
  w = { src, data: init.config.dataDir, config: init.configPath, fpr, file, missing, list };
});

async function logEntries(): Promise<LogEntry[]> {
  const reader = await LogReader.open(path.join(w.data, 'log'));
  const out: LogEntry[] = [];
  for (let i = 0; i < reader.size; i++) out.push(parseEntry((await reader.client.proveEntry(i, reader.vkey)).entry));
  return out;
}

/** The findings about pgp/for-source/ and its list, as [code, subject] pairs. */
function sourceFindings(findings: Finding[]): [string, string][] {
  return findings
    .filter((f) => f.code.startsWith('SOURCE_') || f.data?.folder === 'for-source')
    .map((f): [string, string] => [f.code, f.subject])
    .sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
}

describe('import and audit of pgp/for-source/', () => {
  let first: { commit: string; findings: Finding[]; sourceKeys: { fingerprint: string; releases: string[]; added: boolean }[] };
  let head: string;
  let entries: LogEntry[];

  test('import keeps every file of the folder byte for byte under its own name, and the list', () => {
    const r = cli('import', w.src, '--config', w.config, '--json');
    // The audit has warnings (revoked, expired, ...): exit 1, the import itself is committed.
    assert.equal(r.status, 1, r.stderr);
    first = JSON.parse(r.stdout) as typeof first;
    assert.match(first.commit, /^[0-9a-f]{40}$/);
    const from = path.join(w.src, 'pgp', 'for-source');
    const to = path.join(w.data, 'collection', 'pgp', 'for-source');
    assert.deepEqual(readdirSync(to).sort(), readdirSync(from).sort());
    for (const n of readdirSync(from)) assert.ok(readFileSync(path.join(to, n)).equals(readFileSync(path.join(from, n))), n);
    assert.ok(readFileSync(path.join(to, 'key-and-source.md')).equals(w.list));
    // Source keys are not members: not in pgp/all, not in the bundle.
    const all = readdirSync(path.join(w.data, 'collection', 'pgp', 'all'));
    assert.equal(all.length, 2);
    const bundle = readFileSync(path.join(w.data, 'collection', 'pgp', 'pgp-bundle.asc'), 'utf8');
    assert.equal(bundle, all.sort().map((n) => readFileSync(path.join(w.data, 'collection', 'pgp', 'all', n), 'utf8')).join(''));
    // The manifest names them.
    const sums = readFileSync(path.join(w.data, 'collection', 'SHA256SUMS'), 'utf8');
    for (const n of readdirSync(from)) assert.ok(sums.includes(`  pgp/for-source/${n}\n`), n);
    head = spawnSync('git', ['-C', path.join(w.data, 'collection'), 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(head, first.commit);
  });

  test('the audit reports the folder\'s problems exactly, by import and by audit alike', () => {
    const { file, fpr, missing } = w;
    const expected: [string, string][] = ([
      // the key named only 0x<keyid>: kept, reported
      ['SOURCE_FILENAME_INVALID', `pgp/for-source/${file.bare}`],
      // a row naming a bare key id whose file is not in the folder
      ['SOURCE_ROW_KEY_MISSING', `pgp/for-source/${missing}`],
      // a key file no row names
      ['SOURCE_KEY_UNLISTED', `pgp/for-source/${file.unlisted}`],
      // rows still point at a revoked and at an expired key
      ['SOURCE_KEY_REVOKED', keyId(fpr.revoked)],
      ['SOURCE_KEY_EXPIRED', keyId(fpr.expired)],
      // a file that holds no key
      ['SOURCE_KEY_UNREADABLE', 'pgp/for-source/notes.txt'],
      // a line that looks like a row but has no release
      ['SOURCE_ROW_UNREADABLE', 'pgp/for-source/key-and-source.md'],
      // the policy's checks, as for members: a SHA-1 self-signature
      ['SELFSIG_WEAK', keyId(fpr.sha1)],
    ] as [string, string][]).sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
    assert.deepEqual(sourceFindings(first.findings), expected);
    const a = cli('audit', '--config', w.config, '--json');
    assert.equal(a.status, 1, a.stderr);
    const audit = JSON.parse(a.stdout) as { findings: Finding[] };
    assert.deepEqual(sourceFindings(audit.findings), expected);
    const by = (code: string) => audit.findings.find((f) => f.code === code)!;
    assert.equal(by('SOURCE_KEY_REVOKED').data?.releases, 'tor-0.4.8.12');
    assert.equal(by('SOURCE_KEY_EXPIRED').data?.releases, 'musl-1.2.5');
    assert.equal(by('SOURCE_ROW_KEY_MISSING').data?.release, 'bash-5.3');
    assert.equal(by('SOURCE_ROW_UNREADABLE').data?.line, '13');
    assert.equal(by('SOURCE_KEY_UNREADABLE').severity, 'error');
    assert.equal(by('SELFSIG_WEAK').data?.file, `pgp/for-source/${file.sha1}`);
    // The folder adds nothing to the members' findings: those are the audit of the members alone.
    const membersOnly = path.join(root, 'members-only');
    cpSync(w.src, membersOnly, { recursive: true });
    rmSync(path.join(membersOnly, 'pgp', 'for-source'), { recursive: true });
    const init2 = path.join(root, 'data2');
    const conf2 = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
      const { initDataDir } = await import(${JSON.stringify(path.resolve(import.meta.dirname, '../../src/app/init.ts'))});
      const r = await initDataDir({ dataDir: ${JSON.stringify(init2)}, address: 'bot@example.org', name: 'b', origin: 'example.org/log' });
      console.log(r.configPath);`], { encoding: 'utf8', cwd: path.resolve(import.meta.dirname, '../..') });
    assert.equal(conf2.status, 0, conf2.stderr);
    const m = cli('import', membersOnly, '--config', conf2.stdout.trim(), '--json');
    const strip = (fs: Finding[]) => fs.filter((f) => !f.code.startsWith('SOURCE_') && f.data?.folder !== 'for-source').map((f) => [f.code, f.subject, f.message]);
    assert.deepEqual(strip(audit.findings), strip((JSON.parse(m.stdout) as { findings: Finding[] }).findings));
  });

  test('the log holds one source-key-added entry per key rows point at, naming its releases, signed by no one', async () => {
    entries = await logEntries();
    assert.deepEqual(entries.filter((e) => e.type === 'key-added').length, 2);
    const source = entries.filter((e) => e.type.startsWith('source-'));
    const { fpr } = w;
    assert.deepEqual(source.map((e) => [e.type, e.subject, e.name]).sort(), [
      ['source-key-added', fpr.ed, 'openssh-9.8p1 openssh-9.9p1'],
      ['source-key-added', fpr.rsa, 'gnupg-2.4.3'],
      ['source-key-added', fpr.bare, 'zlib-1.3.1'],
      ['source-key-added', fpr.revoked, 'tor-0.4.8.12'],
      ['source-key-added', fpr.expired, 'musl-1.2.5'],
      ['source-key-added', fpr.sha1, 'curl-8.10.1'],
    ].sort());
    for (const e of source) {
      assert.deepEqual(e.signers, []);
      assert.equal(e.ticket, 'import');
      assert.match(e.source, /^[0-9a-f]{64}$/);
    }
    assert.equal(first.sourceKeys.length, 6);
    assert.ok(first.sourceKeys.every((k) => k.added));
  });

  test('the store\'s index of vouches answers for an imported row, with no voucher', async () => {
    const store = openStore(loadConfig(w.config));
    try {
      const v = await store.findSourceVouches({ release: 'OpenSSH-9.8p1' });
      const at = entries.findIndex((e) => e.type === 'source-key-added' && e.subject === w.fpr.ed);
      assert.deepEqual(v.map((x) => ({ ...x, time: '' })), [{
        logIndex: at, release: 'openssh-9.8p1', package: 'openssh', fingerprint: w.fpr.ed, voucher: '', ticket: 'import', time: '', type: 'source-key-added',
      }]);
      assert.deepEqual(await store.findSourceVouches({ release: 'bash-5.3' }), []);
      assert.deepEqual((await store.findSourceVouches({ fingerprint: w.fpr.ed })).map((x) => x.release), ['openssh-9.8p1', 'openssh-9.9p1']);
      assert.equal((await store.findSourceVouches({})).length, 7);
    } finally {
      await store.close();
    }
  });

  test('a second import of the same folder changes nothing: no commit, no log entry', async () => {
    const r = cli('import', w.src, '--config', w.config, '--json');
    assert.equal(r.status, 1, r.stderr);
    const again = JSON.parse(r.stdout) as { commit: string | null; logged: unknown; imported: { sourceFiles: string[]; sourceList: boolean } };
    assert.equal(again.commit, null);
    assert.equal(again.logged, null);
    assert.deepEqual(again.imported.sourceFiles, []);
    assert.equal(again.imported.sourceList, false);
    assert.equal(spawnSync('git', ['-C', path.join(w.data, 'collection'), 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim(), head);
    assert.equal((await logEntries()).length, entries.length);
  });
});
