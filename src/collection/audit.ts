/**
 * `audit`: check a collection against today's policy and against itself.
 *
 * Existing data that breaks today's policy (DSA keys, SHA-1 certifications,
 * keys nobody in the collection has certified, bundles that disagree with the
 * folders) is reported here, never dropped: the collection is the group's
 * record and only people decide what leaves it.
 *
 * Severity:
 *   error   - the collection contradicts itself or a signature it relies on
 *             is broken (bad signatures, a file named for another key, a
 *             manifest that does not match the files)
 *   warning - legacy data below today's policy; new submissions would be refused
 *   info    - worth knowing, nothing to fix
 */
import * as openpgp from 'openpgp';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DEFAULT_CRYPTO_POLICY, isAlgorithmCode, isTimeCode, type CryptoPolicy, type PolicyCode } from '../policy/index.js';
import { Keyring } from '../pgp/keyring.js';
import { addressConflicts, addressIndex } from '../pgp/addresses.js';
import { fingerprintOf, inspectKey, keyIdOf, readKeysAny, toKeyring, type KeyLookup, type KeyReport } from '../pgp/inspect.js';
import { checkCaCert, chainsTo, parseCertificate, verifyDetachedSignature } from '../pki/x509.js';
import { Collection, PATHS, primaryIdentity, type ScannedKeyFile } from './collection.js';
import { identityFromUserId, parseSourceKeyName, roleFolder, sourceKeyFileName } from './naming.js';
import { parseSourceList, resolveRows, sourceRows } from './source-list.js';

export type Severity = 'error' | 'warning' | 'info';

