/**
 * Attack (issue 8, "certificates with MD5/SHA-1 signatures"): a CA
 * certificate whose detached OpenPGP signature (the one that admits it, by a
 * collection key) is made with a hash the policy refuses, or is a v3
 * signature packet. The certificate check must give the verdict the mail
 * verifier gives a command signed that way (the policy's judgement of the
 * signature packet's own octets, src/policy/ judgeSignatureAlgorithms)
 * with the same wording and fix, not a permissive verification that a
 * name-only hash check then may or may not catch.
 *
 * Real parts: the certificate is made by the openssl CLI, the signatures by
 * gpg (`--digest-algo` as a user would; the v3 packet is gpg's v4 packet
 * rewritten in the v3 layout, as old PGP 2/6 made them); the signer is an
 * RSA-3072 key in the collection, so nothing but the hash or the packet
 * version is wrong. Sent by Alice through SUBMIT CERT in the command world.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { HASH_FIX, VERSION_FIX } from '../../src/policy/index.js';
import { readKeysAny } from '../../src/pgp/inspect.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { community, flat, stateOf, TO_BOT } from '../unit/commands-world.js';
import { toV3 } from '../unit/verify-gpg-mail.js';

const skip = spawnSync('openssl', ['version']).status === 0 ? false : 'openssl is not installed';
let gpg: GpgHome;
let gail: string;
let pem: Buffer;

before(async () => {
  gpg = await makeGpgHome();
  gail = await gpg.genKey('Gail Gpg <gail@people.test>', { algo: 'rsa3072', encryptSubkey: false });
  const dir = mkdtempSync(path.join(tmpdir(), 'zt-weakcert-'));
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
    '-days', '30', '-subj', '/CN=Weak Sig Root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { cwd: dir });
  if (!skip && r.status !== 0) throw new Error(r.stderr.toString());
  if (!skip) pem = readFileSync(path.join(dir, 'ca.crt'));
});
after(async () => gpg?.cleanup());

/** gpg -u Gail --digest-algo <digest> --detach-sign over the certificate file's exact bytes (binary). */
async function detached(digest: string): Promise<Buffer> {
  const r = await gpg.run(['-u', gail, '--digest-algo', digest, '--detach-sign', '--output', '-'], pem);
  return r.stdout;
}

const CASES: { name: string; signature: () => Promise<string>; reason: string; fix: string }[] = [
  { name: 'SHA-1', signature: async () => openpgp.armor(openpgp.enums.armor.signature, await detached('SHA1')), reason: 'SHA-1 is refused by the policy for new signatures', fix: HASH_FIX },
  { name: 'MD5', signature: async () => openpgp.armor(openpgp.enums.armor.signature, await detached('MD5')), reason: 'MD5 is refused by the policy for new signatures', fix: HASH_FIX },
  { name: 'RIPEMD-160', signature: async () => openpgp.armor(openpgp.enums.armor.signature, await detached('RIPEMD160')), reason: 'RIPEMD-160 is refused by the policy for new signatures', fix: HASH_FIX },
  { name: 'v3', signature: async () => openpgp.armor(openpgp.enums.armor.signature, toV3(await detached('SHA256'))), reason: 'v3 signatures are not accepted; re-sign with a current OpenPGP client', fix: VERSION_FIX },
];

describe('security: SUBMIT CERT with a detached signature the policy refuses', { skip }, () => {
  for (const c of CASES) {
    test(`${c.name}: refused with the policy's verdict and fix; no ticket, nothing changed`, async () => {
      const { w, alice, members } = await community();
      const [gailKey] = await readKeysAny(await gpg.exportPublic(gail));
      await w.seed([gailKey]);
      const sig = await c.signature();
      const before = await stateOf(w);

      const s = await w.send(await w.mail(alice, `SUBMIT CERT weak-root\n${TO_BOT}\n\nOur new root.\n`, {
        attachments: [
          { filename: 'weak-root.crt', contentType: 'application/x-x509-ca-cert', content: pem },
          { filename: 'weak-root.crt.asc', contentType: 'application/pgp-signature', content: sig },
        ],
      }));
      assert.equal(s.outcome, 'SUBMIT CERT:refused:certificate-signature');
      assert.equal(s.replies.length, 1, 'no maintainer notice');
      const r = s.replies[0];
      assert.equal(r.status, 'error');
      assert.deepEqual(r.to, ['alice@people.test']);
      const text = flat(r.text);
      const found = `What the bot found: the signature made \\S+Z by key ${gail.slice(-16)} was not accepted: ${c.reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`;
      assert.match(text, new RegExp(`Your SUBMIT CERT request was refused\\. Nothing was changed\\. Rule: certificate-signature ${found} How to fix it: `));
      assert.ok(text.includes(`How to fix it: ${flat(c.fix)}`), text);
      assert.deepEqual(await stateOf(w), before, 'no ticket, no change, no commit');
      assert.deepEqual(await w.store.listTickets(), []);
      void members;
    });
  }
});
