/**
 * C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, compatible with
 * Go's golang.org/x/mod/sumdb/note key and note encodings:
 *
 *   note      = text (ending in "\n") "\n" 1*( "— " name " " base64(keyid || sig) "\n" )
 *   key ID    = SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4], big-endian uint32
 *   vkey      = name "+" 8-hex key ID "+" base64(0x01 || public key)
 *   skey      = "PRIVATE+KEY+" name "+" 8-hex key ID "+" base64(0x01 || 32-byte seed)
 *
 * Verification follows the spec and Go's note.Open: signatures from unknown
 * keys are ignored; a signature from a known key that fails to verify rejects
 * the whole note; at least one signature by a known key must verify.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { decodeBase64Strict } from './base64.js';
import { TlogError, type TlogErrorCode } from './errors.js';
import { TLOG_BOUNDS } from '../limits.js';

/** Signature type byte for Ed25519 (c2sp.org/signed-note, "Signature types"). */
export const SIG_TYPE_ED25519 = 0x01;
/** The em dash and space that start a signature line. */
export const SIG_PREFIX = '\u2014 ';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PRIVATE_KEY_PREFIX = 'PRIVATE+KEY+';

export interface NoteVerifier {
  readonly name: string;
  /** uint32 key ID. */
  readonly keyId: number;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  /** The verifier key text (`name+hex+base64`). */
  readonly vkey: string;
  verify(message: Buffer, signature: Buffer): boolean;
}

export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  readonly publicKey: Buffer;
  /** The matching verifier key text, safe to publish. */
  readonly vkey: string;
  sign(message: Buffer): Buffer;
}

/**
 * Key names must be non-empty and contain no Unicode spaces and no `+`
 * (the spec; Go uses unicode.IsSpace). `\s` in a /u regex covers the same set.
 */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && isWellFormedUtf16(name);
}

function isWellFormedUtf16(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** SHA-256(name || 0x0A || sigType || publicKey)[:4] as a uint32. */
export function computeKeyId(name: string, sigType: number, publicKey: Uint8Array): number {
  return createHash('sha256')
    .update(Buffer.from(name, 'utf8'))
    .update(Buffer.from([0x0a, sigType]))
    .update(publicKey)
    .digest()
    .readUInt32BE(0);
}

function hex8(id: number): string {
  return id.toString(16).padStart(8, '0');
}

function publicKeyObject(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** Verifier key text for an Ed25519 public key. */
export function formatVerifierKey(name: string, publicKey: Buffer): string {
  if (!isValidKeyName(name)) throw new TlogError('TLOG_KEY_INVALID', `invalid key name ${JSON.stringify(name)}`);
  if (publicKey.length !== 32) throw new TlogError('TLOG_KEY_INVALID', 'an Ed25519 public key is 32 bytes');
  const id = computeKeyId(name, SIG_TYPE_ED25519, publicKey);
  return `${name}+${hex8(id)}+${Buffer.concat([Buffer.from([SIG_TYPE_ED25519]), publicKey]).toString('base64')}`;
}

/** Splits `name+hex+base64`; the base64 part may itself contain `+`. */
function splitKey(text: string): { name: string; idHex: string; keyB64: string } | null {
  const a = text.indexOf('+');
  if (a < 0) return null;
  const b = text.indexOf('+', a + 1);
  if (b < 0) return null;
  return { name: text.slice(0, a), idHex: text.slice(a + 1, b), keyB64: text.slice(b + 1) };
}

function parseKeyParts(text: string, what: string): { name: string; id: number; key: Buffer } {
  const parts = splitKey(text);
  const key = parts ? decodeBase64Strict(parts.keyB64) : null;
  if (!parts || !key || key.length === 0 || !/^[0-9a-fA-F]{8}$/.test(parts.idHex) || !isValidKeyName(parts.name)) {
    throw new TlogError('TLOG_KEY_INVALID', `malformed ${what} key`);
  }
  return { name: parts.name, id: Number.parseInt(parts.idHex, 16), key };
}

/** Parses verifier key text; the key ID must match the name and key. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const text = vkey.trim();
  const { name, id, key } = parseKeyParts(text, 'verifier');
  if (computeKeyId(name, key[0], key.subarray(1)) !== id) {
    throw new TlogError('TLOG_KEY_INVALID', 'verifier key ID does not match its name and key');
  }
  if (key[0] !== SIG_TYPE_ED25519 || key.length !== 33) {
    throw new TlogError('TLOG_KEY_INVALID', `unsupported verifier key type 0x${key[0].toString(16)} (only Ed25519)`);
  }
  const publicKey = Buffer.from(key.subarray(1));
  let pub: KeyObject;
  try {
    pub = publicKeyObject(publicKey);
  } catch (cause) {
    throw new TlogError('TLOG_KEY_INVALID', 'verifier key is not a valid Ed25519 public key', { cause });
  }
  return {
    name,
    keyId: id,
    publicKey,
    vkey: text,
    verify(message: Buffer, signature: Buffer): boolean {
      if (signature.length !== 64) return false;
      try {
        return verify(null, message, pub, signature);
      } catch {
        return false;
      }
    },
  };
}

/** Parses signer key text (`PRIVATE+KEY+name+hex+base64(0x01 || seed)`). */
export function parseSignerKey(skey: string): NoteSigner {
  const text = skey.trim();
  if (!text.startsWith(PRIVATE_KEY_PREFIX)) throw new TlogError('TLOG_KEY_INVALID', 'malformed signer key');
  const { name, id, key } = parseKeyParts(text.slice(PRIVATE_KEY_PREFIX.length), 'signer');
  if (key[0] !== SIG_TYPE_ED25519 || key.length !== 33) {
    throw new TlogError('TLOG_KEY_INVALID', 'unsupported or malformed signer key (only Ed25519 seeds)');
  }
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, key.subarray(1)]), format: 'der', type: 'pkcs8' });
  const publicKey = Buffer.from(createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(-32));
  // Go's NewSigner checks the ID against the derived public key, so a
  // mistyped or truncated seed is caught here instead of at verification.
  if (computeKeyId(name, SIG_TYPE_ED25519, publicKey) !== id) {
    throw new TlogError('TLOG_KEY_INVALID', 'signer key ID does not match its name and key');
  }
  return {
    name,
    keyId: id,
    publicKey,
    vkey: formatVerifierKey(name, publicKey),
    sign: (message: Buffer) => sign(null, message, priv),
  };
}

