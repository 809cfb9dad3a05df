/**
 * Which mail the bot must never answer (RFC 3834 and list practice), decided
 * from headers alone before any crypto is done. Answering bounces, other
 * robots, or the bot's own mail makes mail loops; answering list traffic that
 * carries no command spams the list.
 */
import type { HeaderValue } from 'mailparser';
import type { MailHeaders } from './parser.js';

export type IgnoreReason =
  | 'own-mail' | 'loop-header' | 'auto-submitted' | 'null-sender' | 'robot-sender' | 'delivery-report'
  | 'auto-reply' | 'no-sender';

export interface Classification {
  ignore: IgnoreReason | null;
  /** Mail that came through a list (List-Id) or is bulk: answered only if it carries a command. */
  listTraffic: boolean;
  bulk: boolean;
  listId: string | null;
  /** Where a reply goes: the From address (never the list, never Reply-To, which lists point at themselves). */
  sender: string | null;
}

const ROBOT_LOCALPART = /^(mailer-daemon|postmaster|listserv|majordomo|mailman|nobody|noreply|no-reply|owner-.*|.*-owner|.*-request|.*-bounces?(\+.*)?|bounces?(\+.*)?)$/i;

function headerText(v: HeaderValue | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map((x) => headerText(x as HeaderValue)).join(', ');
  if (typeof v === 'object' && 'value' in v) {
    const val = (v as { value: unknown }).value;
    if (typeof val === 'string') return val;
    if (Array.isArray(val)) return val.map((a: { address?: string }) => a.address ?? '').join(', ');
  }
  if (typeof v === 'object' && 'text' in v) return String((v as { text: unknown }).text);
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a header shape mailparser does not produce: kept as the last resort it was
  return String(v);
}

export function firstAddress(parsed: MailHeaders): string | null {
  const v = parsed.from as { value?: { address?: string }[] } | undefined;
  const a = v?.value?.[0]?.address;
  return a ? a.trim().toLowerCase() : null;
}

export function classify(parsed: MailHeaders, bot: { address: string; loopHeader: string }): Classification {
  const h = parsed.headers;
  const get = (name: string): string => headerText(h.get(name.toLowerCase())).trim();
  const sender = firstAddress(parsed);
  // mailparser folds List-* headers into a structured `list` entry; read the raw line.
  const listLine = parsed.headerLines.find((l) => l.key === 'list-id')?.line ?? '';
  const listIdRaw = listLine.replace(/^list-id:\s*/i, '').trim();
  const listId = listIdRaw ? (/<([^>]+)>/.exec(listIdRaw)?.[1] ?? listIdRaw).toLowerCase() : null;
  const precedence = get('precedence').toLowerCase();
  const bulk = ['bulk', 'junk', 'list'].includes(precedence);
  const base = { listTraffic: listId !== null || precedence === 'list', bulk, listId, sender };

  const ignore = (reason: IgnoreReason): Classification => ({ ...base, ignore: reason });
  if (!sender) return ignore('no-sender');
  if (sender === bot.address.toLowerCase()) return ignore('own-mail');
  if (h.has(bot.loopHeader.toLowerCase())) return ignore('loop-header');
  const autoSubmitted = get('auto-submitted').toLowerCase();
  if (autoSubmitted && !autoSubmitted.startsWith('no')) return ignore('auto-submitted');
  const returnPath = get('return-path');
  if (h.has('return-path') && returnPath.replace(/[<>\s]/g, '') === '') return ignore('null-sender');
  const local = sender.split('@')[0] ?? '';
  if (ROBOT_LOCALPART.test(local)) return ignore('robot-sender');
  const ct = get('content-type').toLowerCase();
  if (ct.startsWith('multipart/report') || ct.startsWith('message/delivery-status')) return ignore('delivery-report');
  if (h.has('x-autoreply') || h.has('x-autorespond') || /^(all|oof|autoreply)/i.test(get('x-auto-response-suppress'))) {
    return ignore('auto-reply');
  }
  return { ...base, ignore: null };
}

/**
 * The header section of a raw message, from at most the first `maxBytes`
 * bytes, with an empty body: what the dispatcher classifies and threads
 * every message by (the whole section: `maxBytes` is the message's size),
 * and all that is read of an oversize or unreadable one (a bounded prefix).
 * A header section longer than the prefix is cut at its last whole line; it
 * ends where mailparser's splitter ends it, at the first empty line. Linear
 * in `maxBytes`.
 */
export function headerSection(raw: Buffer, maxBytes: number): Buffer {
  const head = raw.subarray(0, Math.min(raw.length, maxBytes));
  // The first empty line, found in the bytes: only the header section is
  // made into text (this runs on every message, whatever its size).
  let end = head[0] === LF || (head[0] === CR && head[1] === LF) ? 0 : -1;
  if (end < 0) {
    for (const blank of [LF_LF, LF_CRLF]) {
      const at = head.indexOf(blank);
      if (at >= 0 && (end < 0 || at < end)) end = at;
    }
    if (end > 0 && head[end - 1] === CR) end--;
  }
  if (end < 0) end = raw.length <= maxBytes ? head.length : Math.max(0, head.lastIndexOf(LF));
  return Buffer.from(`${head.toString('latin1', 0, end).replace(/\r?\n$/, '')}\r\n\r\n`, 'latin1');
}

const CR = 0x0d;
const LF = 0x0a;
const LF_LF = Buffer.from('\n\n', 'latin1');
const LF_CRLF = Buffer.from('\n\r\n', 'latin1');
