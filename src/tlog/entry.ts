/**
 * The canonical text record of one log entry. The log commits to these exact
 * bytes, so the encoding must be deterministic and unambiguous:
 *
 *   ztrust-log-entry v1
 *   type: <type>
 *   subject: <value>
 *   name: <value>                   (only when present)
 *   signers: <value> <value> ...    (always; "signers:" when empty)
 *   ticket: <value>                 (only when present)
 *   approvers: <value> <value> ...  (only when non-empty)
 *   time: <YYYY-MM-DDTHH:MM:SSZ>
 *   source: <64 lowercase hex>
 *
 * Fields appear in that fixed order, each line ends in LF, and the record is
 * pure printable ASCII. Values are percent-encoded: every byte of their UTF-8
 * form outside 0x21..0x7E, and `%` itself, becomes `%XX` (uppercase hex). So
 * a hostile artifact name can carry newlines, spaces or non-ASCII text but can
 * never start a line of its own or split a list, and the original text is
 * recovered exactly. parseEntry accepts only the canonical encoding (it
 * re-encodes and compares), so one entry has exactly one byte form.
 */
import { DEFAULT_LIMITS, enforce } from '../limits.js';
import { TlogError } from './errors.js';

export const ENTRY_HEADER = 'ztrust-log-entry v1';

export const ENTRY_TYPES = [
  'key-added',
  'key-updated',
  'key-revoked',
  'key-removed',
  'cert-added',
  'cert-removed',
  'attestation',
  // Upstream release-signing keys (pgp/for-source/): `subject` is the key's
  // fingerprint, `name` the releases vouched for, one space between them
  // (`openssh-9.8p1 openssh-9.9p1`; a release name never holds a space),
  // `signers` the member who vouched (empty for an import).
  'source-key-added',
  'source-release-added',
  // A trust-root version made current: `subject` is its SHA-256, `name`
  // `ROOT-<version>`, `signers` the maintainers whose approvals made it.
  'root',
] as const;
export type LogEntryType = (typeof ENTRY_TYPES)[number];

export interface LogEntry {
  type: LogEntryType;
  /** Key fingerprint, certificate SHA-256, or artifact digest `sha256:<hex>` / `sha512:<hex>`. */
  subject: string;
  /** Artifact name, certificate name or key identity. */
  name?: string;
  /** Fingerprints of the keys whose signatures caused this entry. */
  signers: string[];
  ticket?: string;
  approvers?: string[];
  /** RFC 3339 UTC, whole seconds: `2025-01-31T12:00:00Z`. */
  time: string;
  /** SHA-256 (lowercase hex) of the source message. */
  source: string;
}

