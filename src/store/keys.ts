/** Deterministic identifiers for received messages. */
import { createHash } from 'node:crypto';
import { MAX_HEADER_SECTION_BYTES, MESSAGE_BOUNDS } from '../limits.js';

/**
 * The spool key and inbound job id of a message: derived from where it was
 * found (mailbox, UIDVALIDITY, UID), so fetching it again gives the same key.
 * A Message-ID is not enough on its own: lists and forwarders deliver the
 * same Message-ID more than once, and it is attacker-chosen. The Message-ID
 * de-duplication happens separately, when the message is processed.
 */
export function spoolKey(mailbox: string, uidValidity: number | bigint, uid: string | number): string {
  return `m${createHash('sha256').update(`${mailbox}\n${uidValidity}\n${uid}`).digest('hex').slice(0, 40)}`;
}

const MESSAGE_ID = new RegExp(`^message-id:\\s*(<[^>\\r\\n]{1,${MESSAGE_BOUNDS.messageIdChars}}>)`, 'im');

const LF_LF = Buffer.from('\n\n');
const LF_CRLF = Buffer.from('\n\r\n');

/**
 * The Message-ID header of raw bytes, without parsing the whole message.
 * The header section ends at the first empty line (LF LF or LF CR LF; a CR
 * left before it changes no match), looked for in the bytes: only the
 * header section becomes a string.
 */
export function rawMessageId(raw: Buffer): string | null {
  const head = raw.subarray(0, Math.min(raw.length, MAX_HEADER_SECTION_BYTES));
  let end = head.length;
  for (const blank of [LF_LF, LF_CRLF]) {
    const at = head.indexOf(blank);
    if (at >= 0 && at < end) end = at;
  }
  const headers = head.toString('latin1', 0, end).replace(/\r?\n[ \t]+/g, ' ');
  const m = MESSAGE_ID.exec(headers);
  return m ? m[1] : null;
}