/** The fixed catalogue: code -> severity and what it means. */
export const FINDINGS = {
  KEY_UNREADABLE: { severity: 'error', text: 'a key file cannot be read as an OpenPGP public key' },
  KEY_FILE_MULTIPLE: { severity: 'warning', text: 'a key file holds more than one key' },
  FILENAME_INVALID: { severity: 'warning', text: 'a key file name does not follow 0x<keyid>-<identity>-<role>.asc' },
  FILENAME_MISMATCH: { severity: 'error', text: 'the key id in a file name is not the key in the file' },
  FILENAME_IDENTITY: { severity: 'info', text: 'the identity in a file name matches none of the key\'s user IDs' },
  KEY_DUPLICATE: { severity: 'warning', text: 'the same key is stored in more than one file' },
  KEY_DSA: { severity: 'warning', text: 'the primary key is DSA, which the policy no longer accepts' },
  SUBKEY_DSA: { severity: 'warning', text: 'a subkey is DSA, which the policy no longer accepts' },
  KEY_ELGAMAL: { severity: 'warning', text: 'a subkey is ElGamal, which the policy no longer accepts' },
  KEY_RSA_WEAK: { severity: 'warning', text: 'an RSA key is below the policy minimum' },
  KEY_RSA_SHORT: { severity: 'info', text: 'an RSA key is below the recommended size' },
  KEY_ALGORITHM: { severity: 'warning', text: 'a key uses an algorithm, curve or parameters the policy does not accept' },
  KEY_EXPIRED: { severity: 'warning', text: 'the key has expired' },
  KEY_REVOKED: { severity: 'warning', text: 'the key is revoked' },
  KEY_NO_VALID_UID: { severity: 'error', text: 'no user ID carries a valid self-signature' },
  SELFSIG_WEAK: { severity: 'warning', text: 'a user ID is bound only by SHA-1 (or weaker) self-signatures' },
  KEY_NO_COLLECTION_CERT: { severity: 'warning', text: 'no other collection key has validly certified this key' },
  KEY_FEW_COLLECTION_CERTS: { severity: 'warning', text: 'fewer collection keys than minCertifications have certified this key' },
  CERT_SHA1: { severity: 'warning', text: 'a certification by a collection key uses SHA-1' },
  CERT_MD5: { severity: 'warning', text: 'a certification by a collection key uses MD5' },
  CERT_WEAK_HASH: { severity: 'warning', text: 'a certification by a collection key uses a hash the policy refuses' },
  CERT_BAD: { severity: 'warning', text: 'a certification naming a collection key does not verify' },
  ADDRESS_CONFLICT: { severity: 'warning', text: 'more than one key holds one mail address; GET KEY and the WKD export give out neither for it' },
  KEY_OUTSIDE_CERTS: { severity: 'info', text: 'the key carries certifications by keys outside the collection (kept, not counted)' },
  ROLE_COPY_MISSING: { severity: 'info', text: 'a key in pgp/all has no copy in its role folder' },
  ROLE_COPY_ORPHAN: { severity: 'warning', text: 'a key in a role folder is not in pgp/all' },
  ROLE_COPY_DIFFERS: { severity: 'warning', text: 'a role-folder copy differs from the pgp/all file' },
  BUNDLE_MISSING: { severity: 'warning', text: 'a bundle file is missing' },
  BUNDLE_MISMATCH: { severity: 'warning', text: 'a bundle disagrees with the folders' },
  PKI_UNREADABLE: { severity: 'error', text: 'a certificate file cannot be read' },
  PKI_NOT_CA: { severity: 'warning', text: 'a certificate is not an X.509 v3 CA certificate (basicConstraints CA:TRUE, keyUsage keyCertSign)' },
  PKI_EXPIRED: { severity: 'warning', text: 'a certificate is outside its validity period' },
  PKI_WEAK: { severity: 'warning', text: 'a certificate uses a signature algorithm or key the policy refuses' },
  PKI_SIG_BAD: { severity: 'error', text: 'the detached signature of a certificate does not verify by a collection key' },
  PKI_SIG_WEAK: { severity: 'warning', text: 'the detached signature of a certificate verifies but breaks today\'s policy' },
  PKI_SIG_MISSING: { severity: 'error', text: 'a certificate has no detached signature and does not chain to a collection certificate' },
  PKI_CHAINED: { severity: 'info', text: 'a certificate has no signature of its own but is issued by a collection certificate' },
  PKI_TEXT_MISMATCH: { severity: 'warning', text: 'the .txt dump beside a certificate describes a different certificate' },
  SUMS_MISSING: { severity: 'warning', text: 'SHA256SUMS is missing' },
  SUMS_MISMATCH: { severity: 'error', text: 'SHA256SUMS does not match the files' },
  SUMS_UNSIGNED: { severity: 'info', text: 'SHA256SUMS carries no signature' },
  SUMS_SIG_BAD: { severity: 'error', text: 'SHA256SUMS.asc does not verify with the given manifest keys' },
  IMPORT_UNREADABLE: { severity: 'error', text: 'a file of the imported collection could not be read and was not imported' },
  IMPORT_MERGED: { severity: 'info', text: 'copies of one key differed between files; the stored key holds every signature of all copies' },
  IMPORT_ONLY_IN_ROLE_FOLDER: { severity: 'warning', text: 'a key was only in a role folder, not in pgp/all; it was added to pgp/all' },
  IMPORT_ONLY_IN_BUNDLE: { severity: 'warning', text: 'a key was only in the bundle, not in any folder; it was added to pgp/all' },
  IMPORT_RENAMED: { severity: 'warning', text: 'a file name of the imported collection was unsafe or named another key; the file was stored under a derived name' },
  IMPORT_SOURCE_CONFLICT: { severity: 'error', text: 'a file of the imported pgp/for-source/ differs from the collection\'s file of that name; the collection\'s is kept' },
  // pgp/for-source/: upstream release-signing keys and key-and-source.md (policy checks reuse the KEY_* / SELFSIG_* codes, data.folder 'for-source')
  SOURCE_KEY_UNREADABLE: { severity: 'error', text: 'a file of pgp/for-source/ cannot be read as an OpenPGP public key' },
  SOURCE_KEY_FILE_MULTIPLE: { severity: 'warning', text: 'a file of pgp/for-source/ holds more than one key; rows naming it find none' },
  SOURCE_FILENAME_INVALID: { severity: 'warning', text: 'a key file name in pgp/for-source/ does not follow 0x<keyid>-<identity>-signing.asc' },
  SOURCE_FILENAME_MISMATCH: { severity: 'error', text: 'the key id in a pgp/for-source/ file name is not the key in the file' },
  SOURCE_KEY_DUPLICATE: { severity: 'warning', text: 'the same source-signing key is stored in more than one file' },
  SOURCE_KEY_UNLISTED: { severity: 'warning', text: 'no row of key-and-source.md names this key file' },
  SOURCE_ROW_KEY_MISSING: { severity: 'warning', text: 'a row of key-and-source.md names a key file that is not in pgp/for-source/' },
  SOURCE_ROW_UNREADABLE: { severity: 'warning', text: 'a line of key-and-source.md looks like a row but cannot be read as "<key file> <release>"' },
  SOURCE_KEY_EXPIRED: { severity: 'warning', text: 'a source-signing key has expired while rows of key-and-source.md still point at it' },
  SOURCE_KEY_REVOKED: { severity: 'warning', text: 'a source-signing key is revoked while rows of key-and-source.md still point at it' },
} as const satisfies Record<string, { severity: Severity; text: string }>;

