/**
 * The key admission policy against keys made by real GnuPG at test time:
 * three community keys cross-signed with --quick-sign-key form the
 * collection; newcomers are certified (or not) by them and by a stranger.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { admitNewKey, checkRevocation, isSignedByKey, planUpdate } from '../../src/pgp/admission.js';
import { reservedAddresses as reservedOf } from '../../src/pgp/addresses.js';
import { inspectKey, readKeysAny } from '../../src/pgp/inspect.js';
import { DEFAULT_CRYPTO_POLICY } from '../../src/policy/index.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';

// ---------------------------------------------------------------- gpg helper
class Gpg {
  readonly home = mkdtempSync(path.join(tmpdir(), 'zt-adm-'));
  run(args: string[], input?: string | Buffer): { status: number; stdout: Buffer; stderr: string } {
    // --gen-revoke refuses --batch; it is driven through --command-fd instead.
    const mode = args.includes('--gen-revoke') ? ['--no-tty'] : ['--batch'];
    const r = spawnSync('gpg', ['--homedir', this.home, ...mode, '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], {
      input: input ?? '',
      maxBuffer: 64 * 1024 * 1024,
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
  }
  ok(args: string[], input?: string | Buffer): Buffer {
    const r = this.run(args, input);
    if (r.status !== 0) throw new Error(`gpg ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  }
  /** Generate a key, return its fingerprint. */
  gen(uid: string, algo = 'ed25519', extra: string[] = []): string {
    this.ok([...extra, '--quick-gen-key', uid, algo, 'sign', '2y']);
    return this.fpr(uid);
  }
  fpr(uid: string): string {
    const out = this.ok(['--with-colons', '--list-keys', uid]).toString();
    return out.split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9];
  }
  certify(signer: string, target: string, extra: string[] = []): void {
    this.ok([...extra, '-u', signer, '--quick-sign-key', target]);
  }
  export(fpr: string, opts: string[] = []): string {
    return this.ok(['--armor', ...opts, '--export', fpr]).toString();
  }
  close(): void {
    spawnSync('gpgconf', ['--homedir', this.home, '--kill', 'gpg-agent']);
    rmSync(this.home, { recursive: true, force: true });
  }
}

async function key(armored: string): Promise<openpgp.PublicKey> {
  const [k] = await readKeysAny(armored);
  return k;
}

const gpgMissing = spawnSync('gpg', ['--version']).status !== 0 ? 'gpg is not installed' : false;

