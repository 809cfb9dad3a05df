/**
 * The digest text: one canonical, deterministic text per digest (the same
 * inputs give the same bytes), plain ASCII in at most 72 columns, that
 * starts with machine-readable lines:
 *
 *   Digest: 3
 *   Date: 2025-01-31T12:00:00Z
 *   Previous-Digest: 2                (none for the first digest)
 *   Previous-SHA256:
 *     <64 hex: SHA-256 of digest 2's normalised text; zeros for digest 1>
 *   Log-Origin: <origin>
 *   Log-Entries: 5 to 8               (none when the log did not grow)
 *   Tree-Size: 9
 *   Root-Hash: <base64>
 *   Changes: 3
 *   Revocations: 1
 *   Attestations: 1
 *   Expiring-Keys: 0
 *
 * then the prose of templates/digest.txt with the change list, and the
 * log's consistency block (ztrust-bot/tlog-consistency@v1, both signed
 * checkpoints included) in base64 between `BEGIN LOG PROOF` and `END LOG
 * PROOF` lines. Base64 because the block is neither ASCII (signed notes
 * start signature lines with U+2014) nor 72 columns wide (an Ed25519 note
 * signature line is about 120); base64 keeps its exact bytes through every
 * mail path and code page, and the header lines carry what a reader needs
 * to see (size and root).
 *
 * The text is the same for every recipient (the hash chain depends on it):
 * nothing addressed to one reader goes into it.
 */
import { render } from '../templates.js';
import { reflow } from '../mail/text.js';
import { parseConsistencyBlock, type LogEntry } from '../tlog/index.js';
import { describeError } from '../errors.js';
import { checkpointFacts } from './logview.js';
import { DigestError } from './errors.js';
import { asciiValue, field, normalizeDigestText, ruleBreaks, ZERO_SHA256 } from './text.js';
import { REPLY_BOUNDS } from '../limits.js';

export interface DigestEntry {
  index: number;
  /** null when the entry could not be parsed (a newer entry format, damage): listed as unreadable. */
  entry: LogEntry | null;
  error?: string;
}

export interface ExpiringKey {
  fingerprint: string;
  /** 16 lowercase hex digits. */
  keyId: string;
  userId: string;
  expires: Date;
  /** Where the owner's reminder goes (self-signed user IDs), primary first. */
  addresses: string[];
}

export interface DigestInput {
  number: number;
  date: Date;
  previous: { number: number; sha256: string; date: string } | null;
  /** Consistency block from the previous digest's checkpoint to the current one (already verified). */
  consistency: string;
  /** The log entries the digest covers, in log order. */
  entries: DigestEntry[];
  expiring: ExpiringKey[];
  windowDays: number;
  bot: { name: string; address: string; fingerprint: string };
  /**
   * Set on the first digest after the bot's key changed (src/digest/run.ts):
   * the keys that signed the previous digest, the root version naming the
   * new key, and whether the old key co-signs this one.
   */
  rotation?: { from: string[]; rootVersion: number | null; cosigned: boolean } | null;
}

export interface ParsedDigest {
  number: number;
  date: string;
  previousNumber: number | null;
  previousSha256: string;
  origin: string;
  logEntries: string;
  treeSize: number;
  rootHash: string;
  changes: number;
  revocations: number;
  attestations: number;
  expiringKeys: number;
  /** The decoded consistency block. */
  consistency: string;
  /** The normalised text. */
  text: string;
}

/** How many attestations are listed one by one; the rest are counted (src/limits.ts). */
export const MAX_LISTED_ATTESTATIONS = REPLY_BOUNDS.digestAttestations;

const TYPE_LABEL: Record<string, string> = {
  'key-added': 'key added',
  'key-updated': 'key updated',
  'key-revoked': '*** KEY REVOKED ***',
  'key-removed': 'key removed',
  'cert-added': 'certificate added',
  'cert-removed': 'certificate removed',
  attestation: 'attestation',
  'source-key-added': 'source-signing key added',
  'source-release-added': 'releases added to a source-signing key',
  root: '*** NEW TRUST ROOT ***',
};