export type FindingCode = keyof typeof FINDINGS;

export interface Finding {
  severity: Severity;
  code: FindingCode;
  /** A file (relative path), a key id (16 lowercase hex) or a mail address (ADDRESS_CONFLICT). */
  subject: string;
  message: string;
  /** Machine-readable details (issuer, target, file...). */
  data?: Record<string, string>;
}

export function finding(code: FindingCode, subject: string, message: string, data?: Record<string, string>): Finding {
  const f: Finding = { severity: FINDINGS[code].severity, code, subject, message };
  if (data) f.data = data;
  return f;
}

export interface AuditOptions {
  policy?: CryptoPolicy;
  now?: Date;
  /** Keys whose signature on SHA256SUMS.asc is checked (the bot's key). */
  manifestKeys?: KeyLookup;
}

/** An audit code for a certificate refusal, from the policy's code (never from its wording). */
function pkiFindingCode(code: PolicyCode): 'PKI_EXPIRED' | 'PKI_WEAK' | 'PKI_NOT_CA' {
  if (isTimeCode(code)) return 'PKI_EXPIRED';
  return isAlgorithmCode(code) ? 'PKI_WEAK' : 'PKI_NOT_CA';
}

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export async function auditCollection(target: string | Collection, opts: AuditOptions = {}): Promise<Finding[]> {
  const col = typeof target === 'string' ? await Collection.open(target, { readOnly: true }) : target;
  const policy = opts.policy ?? DEFAULT_CRYPTO_POLICY;
  const now = opts.now ?? new Date();
  const min = policy.minCertifications;
  const out: Finding[] = [];

  // ---- key files
  const scanned = await col.scanKeyFolder(PATHS.pgpAll);
  const good: { s: ScannedKeyFile; key: openpgp.PublicKey }[] = [];
  const byFpr = new Map<string, string[]>();
  for (const s of scanned) {
    if (s.error !== null || s.keys.length === 0) {
      out.push(finding('KEY_UNREADABLE', s.file, `${s.file}: ${s.error ?? 'no key found'}`));
      continue;
    }
    if (s.keys.length > 1) out.push(finding('KEY_FILE_MULTIPLE', s.file, `${s.file} holds ${s.keys.length} keys; only the first is used`));
    const key = s.keys[0];
    good.push({ s, key });
    const fpr = fingerprintOf(key);
    byFpr.set(fpr, [...(byFpr.get(fpr) ?? []), s.file]);
  }
  for (const [fpr, files] of byFpr) {
    if (files.length > 1) out.push(finding('KEY_DUPLICATE', fpr.slice(-16).toLowerCase(), `key ${fpr} is stored in ${files.join(', ')}`));
  }
  const ring = Keyring.fromKeys(good.map((g) => g.key));
  const reports = new Map<string, KeyReport>();
  for (const { s, key } of good) {
    const r = await inspectKey(key, { collection: ring, policy, now });
    reports.set(r.fingerprint, r);
    out.push(...keyFindings(s, r, min));
  }

  // ---- one address, one key: a second holder is reported, never dropped (people decide which key keeps it)
  for (const c of addressConflicts(await addressIndex(good.map((g) => g.key), { policy, now }))) {
    const ids = c.holders.map((h) => h.keyId);
    out.push(finding('ADDRESS_CONFLICT', c.address,
      `${c.address} is held by ${ids.length} keys (${ids.map((k) => `0x${k}`).join(', ')}); GET KEY and the WKD export give out neither for it until all but one give it up (revoke that user ID, or the key)`,
      { address: c.address, keyIds: ids.join(' ') }));
  }

  // ---- role folders
  const allByName = new Map(good.map((g) => [g.s.file.split('/').pop()!, g] as const));
  for (const folder of ['signing', 'email'] as const) {
    for (const s of await col.scanKeyFolder(`pgp/${folder}`)) {
      const name = s.file.split('/').pop()!;
      const twin = allByName.get(name);
      if (!twin) {
        out.push(finding('ROLE_COPY_ORPHAN', s.file, `${s.file} is not in pgp/all`, { file: s.file }));
        continue;
      }
      if (!s.bytes.equals(twin.s.bytes)) {
        const same = s.keys.length === 1 && Buffer.from(s.keys[0].write()).equals(Buffer.from(twin.key.write()));
        out.push(finding('ROLE_COPY_DIFFERS', s.file, same
          ? `${s.file} holds the same key packets as pgp/all/${name} but different bytes (armour)`
          : `${s.file} holds different key data than pgp/all/${name}`, { file: s.file }));
      }
    }
  }
  const roleFiles = new Set([
    ...(await col.scanKeyFolder(PATHS.pgpSigning)).map((s) => s.file),
    ...(await col.scanKeyFolder(PATHS.pgpEmail)).map((s) => s.file),
  ]);
  for (const { s } of good) {
    if (!s.name) continue;
    const expect = `pgp/${roleFolder(s.name.role)}/${s.file.split('/').pop()}`;
    if (!roleFiles.has(expect)) out.push(finding('ROLE_COPY_MISSING', s.file, `${s.file} has no copy at ${expect}`, { file: s.file }));
  }

  // ---- pgp bundle
  out.push(...(await bundleFindings(col, good.map((g) => g.key))));

  // ---- PKI
  const certs = await col.certs();
  for (const c of certs) {
    const check = checkCaCert(c.pem, policy, now);
    // An unreadable certificate is reported, and its signature still checked:
    // the signature covers the bytes, whatever they hold.
    if (!check.subject) out.push(finding('PKI_UNREADABLE', c.file, `${c.file}: ${check.reasons.join('; ')}`));
    else check.reasons.forEach((reason, i) => {
      out.push(finding(pkiFindingCode(check.codes[i]), c.file, `${c.name}: ${reason}`, { file: c.file }));
    });
    if (c.signature !== null) {
      const v = await verifyDetachedSignature(c.pem, c.signature, ring, { policy, now });
      const data: Record<string, string> = { file: c.file };
      if (v.signerKeyId) data.signerKeyId = v.signerKeyId;
      if (v.signer) data.signer = v.signer;
      if (!v.valid) out.push(finding('PKI_SIG_BAD', c.sigFile!, `${c.sigFile}: ${v.reason}`, data));
      else if (!v.ok) out.push(finding('PKI_SIG_WEAK', c.sigFile!, `${c.sigFile}: ${v.reason}`, data));
    } else {
      const issuer = chainsTo(c.pem, certs.filter((x) => x.name !== c.name), now);
      if (issuer) out.push(finding('PKI_CHAINED', c.file, `${c.name} is issued by collection certificate ${issuer.name}`, { file: c.file, issuer: issuer.name }));
      else out.push(finding('PKI_SIG_MISSING', c.file, `${c.name} has no ${c.name}.crt.asc and is not issued by a collection certificate`, { file: c.file }));
    }
    if (c.text && check.subject) {
      const serial = serialFromText(c.text.toString('latin1'));
      if (serial && serial !== check.serialNumber.toLowerCase().replace(/^0+/, '')) {
        out.push(finding('PKI_TEXT_MISMATCH', `${PATHS.pkiAll}/${c.name}.txt`,
          `${c.name}.txt describes serial ${serial}, but ${c.name}.crt has serial ${check.serialNumber.toLowerCase()}`, { file: c.file }));
      }
    }
  }
  out.push(...(await pkiBundleFindings(col, certs.map((c) => c.pem))));

  // ---- upstream release-signing keys and their list
  out.push(...(await sourceFindings(col, policy, now)));

  // ---- manifest
  out.push(...(await manifestFindings(col, opts.manifestKeys, policy, now)));

  return out.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || a.code.localeCompare(b.code) || a.subject.localeCompare(b.subject));
}

