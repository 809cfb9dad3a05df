/**
 * Web Key Directory export (draft-koch-openpgp-webkey-service, "advanced"
 * method):
 *
 *   .well-known/openpgpkey/<domain>/hu/<zbase32(sha1(lowercase local part))>
 *   .well-known/openpgpkey/<domain>/policy
 *
 * Each hu file holds the binary key(s) for that address, reduced to the user
 * IDs of that domain (a WKD answer for example.org need not reveal the
 * owner's other addresses). An address goes out with the one key that holds
 * it (src/pgp/addresses.ts), plus any revoked key that named it: revoked and
 * expired keys are published too, because WKD is also how a revocation
 * reaches clients. A user ID its own key revoked gives the address up and is
 * not published under it. An address two keys hold is not published at all
 * but returned in `conflicts`: a WKD client imports whatever it is served,
 * and choosing one key by file order would be choosing for the sender.
 * Domains and local parts come
 * from user IDs (attacker-controlled), so domains are converted to ASCII
 * (IDNA) and checked before they become a directory name.
 *
 * The tree is built beside the target and swapped in with renames, so a web
 * server serving outDir never sees a half-written directory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { domainToASCII } from 'node:url';
import * as openpgp from 'openpgp';
import { addressConflicts, addressIndex, normaliseAddress } from '../pgp/addresses.js';
import { cloneKey, inspectKey } from '../pgp/inspect.js';
import { fsyncDir, writeFileAtomic } from '../fsync/atomic.js';
import type { Collection } from './collection.js';
import { emailOfUserId } from '../pgp/addresses.js';

const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/** z-base-32 (as used by WKD): 5 bits per character, most significant bit first. */
export function zbase32(data: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ZBASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ZBASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/** Only ASCII upper case is folded (the draft: "mapping all upper-case ASCII characters to lower case"). */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The WKD hash of an address's local part. */
export function wkdHash(localPart: string): string {
  return zbase32(createHash('sha1').update(Buffer.from(asciiLower(localPart), 'utf8')).digest());
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** Split and normalise an address; null when it cannot safely become a WKD path. */
export function wkdAddress(email: string): { localPart: string; domain: string; hash: string } | null {
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) return null;
  const localPart = email.slice(0, at);
  const domain = domainToASCII(email.slice(at + 1).toLowerCase());
  if (!domain || !DOMAIN.test(domain)) return null;
  // eslint-disable-next-line no-control-regex -- the local part is hostile input: a control character refuses it
  if (/[\0-\x1f\x7f]/.test(localPart)) return null;
  return { localPart, domain, hash: wkdHash(localPart) };
}

export interface WkdEntry {
  email: string;
  domain: string;
  hash: string;
  /** Path relative to outDir. */
  file: string;
  keyIds: string[];
}

export interface WkdConflict {
  /** The normalised address. */
  email: string;
  /** The keys that hold it (16 hex each), none of them published for it. */
  keyIds: string[];
}

export interface WkdExport {
  entries: WkdEntry[];
  domains: string[];
  /** Addresses held by more than one key: not published (audit: ADDRESS_CONFLICT). */
  conflicts: WkdConflict[];
}

/**
 * Write the WKD tree for every self-signed address of every collection key.
 * `domains` limits the export to those domains (e.g. the ones this server
 * answers for).
 */
export async function exportWkd(collection: Collection, outDir: string, opts: { domains?: string[] } = {}): Promise<WkdExport> {
  const only = opts.domains ? new Set(opts.domains.map((d) => domainToASCII(d.toLowerCase()))) : null;
  // address (ascii-lowercased local part + domain) -> keys
  const byAddress = new Map<string, { email: string; addr: NonNullable<ReturnType<typeof wkdAddress>>; keys: { keyId: string; key: openpgp.PublicKey }[] }>();
  const all = await collection.keys();
  const conflicts = addressConflicts(await addressIndex(all.map((k) => k.key)))
    .map((c) => ({ email: c.address, keyIds: c.holders.map((h) => h.keyId) }))
    .filter((c) => !only || only.has(c.email.slice(c.email.lastIndexOf('@') + 1)));
  const conflicted = new Set(conflicts.map((c) => c.email));
  for (const stored of all) {
    const report = await inspectKey(stored.key, { collection: [] });
    for (const u of report.userIds) {
      if (!u.selfSigned || u.attribute) continue;
      if (u.revoked && !report.revoked) continue;
      const email = emailOfUserId(u.userId);
      if (!email || conflicted.has(normaliseAddress(email))) continue;
      const addr = wkdAddress(email);
      if (!addr || (only && !only.has(addr.domain))) continue;
      const id = `${asciiLower(addr.localPart)}@${addr.domain}`;
      const slot = byAddress.get(id) ?? { email: id, addr, keys: [] };
      if (!slot.keys.some((k) => k.keyId === stored.keyId)) slot.keys.push({ keyId: stored.keyId, key: stored.key });
      byAddress.set(id, slot);
    }
  }

  const base = path.join(outDir, '.well-known');
  const staging = path.join(base, `.openpgpkey.tmp-${randomBytes(6).toString('hex')}`);
  const final = path.join(base, 'openpgpkey');
  const entries: WkdEntry[] = [];
  const domains = new Set<string>();
  try {
    for (const slot of [...byAddress.values()].sort((a, b) => a.email.localeCompare(b.email))) {
      const { domain, hash } = slot.addr;
      const parts: Uint8Array[] = [];
      for (const { key } of slot.keys.sort((a, b) => a.keyId.localeCompare(b.keyId))) parts.push(await keyForDomain(key, domain));
      const rel = `.well-known/openpgpkey/${domain}/hu/${hash}`;
      await writeFileAtomic(path.join(staging, domain, 'hu', hash), Buffer.concat(parts));
      domains.add(domain);
      entries.push({ email: slot.email, domain, hash, file: rel, keyIds: slot.keys.map((k) => k.keyId) });
    }
    for (const d of domains) await writeFileAtomic(path.join(staging, d, 'policy'), '');
    await fs.mkdir(staging, { recursive: true });
    // Swap: old tree aside, new tree in, old tree away.
    const old = path.join(base, `.openpgpkey.old-${randomBytes(6).toString('hex')}`);
    let hadOld = true;
    try {
      await fs.rename(final, old);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      hadOld = false;
    }
    await fs.rename(staging, final);
    // The swap is made durable; a crash between the two renames leaves no
    // tree at all, which the next export (regenerated from the collection) fills.
    await fsyncDir(base);
    if (hadOld) await fs.rm(old, { recursive: true, force: true });
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
  return { entries, domains: [...domains].sort(), conflicts };
}

/** The key with only the user IDs whose address is in `domain` (binary). */
async function keyForDomain(key: openpgp.PublicKey, domain: string): Promise<Uint8Array> {
  const copy = await cloneKey(key);
  copy.users = copy.users.filter((u) => {
    const email = u.userID ? emailOfUserId(u.userID.userID) : null;
    return email !== null && wkdAddress(email)?.domain === domain;
  });
  return copy.write();
}
