/**
 * Reading the one command in a message (DESIGN.md, "Mail commands").
 *
 * Only the text handed in is read: for signed mail that is the text the
 * signature covers, never the surrounding body. The Subject is never read.
 *
 * The command is the FIRST non-blank line of that text, or there is none.
 * The bot never looks further down: notices carry copy-paste APPROVE lines,
 * and a maintainer's signed reply that quotes a notice without `>` while
 * saying "I object", or a signed list post that pastes it, must not become
 * an approval she never wrote (issue 8, item 5). A quote, a `-- ` separator
 * or an armour line first means no command.
 *
 * Binding (as Schleuder's `X-LIST-NAME:` and dak's `Archive:` lines do): a
 * signed command that changes state must say which bot it is for, with the
 * line `To: <address>` directly under the command line (under the ticket
 * digest when APPROVE/REJECT carry it on the next line). The address is
 * the bot's or one of its configured lists', compared case-insensitively.
 * Signed text written for someone else (another bot, a list thread) is then
 * never taken for a command to this bot.
 */
import type { LoadedConfig } from '../config/load.js';
import { COMMAND_BOUNDS } from '../limits.js';
import { clause } from '../templates.js';


export type CommandName =
  | 'HELP' | 'SUBMIT KEY' | 'UPDATE KEY' | 'REVOKE KEY' | 'SUBMIT CERT' | 'ATTEST' | 'VERIFY' | 'STATUS'
  | 'GET KEY' | 'CHECKPOINT' | 'APPROVE' | 'REJECT' | 'SUBSCRIBE' | 'UNSUBSCRIBE' | 'CONFIRM'
  | 'SUBMIT SOURCE KEY' | 'ADD SOURCE' | 'ROOT PROPOSE' | 'WATCH' | 'UNWATCH';

export interface CommandSpec {
  name: CommandName;
  /** May be answered without a good signature (read-only commands). */
  unsignedOk: boolean;
  /** Changes state: signature age window and replay protection apply (to a mail signature, when there is one). */
  stateChanging: boolean;
  /**
   * The message carries the key that may sign it (SUBMIT KEY: proof of
   * possession; UPDATE KEY: any key): the dispatcher also checks the
   * signature against the keys the message carries.
   */
  carriesSigningKey?: boolean;
  /** The handler reads the message's attachments (CommandRequest.body): the dispatcher parses the body before it runs. */
  readsAttachments?: boolean;
  /**
   * How many lines directly under the command line still belong to it,
   * before the binding line (APPROVE/REJECT: the ticket digest may stand on
   * the next line, as notices show it to stay within 72 columns).
   */
  continuation?: (args: readonly string[]) => number;
  usage: string;
}

/** APPROVE/REJECT written as `APPROVE <ticket>` with the digest on the next line. */
const digestOnNextLine = (args: readonly string[]): number => (args.length < 2 ? 1 : 0);

/** Longest keywords first, so `SUBMIT KEY` is not read as something shorter. */
export const COMMANDS: readonly CommandSpec[] = [
  // A member vouches for an upstream release-signing key (pgp/for-source/):
  // signed by the member's collection key, not by the key carried, so the
  // carried key never widens who may sign (no carriesSigningKey).
  { name: 'SUBMIT SOURCE KEY', unsignedOk: false, stateChanging: true, usage: 'SUBMIT SOURCE KEY <package-release> [<package-release>...]' },
  { name: 'SUBMIT KEY', unsignedOk: false, stateChanging: true, carriesSigningKey: true, usage: 'SUBMIT KEY' },
  { name: 'SUBMIT CERT', unsignedOk: false, stateChanging: true, usage: 'SUBMIT CERT <name>' },
  { name: 'UPDATE KEY', unsignedOk: false, stateChanging: true, carriesSigningKey: true, usage: 'UPDATE KEY' },
  // A maintainer of the current trust root drafts its next version; the change lines follow the To: line.
  { name: 'ROOT PROPOSE', unsignedOk: false, stateChanging: true, usage: 'ROOT PROPOSE' },
  { name: 'ADD SOURCE', unsignedOk: false, stateChanging: true, usage: 'ADD SOURCE <keyid|fingerprint> <package-release> [<package-release>...]' },
  // The revocation signature is its own authority (DESIGN.md): the mail may
  // be unsigned. The handler checks the revocation against the collection
  // copy and records its signature for replay protection.
  { name: 'REVOKE KEY', unsignedOk: true, stateChanging: true, readsAttachments: true, usage: 'REVOKE KEY' },
  // Signed by the watched key itself (its owner), bound to the bot like every signed change.
  { name: 'UNWATCH', unsignedOk: false, stateChanging: true, usage: 'UNWATCH <fingerprint>' },
  { name: 'WATCH', unsignedOk: false, stateChanging: true, usage: 'WATCH <fingerprint>' },
  { name: 'GET KEY', unsignedOk: true, stateChanging: false, usage: 'GET KEY <fingerprint or email>' },
  { name: 'UNSUBSCRIBE', unsignedOk: true, stateChanging: false, usage: 'UNSUBSCRIBE' },
  { name: 'SUBSCRIBE', unsignedOk: true, stateChanging: false, usage: 'SUBSCRIBE' },
  { name: 'CHECKPOINT', unsignedOk: true, stateChanging: false, usage: 'CHECKPOINT' },
  { name: 'CONFIRM', unsignedOk: true, stateChanging: false, usage: 'CONFIRM <token>' },
  { name: 'APPROVE', unsignedOk: false, stateChanging: true, continuation: digestOnNextLine, usage: 'APPROVE <ticket> <ticket digest>' },
  { name: 'REJECT', unsignedOk: false, stateChanging: true, continuation: digestOnNextLine, usage: 'REJECT <ticket> <ticket digest> <reason>' },
  { name: 'ATTEST', unsignedOk: false, stateChanging: true, usage: 'ATTEST' },
  { name: 'VERIFY', unsignedOk: true, stateChanging: false, usage: 'VERIFY <sha256 or sha512 hex digest> | <package-release> | [<file name>] [<sha256>] with a .sig attached' },
  { name: 'STATUS', unsignedOk: true, stateChanging: false, usage: 'STATUS <ticket>' },
  { name: 'HELP', unsignedOk: true, stateChanging: false, usage: 'HELP' },
];

