/**
 * ATTEST requests: reading SHA256SUMS-style lines and turning the good ones
 * into log entries. Pure functions; the handler (src/commands/attest.ts)
 * decides who may attest and does the logging.
 *
 * Accepted line forms (what `sha256sum`, `sha512sum` and `--tag` print):
 *
 *   <hex>  <name>              text mode
 *   <hex> *<name>              binary mode
 *   \<hex>  <escaped name>     GNU escaping of names holding \ or newline
 *   SHA256 (<name>) = <hex>    BSD tag form (also SHA512)
 *
 * A digest of 64 hex digits is SHA-256, of 128 SHA-512; nothing else is
 * accepted (SHA-1 and MD5 sums are refused by length, with a reason).
 * Names are kept exactly as written (they are percent-encoded in the log
 * entry, so any text is safe there), but names with control characters are
 * refused: they cannot be shown honestly in a plain-text reply.
 */
import type { LogEntry } from '../tlog/index.js';
import { COMMAND_BOUNDS } from '../limits.js';
import { line as wording } from '../templates.js'; // (`line` is a line number here)

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface AttestItem {
  /** Line number in the signed text (1 = the first line). */
  line: number;
  /** The line as written (for refusals). */
  raw: string;
}

export interface AttestGood extends AttestItem {
  ok: true;
  algorithm: DigestAlgorithm;
  /** Lower-case hex. */
  hex: string;
  name: string;
  /** `sha256:<hex>`: the log entry's subject and the VERIFY lookup key. */
  subject: string;
}

export interface AttestBad extends AttestItem {
  ok: false;
  reason: string;
}

export type AttestLine = AttestGood | AttestBad;

export interface ParsedAttest {
  lines: AttestLine[];
  /** Lines past the limit (not parsed; refused together). */
  overLimit: { first: number; last: number; count: number } | null;
}

/** The change payload the apply step logs (exactly the lines the ATTEST handler accepted). */
export interface AttestPayload {
  kind: 'attest';
  signer: string;
  /** Lines in the request, for the reply's "N of M". */
  total: number;
  lines: { line: number; subject: string; name: string }[];
}

const HEX_LENGTH: Record<number, DigestAlgorithm> = { 64: 'sha256', 128: 'sha512' };

function unescapeGnu(name: string): string | null {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = name[++i];
    if (n === '\\') out += '\\';
    else if (n === 'n') out += '\n';
    else if (n === 'r') out += '\r';
    else return null;
  }
  return out;
}

function checkDigest(hex: string, want?: DigestAlgorithm): { algorithm: DigestAlgorithm; hex: string } | string {
  if (!/^[0-9a-fA-F]+$/.test(hex)) return wording('reason-attest-line-not-hex', {});
  const algorithm = HEX_LENGTH[hex.length];
  if (!algorithm) {
    return wording('reason-attest-line-digest-length', { length: hex.length, sha1: hex.length === 40, md5: hex.length === 32 });
  }
  if (want && want !== algorithm) return wording('reason-attest-line-digest-length-for', { algorithm: want.toUpperCase(), digits: want === 'sha256' ? 64 : 128 });
  return { algorithm, hex: hex.toLowerCase() };
}

function checkName(name: string): string | null {
  if (name.length === 0) return wording('reason-attest-line-name-empty', {});
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) return wording('reason-attest-line-name-control', {});
  if ([...name].length > COMMAND_BOUNDS.artifactNameChars) return wording('reason-attest-line-name-long', { chars: COMMAND_BOUNDS.artifactNameChars });
  return null;
}

/** Parses one line; null for a line that is not a sum line at all (the caller gives the generic reason). */
export function parseSumLine(raw: string): { algorithm: DigestAlgorithm; hex: string; name: string } | string {
  const bsd = /^(SHA256|SHA512) \((.*)\) = ([0-9A-Za-z]+)$/.exec(raw);
  if (bsd) {
    const d = checkDigest(bsd[3], bsd[1].toLowerCase() as DigestAlgorithm);
    if (typeof d === 'string') return d;
    const bad = checkName(bsd[2]);
    return bad ?? { ...d, name: bsd[2] };
  }
  const gnu = /^(\\?)([0-9A-Za-z]+) [ *](.*)$/.exec(raw);
  if (!gnu) return wording('reason-attest-line-form', {});
  const d = checkDigest(gnu[2]);
  if (typeof d === 'string') return d;
  const name = gnu[1] ? unescapeGnu(gnu[3]) : gnu[3];
  if (name === null) return wording('reason-attest-line-escape', {});
  const bad = checkName(name);
  return bad ?? { ...d, name };
}

/**
 * Reads the lines of an ATTEST request: the text after the command line, up
 * to a `-- ` separator, an `end` line or an armour line. Blank and `>`
 * quoted lines are skipped. `firstLine` is the line number of the first
 * line of `following` in the signed text.
 */
export function parseAttestLines(following: string, firstLine: number, maxLines: number): ParsedAttest {
  const lines: AttestLine[] = [];
  const seen = new Map<string, number>();
  let counted = 0;
  let overLimit: ParsedAttest['overLimit'] = null;
  const all = following.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 0; i < all.length; i++) {
    const raw = all[i];
    if (raw === '-- ' || raw === '--' || /^-----BEGIN PGP /.test(raw) || /^end$/i.test(raw.trim())) break;
    if (raw.trim() === '' || raw.trimStart().startsWith('>')) continue;
    const line = firstLine + i;
    counted++;
    if (counted > maxLines) {
      if (overLimit === null) overLimit = { first: line, last: line, count: 1 };
      else overLimit = { first: overLimit.first, last: line, count: overLimit.count + 1 };
      continue;
    }
    const p = parseSumLine(raw);
    if (typeof p === 'string') {
      lines.push({ ok: false, line, raw, reason: p });
      continue;
    }
    const subject = `${p.algorithm}:${p.hex}`;
    const dupKey = `${subject}\u0000${p.name}`;
    const earlier = seen.get(dupKey);
    if (earlier !== undefined) {
      lines.push({ ok: false, line, raw, reason: wording('reason-attest-line-duplicate', { earlier }) });
      continue;
    }
    seen.set(dupKey, line);
    lines.push({ ok: true, line, raw, algorithm: p.algorithm, hex: p.hex, name: p.name, subject });
  }
  return { lines, overLimit };
}

/** RFC 3339 UTC with whole seconds, as log entries carry it. */
export function entryTime(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The log entry for one attested line. */
export function attestationEntry(l: Pick<AttestGood, 'subject' | 'name'>, signer: string, time: Date, sourceDigest: string): LogEntry {
  return { type: 'attestation', subject: l.subject, name: l.name, signers: [signer], time: entryTime(time), source: sourceDigest };
}

/**
 * A VERIFY argument as a lookup key: `sha256:<hex>` / `sha512:<hex>` from
 * bare hex (64 or 128 digits) or an `sha256:`/`sha512:` prefixed digest.
 */
export function digestKey(arg: string | undefined): string | null {
  if (!arg) return null;
  const m = /^(?:(sha256|sha512):)?([0-9a-fA-F]+)$/i.exec(arg.trim());
  if (!m) return null;
  const d = checkDigest(m[2], m[1]?.toLowerCase() as DigestAlgorithm | undefined);
  return typeof d === 'string' ? null : `${d.algorithm}:${d.hex}`;
}
