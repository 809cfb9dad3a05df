/**
 * C2SP checkpoints (c2sp.org/tlog-checkpoint): the note text of a signed tree
 * head.
 *
 *   <origin>\n<decimal tree size>\n<base64 root hash>\n[<extension line>\n]*
 *
 * The size has no leading zeroes (except "0"); extension lines are opaque and
 * non-empty. Parsing is strict: a checkpoint that could be written two ways
 * would let two different texts carry one signature's meaning.
 */
import { decodeBase64Strict } from './base64.js';
import { HASH_SIZE } from './hash.js';
import { TlogError, type TlogErrorCode } from './errors.js';
import { parseVerifierKey, verifyNote, type NoteVerifier } from './note.js';

export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  extensions: string[];
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

function checkLine(line: string, what: string): void {
  if (line.length === 0) throw new TlogError('TLOG_CHECKPOINT_MALFORMED', `checkpoint ${what} is empty`);
  if (CONTROL.test(line)) throw new TlogError('TLOG_CHECKPOINT_MALFORMED', `checkpoint ${what} contains a control character`);
}

/** The checkpoint note text (ending in a newline) for a tree head. */
export function formatCheckpoint(c: { origin: string; size: number; root: Uint8Array; extensions?: readonly string[] }): string {
  checkLine(c.origin, 'origin');
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new TlogError('TLOG_CHECKPOINT_MALFORMED', `bad tree size ${c.size}`);
  if (c.root.length !== HASH_SIZE) throw new TlogError('TLOG_CHECKPOINT_MALFORMED', 'root hash is not 32 bytes');
  for (const e of c.extensions ?? []) checkLine(e, 'extension line');
  const lines = [c.origin, String(c.size), Buffer.from(c.root).toString('base64'), ...(c.extensions ?? [])];
  return `${lines.join('\n')}\n`;
}

/** Parses checkpoint note text (not a signed note: see verifyCheckpoint). */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new TlogError('TLOG_CHECKPOINT_MALFORMED', 'checkpoint text must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new TlogError('TLOG_CHECKPOINT_MALFORMED', 'checkpoint needs origin, size and root lines');
  const [origin, sizeText, rootText, ...extensions] = lines;
  checkLine(origin, 'origin');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new TlogError('TLOG_CHECKPOINT_MALFORMED', 'checkpoint size is not a canonical decimal');
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw new TlogError('TLOG_CHECKPOINT_MALFORMED', 'checkpoint size is too large');
  const root = decodeBase64Strict(rootText);
  if (!root || root.length !== HASH_SIZE) throw new TlogError('TLOG_CHECKPOINT_MALFORMED', 'checkpoint root is not a base64 SHA-256 hash');
  for (const e of extensions) checkLine(e, 'extension line');
  return { origin, size, root, extensions };
}

export interface VerifyCheckpointResult {
  ok: boolean;
  reason: string;
  code?: TlogErrorCode;
  checkpoint?: Checkpoint;
  /** The verified note text. */
  text?: string;
}

/**
 * Verifies a signed checkpoint with the log's verifier key and parses it.
 * The origin must equal `origin`, which defaults to the key's name (this
 * log always names its key after its origin, as tlog-checkpoint recommends).
 */
export function verifyCheckpoint(note: string | Uint8Array, vkey: string | NoteVerifier, origin?: string): VerifyCheckpointResult {
  let verifier: NoteVerifier;
  try {
    verifier = typeof vkey === 'string' ? parseVerifierKey(vkey) : vkey;
  } catch (err) {
    return { ok: false, reason: `bad log key: ${(err as Error).message}`, code: 'TLOG_KEY_INVALID' };
  }
  const v = verifyNote(note, verifier);
  if (!v.ok) return { ok: false, reason: `checkpoint signature: ${v.reason}`, code: v.code };
  let cp: Checkpoint;
  try {
    cp = parseCheckpoint(v.text);
  } catch (err) {
    return { ok: false, reason: (err as Error).message, code: 'TLOG_CHECKPOINT_MALFORMED' };
  }
  const want = origin ?? verifier.name;
  if (cp.origin !== want) {
    return { ok: false, reason: `checkpoint origin ${JSON.stringify(cp.origin)} is not ${JSON.stringify(want)}`, code: 'TLOG_ORIGIN' };
  }
  return { ok: true, reason: '', checkpoint: cp, text: v.text };
}
