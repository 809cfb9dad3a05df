/**
 * Certificates for the SUBMIT CERT attack tests, made at test time by the
 * openssl CLI (as test/unit/pki.test.ts does), and the SUBMIT CERT mail
 * that carries one with a detached signature by a collection key.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { signerFromKey } from '../../src/pgp/botkey.js';
import assert from 'node:assert/strict';
import { community, stateOf, TO_BOT, type Person, type World } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

export const noOpenssl = spawnSync('openssl', ['version']).status === 0 ? false : 'openssl is not installed';

const CA_EXT = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];

function sh(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir });
  if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr.toString()}`);
}

/** A self-signed certificate (openssl req -x509): P-256 by default, CA extensions unless `ext` says otherwise. */
export function selfSigned(name: string, opts: { key?: string; md?: string; ext?: string[] } = {}): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'zt-seccert-'));
  sh(dir, ['req', '-x509', '-newkey', opts.key ?? 'ec', ...(opts.key ? [] : ['-pkeyopt', 'ec_paramgen_curve:P-256']), '-nodes',
    '-keyout', 'c.key', '-out', 'c.crt', '-days', '30', '-subj', `/CN=${name}`, ...(opts.md ? [`-${opts.md}`] : []), ...(opts.ext ?? CA_EXT)]);
  return readFileSync(path.join(dir, 'c.crt'));
}

/** A self-signed CA certificate valid only between two past dates (openssl ca -selfsign with -startdate/-enddate). */
export function expiredCa(name: string): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'zt-seccert-'));
  writeFileSync(path.join(dir, 'ca.cnf'), [
    '[ca]', 'default_ca = d', '[d]', 'dir = .', 'database = index.txt', 'new_certs_dir = .', 'serial = serial', 'policy = p',
    'default_md = sha256', 'unique_subject = no', '[p]', 'commonName = supplied',
    '[v3_ca]', 'basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign', ''].join('\n'));
  writeFileSync(path.join(dir, 'index.txt'), '');
  writeFileSync(path.join(dir, 'serial'), '01\n');
  sh(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'c.key', '-out', 'c.csr', '-subj', `/CN=${name}`]);
  sh(dir, ['ca', '-selfsign', '-batch', '-config', 'ca.cnf', '-keyfile', 'c.key', '-in', 'c.csr', '-out', 'c.crt',
    '-startdate', '20200101000000Z', '-enddate', '20210101000000Z', '-extensions', 'v3_ca', '-notext']);
  return readFileSync(path.join(dir, 'c.crt'));
}

export async function detachedSig(p: Person, data: Buffer): Promise<string> {
  return (await signerFromKey(p.key).signDetached(data)).armored;
}

/** SUBMIT CERT <name> from `by`, bound, with the PEM and its detached signature attached. */
export async function submitCertMail(w: World, by: Person, name: string, pem: Buffer, sig: string): Promise<Buffer> {
  return w.mail(by, `SUBMIT CERT ${name}\n${TO_BOT}\n\nOur root.\n`, {
    attachments: [
      { filename: `${name}.crt`, contentType: 'application/x-x509-ca-cert', content: pem },
      { filename: `${name}.crt.asc`, contentType: 'application/pgp-signature', content: sig },
    ],
  });
}

/**
 * The shape of every certificate-policy attack: Alice submits `pem` with a
 * valid detached signature by Carol (a collection key), so only the
 * certificate policy stands between it and a ticket. Refused with the rule
 * `ca-certificate` and `found` in the reply, no ticket, nothing changed.
 */
export async function assertCertRefused(makePem: () => Buffer, found: RegExp): Promise<void> {
  const { w, alice, carol } = await community();
  const pem = makePem();
  const before = await stateOf(w);
  const s = await sendChecked(w, await submitCertMail(w, alice, 'volunteer-root', pem, await detachedSig(carol, pem)));
  assertRefused(s, {
    outcome: 'SUBMIT CERT:refused:ca-certificate', to: 'alice@people.test',
    says: [/Your SUBMIT CERT request was refused\. Nothing was changed\. Rule: ca-certificate/, found],
  });
  assert.equal(s.replies[0].fields.Ticket, undefined);
  await assertUnchanged(w, before);
}
