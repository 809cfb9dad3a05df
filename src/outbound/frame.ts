/**
 * How every mail the bot writes is laid out (DESIGN.md, "Replies"): the
 * machine-readable lines first (`Status:`, then `Ticket:`, `Ticket-Digest:`,
 * `Log-Index:` where they apply), a blank line, then the prose reflowed to
 * 72 columns, with armoured and framed blocks kept byte for byte; and the
 * threading headers of an answer (RFC 5322 3.6.4). Replies and notices share
 * this one framing, so a reader (person or script) finds the same shape in
 * both.
 */
import type { ReplyStatus } from '../mail/compose.js';
import { threadReferences } from '../mail/compose.js';
import { reflow } from '../mail/text.js';

/**
 * Reflow prose to 72 columns, except armoured and framed blocks
 * (`-----BEGIN X-----` to `-----END X-----`: keys, certificates, ticket
 * content), which are kept byte for byte: wrapping would break them.
 */
export function shapeProse(prose: string): string {
  const text = prose.replace(/\r\n?/g, '\n');
  const lines = text.split('\n');
  const starts: number[] = [];
  let pos = 0;
  for (const l of lines) {
    starts.push(pos);
    pos += l.length + 1;
  }
  // The END lines of each label, in order: each BEGIN looks for the first
  // END of its label after it with a pointer that only moves forward, so an
  // unmatched BEGIN costs one step, not a scan to the end of the text.
  const ends = new Map<string, { at: number[]; next: number }>();
  lines.forEach((l, i) => {
    const label = frameLabel(l, 'END');
    if (label === null) return;
    const e = ends.get(label) ?? { at: [], next: 0 };
    e.at.push(i);
    ends.set(label, e);
  });
  const parts: string[] = [];
  let last = 0;
  for (let i = 0; i < lines.length; i++) {
    const label = frameLabel(lines[i], 'BEGIN');
    const e = label === null ? undefined : ends.get(label);
    if (!e) continue;
    while (e.next < e.at.length && e.at[e.next] <= i) e.next++;
    if (e.next === e.at.length) continue;
    const end = e.at[e.next];
    parts.push(reflow(text.slice(last, starts[i])), text.slice(starts[i], starts[end] + lines[end].length));
    last = starts[end] + lines[end].length;
    i = end;
  }
  parts.push(reflow(text.slice(last)));
  return parts.join('');
}

/** `X` of a whole line `-----BEGIN X-----` (or END), X of 1 to 40 of A-Z, 0-9 and space; else null. */
function frameLabel(line: string, kind: 'BEGIN' | 'END'): string | null {
  const head = `-----${kind} `;
  if (!line.startsWith(head) || !line.endsWith('-----') || line.length < head.length + 6) return null;
  const label = line.slice(head.length, -5);
  return label.length <= 40 && /^[A-Z0-9 ]+$/.test(label) ? label : null;
}

export function bodyWithStatus(status: ReplyStatus, fields: Record<string, string> | undefined, prose: string): string {
  const head = [`Status: ${status}`, ...Object.entries(fields ?? {}).map(([k, v]) => `${k}: ${v}`)];
  return `${head.join('\n')}\n\n${shapeProse(prose).trimEnd()}\n`;
}

/** What an outgoing mail is threaded to: its parent's Message-ID and the references chain. */
export interface Threading {
  inReplyTo: string | null;
  references: string[];
}

/** The message a mail answers, as far as threading needs it (a subset of mailparser's ParsedMail). */
export interface ParentMail {
  messageId?: string | undefined;
  references?: string | string[] | undefined;
  inReplyTo?: string | undefined;
}

/** An answer to `parent` (RFC 5322 3.6.4: In-Reply-To the parent, References its chain plus it). */
export function replyThreading(parent: ParentMail | null): Threading {
  const parentId = parent?.messageId ?? null;
  const refs = parent?.references ? (Array.isArray(parent.references) ? parent.references : [parent.references]) : undefined;
  return { inReplyTo: parentId, references: threadReferences(parentId, refs, parent?.inReplyTo ?? null) };
}

/** A notice about a message (the submission a ticket came from): threaded to it alone, or to nothing. */
export function noticeThreading(about: string | null | undefined): Threading {
  return { inReplyTo: about ?? null, references: about ? [about] : [] };
}

/** A notice a message caused, sent to someone else: not threaded (the parent is not in their mailbox). */
export const UNTHREADED: Threading = { inReplyTo: null, references: [] };
