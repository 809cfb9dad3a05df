/** Deterministic identifiers for received messages. */
import { createHash } from 'node:crypto';

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

/** The Message-ID header of raw bytes, without parsing the whole message. */
export function rawMessageId(raw: Buffer): string | null {
  const head = raw.subarray(0, Math.min(raw.length, 64 * 1024)).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const headers = (end >= 0 ? head.slice(0, end) : head).replace(/\r?\n[ \t]+/g, ' ');
  const m = /^message-id:\s*(<[^>\r\n]{1,500}>)/im.exec(headers);
  return m ? m[1]! : null;
}
