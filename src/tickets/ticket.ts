/**
 * Tickets: what maintainers approve. Pure functions only (ids, the canonical
 * content and its digest, the state machine, expiry); the store keeps the
 * rows, the command handlers decide.
 *
 * The canonical content is deterministic text that says exactly what will
 * change: the kind, the subject (key fingerprint or certificate name), the
 * submitter's key, the times, a summary, and the exact bytes that will be
 * stored (the stripped armoured key, or the certificate and its signature).
 * Its SHA-256 is the ticket digest. A maintainer's APPROVE names that digest,
 * so an approval can never be applied to other content than the one the
 * maintainer was shown.
 *
 * Hostile input (user IDs, certificate subjects) only ever appears in the
 * content as single lines of printable ASCII: other bytes are
 * percent-encoded, so no value can start a line of its own and fake a field.
 */
import { trimLinesBlanksEnd, trimNewlinesEnd } from '../text/blocks.js';
import { contentValue } from '../text/value.js';
import { createHash } from 'node:crypto';
import { TicketError } from '../errors.js';
import { clause, render } from '../templates.js';
import type { TicketKind, TicketRow, TicketState, TicketUpdate, VoteRecord } from '../store/types.js';

export type { TicketKind, TicketRow, TicketState, TicketUpdate };

export const CONTENT_HEADER = 'ztrust-ticket v1';
/** The lines that frame the canonical content in mails: the digest covers what lies between them. */
export const CONTENT_BEGIN = '-----BEGIN ZTRUST TICKET-----';
export const CONTENT_END = '-----END ZTRUST TICKET-----';

/** Columns of a content line (a field and its value), as of every line the bot mails. */
export const MAX_LINE = 72;

/** `ZT-` + 6 digits (more digits once past 999999). */
export function formatTicketId(prefix: string, n: number): string {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`ticket number ${n} is not a positive integer`);
  return `${prefix}${String(n).padStart(6, '0')}`;
}

/**
 * Read a ticket id as a person may type it (`ZT-000042`, `zt-42`): the
 * configured prefix, case-insensitive, then 1 to 9 digits. Returns the
 * canonical id, or null.
 */
export function parseTicketId(prefix: string, text: string | undefined): string | null {
  if (!text) return null;
  const t = text.trim().toUpperCase();
  if (!t.startsWith(prefix.toUpperCase())) return null;
  const digits = t.slice(prefix.length);
  if (!/^[0-9]{1,9}$/.test(digits)) return null;
  const n = Number(digits);
  return n >= 1 ? formatTicketId(prefix, n) : null;
}

/** RFC 3339 UTC with whole seconds. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface ContentInput {
  id: string;
  kind: TicketKind;
  subject: string;
  submitter: string;
  created: Date;
  expires: Date;
  /** Summary fields, in order (e.g. User-ID, Certified-By, Stripped); values are made safe here. */
  summary: [string, string][];
  /** The exact data to be stored: armour or PEM text, ASCII. */
  data: string;
}

const FIELD = /^[A-Z][A-Za-z0-9-]*$/;

/**
 * The canonical content. Field names are capitalised (`Kind: ...`) so that
 * mail reflowing keeps each one on its own line.
 */
export function canonicalContent(c: ContentInput): string {
  const lines = [CONTENT_HEADER];
  // A field whose line would pass 72 columns (a SHA-256, a long name) puts
  // its value on the next line, indented by two spaces.
  const field = (k: string, v: string): void => {
    if (!FIELD.test(k)) throw new Error(`bad ticket field name ${JSON.stringify(k)}`);
    const value = contentValue(v);
    if (`${k}: ${value}`.length <= MAX_LINE) lines.push(`${k}: ${value}`);
    else lines.push(`${k}:`, `  ${value}`);
  };
  field('Ticket', c.id);
  field('Kind', c.kind);
  field('Subject', c.subject);
  field('Submitter', c.submitter);
  field('Created', isoSeconds(c.created));
  field('Expires', isoSeconds(c.expires));
  for (const [k, v] of c.summary) field(k, v);
  // Linear scans, not /[ \t]+$/gm and /\n+$/: those regexes are quadratic on
  // a long run of blanks (or line feeds) before a letter, and data is the submitter's.
  const data = trimNewlinesEnd(trimLinesBlanksEnd(c.data.replace(/\r\n?/g, '\n')));
   
  if (/[^\x20-\x7e\n]/.test(data)) throw new Error('ticket data must be printable ASCII');
  return `${lines.join('\n')}\n\n${data}\n`;
}

