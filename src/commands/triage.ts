/**
 * Intake triage: list posts the dispatcher would certainly ignore, told
 * from their raw bytes without parsing, spooling or queueing them.
 *
 * Why: a list mailbox is mostly ordinary discussion. The full path (spool
 * the bytes, one queue job, mailparser, signature check, command search)
 * costs milliseconds a message; a first start on years of LINUX-390 traffic
 * must not. The intake records such a post as done, in one transaction per
 * fetched batch (queue/runner.ts), and never answers it, which is exactly
 * what the dispatcher does with it (outcome `ignored:list-no-command`).
 *
 * Sound by construction, not by heuristics: `quietListPost` says "ignore"
 * only when the dispatcher's own decision is certain to be "list traffic
 * without a command", and hands everything else to the full path:
 *   - list or bulk traffic by the same headers classify.ts reads (List-Id,
 *     Precedence bulk/junk/list), each present at most once. A List-Id
 *     counts only with a value: one that is only (folded) whitespace is no
 *     List-Id to classify.ts, which would then answer;
 *   - no OpenPGP armour anywhere in the bytes (no inline signature, no key):
 *     nothing for verifyMail to find, so the command could only come from
 *     the plain text;
 *   - one text/plain part (no Content-Type, or text/plain with at most a
 *     charset that reads ASCII as ASCII, no format=flowed, which joins
 *     lines) in 7bit, 8bit or binary: the text mailparser gives is these
 *     bytes. Without a Content-Type there is no Content-Disposition either:
 *     mailparser (mailsplit) then takes the type from its file name, and
 *     "fwd.eml" makes the body an embedded message whose own text, even
 *     base64-encoded with a revocation in it, is what the dispatcher reads;
 *   - every byte up to and including the first non-blank body line is ASCII,
 *     so any charset decodes it alike, and `findCommand` (the dispatcher's
 *     own function, which reads only that line) finds no command in it;
 *   - within the size limit (an oversize message has its own path).
 */
import { messageSizeError, type Limits } from '../limits.js';
import { findCommand } from './parse.js';

export const TRIAGED_OUTCOME = 'ignored:list-no-command';

const ARMOUR = Buffer.from('-----BEGIN PGP', 'latin1');
// Only charsets that read bytes below 0x80 as ASCII: UTF-16 would hide
// "VERIFY" as V\0E\0..., and EBCDIC (IBM037) reads other letters entirely.
const ASCII_CHARSET = '(?:us-ascii|ascii|utf-?8|iso-8859-[0-9]{1,2}|iso_8859-1|latin-?1|windows-125[0-8]|cp125[0-8])';
const TEXT_PLAIN = new RegExp(`^text/plain\\s*(?:;\\s*charset\\s*=\\s*(?:"${ASCII_CHARSET}"|${ASCII_CHARSET})\\s*;?\\s*)?$`, 'i');
const PLAIN_ENCODINGS = new Set(['7bit', '8bit', 'binary']);

/** Where a raw message's header section ends (its first CRLF CRLF or LF LF) and its body starts; null when it has no body separator. */
export function headerSectionEnd(raw: Buffer): { end: number; bodyStart: number } | null {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { end: crlf, bodyStart: crlf + 4 };
  if (lf >= 0) return { end: lf, bodyStart: lf + 2 };
  return null;
}

/**
 * The header fields of a raw message (unfolded, names lower-case), and where
 * the body starts; null when malformed: a line that is neither a field
 * (a name of printable ASCII but the colon, a colon, a value without CR) nor
 * a continuation of one. Read line by line with indexOf rather than split
 * and a pattern per line (this runs on every list post of a backlog), each
 * byte a bounded number of times: a megabyte of one-field lines must not
 * cost the worker seconds.
 */
export function headerFields(raw: Buffer): { fields: Map<string, string[]>; bodyStart: number } | null {
  const section = headerSectionEnd(raw);
  if (!section) return null;
  const { end, bodyStart } = section;
  const text = raw.toString('latin1', 0, end);
  const fields = new Map<string, string[]>();
  let last: string[] | null = null;
  // The next CR at or after the current field's colon (-1: none left), kept
  // across lines so that LF-only mail is not searched to its end per line.
  let cr = -2;
  for (let pos = 0; pos <= text.length;) {
    const nl = text.indexOf('\n', pos);
    // A line ends at LF, or CRLF; a CR with no LF after it stays in the line.
    const lineEnd = nl < 0 ? text.length : nl > pos && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
    const first = text.charCodeAt(pos);
    if (first === 0x20 || first === 0x09) {
      if (!last) return null;
      last[last.length - 1] += ` ${text.slice(pos, lineEnd).trim()}`;
    } else {
      const colon = text.indexOf(':', pos);
      if (colon <= pos || colon >= lineEnd) return null;
      for (let i = pos; i < colon; i++) {
        const c = text.charCodeAt(i);
        if (c < 0x21 || c > 0x7e) return null;
      }
      if (cr !== -1 && cr < colon) cr = text.indexOf('\r', colon);
      if (cr >= 0 && cr < lineEnd) return null;
      const name = text.slice(pos, colon).toLowerCase();
      last = fields.get(name) ?? [];
      last.push(text.slice(colon + 1, lineEnd).trim());
      fields.set(name, last);
    }
    if (nl < 0) break;
    pos = nl + 1;
  }
  return { fields, bodyStart };
}

/** The outcome to record when the dispatcher would certainly ignore this message unread; null: give it the full path. */
export function quietListPost(raw: Buffer, limits: Pick<Limits, 'maxMessageBytes'>): string | null {
  if (messageSizeError(raw.length, limits)) return null;
  if (raw.includes(ARMOUR)) return null;
  const h = headerFields(raw);
  if (!h) return null;
  const one = (name: string): string | null | undefined => {
    const v = h.fields.get(name);
    return v === undefined ? null : v.length === 1 ? v[0] : undefined;
  };
  const listId = one('list-id');
  const precedence = one('precedence');
  if (listId === undefined || precedence === undefined) return null;
  const bulk = precedence !== null && ['bulk', 'junk', 'list'].includes(precedence.toLowerCase());
  if (!(listId !== null && listId.trim() !== '') && !bulk) return null;
  const ct = one('content-type');
  const cte = one('content-transfer-encoding');
  if (ct === undefined || cte === undefined) return null;
  if (ct !== null && !TEXT_PLAIN.test(ct)) return null;
  if (ct === null && h.fields.has('content-disposition')) return null;
  if (cte !== null && !PLAIN_ENCODINGS.has(cte.toLowerCase())) return null;

  // The first non-blank line, and every byte before it, must be ASCII.
  const body = raw.subarray(h.bodyStart);
  let lineStart = 0;
  for (;;) {
    const nl = body.indexOf(0x0a, lineStart);
    const lineEnd = nl < 0 ? body.length : nl;
    for (let i = lineStart; i < lineEnd; i++) if (body[i] >= 0x80) return null;
    const line = body.subarray(lineStart, lineEnd).toString('latin1');
    if (line.trim() !== '') return findCommand(line) === null ? TRIAGED_OUTCOME : null;
    if (nl < 0) return TRIAGED_OUTCOME; // an empty body: no command
    lineStart = nl + 1;
  }
}