describe('key admission with GnuPG-made keys', { skip: gpgMissing }, () => {
  const g = new Gpg();
  const fp: Record<string, string> = {};
  let collection: openpgp.PublicKey[] = [];

  before(() => {
    fp.A = g.gen('Alice Anchor <alice@example.org>');
    fp.B = g.gen('Bob Builder <bob@example.org>');
    fp.C = g.gen('Carol Cert <carol@example.org>');
    fp.S = g.gen('Stranger Danger <stranger@example.net>');
    fp.D = g.gen('Dave Newcomer <dave@example.org>');
    fp.E = g.gen('Eve Lonely <eve@example.org>');
    // the community: A, B, C cross-signed
    for (const s of ['A', 'B', 'C']) for (const t of ['A', 'B', 'C']) if (s !== t) g.certify(fp[s], fp[t]);
    // D: certified by A and B (collection) and S (outside)
    g.certify(fp.A, fp.D);
    g.certify(fp.B, fp.D);
    g.certify(fp.S, fp.D);
    // E: certified only by the stranger
    g.certify(fp.S, fp.E);
  });
  after(() => g.close());

  before(async () => {
    collection = [await key(g.export(fp.A)), await key(g.export(fp.B)), await key(g.export(fp.C))];
  });

  test('a key certified by two collection keys and a stranger is admitted; the stranger is stripped', async () => {
    const submitted = await key(g.export(fp.D));
    const r = await admitNewKey(submitted, { collection });
    assert.equal(r.ok, true, r.ok ? '' : `${r.rule}: ${r.reason}`);
    if (!r.ok) return;
    const keptIssuers = r.kept.map((c) => c.issuerFingerprint).sort();
    assert.deepEqual(keptIssuers, [fp.A, fp.B].sort());
    assert.deepEqual(r.counted.sort(), [fp.A, fp.B].sort());
    assert.equal(r.stripped.length, 1);
    assert.equal(r.stripped[0].issuerKeyId, fp.S.slice(-16).toLowerCase());
    assert.match(r.stripped[0].why, /outside the collection/);

    // GnuPG agrees: the stored copy carries A's and B's certifications, not S's.
    const h = new Gpg();
    try {
      h.ok(['--import'], Buffer.from(r.key.armor()));
      const sigs = h.ok(['--with-colons', '--list-sigs', fp.D]).toString().split('\n').filter((l) => l.startsWith('sig:'));
      const issuers = new Set(sigs.map((l) => l.split(':')[4]));
      assert.ok(issuers.has(fp.A.slice(-16)), 'A certification kept');
      assert.ok(issuers.has(fp.B.slice(-16)), 'B certification kept');
      assert.ok(!issuers.has(fp.S.slice(-16)), 'stranger certification stripped');
    } finally {
      h.close();
    }
  });

  test('a key with no certification by a collection key is refused under minCertifications', async () => {
    const r = await admitNewKey(await key(g.export(fp.E)), { collection });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.rule, 'min-certifications');
    assert.match(r.reason, /0 valid certifications/);
    assert.match(r.reason, /1 certification by keys outside the collection/);
    assert.match(r.fix, /--quick-sign-key/);
    assert.match(r.fix, new RegExp(fp.E));
  });

  test('minCertifications = 3 refuses a key certified by only two', async () => {
    const r = await admitNewKey(await key(g.export(fp.D)), { collection, policy: { ...DEFAULT_CRYPTO_POLICY, minCertifications: 3 } });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.rule, 'min-certifications');
      assert.match(r.reason, /carries 2 valid certifications/);
    }
  });

  test('a certification by a revoked collection key is kept but does not count', async () => {
    const h = new Gpg();
    try {
      const R = h.gen('Revoked Member <rev@example.org>');
      const N = h.gen('Newbie <newbie@example.org>');
      h.certify(R, N);
      const rev = h.ok(['--command-fd', '0', '--output', '-', '--gen-revoke', R], 'y\n0\n\ny\n').toString();
      const rKey = await key(h.export(R));
      const rc = await checkRevocation(rKey, rev);
      assert.equal(rc.ok, true);
      if (!rc.ok) return;
      const r = await admitNewKey(await key(h.export(N)), { collection: [rc.revokedKey] });
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.rule, 'min-certifications');
      const r0 = await admitNewKey(await key(h.export(N)), { collection: [rc.revokedKey], policy: { ...DEFAULT_CRYPTO_POLICY, minCertifications: 0 } });
      assert.equal(r0.ok, true);
      if (r0.ok) {
        assert.equal(r0.kept.length, 1);
        assert.equal(r0.counted.length, 0);
        assert.ok(r0.warnings.some((w) => /revoked/.test(w)), r0.warnings.join('; '));
      }
    } finally {
      h.close();
    }
  });

  test('RSA 1024 is refused by the algorithm rule', async (t) => {
    const r0 = g.run(['--quick-gen-key', 'Weak <weak@example.org>', 'rsa1024', 'sign', '1y']);
    if (r0.status !== 0) return t.skip(`gpg would not make an RSA-1024 key: ${r0.stderr.trim()}`);
    const W = g.fpr('weak@example.org');
    g.certify(fp.A, W);
    const r = await admitNewKey(await key(g.export(W)), { collection });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.rule, 'algorithm');
      assert.match(r.reason, /RSA 1024 bits is below the minimum of 2048/);
      assert.match(r.fix, /quick-gen-key/);
    }
  });

  test('a DSA key is refused by the algorithm rule', async () => {
    const X = g.gen('Old School <dsa@example.org>', 'dsa2048');
    g.certify(fp.A, X);
    const r = await admitNewKey(await key(g.export(X)), { collection });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.rule, 'algorithm');
      assert.match(r.reason, /DSA/);
    }
  });

  test('an expired key is refused', async () => {
    // made in 2020 with a one-year lifetime (gpg's own clock faked)
    const X = g.gen('Expired Person <expired@example.org>', 'ed25519', ['--faked-system-time', '20200101T000000!']);
    const r = await admitNewKey(await key(g.export(X)), { collection });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.rule, 'expired');
      assert.match(r.reason, /expired on 202[01]-/);
      assert.match(r.fix, /--quick-set-expire/);
    }
  });

  test('a key already in the collection is refused (UPDATE KEY is the way)', async () => {
    const r = await admitNewKey(await key(g.export(fp.A)), { collection });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.rule, 'already-in-collection');
  });

  test('a secret key is refused loudly', async () => {
    const secret = g.ok(['--armor', '--export-secret-keys', fp.D]).toString();
    const [k] = await readKeysAny(secret);
    const r = await admitNewKey(k, { collection });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.rule, 'private-key');
      assert.match(r.fix, /exposed/);
    }
  });

  test('limits: too many user IDs, too many certifications, too many bytes', async () => {
    const submitted = await key(g.export(fp.D));
    const r1 = await admitNewKey(submitted, { collection, limits: { ...DEFAULT_LIMITS, maxUserIds: 0 } });
    assert.ok(!r1.ok && r1.rule === 'limit-user-ids');
    const r2 = await admitNewKey(submitted, { collection, limits: { ...DEFAULT_LIMITS, maxCertifications: 2 } });
    assert.ok(!r2.ok && r2.rule === 'limit-certifications');
    if (!r2.ok) assert.match(r2.reason, /limit 2, got 3/);
    const r3 = await admitNewKey(submitted, { collection, limits: { ...DEFAULT_LIMITS, maxKeyBytes: 100 } });
    assert.ok(!r3.ok && r3.rule === 'limit-key-size');
  });

  test('isSignedByKey accepts the primary and a signing subkey, nothing else', async () => {
    const F = g.gen('Frank Subkeys <frank@example.org>');
    g.ok(['--quick-add-key', F, 'ed25519', 'sign', '1y']);
    g.ok(['--quick-add-key', F, 'cv25519', 'encr', '1y']);
    const k = await key(g.export(F));
    const rep = await inspectKey(k, { collection: [] });
    const signSub = rep.subkeys.find((s) => s.capabilities.sign)!;
    const encSub = rep.subkeys.find((s) => s.capabilities.encrypt)!;
    assert.ok(signSub && encSub);
    assert.equal(await isSignedByKey(F, k), true);
    assert.equal(await isSignedByKey(F.slice(-16), k), true);
    assert.equal(await isSignedByKey(signSub.fingerprint, k), true);
    assert.equal(await isSignedByKey(signSub.keyId, k), true);
    assert.equal(await isSignedByKey(encSub.fingerprint, k), false);
    assert.equal(await isSignedByKey(fp.A, k), false);
    assert.equal(await isSignedByKey('not hex', k), false);

    // and the real thing: gpg signs with the subkey, the signature names it
    writeFileSync(path.join(g.home, 'msg.txt'), 'SUBMIT KEY\n');
    const sig = g.ok(['-u', `${signSub.fingerprint}!`, '--detach-sign', '--armor', '--output', '-', path.join(g.home, 'msg.txt')]).toString();
    const s = await openpgp.readSignature({ armoredSignature: sig });
    const issuer = s.getSigningKeyIDs()[0].toHex();
    assert.equal(issuer, signSub.keyId);
    assert.equal(await isSignedByKey(issuer, k), true);
  });

  describe('UPDATE KEY (planUpdate)', () => {
    let stored: openpgp.PublicKey;
    before(async () => {
      const r = await admitNewKey(await key(g.export(fp.D)), { collection });
      assert.ok(r.ok);
      stored = r.key;
    });

    test('a new certification by a collection key is additive; the stranger is dropped again', async () => {
      g.certify(fp.C, fp.D);
      const incoming = await key(g.export(fp.D));
      const p = await planUpdate(stored, incoming, { collection });
      assert.ok(p.ok, p.ok ? '' : p.reason);
      if (!p.ok) return;
      assert.equal(p.onlyAdditive, true);
      assert.equal(p.empty, false);
      assert.deepEqual(p.changes.newCerts.map((c) => c.issuerFingerprint), [fp.C]);
      assert.equal(p.droppedOutsideCerts.length, 1);
      assert.equal(p.droppedOutsideCerts[0].issuerKeyId, fp.S.slice(-16).toLowerCase());
      const rep = await inspectKey(p.merged, { collection });
      assert.deepEqual(rep.certifications.map((c) => c.issuerFingerprint).sort(), [fp.A, fp.B, fp.C].sort());
      stored = p.merged;
    });

    test('sending the same copy again changes nothing', async () => {
      const p = await planUpdate(stored, stored, { collection });
      assert.ok(p.ok && p.empty && p.onlyAdditive);
    });

    test('a new expiry alone is additive; a new self-signed user ID is not: it needs a ticket', async () => {
      g.ok(['--quick-set-expire', fp.D, '3y']);
      const e = await planUpdate(stored, await key(g.export(fp.D)), { collection });
      assert.ok(e.ok && e.changes.newExpiry && e.changes.newUserIds.length === 0);
      assert.equal(e.onlyAdditive, true);
      g.ok(['--quick-add-uid', fp.D, 'Dave Work <dave@work.example.com>']);
      const p = await planUpdate(stored, await key(g.export(fp.D)), { collection });
      assert.ok(p.ok, p.ok ? '' : p.reason);
      if (!p.ok) return;
      assert.deepEqual(p.changes.newUserIds, ['Dave Work <dave@work.example.com>']);
      assert.ok(p.changes.newExpiry, 'expiry changed');
      assert.ok(p.changes.newExpiry.after! > p.changes.newExpiry.before!);
      assert.equal(p.onlyAdditive, false, 'a new user ID is a new claim: the maintainers decide');
      const rep = await inspectKey(p.merged, { collection });
      assert.ok(rep.userIds.some((u) => u.userId === 'Dave Work <dave@work.example.com>' && u.selfSigned));
      stored = p.merged;
    });

    test('a new subkey is not additive: it needs a ticket', async () => {
      g.ok(['--quick-add-key', fp.D, 'cv25519', 'encr', '1y']);
      const p = await planUpdate(stored, await key(g.export(fp.D)), { collection });
      assert.ok(p.ok);
      if (!p.ok) return;
      assert.equal(p.changes.newSubkeys.length, 1);
      assert.equal(p.onlyAdditive, false);
    });

    test('a different primary key is refused', async () => {
      const p = await planUpdate(stored, await key(g.export(fp.A)), { collection });
      assert.equal(p.ok, false);
      if (!p.ok) {
        assert.equal(p.rule, 'different-key');
        assert.match(p.fix, /SUBMIT KEY/);
      }
    });
  });

  describe('REVOKE KEY (checkRevocation) with gpg --gen-revoke output', () => {
    test('a revocation certificate revokes the collection key', async () => {
      const G = g.gen('Gone Soon <gone@example.org>');
      const out = path.join(g.home, 'rev.asc');
      g.ok(['--command-fd', '0', '--output', out, '--gen-revoke', G], 'y\n1\nkey lost\n\ny\n');
      const rev = readFileSync(out, 'utf8');
      assert.match(rev, /BEGIN PGP PUBLIC KEY BLOCK/);
      const existing = await key(g.export(G));
      const r = await checkRevocation(existing, rev);
      assert.ok(r.ok, r.ok ? '' : r.reason);
      if (!r.ok) return;
      assert.equal(r.fingerprint, G);
      assert.match(r.reason ?? '', /compromised/);
      const rep = await inspectKey(r.revokedKey, { collection: [] });
      assert.equal(rep.revoked, true);
      // gpg agrees the stored copy is revoked
      const h = new Gpg();
      try {
        h.ok(['--import'], Buffer.from(r.revokedKey.armor()));
        const line = h.ok(['--with-colons', '--list-keys', G]).toString().split('\n').find((l) => l.startsWith('pub:'))!;
        assert.equal(line.split(':')[1], 'r');
      } finally {
        h.close();
      }
      // the same certificate does not revoke another key
      const wrong = await checkRevocation(await key(g.export(fp.A)), rev);
      assert.ok(!wrong.ok && wrong.rule === 'revocation-wrong-key');
      // UPDATE KEY with the revoked copy (gpg --import rev.asc; gpg --export) is additive too
      g.ok(['--import', out]);
      const p = await planUpdate(existing, await key(g.export(G)), { collection: [] });
      assert.ok(p.ok, p.ok ? '' : p.reason);
      if (p.ok) {
        assert.ok(p.changes.revocation, 'revocation seen');
        assert.match(p.changes.revocation.reason ?? '', /compromised/);
        assert.equal(p.onlyAdditive, true);
        assert.equal((await inspectKey(p.merged, { collection: [] })).revoked, true);
      }
      // a whole revoked key is accepted by REVOKE KEY as well
      const whole = await checkRevocation(existing, g.export(G));
      assert.ok(whole.ok);
    });

    test('a damaged revocation certificate is refused', async () => {
      const H = g.gen('Hal Damaged <hal@example.org>');
      const rev = g.ok(['--command-fd', '0', '--output', '-', '--gen-revoke', H], 'y\n0\n\ny\n').toString();
      const r0 = await checkRevocation(await key(g.export(H)), 'no armour here');
      assert.ok(!r0.ok && r0.rule === 'revocation-unreadable');
      // flip one bit of the signature value (in binary, then re-armour)
      const m = rev.match(/-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/)![0];
      const un = await openpgp.unarmor(m);
      const bytes = Buffer.from(await new Response(un.data as ReadableStream<Uint8Array>).arrayBuffer());
      bytes[bytes.length - 5] ^= 0x01;
      const damaged = openpgp.armor(openpgp.enums.armor.publicKey, bytes);
      const r = await checkRevocation(await key(g.export(H)), damaged);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.rule, 'revocation-invalid');
    });
  });

  describe('addresses: one address, one key', () => {
    const reservedAddresses = reservedOf({ bot: { address: 'Bot@ZTrust.Example' } });
    // F: a member certified by A, in the collection beside A, B and C.
    let F = '';
    let stored: openpgp.PublicKey;
    before(async () => {
      F = g.gen('Fay Member <fay@example.org>');
      g.certify(fp.A, F);
      stored = await key(g.export(F));
    });
    const ring = () => [...collection, stored];
    const withUid = async (uid: string) => {
      g.ok(['--quick-add-uid', F, uid]);
      const k = await key(g.export(F));
      // take the user ID away again, so each case starts from the stored key
      g.ok(['--quick-revoke-uid', F, uid]);
      return k;
    };

    for (const uid of ['Bob Builder <bob@example.org>', 'B <BOB@Example.ORG>', 'B < bob@example.org >', 'bob@EXAMPLE.org']) {
      test(`UPDATE KEY: "${uid}" takes Bob's address: refused`, async () => {
        const p = await planUpdate(stored, await withUid(uid), { collection: ring(), reservedAddresses });
        assert.equal(p.ok, false);
        if (p.ok) return;
        assert.equal(p.rule, 'address-taken');
        assert.match(p.reason, new RegExp(`names bob@example\\.org, an address that collection key 0x${fp.B.slice(-16).toLowerCase()} \\("Bob Builder <bob@example\\.org>"\\) already holds`));
        assert.match(p.fix, /ask a maintainer/);
      });
    }

    test('UPDATE KEY: the bot\'s address is refused', async () => {
      const p = await planUpdate(stored, await withUid('Bot <Bot@ZTrust.Example>'), { collection: ring(), reservedAddresses });
      assert.ok(!p.ok && p.rule === 'address-reserved', p.ok ? 'accepted' : p.rule);
      assert.match(p.ok ? '' : p.reason, /names bot@ztrust\.example, which is the bot's own address/);
    });

    test('UPDATE KEY: an address only a revoked user ID or a revoked key names is free (a ticket)', async () => {
      // C gives up a second address by revoking that user ID; the whole key G is revoked.
      g.ok(['--quick-add-uid', fp.C, 'Carol Old <carol.old@example.org>']);
      g.ok(['--quick-revoke-uid', fp.C, 'Carol Old <carol.old@example.org>']);
      const G = g.gen('Gil Gone <gil@example.org>');
      g.ok(['--command-fd', '0', '--output', path.join(g.home, 'gil-rev.asc'), '--gen-revoke', G], 'y\n1\nkey lost\n\ny\n');
      g.ok(['--import', path.join(g.home, 'gil-rev.asc')]);
      const others = [collection[0], collection[1], await key(g.export(fp.C)), await key(g.export(G)), stored];
      for (const uid of ['Fay as Carol Old <carol.old@example.org>', 'Fay as Gil <gil@example.org>']) {
        const p = await planUpdate(stored, await withUid(uid), { collection: others, reservedAddresses });
        assert.ok(p.ok, p.ok ? '' : `${p.rule}: ${p.reason}`);
        if (!p.ok) return;
        // (the user IDs of the cases above come too, revoked: they claim nothing either)
        assert.ok(p.changes.newUserIds.includes(uid), p.changes.newUserIds.join(', '));
        assert.equal(p.onlyAdditive, false);
      }
    });

    test('UPDATE KEY: a self-signature newer than a user ID\'s revocation makes it a claim again: refused for Bob\'s address, else a ticket', async () => {
      // F's stored key now carries "Bob Builder <bob@example.org>" revoked (the cases above).
      const revokedOnF = await key(g.export(F));
      const live = (await inspectKey(revokedOnF, { collection: [] })).userIds.find((u) => u.userId === 'Bob Builder <bob@example.org>');
      assert.ok(live?.revoked, 'revoked on the stored copy');
      // gpg will not re-add a revoked user ID; openpgp.js's reformatKey writes fresh self-signatures for it.
      const secret = await openpgp.readPrivateKey({ armoredKey: g.ok(['--armor', '--export-secret-keys', F]).toString() });
      // dated 2 s ahead (within the allowed clock skew), so strictly newer than any revocation made so far
      const again = async (name: string, email: string) => (await openpgp.reformatKey({
        privateKey: secret, userIDs: [{ name, email }], date: new Date(Date.now() + 2000), format: 'object', config: { v6Keys: false },
      })).publicKey;
      const p = await planUpdate(revokedOnF, await again('Bob Builder', 'bob@example.org'), { collection: [...collection, revokedOnF], reservedAddresses });
      assert.ok(!p.ok && p.rule === 'address-taken', p.ok ? `accepted (onlyAdditive ${p.onlyAdditive})` : p.rule);
      const q = await planUpdate(revokedOnF, await again('Fay Member', 'fay@example.org'), { collection: [...collection, revokedOnF], reservedAddresses });
      assert.ok(q.ok && q.changes.restoredUserIds.length === 0 && q.onlyAdditive, 'a fresh self-signature on a live user ID stays instant');
      g.ok(['--quick-add-uid', F, 'Fay Gone <fay.gone@example.org>']);
      g.ok(['--quick-revoke-uid', F, 'Fay Gone <fay.gone@example.org>']);
      const gone = await key(g.export(F));
      const r = await planUpdate(gone, await again('Fay Gone', 'fay.gone@example.org'), { collection: [...collection, gone], reservedAddresses });
      assert.ok(r.ok, r.ok ? '' : r.reason);
      if (!r.ok) return;
      assert.deepEqual(r.changes.restoredUserIds, ['Fay Gone <fay.gone@example.org>']);
      assert.equal(r.onlyAdditive, false);
    });

    test('SUBMIT KEY: a reserved address is refused; an address another key holds is a warning for the maintainers', async () => {
      const N = g.gen('Ned New <ned@example.org>');
      g.certify(fp.A, N);
      g.ok(['--quick-add-uid', N, 'Ned as Bob <bob@example.org>']);
      const shared = await admitNewKey(await key(g.export(N)), { collection, reservedAddresses });
      assert.ok(shared.ok, shared.ok ? '' : shared.reason);
      if (!shared.ok) return;
      assert.deepEqual(shared.sharedAddresses.map((a) => [a.address, a.holderKeyId]), [['bob@example.org', fp.B.slice(-16).toLowerCase()]]);
      assert.ok(shared.warnings.some((w) => w.startsWith('the user ID "Ned as Bob <bob@example.org>" names bob@example.org, which collection key 0x')), shared.warnings.join('\n'));
      g.ok(['--quick-add-uid', N, 'Ned <bot@ztrust.example>']);
      const bot = await admitNewKey(await key(g.export(N)), { collection, reservedAddresses });
      assert.ok(!bot.ok && bot.rule === 'address-reserved', bot.ok ? 'admitted' : bot.rule);
    });
  });
});
