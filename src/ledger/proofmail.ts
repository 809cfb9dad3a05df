/**
 * Offline checking of what the bot mails: a saved VERIFY or ATTEST reply
 * (raw .eml, PGP/MIME or inline-signed, any transfer encoding), the text of
 * one, or a bare proof or consistency block. Only the log's verifier key is
 * needed. For each inclusion proof found:
 *
 *   - the checkpoint's note signature verifies with the key, and its origin
 *     is the key's name;
 *   - the log entry shown with it (the `ztrust-log-entry v1` text just
 *     before the proof) is a canonical entry, and its leaf hash is included
 *     at the proof's index under the signed root;
 *   - when the reply names the digest it answers (`Digest:` line), the entry
 *     is an attestation of that digest.
 *
 * Consistency blocks (ztrust-bot/tlog-consistency@v1) are checked with the
 * same key. The reply's own OpenPGP signature is `gpg --verify`'s job.
 */
import { simpleParser } from '../mail/parser.js';
import {
  CONSISTENCY_HEADER,
  ENTRY_HEADER,
  parseEntry,
  PROOF_HEADER,
  verifyConsistencyBlock,
  verifyProofBlock,
  type LogEntry,
} from '../tlog/index.js';
import { SIG_PREFIX } from '../tlog/note.js';
import { MESSAGE_BOUNDS } from '../limits.js';

export interface FoundInclusion {
  kind: 'inclusion';
  /** 1-based line of the block's header in the text. */
  line: number;
  block: string;
  /** Entry bytes shown before the proof, or null. */
  entry: Buffer | null;
}

export interface FoundConsistency {
  kind: 'consistency';
  line: number;
  block: string;
}

export type FoundBlock = FoundInclusion | FoundConsistency;

export interface BlockResult {
  kind: 'inclusion' | 'consistency';
  line: number;
  ok: boolean;
  /** Empty when ok. */
  reason: string;
  /** Inclusion: the entry's index and the tree size it is proven in. */
  index?: number;
  size?: number;
  origin?: string;
  entry?: LogEntry;
  /** Consistency: the two tree sizes. */
  oldSize?: number;
  newSize?: number;
}

export interface CheckResult {
  ok: boolean;
  /** Why the whole check failed, when no single block explains it. */
  reason: string;
  digest: string | null;
  results: BlockResult[];
}

const FIELD = /^[a-z]+:(?: .*)?$/;

/**
 * The text a file holds: a raw message is decoded by mailparser (transfer
 * encodings, charsets, the first text part of PGP/MIME); anything else is
 * read as UTF-8. A cleartext-signed body is un-dash-escaped (RFC 4880
 * section 7.1), since proof lines may have been escaped when signed.
 */
export async function textOf(bytes: Buffer): Promise<string> {
  let text: string;
  if (looksLikeMail(bytes)) {
    const mail = await simpleParser(bytes, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, maxHtmlLengthToParse: 0 });
    text = mail.text ?? '';
  } else {
    text = bytes.toString('utf8');
  }
  text = text.replace(/\r\n?/g, '\n');
  if (/^-----BEGIN PGP SIGNED MESSAGE-----$/m.test(text)) text = text.replace(/^- /gm, '');
  return text;
}

function looksLikeMail(bytes: Buffer): boolean {
  const head = bytes.subarray(0, MESSAGE_BOUNDS.mailSniffBytes).toString('latin1').replace(/\r\n/g, '\n');
  const end = head.indexOf('\n\n');
  if (end <= 0) return false;
  const lines = head.slice(0, end).split('\n');
  if (!/^[!-9;-~]+:/.test(lines[0])) return false;
  return lines.some((l) => /^(from|date|message-id|mime-version|content-type|received|return-path):/i.test(l));
}

/** Cuts a signed checkpoint starting at lines[i]; returns the index after its signature lines, or -1. */
function endOfNote(lines: string[], i: number): number {
  while (i < lines.length && lines[i] !== '') i++; // body
  if (i >= lines.length) return -1;
  i++;
  const first = i;
  while (i < lines.length && lines[i].startsWith(SIG_PREFIX)) i++;
  return i === first ? -1 : i;
}

