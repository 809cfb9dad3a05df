/**
 * Reading the one command in a message (DESIGN.md, "Mail commands").
 *
 * Only the text handed in is read: for signed mail that is the text the
 * signature covers, never the surrounding body. The Subject is never read.
 * The command is the first line that starts with a keyword; lines quoted with
 * `>` are skipped; reading stops at a `-- ` signature separator, at a line
 * `end`, or at an armour line.
 */

export type CommandName =
  | 'HELP' | 'SUBMIT KEY' | 'UPDATE KEY' | 'REVOKE KEY' | 'SUBMIT CERT' | 'ATTEST' | 'VERIFY' | 'STATUS'
  | 'GET KEY' | 'CHECKPOINT' | 'APPROVE' | 'REJECT' | 'SUBSCRIBE' | 'UNSUBSCRIBE' | 'CONFIRM';

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
  usage: string;
}

/** Longest keywords first, so `SUBMIT KEY` is not read as something shorter. */
export const COMMANDS: readonly CommandSpec[] = [
  { name: 'SUBMIT KEY', unsignedOk: false, stateChanging: true, carriesSigningKey: true, usage: 'SUBMIT KEY' },
  { name: 'SUBMIT CERT', unsignedOk: false, stateChanging: true, usage: 'SUBMIT CERT <name>' },
  { name: 'UPDATE KEY', unsignedOk: false, stateChanging: true, carriesSigningKey: true, usage: 'UPDATE KEY' },
  // The revocation signature is its own authority (DESIGN.md): the mail may
  // be unsigned. The handler checks the revocation against the collection
  // copy and records its signature for replay protection.
  { name: 'REVOKE KEY', unsignedOk: true, stateChanging: true, usage: 'REVOKE KEY' },
  { name: 'GET KEY', unsignedOk: true, stateChanging: false, usage: 'GET KEY <fingerprint or email>' },
  { name: 'UNSUBSCRIBE', unsignedOk: true, stateChanging: false, usage: 'UNSUBSCRIBE' },
  { name: 'SUBSCRIBE', unsignedOk: true, stateChanging: false, usage: 'SUBSCRIBE' },
  { name: 'CHECKPOINT', unsignedOk: true, stateChanging: false, usage: 'CHECKPOINT' },
  { name: 'CONFIRM', unsignedOk: true, stateChanging: false, usage: 'CONFIRM <token>' },
  { name: 'APPROVE', unsignedOk: false, stateChanging: true, usage: 'APPROVE <ticket> <ticket digest>' },
  { name: 'REJECT', unsignedOk: false, stateChanging: true, usage: 'REJECT <ticket> <ticket digest> <reason>' },
  { name: 'ATTEST', unsignedOk: false, stateChanging: true, usage: 'ATTEST' },
  { name: 'VERIFY', unsignedOk: true, stateChanging: false, usage: 'VERIFY <sha256 or sha512 hex digest>' },
  { name: 'STATUS', unsignedOk: true, stateChanging: false, usage: 'STATUS <ticket>' },
  { name: 'HELP', unsignedOk: true, stateChanging: false, usage: 'HELP' },
];

export interface ParsedCommand {
  spec: CommandSpec;
  /** Words after the keyword, whitespace-separated (the raw remainder is in `rest`). */
  args: string[];
  rest: string;
  /** The command line as written (trimmed). */
  line: string;
  /** Zero-based index of the command line in the text. */
  lineIndex: number;
  /** The lines after the command line, up to the end of the text (armour included, for payloads). */
  following: string;
}

const MAX_SCAN_LINES = 200;

function matchKeyword(line: string): { spec: CommandSpec; rest: string } | null {
  const upper = line.toUpperCase();
  for (const spec of COMMANDS) {
    if (upper === spec.name || upper.startsWith(`${spec.name} `) || upper.startsWith(`${spec.name}\t`)) {
      return { spec, rest: line.slice(spec.name.length).trim() };
    }
  }
  return null;
}

export function findCommand(text: string | null | undefined): ParsedCommand | null {
  if (!text) return null;
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const limit = Math.min(lines.length, MAX_SCAN_LINES);
  for (let i = 0; i < limit; i++) {
    const raw = lines[i]!;
    if (raw === '-- ' || raw === '--') break;
    if (/^-----BEGIN PGP /.test(raw)) break;
    const line = raw.trim();
    if (line.startsWith('>')) continue;
    if (/^end$/i.test(line)) break;
    const m = matchKeyword(line);
    if (m) {
      return {
        spec: m.spec,
        args: m.rest ? m.rest.split(/\s+/) : [],
        rest: m.rest,
        line,
        lineIndex: i,
        following: lines.slice(i + 1).join('\n'),
      };
    }
  }
  return null;
}
