/**
 * The trust root (DESIGN.md, "The trust root"): who may act for the
 * collection, itself signed, as in sigstore's root ceremony (TUF). A root is
 * a canonical text file, `root/<version>.txt`:
 *
 *   ztrust-root v1
 *   Version: 2
 *   Issued: 2026-12-04T00:00:00Z
 *   Expires: 2027-12-04T00:00:00Z
 *   Threshold: 2
 *   Maintainer: 0123456789ABCDEF0123456789ABCDEF01234567
 *   Maintainer: ...
 *   Bot-Key: 89ABCDEF0123456789ABCDEF0123456789ABCDEF
 *   Log-Origin: ztrust.example.org/log
 *   Log-Key:
 *     ztrust.example.org/log+1a2b3c4d+AcD...     (cut every 70 characters)
 *   Previous: <SHA-256 of version 1's bytes, or "none" for version 1>
 *
 * Deterministic so that its SHA-256 (the digest maintainers approve) has one
 * value: fixed field order, maintainers sorted, upper-case fingerprints, whole
 * seconds UTC, LF line ends, printable ASCII, at most 72 columns (a value that
 * would pass them goes on the next line, indented by two spaces, as ticket
 * contents do). parseRoot accepts only that form: it formats what it read
 * and compares, so a root with a second spelling cannot exist.
 */
import { createHash } from 'node:crypto';
import { RootError } from './errors.js';
import { parseVerifierKey } from '../tlog/note.js';

export const ROOT_HEADER = 'ztrust-root v1';
const MAX_LINE = 72;

export interface RootDocument {
  version: number;
  issued: Date;
  expires: Date;
  threshold: number;
  /** Maintainer key fingerprints (40 or 64 hex, upper case), sorted. */
  maintainers: string[];
  /** The bot's OpenPGP key fingerprint. */
  botKey: string;
  /** The transparency log's origin line and its C2SP verifier key. */
  logOrigin: string;
  logKey: string;
  /** SHA-256 (lower-case hex) of the previous version's bytes; null for version 1. */
  previous: string | null;
}

const FPR = /^(?:[0-9A-F]{40}|[0-9A-F]{64})$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function bad(msg: string): never {
  throw new RootError('ROOT_MALFORMED', msg);
}

export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function checkValue(field: string, v: string): void {
  // One line of printable ASCII without leading/trailing blanks: no value can fake a field.
  if (v.length === 0 || !/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(v)) bad(`${field} must be printable ASCII on one line`);
}

/** The document checked and normalised (fingerprints upper case and sorted). Throws RootError ROOT_MALFORMED. */
export function normaliseRoot(d: RootDocument): RootDocument {
  if (!Number.isSafeInteger(d.version) || d.version < 1) bad(`version ${d.version} is not a positive integer`);
  if (Number.isNaN(d.issued.getTime()) || Number.isNaN(d.expires.getTime())) bad('issued and expires must be dates');
  if (d.expires.getTime() <= d.issued.getTime()) bad('the root must expire after it is issued');
  const maintainers = [...new Set(d.maintainers.map((f) => f.replace(/\s+/g, '').toUpperCase()))].sort();
  for (const f of maintainers) if (!FPR.test(f)) bad(`maintainer ${JSON.stringify(f)} is not a fingerprint`);
  if (maintainers.length === 0) bad('a root names at least one maintainer');
  if (!Number.isSafeInteger(d.threshold) || d.threshold < 1 || d.threshold > maintainers.length) {
    bad(`threshold ${d.threshold} must be between 1 and the number of maintainers (${maintainers.length})`);
  }
  const botKey = d.botKey.replace(/\s+/g, '').toUpperCase();
  if (!FPR.test(botKey)) bad(`bot key ${JSON.stringify(d.botKey)} is not a fingerprint`);
  checkValue('Log-Origin', d.logOrigin);
  checkValue('Log-Key', d.logKey);
  let logKeyName: string;
  try {
    logKeyName = parseVerifierKey(d.logKey).name;
  } catch (err) {
    return bad(`Log-Key is not a C2SP verifier key (${(err as Error).message})`);
  }
  if (logKeyName !== d.logOrigin) bad('the log key must be named for the log origin');
  if (d.version === 1 ? d.previous !== null : !(d.previous && /^[0-9a-f]{64}$/.test(d.previous))) {
    bad(d.version === 1 ? 'version 1 has no previous version' : 'a later version names the SHA-256 of the previous one');
  }
  return { ...d, maintainers, botKey, issued: new Date(isoSeconds(d.issued)), expires: new Date(isoSeconds(d.expires)) };
}