/** Finds proof blocks, the entry shown before each, and consistency blocks. */
export function findLogBlocks(text: string): { blocks: FoundBlock[]; digest: string | null } {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const blocks: FoundBlock[] = [];
  let entry: Buffer | null = null;
  let digest: string | null = null;
  // A VERIFY reply names its digest among the status lines at its top, as
  // bare hex (64 digits: SHA-256, 128: SHA-512).
  const status = lines.findIndex((l) => /^Status: /.test(l));
  for (let i = status; status >= 0 && i < lines.length && lines[i] !== ''; i++) {
    const d = /^Digest: ([0-9a-f]{64}|[0-9a-f]{128})$/.exec(lines[i]);
    if (d) digest = `${d[1].length === 64 ? 'sha256' : 'sha512'}:${d[1]}`;
  }
  // An incomplete block is decided by the first blank line after its header
  // (endOfNote from there fails): every header before that line ends the
  // same way, so it is not scanned again. Rescanning from each of 40K header
  // lines to the end of the text was quadratic (1 MiB: 3 s).
  let incompleteUntil = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if ((line === PROOF_HEADER || line === CONSISTENCY_HEADER) && i < incompleteUntil) continue;
    if (line === ENTRY_HEADER) {
      let j = i + 1;
      while (j < lines.length && FIELD.test(lines[j])) j++;
      entry = Buffer.from(`${lines.slice(i, j).join('\n')}\n`, 'utf8');
      i = j - 1;
    } else if (line === PROOF_HEADER) {
      let j = i + 1;
      while (j < lines.length && lines[j] !== '') j++; // extra, index, hashes
      const end = j < lines.length ? endOfNote(lines, j + 1) : -1;
      if (end < 0) { // a truncated block: reported as "no complete block" if nothing else is found
        incompleteUntil = j;
        continue;
      }
      blocks.push({ kind: 'inclusion', line: i + 1, block: `${lines.slice(i, end).join('\n')}\n`, entry });
      entry = null;
      i = end - 1;
    } else if (line === CONSISTENCY_HEADER) {
      const old = /^old (\d+)$/.exec(lines[i + 1] ?? '');
      let j = i + 1;
      while (j < lines.length && lines[j] !== '') j++;
      let end = j < lines.length ? endOfNote(lines, j + 1) : -1;
      if (end < 0) {
        incompleteUntil = j;
        continue;
      }
      if (old && old[1] !== '0' && lines[end] === '') {
        const oldEnd = endOfNote(lines, end + 1);
        if (oldEnd > 0) end = oldEnd;
      }
      blocks.push({ kind: 'consistency', line: i + 1, block: `${lines.slice(i, end).join('\n')}\n` });
      i = end - 1;
    }
  }
  return { blocks, digest };
}

/**
 * Checks every block in `text` with the log's verifier key. `entry` stands
 * in for a bare proof block's missing entry text.
 */
export function checkLogText(text: string, vkey: string, opts: { entry?: Buffer } = {}): CheckResult {
  const { blocks, digest } = findLogBlocks(text);
  if (blocks.length === 0) {
    return { ok: false, reason: `no complete ${PROOF_HEADER} or ${CONSISTENCY_HEADER} block found`, digest, results: [] };
  }
  const results: BlockResult[] = [];
  for (const b of blocks) {
    if (b.kind === 'consistency') {
      const v = verifyConsistencyBlock(b.block, vkey);
      results.push({
        kind: 'consistency', line: b.line, ok: v.ok, reason: v.reason,
        ...(v.oldSize !== null ? { oldSize: v.oldSize } : {}), ...(v.newSize !== null ? { newSize: v.newSize } : {}),
        ...(v.newCheckpoint ? { origin: v.newCheckpoint.origin } : {}),
      });
      continue;
    }
    const entryBytes = b.entry ?? opts.entry ?? null;
    if (!entryBytes) {
      results.push({ kind: 'inclusion', line: b.line, ok: false, reason: `no ${ENTRY_HEADER} text before the proof, so there is nothing to check it against (give the entry with --entry FILE)` });
      continue;
    }
    let entry: LogEntry;
    try {
      entry = parseEntry(entryBytes);
    } catch (err) {
      results.push({ kind: 'inclusion', line: b.line, ok: false, reason: `the log entry shown with the proof is not a canonical entry: ${(err as Error).message}` });
      continue;
    }
    const v = verifyProofBlock(b.block, entryBytes, vkey);
    const r: BlockResult = {
      kind: 'inclusion', line: b.line, ok: v.ok, reason: v.reason, entry,
      ...(v.index !== null ? { index: v.index } : {}), ...(v.size !== null ? { size: v.size } : {}),
      ...(v.checkpoint ? { origin: v.checkpoint.origin } : {}),
    };
    if (r.ok && digest !== null && (entry.type !== 'attestation' || entry.subject !== digest)) {
      r.ok = false;
      r.reason = `the proven entry is ${entry.type} of ${entry.subject}, not an attestation of ${digest}, the digest this reply is about`;
    }
    results.push(r);
  }
  const failed = results.filter((r) => !r.ok).length;
  return { ok: failed === 0, reason: failed ? `${failed} of ${results.length} block${results.length === 1 ? '' : 's'} did not verify` : '', digest, results };
}

/** One line per result, for people. */
export function describeResult(r: BlockResult): string {
  const where = `line ${r.line}`;
  if (r.kind === 'consistency') {
    return r.ok
      ? `ok: consistency (${where}): the tree of size ${r.newSize} extends the tree of size ${r.oldSize} (log ${r.origin})`
      : `FAILED: consistency (${where}): ${r.reason}`;
  }
  if (!r.ok) return `FAILED: inclusion (${where})${r.index !== undefined ? ` of entry ${r.index}` : ''}: ${r.reason}`;
  const e = r.entry!;
  const what = e.type === 'attestation'
    ? `attestation of ${e.subject}${e.name !== undefined ? ` (${JSON.stringify(e.name)})` : ''} by ${e.signers.join(', ')}`
    : `${e.type} ${e.subject}${e.signers.length ? ` by ${e.signers.join(', ')}` : ''}`;
  return `ok: entry ${r.index} is in log ${r.origin} at tree size ${r.size}: ${what}, ${e.time}`;
}