function keyFindings(s: ScannedKeyFile, r: KeyReport, min: number): Finding[] {
  const out: Finding[] = [];
  const id = r.keyId;
  const base = { file: s.file, fingerprint: r.fingerprint };
  if (!s.name) {
    out.push(finding('FILENAME_INVALID', s.file, `${s.file} does not follow 0x<keyid>-<identity>-<public|signing|email>.asc`, base));
  } else {
    if (s.name.keyId !== id) out.push(finding('FILENAME_MISMATCH', s.file, `${s.file} is named for key ${s.name.keyId} but holds key ${id}`, base));
    const ids = new Set(r.userIds.map((u) => identityFromUserId(u.userId)));
    if (!ids.has(s.name.identity)) {
      out.push(finding('FILENAME_IDENTITY', s.file, `${s.file}: identity "${s.name.identity}" matches none of ${[...ids].join(', ')}`, base));
    }
  }
  out.push(...algorithmFindings(r, base));
  if (r.expired) out.push(finding('KEY_EXPIRED', id, `key ${id} expired on ${r.expires!.toISOString().slice(0, 10)}`, base));
  if (r.revoked) out.push(finding('KEY_REVOKED', id, `key ${id} is revoked${r.revocationReason ? ` (${r.revocationReason})` : ''}`, base));
  out.push(...selfSignatureFindings(r, base));

  // certifications by collection keys
  const supporters = new Set<string>();
  let outside = 0;
  for (const c of r.certifications) {
    if (!c.issuerInCollection) {
      outside++;
      continue;
    }
    const d = { ...base, target: id, issuer: c.issuerKeyId, userId: c.userId, hash: c.hashAlgorithm, ...(c.issuerFingerprint ? { issuerFingerprint: c.issuerFingerprint } : {}) };
    if (c.valid !== true) {
      out.push(finding('CERT_BAD', id, `key ${id}: the certification by ${c.issuerKeyId} on "${c.userId}" does not verify (${c.invalidReason ?? 'bad signature'})`, d));
      continue;
    }
    if (c.weakHash) {
      const code = c.hashAlgorithm === 'sha1' ? 'CERT_SHA1' : c.hashAlgorithm === 'md5' ? 'CERT_MD5' : 'CERT_WEAK_HASH';
      out.push(finding(code, id, `key ${id}: the certification by ${c.issuerKeyId} on "${c.userId}" uses ${c.hashAlgorithm.toUpperCase()}`, d));
    }
    // Existing data: a valid SHA-1 certification still counts as support here
    // (it is reported above as CERT_SHA1); new submissions are held to the
    // stricter rule in src/pgp/admission.ts.
    if (!c.revoked && !c.expired) supporters.add(c.issuerFingerprint ?? c.issuerKeyId);
  }
  if (supporters.size === 0) {
    out.push(finding('KEY_NO_COLLECTION_CERT', id, `key ${id} carries no valid certification by another collection key`, base));
  } else if (supporters.size < min) {
    out.push(finding('KEY_FEW_COLLECTION_CERTS', id, `key ${id} is certified by ${supporters.size} collection key(s); ${min} required`, base));
  }
  if (outside > 0) out.push(finding('KEY_OUTSIDE_CERTS', id, `key ${id} carries ${outside} certification(s) by keys outside the collection`, { ...base, count: String(outside) }));
  return out;
}

