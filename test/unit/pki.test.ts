/**
 * PKI certificate checks against certificates made by the real openssl CLI
 * and detached signatures made by real GnuPG, plus the real collection's
 * certificates (cross-checked with `gpg --verify` and `openssl x509 -text`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as openpgp from 'openpgp';
import { readKeysAny } from '../../src/pgp/inspect.js';
import { checkCaCert, checkSubmittedCert, chainsTo, verifyDetachedSignature } from '../../src/pki/x509.js';
import { DEFAULT_CRYPTO_POLICY, HASH_FIX } from '../../src/policy/index.js';

const SHARED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared');
const FIXTURES = path.join(SHARED, 'fixtures', 'ztrust');

const tools = spawnSync('openssl', ['version']).status === 0 && spawnSync('gpg', ['--version']).status === 0;
const skip = tools ? false : 'openssl or gpg is not installed';

const dir = mkdtempSync(path.join(tmpdir(), 'zt-pki-'));
const home = path.join(dir, 'gnupg');
mkdirSync(home, { mode: 0o700 });

function sh(cmd: string, args: string[], input?: string): Buffer {
  const r = spawnSync(cmd, args, { cwd: dir, input: input ?? '' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout;
}
function gpg(args: string[]): Buffer {
  return sh('gpg', ['--homedir', home, '--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', ...args]);
}
function gpgStatus(args: string[]): number {
  return spawnSync('gpg', ['--homedir', home, '--batch', ...args], { cwd: dir }).status ?? -1;
}

/** A self-signed certificate with openssl req -x509. */
function selfSigned(name: string, opts: { key?: string; ext?: string[]; md?: string; days?: number } = {}): Buffer {
  const args = ['req', '-x509', '-newkey', opts.key ?? 'ec', ...(opts.key ? [] : ['-pkeyopt', 'ec_paramgen_curve:P-256']),
    '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', String(opts.days ?? 30), '-subj', `/CN=${name}`,
    ...(opts.md ? [`-${opts.md}`] : []),
    ...(opts.ext ?? ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])];
  sh('openssl', args);
  return readFileSync(path.join(dir, `${name}.crt`));
}