/** The canonical bytes (as text) of a root. */
export function formatRoot(input: RootDocument): string {
  const d = normaliseRoot(input);
  const lines = [ROOT_HEADER];
  const field = (k: string, v: string): void => {
    if (`${k}: ${v}`.length <= MAX_LINE) lines.push(`${k}: ${v}`);
    else {
      // On the lines below, two spaces in, cut every 70 characters (a verifier key has no blank to break at).
      lines.push(`${k}:`);
      for (let i = 0; i < v.length; i += MAX_LINE - 2) lines.push(`  ${v.slice(i, i + MAX_LINE - 2)}`);
    }
  };
  field('Version', String(d.version));
  field('Issued', isoSeconds(d.issued));
  field('Expires', isoSeconds(d.expires));
  field('Threshold', String(d.threshold));
  for (const m of d.maintainers) field('Maintainer', m);
  field('Bot-Key', d.botKey);
  field('Log-Origin', d.logOrigin);
  field('Log-Key', d.logKey);
  field('Previous', d.previous ?? 'none');
  return `${lines.join('\n')}\n`;
}

/** SHA-256 (lower-case hex) of a root's bytes: what maintainers approve (`APPROVE ROOT-<n> <digest>`). */
export function rootDigest(text: string | Uint8Array): string {
  return createHash('sha256').update(typeof text === 'string' ? Buffer.from(text, 'utf8') : text).digest('hex');
}

/** Read a root; only its canonical form is accepted. Throws RootError ROOT_MALFORMED. */
export function parseRoot(input: string | Uint8Array): RootDocument {
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
  if (!/^[\x20-\x7e\n]*$/.test(text)) bad('a root is printable ASCII with LF line ends');
  if (!text.endsWith('\n')) bad('a root ends with a line feed');
  const lines = text.slice(0, -1).split('\n');
  if (lines[0] !== ROOT_HEADER) bad(`a root starts with "${ROOT_HEADER}"`);
  const fields: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const m = /^([A-Z][A-Za-z-]*):(?: (.+))?$/.exec(lines[i]);
    if (!m) bad(`line ${i + 1} is not a field`);
    let v = m[2];
    if (v === undefined) {
      v = '';
      while (lines[i + 1]?.startsWith('  ')) v += lines[++i].slice(2);
      if (v === '') bad(`field ${m[1]} has no value`);
    }
    fields.push([m[1], v]);
  }
  const one = (k: string): string => {
    const all = fields.filter(([f]) => f === k);
    if (all.length !== 1) bad(`a root has exactly one ${k} line`);
    return all[0][1];
  };
  const known = new Set(['Version', 'Issued', 'Expires', 'Threshold', 'Maintainer', 'Bot-Key', 'Log-Origin', 'Log-Key', 'Previous']);
  for (const [k] of fields) if (!known.has(k)) bad(`unknown field ${k}`);
  const num = (k: string): number => {
    const v = one(k);
    if (!/^[1-9][0-9]{0,8}$/.test(v)) bad(`${k} is not a positive number`);
    return Number(v);
  };
  const date = (k: string): Date => {
    const v = one(k);
    if (!ISO.test(v) || Number.isNaN(Date.parse(v)) || isoSeconds(new Date(v)) !== v) bad(`${k} is not RFC 3339 UTC with whole seconds`);
    return new Date(v);
  };
  const previous = one('Previous');
  const doc: RootDocument = {
    version: num('Version'),
    issued: date('Issued'),
    expires: date('Expires'),
    threshold: num('Threshold'),
    maintainers: fields.filter(([k]) => k === 'Maintainer').map(([, v]) => v),
    botKey: one('Bot-Key'),
    logOrigin: one('Log-Origin'),
    logKey: one('Log-Key'),
    previous: previous === 'none' ? null : previous,
  };
  if (formatRoot(doc) !== text) bad('the root is not in canonical form');
  return normaliseRoot(doc);
}