/**
 * The crypto policy's verdict on a key's algorithms (primary and subkeys),
 * for member and source-signing keys alike: one set of checks, one set of codes.
 */
function algorithmFindings(r: KeyReport, base: Record<string, string>): Finding[] {
  const out: Finding[] = [];
  const id = r.keyId;
  const alg = (a: string, bits: number | undefined, curve: string | undefined, judgement: KeyReport['judgement'], what: string, subkeyId?: string) => {
    const d = { ...base, ...(subkeyId ? { subkey: subkeyId } : {}), algorithm: a, ...(bits ? { bits: String(bits) } : {}) };
    if (a === 'dsa') out.push(finding(subkeyId ? 'SUBKEY_DSA' : 'KEY_DSA', id, `${what} is DSA ${bits ?? ''}`.trim(), d));
    else if (a === 'elgamal') out.push(finding('KEY_ELGAMAL', id, `${what} is ElGamal ${bits ?? ''}`.trim(), d));
    else if (a.startsWith('rsa') && !judgement.ok && judgement.code === 'POLICY_RSA_TOO_SHORT') out.push(finding('KEY_RSA_WEAK', id, `${what} is RSA ${bits}: ${judgement.reason}`, d));
    else if (a.startsWith('rsa') && judgement.ok && judgement.warning) out.push(finding('KEY_RSA_SHORT', id, `${what}: ${judgement.warning}`, d));
    else if (!judgement.ok) out.push(finding('KEY_ALGORITHM', id, `${what} is ${a}${curve ? ` (${curve})` : ''}: ${judgement.reason}`, d));
  };
  alg(r.algorithm, r.bits, r.curve, r.judgement, `key ${id}`);
  for (const sk of r.subkeys) alg(sk.algorithm, sk.bits, sk.curve, sk.judgement, `subkey ${sk.keyId} of ${id}`, sk.keyId);
  return out;
}