/** What stood where the binding line belongs. */
export interface Binding {
  /** The address a `To:` line there names (lower-case), or null when there is no `To:` line. */
  address: string | null;
  /** The address is one of the `boundTo` addresses. */
  bound: boolean;
  /** Zero-based index of the line where the binding belongs. */
  lineIndex: number;
  /** For the refusal: what the bot found there, in words. */
  found: string;
  /** For the refusal: the line it belongs under ("the command", "the ticket digest"). */
  under: string;
}

export interface ParsedCommand {
  spec: CommandSpec;
  /** Words after the keyword, whitespace-separated (the raw remainder is in `rest`). */
  args: string[];
  rest: string;
  /** The command line as written (trimmed). */
  line: string;
  /** Zero-based index of the command line in the text. */
  lineIndex: number;
  /**
   * The lines after the command line, up to the end of the text (armour
   * included, for payloads). A `To:` binding line is blanked (kept as an
   * empty line, so line numbers stay those of the signed text): it is not
   * part of the payload.
   */
  following: string;
  binding: Binding;
  /** Shorthand for binding.bound. */
  bound: boolean;
}

export interface FindOptions {
  /** The addresses a binding line may name: the bot's and its lists' (see `botAddresses`). */
  boundTo?: readonly string[];
}

/** The signed commands that must carry a binding line; REVOKE KEY is exempt: its revocation signature is its own authority and the mail may be unsigned. */
export function mustBeBound(spec: CommandSpec): boolean {
  return spec.stateChanging && !spec.unsignedOk;
}

/** Where a signed command may be addressed: the bot and the lists it reads. */
export function botAddresses(cfg: Pick<LoadedConfig, 'bot' | 'lists'>): string[] {
  return [cfg.bot.address, ...cfg.lists.map((l) => l.address).filter((a): a is string => !!a)];
}

function matchKeyword(line: string): { spec: CommandSpec; rest: string } | null {
  const upper = line.toUpperCase();
  for (const spec of COMMANDS) {
    if (upper === spec.name || upper.startsWith(`${spec.name} `) || upper.startsWith(`${spec.name}\t`)) {
      return { spec, rest: line.slice(spec.name.length).trim() };
    }
  }
  return null;
}

/** `To: addr`, `To: <addr>` or `To: Name <addr>` -> the address, lower-case; null when the line is no To: line. */
function toAddress(line: string): string | null {
  const m = /^to:[ \t]*(.*)$/i.exec(line);
  if (!m) return null;
  const value = m[1].trim();
  const angle = /<([^<>\s]*)>\s*$/.exec(value);
  return (angle ? angle[1] : value).toLowerCase();
}

function shownLine(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > COMMAND_BOUNDS.shownLineChars ? `${clean.slice(0, COMMAND_BOUNDS.shownLineChars)}...` : clean;
}

function readBinding(lines: readonly string[], at: number, under: string, boundTo: readonly string[]): Binding {
  const raw = lines[at];
  const line = raw?.trim() ?? '';
  const address = raw === undefined ? null : toAddress(line);
  const bound = address !== null && boundTo.some((a) => a.toLowerCase() === address);
  let found: string;
  if (bound) found = clause('binding-bound', { under, address });
  else if (address !== null) found = address ? clause('binding-not-bot', { under, address: shownLine(address) }) : clause('binding-no-address', { under });
  else if (lines.slice(at).every((l) => l.trim() === '')) found = clause('binding-text-ends', { under });
  else if (line === '') found = clause('binding-empty', { under });
  else found = clause('binding-other', { under, line: shownLine(line) });
  return { address, bound, lineIndex: at, found, under };
}

/**
 * The command on the first non-blank line of `text`, or null. With
 * `boundTo`, the result says whether the binding line names one of those
 * addresses (callers refuse unbound commands that `mustBeBound`).
 */
export function findCommand(text: string | null | undefined, opts: FindOptions = {}): ParsedCommand | null {
  if (!text) return null;
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const limit = Math.min(lines.length, COMMAND_BOUNDS.scanLines);
  let i = 0;
  while (i < limit && lines[i].trim() === '') i++;
  if (i >= limit) return null;
  // A quote (`>`), a separator or an armour line first: no command. matchKeyword
  // needs the line to start with a keyword, so only the first line is ever read.
  const line = lines[i].trim();
  const m = matchKeyword(line);
  if (!m) return null;
  const args = m.rest ? m.rest.split(/\s+/) : [];
  const extra = m.spec.continuation?.(args) ?? 0;
  const binding = readBinding(lines, i + 1 + extra, extra > 0 ? 'the ticket digest' : 'the command', opts.boundTo ?? []);
  const after = lines.slice(i + 1);
  if (binding.address !== null) after[binding.lineIndex - i - 1] = '';
  return {
    spec: m.spec, args, rest: m.rest, line, lineIndex: i, following: after.join('\n'), binding, bound: binding.bound,
  };
}