/** Generates an Ed25519 note key pair. Keep `skey` secret (mode 0600); publish `vkey`. */
export function generateLogKey(name: string): { skey: string; vkey: string } {
  if (!isValidKeyName(name)) throw new TlogError('TLOG_KEY_INVALID', `invalid key name ${JSON.stringify(name)}`);
  const seed = randomBytes(32);
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = Buffer.from(createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(-32));
  const id = computeKeyId(name, SIG_TYPE_ED25519, publicKey);
  const skey = `${PRIVATE_KEY_PREFIX}${name}+${hex8(id)}+${Buffer.concat([Buffer.from([SIG_TYPE_ED25519]), seed]).toString('base64')}`;
  seed.fill(0);
  return { skey, vkey: formatVerifierKey(name, publicKey) };
}

/** Note text rule: non-empty, ends in a newline, no control characters but newline. */
function checkText(text: string): string | null {
  if (text.length === 0 || !text.endsWith('\n')) return 'note text must end with a newline';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x09\x0b-\x1f]/.test(text)) return 'note text contains a control character';
  if (!isWellFormedUtf16(text)) return 'note text is not valid Unicode';
  return null;
}

/** Signs `text` (which must end in a newline) and returns the signed note. */
export function signNote(text: string, signer: string | NoteSigner): string {
  const s = typeof signer === 'string' ? parseSignerKey(signer) : signer;
  const bad = checkText(text);
  if (bad) throw new TlogError('TLOG_NOTE_MALFORMED', bad);
  const sig = s.sign(Buffer.from(text, 'utf8'));
  const id = Buffer.alloc(4);
  id.writeUInt32BE(s.keyId);
  return `${text}\n${SIG_PREFIX}${s.name} ${Buffer.concat([id, sig]).toString('base64')}\n`;
}

export interface NoteSignature {
  name: string;
  keyId: number;
  /** The signature bytes after the key ID. */
  signature: Buffer;
}