/** User IDs without a valid self-signature, or bound only by a weak hash (member and source-signing keys alike). */
function selfSignatureFindings(r: KeyReport, base: Record<string, string>): Finding[] {
  const out: Finding[] = [];
  const id = r.keyId;
  if (!r.userIds.some((u) => u.selfSigned)) out.push(finding('KEY_NO_VALID_UID', id, `key ${id}: no user ID carries a valid self-signature`, base));
  for (const u of r.userIds) {
    if (u.selfSigned && u.selfSignatureWeak) {
      out.push(finding('SELFSIG_WEAK', id, `key ${id}: user ID "${u.userId}" is self-signed only with ${u.selfSignatureHash?.toUpperCase()}`, { ...base, userId: u.userId }));
    }
  }
  return out;
}

/**
 * pgp/for-source/ and key-and-source.md. These keys are not members: they
 * need no community certification and are never counted as support, so only
 * the policy's checks on the key itself apply (the member codes, data.folder
 * 'for-source'), plus what the list and the folder say of each other. Expiry
 * and revocation matter while a row points at the key: that row tells people
 * to trust it for a release. Nothing at all when there is neither folder nor list.
 */
async function sourceFindings(col: Collection, policy: CryptoPolicy, now: Date): Promise<Finding[]> {
  const scanned = await col.scanSourceFolder();
  const listBytes = await col.sourceListBytes();
  if (scanned.length === 0 && listBytes === null) return [];
  const out: Finding[] = [];
  const list = parseSourceList(listBytes?.toString('latin1') ?? '');
  for (const p of list.problems) {
    out.push(finding('SOURCE_ROW_UNREADABLE', PATHS.sourceList, `${PATHS.sourceList} line ${p.line}: ${p.why}`,
      { file: PATHS.sourceList, line: String(p.line), text: p.text.replace(/\r$/, '') }));
  }
  const baseName = (f: string) => f.slice(f.lastIndexOf('/') + 1);
  const keys = scanned.filter((s) => s.keys.length === 1).map((s) => ({ file: s.file, keyId: keyIdOf(s.keys[0]) }));
  const resolved = resolveRows(sourceRows(list), keys, new Set(scanned.map((s) => baseName(s.file))));
  const rowsOf = (file: string) => resolved.filter((r) => r.key?.file === file || (r.key === null && r.fileExists && r.row.key === baseName(file)));

  for (const r of resolved) {
    if (r.key || r.fileExists) continue;
    const elsewhere = keys.filter((k) => k.keyId === r.row.keyId).map((k) => k.file);
    const file = `${PATHS.forSource}/${r.row.key}`;
    out.push(finding('SOURCE_ROW_KEY_MISSING', file,
      `${PATHS.sourceList}: the row for ${r.row.release} names ${r.row.key}, which is not in ${PATHS.forSource}${elsewhere.length ? ` (key ${r.row.keyId} is, as ${elsewhere.join(', ')})` : ''}`,
      { file, release: r.row.release, keyId: r.row.keyId, ...(elsewhere.length ? { foundIn: elsewhere.join(' ') } : {}) }));
  }

  const byFpr = new Map<string, string[]>();
  for (const s of scanned) {
    if (s.error !== null || s.keys.length === 0) {
      out.push(finding('SOURCE_KEY_UNREADABLE', s.file, `${s.file}: ${s.error ?? 'no key found'}`, { file: s.file }));
      continue;
    }
    const rows = rowsOf(s.file);
    if (rows.length === 0) out.push(finding('SOURCE_KEY_UNLISTED', s.file, `${s.file}: no row of ${PATHS.sourceList} names it`, { file: s.file }));
    if (s.keys.length > 1) {
      out.push(finding('SOURCE_KEY_FILE_MULTIPLE', s.file, `${s.file} holds ${s.keys.length} keys; a source-signing key file holds one`, { file: s.file }));
      continue;
    }
    const key = s.keys[0];
    const fpr = fingerprintOf(key);
    byFpr.set(fpr, [...(byFpr.get(fpr) ?? []), s.file]);
    const r = await inspectKey(key, { collection: [], policy, now });
    const base = { file: s.file, fingerprint: r.fingerprint, folder: 'for-source' };
    const name = parseSourceKeyName(baseName(s.file));
    if (name && name.keyId !== r.keyId) {
      out.push(finding('SOURCE_FILENAME_MISMATCH', s.file, `${s.file} is named for key ${name.keyId} but holds key ${r.keyId}`, base));
    } else if (!name?.rule) {
      out.push(finding('SOURCE_FILENAME_INVALID', s.file, `${s.file} does not follow 0x<keyid>-<identity>-signing.asc (e.g. ${sourceKeyFileName(r.keyId, await primaryIdentity(key))})`, base));
    }
    out.push(...algorithmFindings(r, base));
    out.push(...selfSignatureFindings(r, base));
    if (rows.length > 0 && (r.expired || r.revoked)) {
      const releases = rows.map((x) => x.row.release).join(' ');
      if (r.expired) {
        out.push(finding('SOURCE_KEY_EXPIRED', r.keyId, `key ${r.keyId} (${s.file}) expired on ${r.expires!.toISOString().slice(0, 10)}; rows still name it for ${releases}`, { ...base, releases }));
      }
      if (r.revoked) {
        out.push(finding('SOURCE_KEY_REVOKED', r.keyId, `key ${r.keyId} (${s.file}) is revoked${r.revocationReason ? ` (${r.revocationReason})` : ''}; rows still name it for ${releases}`, { ...base, releases }));
      }
    }
  }
  for (const [fpr, files] of byFpr) {
    if (files.length > 1) out.push(finding('SOURCE_KEY_DUPLICATE', fpr.slice(-16).toLowerCase(), `key ${fpr} is stored in ${files.join(', ')}`, { fingerprint: fpr, files: files.join(' ') }));
  }
  return out;
}