function invalid(msg: string): never {
  throw new TlogError('TLOG_ENTRY_INVALID', msg);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const NOTHING_TO_ESCAPE = /^[\x21-\x24\x26-\x7e]*$/;

/** Percent-encodes a value (see the module comment). */
export function encodeEntryValue(value: string): string {
  // Most values (fingerprints, digests, file names) need no escape at all: they are their own encoding.
  if (NOTHING_TO_ESCAPE.test(value)) return value;
  if (LONE_SURROGATE.test(value)) invalid('value is not valid Unicode (lone surrogate)');
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte > 0x20 && byte < 0x7f && byte !== 0x25) out += String.fromCharCode(byte);
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Decodes a percent-encoded value; the UTF-8 inside must be valid. */
export function decodeEntryValue(encoded: string): string {
  if (!/^(?:[\x21-\x24\x26-\x7e]|%[0-9A-F]{2})*$/.test(encoded)) invalid('value has a character that must be percent-encoded');
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    if (encoded[i] === '%') {
      bytes.push(Number.parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(encoded.charCodeAt(i));
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return invalid('value is not valid UTF-8');
  }
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

/** The last time that passed checkTime: a batch of entries usually shares one (a pure check of the string, so safe to remember). */
let lastGoodTime = '';

function checkTime(time: string): void {
  if (time === lastGoodTime) return;
  const m = TIME.exec(time);
  if (!m) invalid(`time ${JSON.stringify(time.slice(0, 40))} is not RFC 3339 UTC with whole seconds`);
  const d = new Date(time);
  // Date rolls 2025-02-30 over to March; the round trip catches impossible dates.
  if (Number.isNaN(d.getTime()) || d.toISOString().replace('.000Z', 'Z') !== time) invalid(`time ${time} is not a real instant`);
  lastGoodTime = time;
}

function checkValue(v: unknown, field: string): asserts v is string {
  if (typeof v !== 'string' || v.length === 0) invalid(`${field} must be a non-empty string`);
}

function checkList(list: unknown, field: string): asserts list is string[] {
  if (!Array.isArray(list)) invalid(`${field} must be an array of strings`);
  for (const v of list) checkValue(v, `each of ${field}`);
}

/** Formats an entry as its canonical bytes. Throws TLOG_ENTRY_INVALID, or LimitError LIMIT_LOG_ENTRY over 64 KiB. */
export function formatEntry(e: LogEntry, maxBytes: number = DEFAULT_LIMITS.maxLogEntryBytes): Buffer {
  if (!ENTRY_TYPES.includes(e.type)) invalid(`unknown entry type ${JSON.stringify(e.type)}`);
  checkValue(e.subject, 'subject');
  if (e.name !== undefined) checkValue(e.name, 'name');
  checkList(e.signers, 'signers');
  if (e.ticket !== undefined) checkValue(e.ticket, 'ticket');
  if (e.approvers !== undefined) checkList(e.approvers, 'approvers');
  checkTime(e.time);
  if (typeof e.source !== 'string' || !/^[0-9a-f]{64}$/.test(e.source)) invalid('source must be 64 lowercase hex digits (SHA-256)');

  const lines = [ENTRY_HEADER, `type: ${e.type}`, `subject: ${encodeEntryValue(e.subject)}`];
  if (e.name !== undefined) lines.push(`name: ${encodeEntryValue(e.name)}`);
  lines.push(e.signers.length > 0 ? `signers: ${e.signers.map(encodeEntryValue).join(' ')}` : 'signers:');
  if (e.ticket !== undefined) lines.push(`ticket: ${encodeEntryValue(e.ticket)}`);
  if (e.approvers !== undefined && e.approvers.length > 0) lines.push(`approvers: ${e.approvers.map(encodeEntryValue).join(' ')}`);
  lines.push(`time: ${e.time}`, `source: ${e.source}`);
  const out = Buffer.from(`${lines.join('\n')}\n`, 'ascii');
  enforce('LIMIT_LOG_ENTRY', maxBytes, out.length);
  return out;
}

/** Parses canonical entry bytes. Throws TLOG_ENTRY_INVALID for anything formatEntry would not produce. */
export function parseEntry(buf: Uint8Array): LogEntry {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  enforce('LIMIT_LOG_ENTRY', DEFAULT_LIMITS.maxLogEntryBytes, bytes.length);
  for (const b of bytes) if ((b < 0x20 && b !== 0x0a) || b > 0x7e) invalid('entry is not printable ASCII');
  const text = bytes.toString('ascii');
  if (!text.endsWith('\n')) invalid('entry does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines[0] !== ENTRY_HEADER) invalid(`entry does not start with "${ENTRY_HEADER}"`);
  const fields = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const m = /^([a-z]+):(?: (.*))?$/.exec(line);
    if (!m) invalid(`malformed entry line ${JSON.stringify(line.slice(0, 80))}`);
    if (fields.has(m[1])) invalid(`duplicate field ${m[1]}`);
    fields.set(m[1], m[2] ?? '');
  }
  const known = new Set(['type', 'subject', 'name', 'signers', 'ticket', 'approvers', 'time', 'source']);
  for (const k of fields.keys()) if (!known.has(k)) invalid(`unknown field ${k}`);
  const list = (v: string | undefined): string[] => (v === undefined || v === '' ? [] : v.split(' ').map(decodeEntryValue));
  const get = (k: string): string => fields.get(k) ?? invalid(`missing field ${k}`);
  if (!fields.has('signers')) invalid('missing field signers');
  const entry: LogEntry = {
    type: get('type') as LogEntryType,
    subject: decodeEntryValue(get('subject')),
    signers: list(fields.get('signers')),
    time: get('time'),
    source: get('source'),
  };
  if (fields.has('name')) entry.name = decodeEntryValue(get('name'));
  if (fields.has('ticket')) entry.ticket = decodeEntryValue(get('ticket'));
  if (fields.has('approvers')) entry.approvers = list(fields.get('approvers'));
  // The canonical-form check: field order, spacing, escapes and empty lists
  // all have one spelling, so anything else is refused rather than guessed at.
  if (!formatEntry(entry).equals(bytes)) invalid('entry is not in canonical form');
  return entry;
}
