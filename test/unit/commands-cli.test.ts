/**
 * The collection CLI as an operator runs it (`node bin/ztrust-bot.js ...`
 * in a child process): import, audit, export, tickets, with the DESIGN.md
 * exit codes (0 ok, 1 findings or failure, 2 usage or configuration).
 * The real collections in ../shared/fixtures are imported; the DSA keys the
 * audit reports are the ones GnuPG lists as DSA.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runMain } from './cli-capture.js';
import { initDataDir } from '../../src/app/init.js';
import { keyFileName } from '../../src/collection/naming.js';
import { certify, person } from './commands-world.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin', 'ztrust-bot.js');
const FIXTURES = path.resolve(ROOT, '..', 'shared', 'fixtures', 'ztrust');
const gpgOk = spawnSync('gpg', ['--version']).status === 0;

/** The real binary in a child process (about a second each: used where the process boundary matters). */
function runBin(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ZTRUST_LOG_LEVEL: 'silent' } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** The same CLI entry point in-process, output captured (tests in this file run one at a time). */
const run = runMain;

async function deployment(): Promise<{ dir: string; config: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'zt-cli-'));
  const r = await initDataDir({ dataDir: path.join(dir, 'data'), address: 'bot@ztrust.test', name: 'ztrust-bot', origin: 'ztrust.test/log' });
  return { dir, config: r.configPath };
}

type Finding = { code: string; subject: string; severity: string };

describe('collection CLI', () => {
  test('a clean, cross-certified collection imports and audits with exit 0; tickets and export work', async () => {
    const { dir, config } = await deployment();
    const ps = await Promise.all([person('Ann', 'ann@a.test'), person('Ben', 'ben@b.test'), person('Cy', 'cy@c.test')]);
    const src = path.join(dir, 'seed');
    mkdirSync(path.join(src, 'pgp', 'all'), { recursive: true });
    for (const p of ps) {
      const k = await certify(p.pub, ps.filter((o) => o !== p));
      writeFileSync(path.join(src, 'pgp', 'all', keyFileName(p.fpr.slice(-16).toLowerCase(), p.email, 'public')), k.armor());
    }
    const imp = runBin(['import', src, '--config', config]);
    assert.equal(imp.code, 0, imp.out + imp.err);
    assert.match(imp.out, /imported 3 key\(s\) and 0 certificate\(s\)/);
    assert.match(imp.out, /0 error\(s\), 0 warning\(s\)/);
    const aud = await run(['audit', '--config', config, '--json']);
    assert.equal(aud.code, 0, aud.out + aud.err);
    const j = JSON.parse(aud.out) as { findings: Finding[]; counts: { failing: number } };
    assert.equal(j.counts.failing, 0);
    assert.ok(!j.findings.some((f) => f.code === 'SUMS_UNSIGNED' || f.code === 'SUMS_SIG_BAD'), 'SHA256SUMS is signed by the bot');

    const list = await run(['tickets', '--config', config]);
    assert.equal(list.code, 0);
    assert.match(list.out, /^0 ticket\(s\)$/m);
    const show = await run(['tickets', 'show', 'ZT-000009', '--config', config]);
    assert.equal(show.code, 1);
    assert.match(show.err, /no ticket ZT-000009/);
    assert.equal((await run(['tickets', 'frobnicate', '--config', config])).code, 2);
    assert.equal((await run(['tickets', 'show', '--config', config])).code, 2);

    const bundle = await run(['export', '--config', config]);
    assert.equal(bundle.code, 0);
    assert.equal(bundle.out.match(/-----BEGIN PGP PUBLIC KEY BLOCK-----/g)!.length, 3);
    const wkd = path.join(dir, 'wkd');
    const out = path.join(dir, 'out');
    const ex = await run(['export', '--wkd', wkd, '--domain', 'a.test', '--out', out, '--config', config]);
    assert.equal(ex.code, 0, ex.err);
    assert.match(ex.out, /^ann@a\.test -> \.well-known\/openpgpkey\/a\.test\/hu\/[a-z0-9]{32} /m);
    assert.deepEqual(readdirSync(path.join(wkd, '.well-known', 'openpgpkey')), ['a.test']);
    assert.deepEqual(readdirSync(out).sort(), ['SHA256SUMS', 'SHA256SUMS.asc', 'pgp-bundle.asc']);
  });

  test('usage and configuration errors exit 2', async () => {
    const { config } = await deployment();
    assert.equal((await run(['import', '/nonexistent/dir', '--config', config])).code, 2);
    assert.equal((await run(['audit', '--config', '/nonexistent/ztrust.yaml'])).code, 2);
    assert.equal((await run(['audit', '--bogus'])).code, 2);
    const noCol = await run(['export', '--config', config]);
    assert.equal(noCol.code, 1, 'nothing imported yet');
  });

  for (const rel of ['vmworkshop/ztrust', 'zvm-community-tools/ztrust']) {
    const src = path.join(FIXTURES, rel);
    test(`import ${rel}: findings kept and reported (exit 1), the DSA keys are GnuPG's`, { skip: !existsSync(src) ? `${src} is absent` : !gpgOk ? 'gpg is not installed' : false }, async () => {
      const { dir, config } = await deployment();
      const imp = await run(['import', src, '--config', config, '--json']);
      assert.equal(imp.code, 1, imp.err);
      const r = JSON.parse(imp.out) as { imported: { keys: string[] }; findings: Finding[]; commit: string };
      assert.match(r.commit, /^[0-9a-f]{40}$/);
      const aud = await run(['audit', '--config', config, '--json']);
      assert.equal(aud.code, 1);
      const a = JSON.parse(aud.out) as { findings: Finding[] };
      // The audit of the live collection repeats the import's audit part (source notes aside).
      const key = (f: Finding) => `${f.code} ${f.subject}`;
      const fromImport = new Set(r.findings.filter((f) => !f.code.startsWith('IMPORT_') && !(f as { data?: { source?: string } }).data?.source).map(key));
      assert.deepEqual(new Set(a.findings.map(key)), fromImport);
      assert.ok(!a.findings.some((f) => f.code === 'SUMS_MISMATCH' || f.code === 'SUMS_SIG_BAD'));

      // GnuPG's view of the stored files: primary keys with algorithm 17 are DSA.
      const home = mkdtempSync(path.join(tmpdir(), 'zt-cli-g-'));
      const files = readdirSync(path.join(dir, 'data', 'collection', 'pgp', 'all')).map((n) => path.join(dir, 'data', 'collection', 'pgp', 'all', n));
      const listing = spawnSync('gpg', ['--homedir', home, '--batch', '--with-colons', '--show-keys', ...files], { encoding: 'utf8' }).stdout;
      const gpgDsa = new Set(listing.split('\n').filter((l) => l.startsWith('pub:') && l.split(':')[3] === '17').map((l) => l.split(':')[4].toLowerCase()));
      const ourDsa = new Set(a.findings.filter((f) => f.code === 'KEY_DSA').map((f) => f.subject));
      assert.deepEqual(ourDsa, gpgDsa);
      spawnSync('gpgconf', ['--homedir', home, '--kill', 'all']);
      assert.ok(readFileSync(path.join(dir, 'data', 'collection', 'SHA256SUMS.asc'), 'utf8').includes('BEGIN PGP SIGNATURE'));
    });
  }
});