const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const keyIdOfFpr = (fpr: string): string => `0x${fpr.slice(-16).toLowerCase()}`;

/** Blocks are indented by two spaces in the text: they are built for the 70 columns left. */
const W = 70;

function listField(indent: number, label: string, values: string[]): string[] {
  if (values.length === 0) return [];
  const lines: string[] = [];
  values.forEach((v, i) => lines.push(...field(indent, i === 0 ? label : ' '.repeat(label.length), asciiValue(v), W)));
  return lines;
}

function changeLines(d: DigestEntry): string[] {
  const e = d.entry;
  if (!e) return field(0, `#${d.index} `, `(an entry this version cannot read: ${asciiValue(d.error ?? 'unknown format').slice(0, 120)})`, W);
  const lines = [`#${d.index} ${TYPE_LABEL[e.type] ?? asciiValue(e.type)}, ${e.time}`];
  const subjectLabel = e.type.startsWith('cert-') ? 'Cert-SHA256: ' : e.type === 'attestation' ? 'Digest: ' : e.type === 'root' ? 'Root-SHA256: ' : 'Key: ';
  lines.push(...field(2, subjectLabel, asciiValue(e.subject), W));
  if (e.name !== undefined) lines.push(...field(2, e.type.startsWith('source-') ? 'Releases: ' : 'Name: ', asciiValue(e.name), W));
  if (e.ticket !== undefined) lines.push(...field(2, 'Ticket: ', asciiValue(e.ticket), W));
  lines.push(...listField(2, 'Approved-By: ', e.approvers ?? []));
  // A source-signing key is there because a member vouched for it: the entry's signer is that member.
  lines.push(...listField(2, e.type.startsWith('source-') ? 'Vouched-By: ' : 'Signed-By: ', e.signers));
  return lines;
}

function attestationLines(entries: DigestEntry[]): string[] {
  const lines: string[] = [];
  for (const d of entries.slice(0, MAX_LISTED_ATTESTATIONS)) {
    const e = d.entry!;
    const by = e.signers.length ? keyIdOfFpr(e.signers[0]) + (e.signers.length > 1 ? `+${e.signers.length - 1}` : '') : 'unsigned';
    lines.push(...field(0, `#${d.index} ${by} `, asciiValue(e.name ?? e.subject), W));
  }
  if (entries.length > MAX_LISTED_ATTESTATIONS) {
    const rest = entries.slice(MAX_LISTED_ATTESTATIONS);
    lines.push(`... and ${rest.length} more (log entries ${rest[0].index} to ${rest[rest.length - 1].index})`);
  }
  return lines;
}

function expiringLines(keys: ExpiringKey[]): string[] {
  const lines: string[] = [];
  for (const k of keys) {
    lines.push(`0x${k.keyId} expires ${isoSeconds(k.expires)}`);
    lines.push(...field(2, 'Key: ', k.fingerprint, W));
    lines.push(...field(2, 'User: ', asciiValue(k.userId), W));
  }
  return lines;
}

function base64Lines(text: string): string[] {
  const b64 = Buffer.from(text, 'utf8').toString('base64');
  return ['BEGIN LOG PROOF', ...(b64.match(/.{1,64}/g) ?? []), 'END LOG PROOF'];
}

