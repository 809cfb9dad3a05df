/**
 * File names in the collection (contract: the working group's layout).
 *
 *   pgp/all/0x<16 lowercase hex key id>-<identity>-<public|signing|email>.asc
 *   pki/all/<name>.crt, <name>.crt.asc
 *
 * The long key id is the identifier; the identity part comes from a user ID,
 * which is attacker-controlled text: it is reduced to a small safe alphabet
 * here, so no UID can produce a path separator, a dot-dot, a hidden file, a
 * control character or a name that differs only by Unicode look-alikes.
 *
 * The alphabet is [a-z0-9._@+-] plus `_`, which the group's own files use
 * (0xa9a9c5f10a438110-tlk_sysprog@yahoo.com-public.asc).
 */
import { emailOfUserId } from '../pgp/addresses.js';
import { CollectionError } from './errors.js';
import { NAME_BOUNDS } from '../limits.js';

export const KEY_ROLES = ['public', 'signing', 'email'] as const;
export type KeyRole = (typeof KEY_ROLES)[number];

/** The longest identity part of a key file name (src/limits.ts NAME_BOUNDS). */
export const IDENTITY_MAX = NAME_BOUNDS.identityChars;

/** The folder under pgp/ that holds the role copy of a key file. */
export function roleFolder(role: KeyRole): 'signing' | 'email' {
  // The group keeps general-purpose ("-public") keys with the signing keys.
  return role === 'email' ? 'email' : 'signing';
}

/**
 * Sanitise an identity from a user ID: the e-mail if there is one, else the
 * name; lowercase ASCII; every other character becomes '-', runs collapse;
 * no leading dots or dashes, no '..', at most IDENTITY_MAX characters.
 * Deterministic: the same UID always gives the same identity.
 */
export function identityFromUserId(uid: string): string {
  const source = emailOfUserId(uid) ?? uid.replace(/\s*\([^)]*\)\s*/g, ' ').trim();
  // Only ASCII survives: no NFKC folding, so look-alike characters cannot
  // turn into a name that imitates someone else's.
  let s = source.toLowerCase().replace(/[^a-z0-9._@+-]/g, '-');
  s = s.replace(/-{2,}/g, '-');
  s = s.replace(/\.{2,}/g, '.');
  s = s.replace(/^[.-]+/, '');
  s = s.slice(0, IDENTITY_MAX);
  s = s.replace(/[.-]+$/, '');
  return s.length > 0 ? s : 'unknown';
}

const KEY_FILE = /^0x([0-9a-f]{16})-(.+)-(public|signing|email)\.asc$/;
const SAFE_IDENTITY = /^[a-z0-9_@+][a-z0-9._@+-]*$/;

export function isSafeIdentity(identity: string): boolean {
  return identity.length <= IDENTITY_MAX && SAFE_IDENTITY.test(identity) && !identity.includes('..');
}

export function keyFileName(keyId: string, identity: string, role: KeyRole): string {
  const id = keyId.toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]{16}$/.test(id)) throw new CollectionError('COLLECTION_BAD_NAME', `not a 16-hex key id: ${JSON.stringify(keyId)}`);
  if (!isSafeIdentity(identity)) throw new CollectionError('COLLECTION_BAD_NAME', `unsafe identity in a file name: ${JSON.stringify(identity)}`);
  if (!KEY_ROLES.includes(role)) throw new CollectionError('COLLECTION_BAD_NAME', `unknown key role: ${JSON.stringify(role)}`);
  return `0x${id}-${identity}-${role}.asc`;
}

export interface ParsedKeyFileName {
  keyId: string;
  identity: string;
  role: KeyRole;
}

/** Parse a key file name of the layout; null when it does not follow it. */
export function parseKeyFileName(name: string): ParsedKeyFileName | null {
  const m = name.match(KEY_FILE);
  if (!m) return null;
  return { keyId: m[1], identity: m[2], role: m[3] as KeyRole };
}

/** A file name read from a directory the bot did not write (import) is used only if it is one we could have written. */
export function isSafeKeyFileName(name: string): boolean {
  const p = parseKeyFileName(name);
  return p !== null && isSafeIdentity(p.identity);
}