/** A certificate issued by `ca` (openssl x509 -req). */
function issued(name: string, ca: string, extLines: string[]): Buffer {
  sh('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  writeFileSync(path.join(dir, `${name}.ext`), extLines.join('\n') + '\n');
  sh('openssl', ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`,
    '-days', '30', '-sha256', '-extfile', `${name}.ext`]);
  return readFileSync(path.join(dir, `${name}.crt`));
}

const CA_EXT = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];

describe('PKI certificate policy (openssl-made certificates)', { skip }, () => {
  let collectionKeys: openpgp.PublicKey[] = [];
  let signer = '';
  let root: Buffer;

  before(async () => {
    gpg(['--quick-gen-key', 'PKI Member <pki@example.org>', 'ed25519', 'sign', '1y']);
    gpg(['--quick-gen-key', 'Outsider <out@example.net>', 'ed25519', 'sign', '1y']);
    const fprs = gpg(['--with-colons', '--list-keys', 'pki@example.org']).toString().split('\n').find((l) => l.startsWith('fpr:'))!;
    signer = fprs.split(':')[9]!;
    gpg(['--quick-gen-key', 'RSA Member <rsa@example.org>', 'rsa2048', 'sign', '1y']);
    collectionKeys = (await readKeysAny(gpg(['--armor', '--export', signer, 'rsa@example.org']).toString()));
    assert.equal(collectionKeys.length, 2);
    root = selfSigned('root', { key: 'rsa:3072', md: 'sha256' });
  });
  after(() => {
    spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
    rmSync(dir, { recursive: true, force: true });
  });

  test('an RSA-3072 CA certificate signed by a collection key is admitted', async () => {
    gpg(['-u', signer, '--armor', '--detach-sign', '--output', 'root.crt.asc', 'root.crt']);
    const sig = readFileSync(path.join(dir, 'root.crt.asc'), 'utf8');
    const r = await checkSubmittedCert(root, sig, { collectionKeys, collectionCerts: [] });
    assert.equal(r.ok, true, r.ok ? '' : r.reasons.join('; '));
    if (r.ok) {
      assert.equal(r.via, 'signature');
      if (r.via === 'signature') assert.equal(r.signer, signer);
    }
    // the facts agree with openssl's own reading
    const text = sh('openssl', ['x509', '-in', 'root.crt', '-noout', '-text', '-fingerprint', '-sha256']).toString();
    const c = checkCaCert(root);
    assert.equal(c.bits, 3072);
    assert.match(text, /Public-Key: \(3072 bit\)/);
    assert.match(text, new RegExp(`Signature Algorithm: ${c.signatureAlgorithm}`));
    const fp = text.match(/sha256 Fingerprint=([0-9A-F:]+)/i)![1].replace(/:/g, '').toLowerCase();
    assert.equal(c.sha256, fp);
    assert.equal(c.selfSigned, true);
    assert.equal(c.subject, 'CN=root');
  });

  test('a signature over other bytes, or by a key outside the collection, is refused', async () => {
    const sig = readFileSync(path.join(dir, 'root.crt.asc'), 'utf8');
    const tampered = Buffer.from(root.toString('latin1').replace('-----END CERTIFICATE-----', '-----END CERTIFICATE-----\n'), 'latin1');
    const r = await checkSubmittedCert(tampered, sig, { collectionKeys, collectionCerts: [] });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.match(r.reasons[0], /does not verify over these exact bytes/);
      assert.match(r.fix, /--detach-sign/);
    }
    // gpg agrees the signature does not cover the changed bytes
    writeFileSync(path.join(dir, 'tampered.crt'), tampered);
    assert.notEqual(gpgStatus(['--verify', 'root.crt.asc', 'tampered.crt']), 0);

    gpg(['-u', 'out@example.net', '--armor', '--detach-sign', '--output', 'root.out.asc', 'root.crt']);
    const v = await verifyDetachedSignature(root, readFileSync(path.join(dir, 'root.out.asc'), 'utf8'), collectionKeys);
    assert.equal(v.ok, false);
    assert.match(v.reason, /not in the collection/);

    const garbage = await verifyDetachedSignature(root, 'not a signature', collectionKeys);
    assert.equal(garbage.ok, false);
    assert.match(garbage.reason, /could not be read/);
  });

  test('a text-mode signature over the same bytes is accepted', async () => {
    gpg(['-u', signer, '--armor', '--textmode', '--detach-sign', '--output', 'root.text.asc', 'root.crt']);
    const v = await verifyDetachedSignature(root, readFileSync(path.join(dir, 'root.text.asc'), 'utf8'), collectionKeys);
    assert.equal(v.ok, true, v.reason);
    assert.equal(v.signatureType, 'text');
  });

  test('a SHA-1 detached signature verifies but is refused by its packet, with the policy verdict and fix', async () => {
    // RSA: an EdDSA signature over SHA-1 is not even valid (RFC 9580 wants 256-bit hashes)
    gpg(['-u', 'rsa@example.org', '--digest-algo', 'SHA1', '--armor', '--detach-sign', '--output', 'root.sha1.asc', 'root.crt']);
    const v = await verifyDetachedSignature(root, readFileSync(path.join(dir, 'root.sha1.asc'), 'utf8'), collectionKeys);
    assert.equal(v.valid, true, 'cryptographically valid: audit calls it weak, not bad');
    assert.equal(v.ok, false);
    assert.match(v.reason, /^the signature made \S+Z by key [0-9A-F]{16} was not accepted: SHA-1 is refused by the policy for new signatures$/);
    assert.equal(v.fix, HASH_FIX);
    assert.equal(v.signerKeyId, v.reason.split(' ')[6].toLowerCase());
  });

  test('a certificate that is not a CA is refused', () => {
    const leaf = selfSigned('notca', { ext: ['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature'] });
    const c = checkCaCert(leaf);
    assert.equal(c.ok, false);
    assert.ok(c.reasons.some((r) => /CA:FALSE/.test(r)), c.reasons.join('; '));
    assert.ok(c.reasons.some((r) => /keyCertSign/.test(r)), c.reasons.join('; '));
    const noKu = checkCaCert(selfSigned('noku', { ext: ['-addext', 'basicConstraints=critical,CA:TRUE'] }));
    assert.equal(noKu.ok, false);
    assert.ok(noKu.reasons.some((r) => /no keyUsage/.test(r)));
  });

  test('a sha1WithRSAEncryption certificate is refused', (t) => {
    let pem: Buffer;
    try {
      pem = selfSigned('sha1ca', { key: 'rsa:2048', md: 'sha1' });
    } catch (err) {
      return t.skip(`openssl would not sign with SHA-1 here: ${(err as Error).message}`);
    }
    const c = checkCaCert(pem);
    assert.equal(c.ok, false);
    assert.ok(c.reasons.some((r) => /sha1WithRSAEncryption/.test(r)), c.reasons.join('; '));
    assert.match(sh('openssl', ['x509', '-in', 'sha1ca.crt', '-noout', '-text']).toString(), /sha1WithRSAEncryption/);
  });

  test('validity period: expired and not yet valid are refused (checked at a given time)', () => {
    const pem = selfSigned('short', { days: 1 });
    assert.equal(checkCaCert(pem).ok, true);
    const later = checkCaCert(pem, DEFAULT_CRYPTO_POLICY, new Date(Date.now() + 3 * 86400_000));
    assert.equal(later.ok, false);
    assert.ok(later.reasons.some((r) => /expired on/.test(r)));
    const earlier = checkCaCert(pem, DEFAULT_CRYPTO_POLICY, new Date(Date.now() - 3 * 86400_000));
    assert.ok(earlier.reasons.some((r) => /not valid before/.test(r)));
  });

  test('keys: RSA-1024 and secp256k1 are refused, Ed25519 and P-384 accepted', () => {
    const small = checkCaCert(selfSigned('rsa1024', { key: 'rsa:1024' }));
    assert.ok(small.reasons.some((r) => /1024 bits/.test(r)), small.reasons.join('; '));
    sh('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1', '-out', 'k1.key']);
    sh('openssl', ['req', '-x509', '-key', 'k1.key', '-out', 'k1.crt', '-days', '30', '-subj', '/CN=k1', '-addext', `basicConstraints=critical,CA:TRUE`, '-addext', 'keyUsage=critical,keyCertSign']);
    const k1 = checkCaCert(readFileSync(path.join(dir, 'k1.crt')));
    assert.ok(k1.reasons.some((r) => /secp256k1/.test(r)), k1.reasons.join('; '));
    const ed = checkCaCert(selfSigned('ed', { key: 'ed25519' }));
    assert.equal(ed.ok, true, ed.reasons.join('; '));
    assert.equal(ed.keyAlg, 'ed25519');
    sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', 'p384.key', '-out', 'p384.crt', '-days', '30', '-subj', '/CN=p384',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
    const p384 = checkCaCert(readFileSync(path.join(dir, 'p384.crt')));
    assert.equal(p384.ok, true, p384.reasons.join('; '));
    assert.equal(p384.curve, 'secp384r1');
  });

  test('unreadable input and several certificates in one file are refused, never thrown', () => {
    assert.equal(checkCaCert(Buffer.from('hello')).ok, false);
    assert.match(checkCaCert(Buffer.from('hello')).reasons[0], /not a readable X.509/);
    const two = Buffer.concat([root, root]);
    const c = checkCaCert(two);
    assert.equal(c.ok, false);
    assert.match(c.reasons[0], /holds 2 certificates/);
  });

  test('an intermediate CA issued by a collection certificate is accepted without a signature', async () => {
    const inter = issued('inter', 'root', CA_EXT);
    const collectionCerts = [{ name: 'root', pem: root }];
    const found = chainsTo(inter, collectionCerts);
    assert.equal(found?.name, 'root');
    const r = await checkSubmittedCert(inter, null, { collectionKeys, collectionCerts });
    assert.equal(r.ok, true, r.ok ? '' : r.reasons.join('; '));
    if (r.ok) assert.equal(r.via, 'chain');
    // openssl agrees it chains
    assert.match(sh('openssl', ['verify', '-CAfile', 'root.crt', 'inter.crt']).toString(), /inter.crt: OK/);

    // without the root in the collection, and without a signature: refused
    const r2 = await checkSubmittedCert(inter, null, { collectionKeys, collectionCerts: [] });
    assert.equal(r2.ok, false);
    if (!r2.ok) assert.match(r2.reasons[0], /no detached signature and is not issued/);
    // issued by another CA (not in the collection) that only claims the same name
    sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'fake.key', '-out', 'fake.crt', '-days', '30', '-subj', '/CN=root',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
    const forged = issued('forged', 'fake', CA_EXT);
    assert.equal(chainsTo(forged, collectionCerts), null);
  });

  test('a leaf (non-CA) issued by a collection certificate chains, but the CA rule refuses it', async () => {
    const leaf = issued('leaf', 'root', ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature']);
    const collectionCerts = [{ name: 'root', pem: root }];
    assert.equal(chainsTo(leaf, collectionCerts)?.name, 'root');
    const r = await checkSubmittedCert(leaf, null, { collectionKeys, collectionCerts });
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.reasons.some((x) => /CA:FALSE/.test(x)));
  });
});

describe('the real collection certificates', { skip: !tools ? 'gpg/openssl missing' : !existsSync(FIXTURES) ? `fixtures not found at ${FIXTURES}` : false }, () => {
  test('detached signatures verify exactly when gpg --verify says so', async () => {
    const base = path.join(FIXTURES, 'vmworkshop', 'ztrust');
    const keys: openpgp.PublicKey[] = [];
    const gh = mkdtempSync(path.join(tmpdir(), 'zt-pki-fx-'));
    try {
      const { readdirSync } = await import('node:fs');
      for (const f of readdirSync(path.join(base, 'pgp'))) {
        keys.push(...((await readKeysAny(readFileSync(path.join(base, 'pgp', f)))) as openpgp.PublicKey[]));
        spawnSync('gpg', ['--homedir', gh, '--batch', '--import', path.join(base, 'pgp', f)]);
      }
      for (const n of ['master2022.casita.net', 'master2023.casita.net']) {
        const crt = path.join(base, 'pki', `${n}.crt`);
        const pem = readFileSync(crt);
        const sig = readFileSync(`${crt}.asc`, 'utf8');
        const gpgOk = spawnSync('gpg', ['--homedir', gh, '--batch', '--verify', `${crt}.asc`, crt]).status === 0;
        const v = await verifyDetachedSignature(pem, sig, keys);
        assert.equal(v.valid, gpgOk, `${n}: ${v.reason}`);
        assert.equal(v.signatureType, 'binary');
        // one changed byte: both refuse
        const bad = Buffer.from(pem);
        bad[100] = bad[100] ^ 0x01;
        writeFileSync(path.join(gh, 'bad.crt'), bad);
        const gpgBad = spawnSync('gpg', ['--homedir', gh, '--batch', '--verify', `${crt}.asc`, path.join(gh, 'bad.crt')]).status === 0;
        assert.equal(gpgBad, false);
        assert.equal((await verifyDetachedSignature(bad, sig, keys)).valid, false);
        const c = checkCaCert(pem, DEFAULT_CRYPTO_POLICY, new Date('2025-01-01T00:00:00Z'));
        assert.equal(c.ok, true, c.reasons.join('; '));
      }
    } finally {
      spawnSync('gpgconf', ['--homedir', gh, '--kill', 'gpg-agent']);
      rmSync(gh, { recursive: true, force: true });
    }
  });
});
