/**
 * Web Key Directory export: hash paths checked with gpg-wks-client
 * (GnuPG's own WKD client), files served over loopback HTTP and imported
 * with gpg.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Collection } from '../../src/collection/collection.js';
import { exportWkd, wkdAddress, wkdHash, zbase32 } from '../../src/collection/wkd.js';
import { readKeysAny } from '../../src/pgp/inspect.js';

const WKS = ['/usr/lib/gnupg/gpg-wks-client', '/usr/libexec/gpg-wks-client'].find((p) => existsSync(p));
const gpgMissing = spawnSync('gpg', ['--version']).status !== 0 ? 'gpg is not installed' : false;

describe('z-base-32 and the WKD hash', () => {
  test('the draft\'s test vector', () => {
    assert.equal(wkdHash('Joe.Doe'), 'iy9q119eutrkn8s1mk4r39qejnbu3n5q');
    assert.equal(wkdAddress('Joe.Doe@Example.ORG')?.hash, 'iy9q119eutrkn8s1mk4r39qejnbu3n5q');
    assert.equal(wkdAddress('Joe.Doe@Example.ORG')?.domain, 'example.org');
  });
  test('z-base-32 of short inputs (bit packing at the tail)', () => {
    assert.equal(zbase32(new Uint8Array([])), '');
    assert.equal(zbase32(new Uint8Array([0])), 'yy');
    assert.equal(zbase32(new Uint8Array([0xff])), '9h');
    assert.equal(zbase32(new Uint8Array(20)).length, 32);
  });
  test('hostile domains are refused; IDN is converted to ASCII', () => {
    for (const bad of ['a@../etc', 'a@', '@x.org', 'a@x', 'a@-x.org', 'a@x..org', 'a@x/y.org', 'a\n@x.org']) assert.equal(wkdAddress(bad), null, bad);
    assert.equal(wkdAddress('a@bücher.example')?.domain, 'xn--bcher-kva.example');
  });
  test('agrees with gpg-wks-client --print-wkd-hash', { skip: WKS ? false : 'gpg-wks-client not found' }, () => {
    for (const email of ['Joe.Doe@Example.ORG', 'rmt@casita.net', 'TLK_sysprog@yahoo.com', 'a.b+c@x.example']) {
      const out = spawnSync(WKS!, ['--print-wkd-hash', email], { encoding: 'utf8' }).stdout.trim();
      assert.equal(out.split(' ')[0], wkdAddress(email)!.hash, email);
    }
  });
});

describe('exportWkd with GnuPG-made keys', { skip: gpgMissing }, () => {
  const home = mkdtempSync(path.join(tmpdir(), 'zt-wkd-g-'));
  const colDir = mkdtempSync(path.join(tmpdir(), 'zt-wkd-c-'));
  const out = mkdtempSync(path.join(tmpdir(), 'zt-wkd-o-'));
  const gpg = (args: string[], input?: Buffer) => {
    const r = spawnSync('gpg', ['--homedir', home, '--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { input: input ?? '' });
    if (r.status !== 0) throw new Error(`gpg ${args.join(' ')}: ${r.stderr.toString()}`);
    return r.stdout;
  };
  const fpr: Record<string, string> = {};

  before(async () => {
    for (const [k, uid] of Object.entries({
      joe: 'Joe Doe <Joe.Doe@Example.ORG>', ann: 'Ann <ann@example.org>', ann2: 'Ann Again <ANN@example.org>',
      olga: 'Olga <olga@example.org>', olga2: 'Olga New <olga@example.org>',
    })) {
      fpr[k] = gpg(['--status-fd', '1', '--quick-gen-key', uid, 'ed25519', 'sign', '2y']).toString().match(/KEY_CREATED P ([0-9A-F]{40})/)![1]!;
    }
    gpg(['--quick-add-uid', fpr.joe, 'Joe Elsewhere <joe@other.example>']);
    // Joe gave up an address (a revoked user ID); Olga's old key is revoked, her new key holds her address.
    gpg(['--quick-add-uid', fpr.joe, 'Joe Gone <joe.gone@example.org>']);
    gpg(['--quick-revoke-uid', fpr.joe, 'Joe Gone <joe.gone@example.org>']);
    const revFile = path.join(home, 'olga-rev.asc');
    const rev = spawnSync('gpg', ['--homedir', home, '--no-tty', '--yes', '--command-fd', '0', '--output', revFile, '--gen-revoke', fpr.olga], { input: 'y\n1\nnew key\n\ny\n' });
    if (rev.status !== 0) throw new Error(`gpg --gen-revoke: ${rev.stderr.toString()}`);
    gpg(['--import', revFile]);
    const c = await Collection.open(colDir);
    await c.apply(async (col) => {
      for (const f of Object.values(fpr)) await col.putKey((await readKeysAny(gpg(['--armor', '--export', f]).toString()))[0], 'public');
    }, { message: 'keys', signer: null });
  });
  after(() => {
    spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
    for (const d of [home, colDir, out]) rmSync(d, { recursive: true, force: true });
  });

  test('advanced layout, served over HTTP, imports with gpg and holds only that domain\'s user IDs', async () => {
    const c = await Collection.open(colDir);
    const r = await exportWkd(c, out);
    assert.deepEqual(r.domains, ['example.org', 'other.example']);
    for (const d of r.domains) assert.ok(existsSync(path.join(out, '.well-known/openpgpkey', d, 'policy')));
    const joe = r.entries.find((e) => e.email === 'joe.doe@example.org')!;
    assert.equal(joe.file, '.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q');
    if (WKS) {
      const url = spawnSync(WKS, ['--print-wkd-url', 'Joe.Doe@Example.ORG'], { encoding: 'utf8' }).stdout.trim();
      assert.ok(url.includes(`/${joe.file}?l=`), `${url} ends with our path`);
    }
    // Two keys hold ann@example.org: neither is published, and the export says so.
    assert.equal(r.entries.find((e) => e.email === 'ann@example.org'), undefined);
    assert.ok(!existsSync(path.join(out, '.well-known/openpgpkey/example.org/hu', wkdHash('ann'))), 'no WKD file for ann');
    assert.deepEqual(r.conflicts.map((c) => [c.email, [...c.keyIds].sort()]), [['ann@example.org', [fpr.ann, fpr.ann2].map((f) => f.slice(-16).toLowerCase()).sort()]]);
    // A revoked user ID gives its address up; a revoked key still goes out beside the key that holds the address.
    assert.equal(r.entries.find((e) => e.email === 'joe.gone@example.org'), undefined);
    const olga = r.entries.find((e) => e.email === 'olga@example.org')!;
    assert.deepEqual([...olga.keyIds].sort(), [fpr.olga, fpr.olga2].map((f) => f.slice(-16).toLowerCase()).sort());

    // serve the tree, fetch as a WKD client would, import with gpg
    const server = createServer((req, res) => {
      const p = path.join(out, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
      if (!p.startsWith(out) || !existsSync(p)) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(p));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const [entry, wantKeys, wantUids] of [[joe, [fpr.joe], ['Joe Doe <Joe.Doe@Example.ORG>', 'Joe Gone <joe.gone@example.org>']], [olga, [fpr.olga, fpr.olga2], ['Olga <olga@example.org>', 'Olga New <olga@example.org>']]] as const) {
        const resp = await fetch(`http://127.0.0.1:${port}/${entry.file}?l=x`);
        assert.equal(resp.status, 200);
        const body = Buffer.from(await resp.arrayBuffer());
        assert.notEqual(body[0], 0x2d, 'binary, not armoured');
        const h = mkdtempSync(path.join(tmpdir(), 'zt-wkd-i-'));
        try {
          const imp = spawnSync('gpg', ['--homedir', h, '--batch', '--import'], { input: body });
          assert.equal(imp.status, 0, imp.stderr.toString());
          const listing = spawnSync('gpg', ['--homedir', h, '--with-colons', '--list-keys'], { encoding: 'utf8' }).stdout;
          const fprs = listing.split('\n').filter((l) => l.startsWith('fpr:')).map((l) => l.split(':')[9]);
          for (const f of wantKeys) assert.ok(fprs.includes(f), `${f} in the WKD answer`);
          const uids = listing.split('\n').filter((l) => l.startsWith('uid:')).map((l) => l.split(':')[9]);
          assert.deepEqual(uids.sort(), [...wantUids].sort(), 'only the user IDs of that domain');
        } finally {
          spawnSync('gpgconf', ['--homedir', h, '--kill', 'gpg-agent']);
          rmSync(h, { recursive: true, force: true });
        }
      }
      assert.equal((await fetch(`http://127.0.0.1:${port}/.well-known/openpgpkey/example.org/hu/${wkdHash('nobody')}`)).status, 404);
    } finally {
      server.close();
    }

    // a second export replaces the tree (no stale files, no staging leftovers)
    const r2 = await exportWkd(c, out, { domains: ['other.example'] });
    assert.deepEqual(r2.domains, ['other.example']);
    assert.deepEqual(readdirSync(path.join(out, '.well-known')), ['openpgpkey']);
    assert.deepEqual(readdirSync(path.join(out, '.well-known', 'openpgpkey')), ['other.example']);
  });
});