const CERT_NAME = new RegExp(`^[a-z0-9][a-z0-9._-]{0,${NAME_BOUNDS.certNameChars - 1}}$`);

/**
 * A certificate name (from `SUBMIT CERT <name>` or a file name on import):
 * lowercased, and refused (not rewritten) when it is not a plain name, since
 * the submitter chose it and should see the refusal.
 * @throws CollectionError COLLECTION_BAD_NAME
 */
export function validateCertName(name: string): string {
  const n = name.trim().toLowerCase();
  if (!CERT_NAME.test(n) || n.includes('..') || n.endsWith('.') || /\.(crt|asc|pem|txt)$/.test(n)) {
    throw new CollectionError('COLLECTION_BAD_NAME',
      `certificate name ${JSON.stringify(name)} must be 1-${NAME_BOUNDS.certNameChars} characters of a-z 0-9 . _ -, start with a letter or digit, contain no "..", and not end in .crt/.asc/.pem/.txt`);
  }
  return n;
}

/**
 * A release as the group writes it in pgp/for-source/key-and-source.md:
 * `<package>-<version>`, the version starting at the last `-` followed by a
 * digit (`openssh-9.8p1`, `gnupg-2.4.3`, `util-linux-2.40.1`). A name without
 * such a dash is kept whole as the package with an empty version (the group
 * may name a package, not a release). Letters, digits and `. _ + -` only, at
 * most NAME_BOUNDS.releaseChars: the name comes from mail and goes into a
 * file the group reads and into log entries.
 */
export interface ReleaseName {
  /** As written. */
  release: string;
  package: string;
  version: string;
}

const RELEASE = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,${NAME_BOUNDS.releaseChars - 1}}$`);

export function parseRelease(name: string): ReleaseName | null {
  if (!RELEASE.test(name) || name.includes('..')) return null;
  // The last dash followed by a digit: util-linux-2.40.1 is util-linux, 2.40.1.
  const cut = name.search(/-\d(?!.*-\d)/);
  if (cut <= 0) return { release: name, package: name, version: '' };
  return { release: name, package: name.slice(0, cut), version: name.slice(cut + 1) };
}

// Exactly 16 hex digits: `0x<40 hex>` (a fingerprint) is not read as a key id,
// whose digits are the fingerprint's last 16, not its first.
const SOURCE_KEY_NAME = /^0x([0-9a-fA-F]{16})(?![0-9a-fA-F])([A-Za-z0-9._@+-]*)$/;
const SOURCE_RULE = /^-(.+)-signing\.asc$/;

/**
 * A key file name in pgp/for-source/ as found: `0x<keyid>` and then anything
 * of the safe alphabet. `rule`: it follows the group's naming rule
 * `0x<keyid>-<identity>-signing.asc` (lower-case key id, safe identity).
 * Rows may name a bare `0x<keyid>` whose file is not in the folder yet, and
 * some files carry only that name: both are read, and the audit reports them.
 */
export function parseSourceKeyName(name: string): { keyId: string; identity: string | null; rule: boolean } | null {
  const m = SOURCE_KEY_NAME.exec(name);
  if (!m || m[2].includes('..')) return null;
  const r = SOURCE_RULE.exec(m[2]);
  const identity = r ? r[1] : null;
  return { keyId: m[1].toLowerCase(), identity, rule: identity !== null && isSafeIdentity(identity) && m[1] === m[1].toLowerCase() };
}

export function sourceKeyFileName(keyId: string, identity: string): string {
  return keyFileName(keyId, identity, 'signing');
}

/**
 * A name a file of pgp/for-source/ can be kept under as found (import): one
 * path component of printable characters, not hidden, short enough for any
 * file system, and none of the characters SHA256SUMS would have to escape.
 */
export function isKeepableSourceFileName(name: string): boolean {
  return name.length > 0 && Buffer.byteLength(name, 'utf8') <= NAME_BOUNDS.sourceFileNameBytes && !name.startsWith('.')
    && !/[/\\]/.test(name) && ![...name].some((c) => c < ' ' || c === '\u007f');
}