/** The canonical digest text (deterministic). Throws DIGEST_FORMAT if the result would break the 72-column ASCII rule. */
export function formatDigest(input: DigestInput): string {
  let block;
  let now;
  try {
    block = parseConsistencyBlock(input.consistency);
    now = checkpointFacts(block.newCheckpoint);
  } catch (err) {
    throw new DigestError('DIGEST_LOG', `the consistency block is malformed: ${describeError(err)}`, { cause: err });
  }
  const oldSize = block.oldSize;
  if (input.entries.length !== now.size - oldSize || input.entries.some((e, i) => e.index !== oldSize + i)) {
    throw new DigestError('DIGEST_LOG', `the digest must list exactly the log entries ${oldSize} to ${now.size - 1}`);
  }
  const attest = input.entries.filter((d) => d.entry?.type === 'attestation');
  const changes = input.entries.filter((d) => d.entry?.type !== 'attestation');
  const revoked = changes.filter((d) => d.entry?.type === 'key-revoked');
  const expiring = [...input.expiring].sort((a, b) => a.expires.getTime() - b.expires.getTime() || a.fingerprint.localeCompare(b.fingerprint));
  const range = now.size > oldSize ? `${oldSize} to ${now.size - 1}` : 'none';

  const header = [
    `Digest: ${input.number}`,
    `Date: ${isoSeconds(input.date)}`,
    `Previous-Digest: ${input.previous ? input.previous.number : 'none'}`,
    'Previous-SHA256:',
    `  ${input.previous ? input.previous.sha256 : ZERO_SHA256}`,
    ...field(0, 'Log-Origin: ', asciiValue(now.origin)),
    `Log-Entries: ${range}`,
    `Tree-Size: ${now.size}`,
    `Root-Hash: ${now.root.toString('base64')}`,
    `Changes: ${changes.length}`,
    `Revocations: ${revoked.length}`,
    `Attestations: ${attest.length}`,
    `Expiring-Keys: ${expiring.length}`,
  ];
  const blocks: Record<string, string[]> = {
    header,
    revoked: revoked.flatMap((d) => [...changeLines(d), '']).slice(0, -1).map((l) => (l ? `  ${l}` : l)),
    changes: changes.flatMap((d) => [...changeLines(d), '']).slice(0, -1).map((l) => (l ? `  ${l}` : l)),
    attestations: attestationLines(attest).map((l) => `  ${l}`),
    expiring: expiringLines(expiring).map((l) => `  ${l}`),
    proof: base64Lines(input.consistency).map((l) => `  ${l}`),
  };
  const prose = render('digest', {
    number: input.number,
    botName: input.bot.name,
    botAddress: input.bot.address,
    botFingerprint: input.bot.fingerprint,
    rotation: input.rotation ? {
      from: input.rotation.from.join(', '),
      rootVersion: input.rotation.rootVersion ?? 'none',
      cosigned: input.rotation.cosigned,
    } : null,
    since: input.previous ? `digest ${input.previous.number} of ${input.previous.date}` : 'the log began',
    range: now.size - oldSize > 1 ? `log entries ${oldSize} to ${now.size - 1}` : now.size > oldSize ? `log entry ${oldSize}` : 'no new log entries',
    revocationCount: revoked.length,
    changeCount: changes.length,
    attestationCount: attest.length,
    expiringCount: expiring.length,
    windowDays: input.windowDays,
    oldSize,
    treeSize: now.size,
  });
  const out: string[] = [];
  for (const line of reflow(prose).split('\n')) {
    const m = /^\s*@@([a-z]+)@@\s*$/.exec(line);
    if (m) {
      const b = blocks[m[1]];
      if (!b) throw new DigestError('DIGEST_FORMAT', `templates/digest.txt names an unknown block @@${m[1]}@@`);
      // The header is the first thing in the text, flush left; the rest are indented blocks.
      out.push(...(m[1] === 'header' ? header : b));
    } else out.push(line);
  }
  const text = normalizeDigestText(out.join('\n').replace(/^\n+/, ''));
  const broken = ruleBreaks(text);
  if (broken.length) throw new DigestError('DIGEST_FORMAT', `digest ${input.number}: ${broken.slice(0, 3).join('; ')}`);
  if (!text.startsWith(`Digest: ${input.number}\n`)) throw new DigestError('DIGEST_FORMAT', 'templates/digest.txt must start with the @@header@@ block');
  return text;
}

function malformed(msg: string): never {
  throw new DigestError('DIGEST_MALFORMED', msg);
}