/** SHA-256 (lowercase hex) of the canonical content's UTF-8 bytes. */
export function ticketDigest(content: string): string {
  return createHash('sha256').update(content, 'utf8').digest('hex');
}

/** A digest as a person may paste it: 64 hex digits, case and inner blanks ignored. */
export function normaliseDigest(text: string | undefined): string | null {
  if (!text) return null;
  const d = text.replace(/\s+/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(d) ? d : null;
}

/** The content framed for a mail body (see CONTENT_BEGIN). */
export function framedContent(content: string): string {
  return `${CONTENT_BEGIN}\n${content}${CONTENT_END}\n`;
}

/** The content between the frame lines of a mail body, or null (for tests and for maintainers' tools). */
export function unframeContent(text: string): string | null {
  const t = text.replace(/\r\n/g, '\n');
  const a = t.indexOf(`${CONTENT_BEGIN}\n`);
  if (a < 0) return null;
  const b = t.indexOf(`\n${CONTENT_END}`, a);
  if (b < 0) return null;
  return t.slice(a + CONTENT_BEGIN.length + 1, b + 1);
}

// ---------------------------------------------------------------- state machine

/**
 * What can happen to a ticket. Every change of a ticket row (its state, its
 * closing reason, a vote) is the result of `transition()` on one of these:
 * the vote handlers, the expiry sweep and the apply step build no ticket
 * update of their own, and the store writes only what `transition()` returns.
 */
export type TicketEvent =
  /** A maintainer's vote that closes nothing (below the threshold, or a changed vote). */
  | { kind: 'vote'; vote: VoteRecord }
  /** The approval that reached the threshold. */
  | { kind: 'approve'; vote: VoteRecord }
  /** A maintainer's rejection: it closes the ticket. */
  | { kind: 'reject'; vote: VoteRecord }
  /** The sweep (or a late vote) found the ticket past its expiry at `now`. */
  | { kind: 'expire'; now: Date }
  /** The apply step wrote the change to the collection and the log. */
  | { kind: 'apply' }
  /** The apply step could not write the change; `error` says why. */
  | { kind: 'fail'; error: string | null };
export type TicketEventKind = TicketEvent['kind'];
export const TICKET_EVENTS: readonly TicketEventKind[] = ['vote', 'approve', 'reject', 'expire', 'apply', 'fail'];
export const TICKET_STATES: readonly TicketState[] = ['pending', 'approved', 'applied', 'rejected', 'expired', 'failed'];

/**
 * The whole machine: for each state, the events it accepts and the state
 * they lead to. A missing entry is an illegal transition. Only pending
 * tickets take votes or expire; only approved ones are applied or fail;
 * the other four states are final.
 */
const MACHINE: Record<TicketState, Partial<Record<TicketEventKind, TicketState>>> = {
  pending: { vote: 'pending', approve: 'approved', reject: 'rejected', expire: 'expired' },
  approved: { apply: 'applied', fail: 'failed' },
  applied: {},
  rejected: {},
  expired: {},
  failed: {},
};

/** The state `event` leads to from `state`, or null when the machine refuses it. */
export function nextState(state: TicketState, event: TicketEventKind): TicketState | null {
  return MACHINE[state][event] ?? null;
}

export function canTransition(from: TicketState, to: TicketState): boolean {
  return Object.values(MACHINE[from]).some((s) => s === to && s !== from);
}

export function isClosed(state: TicketState): boolean {
  return Object.keys(MACHINE[state]).length === 0;
}


/**
 * The one way a ticket changes. Returns the store effect that records the
 * event (compare-and-set on the version and the state it was decided on), or
 * throws TicketError: TICKET_ILLEGAL_TRANSITION when the state does not take
 * the event, TICKET_EXPIRED for a vote on a pending ticket already past its
 * expiry (expire it instead), TICKET_NOT_DUE for an expiry before its time.
 * Nothing is written when it throws.
 */
export function transition(t: Pick<TicketRow, 'id' | 'state' | 'version' | 'expiresAt'>, event: TicketEvent): TicketUpdate {
  const to = nextState(t.state, event.kind);
  if (to === null) throw new TicketError('TICKET_ILLEGAL_TRANSITION', `ticket ${t.id} is ${t.state}: it cannot take the event ${event.kind}`);
  const base = { kind: 'ticket-update', ticketId: t.id, expectVersion: t.version, from: t.state } as const;
  switch (event.kind) {
    case 'vote':
    case 'approve':
    case 'reject': {
      // A vote dated at or after the expiry is refused here too, so no
      // caller can count a vote on a ticket that should have expired.
      if (isExpired(t, new Date(event.vote.at))) {
        throw new TicketError('TICKET_EXPIRED', `ticket ${t.id} expired at ${t.expiresAt}: a vote at ${event.vote.at} cannot count`);
      }
      if (event.vote.ticketId !== t.id) throw new TicketError('TICKET_ILLEGAL_TRANSITION', `a vote for ${event.vote.ticketId} cannot change ticket ${t.id}`);
      if (event.kind === 'vote') return { ...base, vote: event.vote };
      if (event.kind === 'approve') return { ...base, vote: event.vote, state: to };
      return { ...base, vote: event.vote, state: to, closedReason: clause('closed-rejected-by', { voter: event.vote.voter, reason: event.vote.reason ?? '' }) };
    }
    case 'expire':
      if (!isExpired(t, event.now)) throw new TicketError('TICKET_NOT_DUE', `ticket ${t.id} expires at ${t.expiresAt}, not before`);
      return { ...base, state: to, closedReason: render('closed-expired', {}).trim() };
    case 'apply':
      return { ...base, state: to };
    case 'fail':
      return { ...base, state: to, closedReason: event.error };
  }
}

/** When a ticket created at `created` expires. */
export function expiryFor(created: Date, expireDays: number): Date {
  return new Date(created.getTime() + Math.round(expireDays * 86_400_000));
}

/** A pending ticket past its expiry (only pending tickets expire: approved ones are being applied). */
export function isExpired(t: Pick<TicketRow, 'state' | 'expiresAt'>, now: Date): boolean {
  return t.state === 'pending' && Date.parse(t.expiresAt) <= now.getTime();
}

/** The state a reader should see now: a pending ticket past its expiry is expired even before the sweep records it. */
export function effectiveState(t: Pick<TicketRow, 'state' | 'expiresAt'>, now: Date): TicketState {
  return isExpired(t, now) ? 'expired' : t.state;
}

export interface VoteTally {
  approvals: string[];
  rejections: string[];
}

/** Distinct maintainer fingerprints per vote; only current maintainers count. */
export function tally(votes: readonly { voter: string; vote: 'approve' | 'reject' }[], maintainers: readonly string[]): VoteTally {
  const m = new Set(maintainers.map((x) => x.toUpperCase()));
  const approvals = new Set<string>();
  const rejections = new Set<string>();
  for (const v of votes) {
    const f = v.voter.toUpperCase();
    if (!m.has(f)) continue;
    (v.vote === 'approve' ? approvals : rejections).add(f);
  }
  return { approvals: [...approvals], rejections: [...rejections] };
}

/** One line for people: what a ticket changes, from its kind, subject and content. */
export function describeTicket(t: Pick<TicketRow, 'kind' | 'subject' | 'content'>): string {
  const field = (name: string): string | null => {
    const m = new RegExp(`^${name}:(?: (.*)|\n  (.*))$`, 'm').exec(t.content);
    return m ? (m[1] ?? m[2]) : null;
  };
  switch (t.kind) {
    case 'add-key': {
      const uid = field('User-ID');
      return clause('what-new-key', { key: t.subject, userId: uid });
    }
    case 'update-key':
      return clause('what-update-of-key', { key: t.subject });
    case 'add-cert': {
      const subj = field('Certificate-Subject');
      return clause('what-certificate', { name: t.subject, subject: subj });
    }
    case 'add-source-key':
      return clause('what-source-key', { key: t.subject, releases: releasesOf(t.content) });
    case 'add-source-release':
      return clause('what-source-release', { key: t.subject, releases: releasesOf(t.content) });
  }
}

/**
 * The releases a source ticket names: its `Releases:` lines (the list is
 * split over several lines to stay within a content line), joined with one
 * space. Read from the summary only, never from the data below it.
 */
export function releasesOf(content: string): string {
  const summary = content.split('\n\n')[0];
  return summary.split('\n').flatMap((l) => (l.startsWith('Releases: ') ? [l.slice('Releases: '.length)] : [])).join(' ');
}