/** Syntax-only parse of a signed note (no signature is checked). Throws TLOG_NOTE_MALFORMED. */
export function parseNote(note: string | Uint8Array): { text: string; signatures: NoteSignature[] } {
  let s: string;
  if (typeof note === 'string') {
    s = note;
  } else {
    try {
      s = new TextDecoder('utf-8', { fatal: true }).decode(note);
    } catch {
      throw new TlogError('TLOG_NOTE_MALFORMED', 'note is not valid UTF-8');
    }
  }
  // The text is separated from the signatures by the last blank line.
  const split = s.lastIndexOf('\n\n');
  if (split < 0) throw new TlogError('TLOG_NOTE_MALFORMED', 'note has no signature block');
  const text = s.slice(0, split + 1);
  const bad = checkText(text);
  if (bad) throw new TlogError('TLOG_NOTE_MALFORMED', bad);
  let rest = s.slice(split + 2);
  if (rest.length === 0 || !rest.endsWith('\n')) throw new TlogError('TLOG_NOTE_MALFORMED', 'note signature block is empty or unterminated');
  const signatures: NoteSignature[] = [];
  while (rest.length > 0) {
    const nl = rest.indexOf('\n');
    const line = rest.slice(0, nl);
    rest = rest.slice(nl + 1);
    if (!line.startsWith(SIG_PREFIX)) throw new TlogError('TLOG_NOTE_MALFORMED', 'note has a line that is not a signature after its text');
    const body = line.slice(SIG_PREFIX.length);
    const sp = body.indexOf(' ');
    const name = sp < 0 ? body : body.slice(0, sp);
    const b64 = sp < 0 ? '' : body.slice(sp + 1);
    const sig = decodeBase64Strict(b64);
    if (!isValidKeyName(name) || !sig || sig.length < 5) throw new TlogError('TLOG_NOTE_MALFORMED', 'note has a malformed signature line');
    signatures.push({ name, keyId: sig.readUInt32BE(0), signature: Buffer.from(sig.subarray(4)) });
    if (signatures.length > TLOG_BOUNDS.noteSignatures) throw new TlogError('TLOG_NOTE_MALFORMED', `note has more than ${TLOG_BOUNDS.noteSignatures} signatures`);
  }
  return { text, signatures };
}

export interface VerifyNoteResult {
  ok: boolean;
  /** The note text (only meaningful, and only to be trusted, when ok). */
  text: string;
  /** Empty when ok; otherwise why the note was rejected. */
  reason: string;
  code?: TlogErrorCode;
  /** Names of the keys whose signatures verified. */
  verifiedBy: string[];
}

/**
 * Verifies a signed note against one or more trusted verifier keys. Never
 * throws on hostile input: the answer is in `ok` and `reason`.
 */
export function verifyNote(note: string | Uint8Array, keys: string | NoteVerifier | ReadonlyArray<string | NoteVerifier>): VerifyNoteResult {
  let verifiers: NoteVerifier[];
  try {
    verifiers = ((Array.isArray(keys) ? keys : [keys]) as ReadonlyArray<string | NoteVerifier>).map((k) => (typeof k === 'string' ? parseVerifierKey(k) : k));
  } catch (err) {
    return { ok: false, text: '', reason: `bad verifier key: ${(err as Error).message}`, code: 'TLOG_KEY_INVALID', verifiedBy: [] };
  }
  let parsed: { text: string; signatures: NoteSignature[] };
  try {
    parsed = parseNote(note);
  } catch (err) {
    return { ok: false, text: '', reason: `malformed note: ${(err as Error).message}`, code: 'TLOG_NOTE_MALFORMED', verifiedBy: [] };
  }
  const message = Buffer.from(parsed.text, 'utf8');
  const verifiedBy = new Set<string>();
  for (const sig of parsed.signatures) {
    const matching = verifiers.filter((v) => v.name === sig.name && v.keyId === sig.keyId);
    if (matching.length === 0) continue; // unknown key: ignored, as the spec requires
    if (matching.length > 1) {
      return { ok: false, text: parsed.text, reason: `ambiguous key ${sig.name}+${hex8(sig.keyId)}`, code: 'TLOG_KEY_INVALID', verifiedBy: [] };
    }
    if (!matching[0].verify(message, sig.signature)) {
      return {
        ok: false,
        text: parsed.text,
        reason: `invalid signature for key ${sig.name}+${hex8(sig.keyId)}`,
        code: 'TLOG_NOTE_SIGNATURE',
        verifiedBy: [],
      };
    }
    verifiedBy.add(sig.name);
  }
  if (verifiedBy.size === 0) {
    return { ok: false, text: parsed.text, reason: 'note has no signature by a trusted key', code: 'TLOG_NOTE_SIGNATURE', verifiedBy: [] };
  }
  return { ok: true, text: parsed.text, reason: '', verifiedBy: [...verifiedBy] };
}

/** Like verifyNote but returns the verified text or throws TlogError. */
export function openNote(note: string | Uint8Array, keys: string | NoteVerifier | ReadonlyArray<string | NoteVerifier>): string {
  const r = verifyNote(note, keys);
  if (!r.ok) throw new TlogError(r.code ?? 'TLOG_NOTE_MALFORMED', r.reason);
  return r.text;
}