async function bundleFindings(col: Collection, keys: openpgp.PublicKey[]): Promise<Finding[]> {
  const file = PATHS.pgpBundle;
  const bytes = await readOptional(col, file);
  if (bytes === null) return keys.length > 0 ? [finding('BUNDLE_MISSING', file, `${file} is missing`)] : [];
  let bundle: openpgp.Key[];
  try {
    bundle = await readKeysAny(bytes);
  } catch (err) {
    return [finding('BUNDLE_MISMATCH', file, `${file} cannot be read: ${(err as Error).message}`)];
  }
  return compareKeySets(file, keys, bundle);
}

/** Findings for a bundle (or any key list) that does not hold exactly the folder's keys. */
export function compareKeySets(file: string, folder: openpgp.Key[], bundle: openpgp.Key[]): Finding[] {
  const out: Finding[] = [];
  const f = new Map(folder.map((k) => [fingerprintOf(k), k] as const));
  const b = new Map<string, openpgp.Key[]>();
  for (const k of bundle) b.set(fingerprintOf(k), [...(b.get(fingerprintOf(k)) ?? []), k]);
  for (const [fpr, k] of f) {
    const copies = b.get(fpr);
    if (!copies) out.push(finding('BUNDLE_MISMATCH', file, `key ${keyIdOf(k)} is in pgp/all but not in ${file}`, { keyId: keyIdOf(k), kind: 'missing-from-bundle' }));
    else if (!copies.some((c) => Buffer.from(c.write()).equals(Buffer.from(k.write())))) {
      out.push(finding('BUNDLE_MISMATCH', file, `${file} holds a different copy of key ${keyIdOf(k)} than pgp/all`, { keyId: keyIdOf(k), kind: 'differs' }));
    }
  }
  for (const [fpr, copies] of b) {
    if (!f.has(fpr)) out.push(finding('BUNDLE_MISMATCH', file, `key ${keyIdOf(copies[0])} is in ${file} but not in pgp/all`, { keyId: keyIdOf(copies[0]), kind: 'only-in-bundle' }));
  }
  return out;
}