function intField(map: Map<string, string>, key: string, min = 0): number {
  const v = map.get(key);
  if (v === undefined) malformed(`no ${key} line`);
  if (!/^\d{1,15}$/.test(v) || Number(v) < min) malformed(`${key} is not a number: ${JSON.stringify(v.slice(0, 30))}`);
  return Number(v);
}

/**
 * Reads a digest text (as signed: from the stored file, an inline or a
 * PGP/MIME copy). Syntax only, plus the decoding of the proof block; the
 * checks that matter are in verify-digest.ts.
 */
export function parseDigest(input: string): ParsedDigest {
  const text = normalizeDigestText(input);
  const lines = text.split('\n');
  const end = lines.indexOf('');
  const head = lines.slice(0, end < 0 ? lines.length : end);
  const map = new Map<string, string>();
  let last: string | null = null;
  for (const line of head) {
    // `Key: value`, or `Key:` with the value on the indented line(s) below
    // (Previous-SHA256, a long Log-Origin).
    const m = /^([A-Za-z0-9-]+):(?: (.*))?$/.exec(line);
    if (m) {
      if (map.has(m[1])) malformed(`${m[1]} appears twice`);
      map.set(m[1], m[2] ?? '');
      last = m[1]!;
    } else if (/^ {2,}\S/.test(line) && last !== null) {
      map.set(last, map.get(last)! + line.trim());
    } else malformed(`unexpected line in the digest header: ${JSON.stringify(line.slice(0, 40))}`);
  }
  const number = intField(map, 'Digest', 1);
  const prev = map.get('Previous-Digest');
  if (prev === undefined) malformed('no Previous-Digest line');
  const previousNumber = prev === 'none' ? null : /^\d{1,15}$/.test(prev) ? Number(prev) : malformed(`Previous-Digest is ${JSON.stringify(prev.slice(0, 30))}`);
  const previousSha256 = map.get('Previous-SHA256') ?? malformed('no Previous-SHA256 line');
  if (!/^[0-9a-f]{64}$/.test(previousSha256)) malformed('Previous-SHA256 is not 64 lowercase hex digits');
  const begin = lines.findIndex((l) => l.trim() === 'BEGIN LOG PROOF');
  const stop = lines.findIndex((l, i) => i > begin && l.trim() === 'END LOG PROOF');
  if (begin < 0 || stop < 0) malformed('no BEGIN LOG PROOF / END LOG PROOF block');
  const b64 = lines.slice(begin + 1, stop).map((l) => l.trim()).join('');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) malformed('the log proof block is not base64');
  let consistency: string;
  try {
    consistency = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    malformed('the log proof block is not UTF-8 text');
  }
  return {
    number,
    date: map.get('Date') ?? malformed('no Date line'),
    previousNumber,
    previousSha256,
    origin: map.get('Log-Origin') ?? malformed('no Log-Origin line'),
    logEntries: map.get('Log-Entries') ?? malformed('no Log-Entries line'),
    treeSize: intField(map, 'Tree-Size'),
    rootHash: map.get('Root-Hash') ?? malformed('no Root-Hash line'),
    changes: intField(map, 'Changes'),
    revocations: intField(map, 'Revocations'),
    attestations: intField(map, 'Attestations'),
    expiringKeys: intField(map, 'Expiring-Keys'),
    consistency,
    text,
  };
}

/** The Subject of a digest mail. */
export function digestSubject(p: { number: number; changes: number; revocations: number; attestations: number }): string {
  const parts = [`${p.changes} change${p.changes === 1 ? '' : 's'}`];
  if (p.revocations) parts.push(`${p.revocations} REVOKED key${p.revocations === 1 ? '' : 's'}`);
  if (p.attestations) parts.push(`${p.attestations} attestation${p.attestations === 1 ? '' : 's'}`);
  return `ztrust digest ${p.number}: ${parts.join(', ')}`;
}
