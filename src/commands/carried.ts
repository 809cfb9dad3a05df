/**
 * Key material a message carries: armoured in its text, or attached.
 *
 * Two uses, kept apart on purpose:
 * - `carriedKeys` reads the WHOLE message (unauthenticated) and only widens
 *   the set of keys a signature is checked against (proof of possession for
 *   SUBMIT KEY): it never decides what is stored.
 * - `signedKeyData` reads only what the signature covers (the signed text
 *   after the command line, and attachments inside the signed part): that is
 *   what handlers submit to the collection.
 */
import type { ParsedMail } from 'mailparser';
import type * as openpgp from 'openpgp';
import type { Limits } from '../limits.js';
import { fingerprintOf, readKeysAny } from '../pgp/inspect.js';
import { armouredBlocks, blockKind } from '../text/blocks.js';
import type { CommandRequest } from './types.js';
import { line } from '../templates.js';
import { armouredKeyTooLarge, COMMAND_BOUNDS, MESSAGE_BOUNDS } from '../limits.js';

// Found by a linear scan (src/text/blocks.ts), never a lazy regex over untrusted text.
const KEY_BLOCK = blockKind('PGP PUBLIC KEY BLOCK', 'PGP PRIVATE KEY BLOCK');

/** Armoured key blocks in a text, in order. */
export function keyBlocksIn(text: string | null | undefined): string[] {
  return armouredBlocks(text ?? '', [KEY_BLOCK]);
}

function looksLikeKeyAttachment(a: { filename?: string | null; contentType: string; content: Buffer }): boolean {
  const name = (a.filename ?? '').toLowerCase();
  if (a.contentType.toLowerCase() === 'application/pgp-keys') return true;
  if (/\.(asc|gpg|pgp|key|pub)$/.test(name) && !/\.(crt|sig)\.asc$/.test(name)) {
    const head = a.content.subarray(0, MESSAGE_BOUNDS.keySniffBytes).toString('latin1');
    return head.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----') || head.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----') ||
      (!head.includes('-----BEGIN') && a.content.length > 0 && (a.content[0] & 0x80) !== 0);
  }
  return false;
}

/** Key data (armoured text or binary) from attachments that look like keys. */
function keyAttachments(list: readonly { filename?: string | null; contentType: string; content: Buffer }[]): (string | Buffer)[] {
  const out: (string | Buffer)[] = [];
  for (const a of list) {
    if (!looksLikeKeyAttachment(a)) continue;
    const text = a.content.toString('latin1');
    const blocks = keyBlocksIn(text);
    if (blocks.length > 0) out.push(...blocks);
    else out.push(a.content);
  }
  return out;
}

export interface CarriedKeys {
  keys: openpgp.PublicKey[];
  /** Sizes of key blocks not read because they are over the key-size limit (the sender is told). */
  oversize: number[];
}

async function readAll(data: (string | Buffer)[], limits: Limits): Promise<CarriedKeys> {
  const keys: openpgp.PublicKey[] = [];
  const oversize: number[] = [];
  for (const d of data.slice(0, COMMAND_BOUNDS.keyBlocks)) {
    // An oversized block is not read at all: reading it is the cost an
    // attacker wants us to pay. Its size is reported instead.
    if (armouredKeyTooLarge(d.length, limits)) {
      oversize.push(d.length);
      continue;
    }
    try {
      for (const k of await readKeysAny(d)) keys.push(k.isPrivate() ? (k).toPublic() : (k));
    } catch { /* unreadable: the handler reports it from the signed copy */ }
  }
  return { keys, oversize };
}

/**
 * Keys anywhere in the message (unauthenticated): only for checking who
 * signed it. `text` is the body as a reader sees it (inline armour removed).
 */
export async function carriedKeys(mail: ParsedMail, text: string, limits: Limits): Promise<CarriedKeys> {
  const data: (string | Buffer)[] = [...keyBlocksIn(text)];
  data.push(...keyAttachments(mail.attachments.map((a) => ({ filename: a.filename ?? null, contentType: a.contentType, content: a.content }))));
  return readAll(data, limits);
}

/** Key data covered by the signature: blocks in the signed text after the command, then signed attachments. */
export function signedKeyData(req: CommandRequest): (string | Buffer)[] {
  return [...keyBlocksIn(req.command.following), ...keyAttachments(req.verification.signedAttachments)];
}

export type KeyRead =
  | { ok: true; keys: openpgp.Key[] }
  | { ok: false; rule: 'no-key' | 'key-unreadable' | 'limit-key-size' | 'one-key'; reason: string };

/**
 * Read the keys in data a handler took from signed content. Copies of one
 * key (e.g. pasted and attached) count once; the first copy is used.
 */
export async function readSubmittedKeys(data: (string | Buffer)[], limits: Limits): Promise<KeyRead> {
  if (data.length === 0) return { ok: false, rule: 'no-key', reason: line('reason-no-key', {}) };
  if (data.length > COMMAND_BOUNDS.keyBlocks) {
    return { ok: false, rule: 'one-key', reason: line('reason-one-key-blocks', { count: data.length }) };
  }
  const keys = new Map<string, openpgp.Key>();
  for (const d of data) {
    if (armouredKeyTooLarge(d.length, limits)) {
      return { ok: false, rule: 'limit-key-size', reason: line('reason-limit-key-size-block', { bytes: d.length, limit: limits.maxKeyBytes }) };
    }
    let read: openpgp.Key[];
    try {
      read = await readKeysAny(d);
    } catch (err) {
      return { ok: false, rule: 'key-unreadable', reason: line('reason-key-unreadable', { error: (err as Error).message }) };
    }
    for (const k of read) if (!keys.has(fingerprintOf(k))) keys.set(fingerprintOf(k), k);
  }
  if (keys.size === 0) return { ok: false, rule: 'no-key', reason: line('reason-no-key', {}) };
  return { ok: true, keys: [...keys.values()] };
}