async function pkiBundleFindings(col: Collection, pems: Buffer[]): Promise<Finding[]> {
  const file = PATHS.pkiBundle;
  const bytes = await readOptional(col, file);
  if (bytes === null) return pems.length > 0 ? [finding('BUNDLE_MISSING', file, `${file} is missing`)] : [];
  const der = (p: Buffer) => {
    try {
      return parseCertificate(p).raw.toString('hex');
    } catch {
      return null;
    }
  };
  const inFolder = new Set(pems.map(der).filter((x): x is string => x !== null));
  const blocks = bytes.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  const inBundle = new Set(blocks.map((b) => der(Buffer.from(b, 'latin1'))).filter((x): x is string => x !== null));
  const out: Finding[] = [];
  const missing = [...inFolder].filter((d) => !inBundle.has(d)).length;
  const extra = [...inBundle].filter((d) => !inFolder.has(d)).length;
  if (missing > 0) out.push(finding('BUNDLE_MISMATCH', file, `${missing} certificate(s) of pki/all are not in ${file}`, { kind: 'missing-from-bundle' }));
  if (extra > 0) out.push(finding('BUNDLE_MISMATCH', file, `${extra} certificate(s) in ${file} are not in pki/all`, { kind: 'only-in-bundle' }));
  return out;
}

async function manifestFindings(col: Collection, manifestKeys: KeyLookup | undefined, policy: CryptoPolicy, now: Date): Promise<Finding[]> {
  const on = await readOptional(col, PATHS.sums);
  if (on === null) return [finding('SUMS_MISSING', PATHS.sums, `${PATHS.sums} is missing`)];
  const out: Finding[] = [];
  const expected = await col.manifest();
  if (!on.equals(expected)) {
    const parse = (b: Buffer) => new Map(b.toString('utf8').split('\n').filter(Boolean).map((l) => {
      const m = l.match(/^([0-9a-f]{64}) [ *](.+)$/);
      return m ? [m[2], m[1]] as const : [l, ''] as const;
    }));
    const have = parse(on);
    const want = parse(expected);
    const diffs: string[] = [];
    for (const [f, h] of want) if (have.get(f) !== h) diffs.push(have.has(f) ? `${f} changed` : `${f} not listed`);
    for (const f of have.keys()) if (!want.has(f)) diffs.push(`${f} listed but absent`);
    out.push(finding('SUMS_MISMATCH', PATHS.sums, `${PATHS.sums} does not match the files: ${diffs.slice(0, 10).join('; ')}${diffs.length > 10 ? ` (+${diffs.length - 10} more)` : ''}`));
  }
  const sig = await readOptional(col, PATHS.sumsSig);
  if (sig === null) out.push(finding('SUMS_UNSIGNED', PATHS.sumsSig, `${PATHS.sumsSig} is missing`));
  else if (manifestKeys) {
    const v = await verifyDetachedSignature(on, sig.toString('utf8'), toKeyring(manifestKeys), { policy, now });
    if (!v.valid) out.push(finding('SUMS_SIG_BAD', PATHS.sumsSig, `${PATHS.sumsSig}: ${v.reason}`));
  }
  return out;
}

async function readOptional(col: Collection, rel: string): Promise<Buffer | null> {
  try {
    return await fs.readFile(path.join(col.dir, ...rel.split('/')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The serial number printed in an `openssl x509 -text` dump, lowercase hex without leading zeros. */
function serialFromText(text: string): string | null {
  const m = text.match(/Serial Number:\s*(?:(\d+)\s*\(0x([0-9a-f]+)\)|\n\s*([0-9a-f:]+))/i);
  if (!m) return null;
  const hex = (m[2] ?? m[3] ?? '').replace(/:/g, '').toLowerCase().replace(/^0+/, '');
  return hex || null;
}

/** One line per finding, for the CLI. */
export function formatFindings(findings: Finding[]): string {
  return findings.map((f) => `${f.severity.toUpperCase().padEnd(7)} ${f.code.padEnd(24)} ${f.message}`).join('\n');
}
