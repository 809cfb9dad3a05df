/**
 * Verify the OpenPGP signature of one raw e-mail message.
 *
 * Which part is checked (deliberate choices, see `chooseSignedNode`):
 *
 * - PGP/MIME (RFC 3156): a `multipart/signed` with
 *   protocol="application/pgp-signature"; inline (cleartext): a
 *   non-attachment text/plain leaf containing
 *   `-----BEGIN PGP SIGNED MESSAGE-----` at the start of a line.
 * - Only a signature that IS the message, or that a list wrapped (Mailman:
 *   a multipart/mixed whose FIRST part is the signed entity, footers after
 *   it), speaks for the sender: `authorises` is true only for a good
 *   signature there. One inside a forwarded message (message/rfc822 or
 *   message/global), attached as a file (Content-Disposition: attachment),
 *   or anywhere else in the tree is someone's signature on something the
 *   sender passed along; it is still verified and reported (check-mail
 *   shows it), with `authorises` false and a warning saying why. Such a
 *   position is chosen only when no authorising one exists.
 * - Only the text the verification returns is reported (CVE-2023-41037):
 *   banners before the armour and footers after it are never part of
 *   `signedText`.
 * - S/MIME is reported as unsupported, never verified and never fatal.
 *
 * The signature packet's own octets (version, public-key and hash
 * algorithm ids) are judged against the policy BEFORE verifying
 * (src/pgp/sigpacket.ts): a refused hash or algorithm is 'weak', an id
 * outside the registries or a version we do not read is 'malformed', each
 * with the fix, never 'bad' (which tells the user to look for tampering).
 *
 * The signed bytes always come from the raw message (see mime.ts), in
 * canonical CRLF form. The signature is checked as openpgp.js's verify()
 * checks it (src/pgp/message-signature.ts: the arithmetic by node:crypto
 * where it is plain, the key's validity at signature time by openpgp.js),
 * with reject lists at least as strict as the policy (messageVerifyConfig).
 * The signature's age is NOT judged here: that depends on what the message
 * asks for, and callers do it with `judgeSignatureTime`.
 *
 * verifyMail never throws: every failure is a verdict with a detail line.
 */
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import * as openpgp from 'openpgp';
import { simpleParser } from './parser.js';
import { describeError } from '../errors.js';
import { DEFAULT_LIMITS, LimitError, messageSizeError, REPLY_BOUNDS, type Limits } from '../limits.js';
import {
  DEFAULT_CRYPTO_POLICY, KEY_FIX, hashName, judgeKeyAlgorithm, judgeSignatureAlgorithms, latestAcceptedDate, messageVerifyConfig, publicKeyName,
  type CryptoPolicy, type PolicyCode, type SignatureJudgement,
} from '../policy/index.js';
import { readSignaturePackets, type SignaturePacketFacts } from '../pgp/sigpacket.js';
import { literalBytes, literalCleartext, verifyMessageSignature } from '../pgp/message-signature.js';
import type { Keyring } from '../pgp/keyring.js';
// The key inspector's algorithm facts (curve names mapped to the policy's), so keys are judged alike everywhere.
import { algorithmInfo } from '../pgp/inspect.js';
import {
  decodedBody, entityBytes, getHeader, parseMime, walkMime, type MimeNode, type MimeTree,
} from './mime.js';
import { armouredBlocks, blockKind, lineAnchoredBlock, trimBlanksEnd } from '../text/blocks.js';
import { BEGIN_LINE, chooseSignedNode, findSmimeNode, placementWarnings } from './signed-node.js';

export type SigKind = 'pgpmime' | 'inline' | 'unsigned';
export type Verdict = 'good' | 'bad' | 'nokey' | 'expired-key' | 'revoked-key' | 'weak' | 'unsigned' | 'malformed';

export interface SignedAttachment { filename: string | null; contentType: string; content: Buffer }

export interface MailVerification {
  kind: SigKind;
  verdict: Verdict;
  /**
   * Primary key fingerprint (upper-case hex) of the key the signature names,
   * when that key is in the keyring. It is an IDENTITY only when verdict is
   * 'good'; for 'bad' it merely names the key the signature claims.
   */
  signer: string | null;
  /** Issuer key id (16 upper-case hex), also when the key is unknown. */
  signingKeyId: string | null;
  /** One-line human explanation. */
  detail: string;
  /** How to fix or resend, when something broke. */
  hint: string | null;
  /**
   * What was not checked because the bot does not read it: S/MIME (verdict
   * unsigned), a signature version other than 4 and 6 (v3: weak), or an
   * algorithm id outside the RFC 9580 registries or unable to sign
   * (malformed). Null otherwise, also for algorithms the policy merely refuses.
   */
  unsupported: 'smime' | 'signature-version' | 'hash-algorithm' | 'public-key-algorithm' | null;
  /**
   * The policy's code when it refused the signature's algorithms or version
   * (read from the packet: weak or malformed), for callers that branch on
   * it (check-mail prints it); null otherwise.
   */
  policyCode: PolicyCode | null;
  /**
   * The signature may carry the sender's command: the verdict is 'good' AND
   * the signed entity is the message itself or a list's wrapper around it
   * (multipart/mixed with the signed entity first). False for a signature
   * inside a forwarded message (message/rfc822, message/global), attached as
   * a file, or anywhere else in the tree. Callers must require this, not
   * only verdict === 'good'.
   */
  authorises: boolean;
  /**
   * Authenticated text only, set when the signature is cryptographically
   * valid (verdicts good, weak, expired-key, revoked-key; commands must still
   * require 'good'): PGP/MIME -> the text of the signed part (decoded by
   * mailparser from the raw slice); inline -> the text the verification
   * returned. Null otherwise.
   */
  signedText: string | null;
  /**
   * The signed content and its signature exactly as the signer made them,
   * set with signedText when the signature is cryptographically valid: for
   * keeping a signed statement (a maintainer's root approval) where anyone
   * can check it with GnuPG alone. Inline -> the cleartext-signed block
   * (`gpg --verify` it); PGP/MIME -> the signed entity's bytes and the
   * signature part (`gpg --verify sig data`). Null for inline text in a
   * charset other than UTF-8/ASCII (its block is not valid on its own).
   */
  signedEvidence: { cleartext: string } | { data: Buffer; signature: Buffer } | null;
  /** Attachments inside the signed part (PGP/MIME only), e.g. an attached .asc key. */
  signedAttachments: SignedAttachment[];
  signatureCreated: Date | null;
  /**
   * Replay detector: SHA-256 (hex) over the signature's hashed portion
   * (version, type, algorithms, hashed subpackets incl. creation time) and
   * the SHA-256 of the signed content. The unhashed subpackets and the
   * signature value are left out on purpose: a replayer without the key can
   * still change those (add an unhashed subpacket, flip an ECDSA s to n-s)
   * and would otherwise get a "new" id for the same signature.
   */
  signatureId: string | null;
  /** The policy's hash name (src/policy/ HASH_ALGORITHMS), e.g. 'sha256'; 'hash-<id>' outside the registry. */
  hashAlgorithm: string | null;
  /** openpgp.js's public-key algorithm name of the signature, e.g. 'eddsaLegacy'; 'publickey-<id>' outside the registry. */
  publicKeyAlgorithm: string | null;
  /** The signature packet's version octet (4 or 6; 3 for the old format). */
  signatureVersion: number | null;
  /** Content types from the root to the signed node, e.g. 'multipart/mixed>multipart/signed'; '' for the root. */
  signedPartPath: string;
  /** From/Subject found in the header section of the signed part (authenticated when the verdict is good). */
  protectedHeaders: { from?: string; subject?: string } | null;
  warnings: string[];
}

export interface VerifyOptions { policy?: CryptoPolicy; limits?: Limits; now?: Date }

const BEGIN_SIG = '-----BEGIN PGP SIGNATURE-----';
const END_SIG = '-----END PGP SIGNATURE-----';
// Found by a linear scan (blocks.ts): a regex with a lazy [\s\S]*? is
// retried from every BEGIN line of a hostile signature part (1 MB: 55 s).
const SIG_BLOCK = blockKind('PGP SIGNATURE');

interface Ctx {
  keyring: Keyring;
  policy: CryptoPolicy;
  limits: Limits;
  now: Date;
  tree: MimeTree;
  viaList: boolean;
  /** The policy's complete openpgp.js config (low-level methods such as key.isRevoked need a complete one), with the decompression bound. */
  config: openpgp.Config;
}

function emptyResult(kind: SigKind, verdict: Verdict, detail: string): MailVerification {
  return {
    kind, verdict, signer: null, signingKeyId: null, detail, hint: null, unsupported: null, policyCode: null, authorises: false,
    signedText: null, signedEvidence: null, signedAttachments: [], signatureCreated: null, signatureId: null,
    hashAlgorithm: null, publicKeyAlgorithm: null, signatureVersion: null, signedPartPath: '', protectedHeaders: null, warnings: [],
  };
}

/** verifyMail with the keys and options already chosen (the dispatcher's; queue/verify-pool.ts may run it on another thread). */
export type MailVerifier = (raw: Buffer) => Promise<MailVerification>;

export async function verifyMail(raw: Buffer, keyring: Keyring, opts: VerifyOptions = {}): Promise<MailVerification> {
  const policy = opts.policy ?? DEFAULT_CRYPTO_POLICY;
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const now = opts.now ?? new Date();
  try {
    return await verifyChecked(raw, keyring, policy, limits, now);
  } catch (err) {
    // Last line of defence: a library throwing on input nobody foresaw.
    const r = emptyResult('unsigned', 'malformed', `the message could not be checked: ${oneLine(describeError(err))}`);
    r.hint = MALFORMED_HINT;
    return r;
  }
}

const MALFORMED_HINT = 'Resend the message as plain text, signed with PGP/MIME or an inline (cleartext) signature.';

async function verifyChecked(
  raw: Buffer, keyring: Keyring, policy: CryptoPolicy, limits: Limits, now: Date,
): Promise<MailVerification> {
  const tooLarge = messageSizeError(raw.length, limits);
  if (tooLarge) {
    const r = emptyResult('unsigned', 'malformed', tooLarge.message);
    r.hint = 'Send a smaller message: attach less, or send the key or certificate on its own.';
    return r;
  }
  let tree: MimeTree;
  try {
    tree = parseMime(raw, limits);
  } catch (err) {
    if (!(err instanceof LimitError)) throw err;
    const r = emptyResult('unsigned', 'malformed', err.message);
    r.hint = MALFORMED_HINT;
    return r;
  }
  const ctx: Ctx = {
    keyring, policy, limits, now, tree,
    viaList: cameThroughList(tree.root),
    config: { ...messageVerifyConfig(policy), maxDecompressedMessageSize: limits.maxDecompressedBytes },
  };
  const smime = findSmimeNode(tree.root);

  const chosen = chooseSignedNode(tree.root);
  if (chosen) {
    const r = chosen.kind === 'pgpmime'
      ? await verifyPgpMime(chosen.node, ctx)
      : await verifyInline(chosen.node, chosen.text, ctx);
    r.warnings.unshift(...placementWarnings(chosen.node, chosen.placement));
    r.authorises = r.verdict === 'good' && chosen.placement.authorises;
    if (smime) r.warnings.push('the message also carries an S/MIME signature, which was not checked');
    return r;
  }
  if (smime) {
    const r = emptyResult('unsigned', 'unsigned', 'S/MIME signature: not supported, only OpenPGP signatures are checked');
    r.unsupported = 'smime';
    r.signedPartPath = smime.depth === 0 ? '' : smime.path;
    r.hint = 'Sign the message with OpenPGP (PGP/MIME or inline) instead of S/MIME.';
    return r;
  }
  const encrypted = [...walkMime(tree.root)].some((n) => n.contentType.mime === 'multipart/encrypted');
  return emptyResult('unsigned', 'unsigned', encrypted
    ? 'the message is encrypted and carries no readable OpenPGP signature'
    : 'the message carries no OpenPGP signature');
}

/** List-Id/Mailman/other list headers at the root, or a wrapper above the signed node. */
function cameThroughList(root: MimeNode): boolean {
  const listHeaders = ['list-id', 'list-post', 'list-help', 'list-unsubscribe', 'list-archive', // RFC 2369/2919 (Mailman, LISTSERV)
    'x-mailman-version', 'mailing-list', 'x-mailing-list', 'x-listserver'];
  for (const h of listHeaders) {
    if (getHeader(root, h) !== undefined) return true;
  }
  return /^list$/i.test(getHeader(root, 'precedence')?.trim() ?? '');
}


// ---------------------------------------------------------------------------
// PGP/MIME

async function verifyPgpMime(node: MimeNode, ctx: Ctx): Promise<MailVerification> {
  const r = emptyResult('pgpmime', 'bad', '');
  r.signedPartPath = node.depth === 0 ? '' : node.path;
  const wrapped = node.depth > 0 && !/message\/(rfc822|global)/.test(node.path);
  const listy = ctx.viaList || wrapped;

  const [signedPart, sigPart] = node.children;
  if (!signedPart) {
    return badStructure(r, 'the multipart/signed has no body parts', listy);
  }
  if (!sigPart) {
    return badStructure(r, 'the multipart/signed has no signature part (it was removed on the way, e.g. by a list that drops attachments)', listy);
  }
  if (sigPart.contentType.mime !== 'application/pgp-signature') {
    return badStructure(r, `the second part of the multipart/signed is ${sigPart.contentType.mime}, not application/pgp-signature`, listy);
  }
  const sigBytes = decodedBody(sigPart);
  const refused = await refusedByOctets(sigBytes, ctx);
  if (refused) return applyRefusal(r, refused, ctx);
  let signature: openpgp.Signature;
  try {
    signature = await readDetachedSignature(sigBytes, ctx);
  } catch (err) {
    return badStructure(r, `the signature part could not be read: ${oneLine(describeError(err))}`, listy);
  }

  const signedBytes = entityBytes(signedPart);
  const outcome = await checkSignature(signature, sha256(signedBytes), literalBytes(signedBytes), ctx);
  applyOutcome(r, outcome, listy);

  if (outcome.cryptoValid) {
    await fillSignedContent(r, signedPart, signedBytes);
    r.signedEvidence = { data: signedBytes, signature: sigBytes };
  }
  return r;
}


interface Refusal { facts: SignaturePacketFacts; judgement: Exclude<SignatureJudgement, { ok: true }> }

/**
 * The policy's verdict on the signature packets' own octets, before any
 * verification: a refusal when no packet is acceptable, null when one is
 * (or when none can be read: openpgp.js then reports the damage).
 */
async function refusedByOctets(bytes: Buffer, ctx: Ctx): Promise<Refusal | null> {
  let binary: Uint8Array = bytes;
  const text = bytes.toString('latin1');
  if (text.includes(BEGIN_SIG)) {
    // Line-anchored: a dash-escaped line inside cleartext never matches.
    const armoured = lineAnchoredBlock(text, SIG_BLOCK);
    if (armoured === null) return null;
    try {
      binary = (await openpgp.unarmor(armoured)).data as Uint8Array;
    } catch {
      return null;
    }
  }
  let first: Refusal | null = null;
  for (const facts of readSignaturePackets(binary)) {
    const judgement = judgeSignatureAlgorithms(ctx.policy, facts);
    if (judgement.ok) return null;
    first ??= { facts, judgement };
  }
  return first;
}

function applyRefusal(r: MailVerification, { facts, judgement }: Refusal, ctx: Ctx): MailVerification {
  r.verdict = judgement.verdict;
  r.signingKeyId = facts.issuerKeyId;
  r.signatureCreated = facts.created;
  r.hashAlgorithm = hashName(facts.hashId);
  r.publicKeyAlgorithm = publicKeyName(facts.publicKeyId);
  r.signatureVersion = facts.version;
  r.unsupported = judgement.verdict === 'malformed' || judgement.rule === 'signature-version' ? judgement.rule : null;
  r.policyCode = judgement.code;
  // Name the key the signature claims (as for 'bad'); it is not an identity: nothing was verified.
  const keys = facts.issuerKeyId ? ctx.keyring.findAllByKeyId(facts.issuerKeyId) : [];
  r.signer = keys.length === 1 ? keys[0].getFingerprint().toUpperCase() : null;
  const made = facts.created ? ` made ${facts.created.toISOString()}` : '';
  const by = r.signer ? ` by key ${r.signer}` : facts.issuerKeyId ? ` by key ${facts.issuerKeyId}` : '';
  r.detail = `the signature${made}${by} was not accepted: ${judgement.reason}`;
  r.hint = judgement.fix;
  return r;
}

function badStructure(r: MailVerification, detail: string, listy: boolean): MailVerification {
  r.verdict = 'bad';
  r.detail = detail;
  r.hint = badHint(listy);
  return r;
}

async function readDetachedSignature(bytes: Buffer, ctx: Ctx): Promise<openpgp.Signature> {
  const text = bytes.toString('latin1');
  if (text.includes(BEGIN_SIG)) {
    const armoured = armouredBlocks(text, [SIG_BLOCK], 1)[0];
    if (armoured === undefined) throw new Error('armoured signature without an END line');
    return openpgp.readSignature({ armoredSignature: armoured, config: ctx.config });
  }
  return openpgp.readSignature({ binarySignature: bytes, config: ctx.config });
}

/** Text, attachments and protected headers of the signed part, via mailparser on the exact slice. */
async function fillSignedContent(r: MailVerification, signedPart: MimeNode, signedBytes: Buffer): Promise<void> {
  // A command is read only from text the bot decodes exactly as the signer's
  // client showed it. For a charset the bot cannot decode (EBCDIC IBM037,
  // a made-up name), mailparser would fall back to reading the bytes as if
  // they were ASCII/Latin-1: text the signer may never have seen. No signed
  // text then; the sender is told why.
  const unreadable = undecodableCharset(signedPart);
  if (unreadable) {
    r.warnings.push(`the signed text is declared as charset ${unreadable.slice(0, REPLY_BOUNDS.quotedCharsetChars)}, which the bot cannot decode; send it as UTF-8`);
    r.detail = `${r.detail}; the signed text is declared as charset ${unreadable.slice(0, REPLY_BOUNDS.quotedCharsetChars)}, which the bot cannot decode (send it as UTF-8)`;
    r.signedText = null;
    return;
  }
  try {
    const parsed = await simpleParser(signedBytes, { skipTextToHtml: true, skipImageLinks: true });
    r.signedText = parsed.text ?? '';
    r.signedAttachments = parsed.attachments.map((a) => ({
      filename: a.filename ?? null,
      contentType: a.contentType,
      content: a.content,
    }));
    const hasFrom = getHeader(signedPart, 'from') !== undefined;
    const hasSubject = getHeader(signedPart, 'subject') !== undefined;
    if (hasFrom || hasSubject) {
      const ph: { from?: string; subject?: string } = {};
      if (hasFrom && parsed.from) ph.from = parsed.from.text;
      if (hasSubject && parsed.subject !== undefined) ph.subject = parsed.subject;
      r.protectedHeaders = ph;
    }
  } catch (err) {
    r.warnings.push(`the signed part's text could not be decoded: ${oneLine(describeError(err))}`);
    r.signedText = null;
  }
}

// ---------------------------------------------------------------------------
// Inline (cleartext)

async function verifyInline(node: MimeNode, body: Buffer, ctx: Ctx): Promise<MailVerification> {
  const r = emptyResult('inline', 'bad', '');
  r.signedPartPath = node.depth === 0 ? '' : node.path;
  const listy = ctx.viaList || node.depth > 0;

  const block = locateCleartextBlock(body);
  if (!block.ok) return badStructure(r, block.reason, listy);
  if (block.outsideText) r.warnings.push('text outside the signed block (e.g. a list banner or footer) was ignored');
  const slice = body.subarray(block.start, block.end);
  const refused = await refusedByOctets(slice, ctx);
  if (refused) return applyRefusal(r, refused, ctx);
  const charset = (node.contentType.params.charset ?? 'us-ascii').trim().toLowerCase();
  const utf8ish = ['us-ascii', 'ascii', 'utf-8', 'utf8'].includes(charset);

  if (utf8ish && isUtf8(slice)) {
    // openpgp.js hashes cleartext as UTF-8, which is right for UTF-8 and ASCII bodies.
    let msg: openpgp.CleartextMessage;
    try {
      msg = await openpgp.readCleartextMessage({ cleartextMessage: slice.toString('utf8'), config: ctx.config });
    } catch (err) {
      return badStructure(r, `the inline signed block could not be read: ${oneLine(describeError(err))}`, listy);
    }
    const outcome = await checkSignature((msg as unknown as { signature: openpgp.Signature }).signature, sha256(Buffer.from(cleartextCanonical(msg.getText()), 'utf8')),
      literalCleartext(msg), ctx);
    applyOutcome(r, outcome, listy);
    if (outcome.cryptoValid) {
      // The text the signature covers, as openpgp.js's verify returns it (LF line ends).
      r.signedText = msg.getText();
      r.signedEvidence = { cleartext: slice.toString('utf8') };
    }
    return r;
  }

  // Any other charset (Latin-1 ...): the signer hashed the original bytes, so
  // check a detached text signature over exactly those bytes.
  const parsed = parseCleartextBytes(slice);
  if (!parsed.ok) return badStructure(r, parsed.reason, listy);
  let signature: openpgp.Signature;
  try {
    signature = await openpgp.readSignature({ armoredSignature: parsed.armoredSignature, config: ctx.config });
  } catch (err) {
    return badStructure(r, `the inline signature could not be read: ${oneLine(describeError(err))}`, listy);
  }
  const sigHash = signature.packets[0] ? hashName(signature.packets[0].hashAlgorithm) : undefined;
  // The header spells RFC 9580 names (SHA256, SHA3-256, RIPEMD160); the policy's names differ only in punctuation.
  const bare = (h: string) => h.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (parsed.hashes.length > 0 && sigHash && !parsed.hashes.map(bare).includes(bare(sigHash))) {
    return badStructure(r, `the Hash: header (${parsed.hashes.join(', ')}) does not match the signature's hash (${sigHash})`, listy);
  }
  const outcome = await checkSignature(signature, sha256(parsed.signedData), literalBytes(parsed.signedData), ctx);
  applyOutcome(r, outcome, listy);
  // LF line ends, like the text openpgp.js returns for UTF-8 cleartext and mailparser for PGP/MIME.
  if (outcome.cryptoValid) {
    const text = decodeCharset(parsed.signedData, charset);
    if (text === null) r.detail = `${r.detail}; the signed text is declared as charset ${charset.slice(0, REPLY_BOUNDS.quotedCharsetChars)}, which the bot cannot decode (send it as UTF-8)`;
    r.signedText = text === null ? null : text.replace(/\r\n/g, '\n');
  }
  return r;
}

type Located = { ok: true; start: number; end: number; outsideText: boolean } | { ok: false; reason: string };

/** From the BEGIN line to the end of the END line (its line break excluded); anything else is outside. */
function locateCleartextBlock(body: Buffer): Located {
  const s = body.toString('latin1');
  const m = BEGIN_LINE.exec(s);
  if (!m) return { ok: false, reason: 'no inline signed block found' };
  const start = m.index + (m[0].startsWith('\r\n') ? 2 : 0);
  const endRe = /(?:^|\r\n)-----END PGP SIGNATURE-----[ \t]*(?=\r\n|$)/g;
  endRe.lastIndex = start;
  const e = endRe.exec(s);
  if (!e) return { ok: false, reason: 'the inline signed block is incomplete (no END PGP SIGNATURE line)' };
  const end = e.index + e[0].length;
  const outsideText = s.slice(0, start).trim() !== '' || s.slice(end).trim() !== '';
  return { ok: true, start, end, outsideText };
}

type ParsedCleartext =
  | { ok: true; hashes: string[]; signedData: Buffer; armoredSignature: string }
  | { ok: false; reason: string };

/**
 * RFC 9580 section 7 on raw bytes: armour header lines (only `Hash:`), an
 * empty line, dash-escaped text, the signature. Anything else between the
 * BEGIN line and the empty line is refused, which is the CVE-2023-41037
 * shape (text smuggled in front of the real header).
 */
function parseCleartextBytes(slice: Buffer): ParsedCleartext {
  const lines = slice.toString('latin1').split('\r\n');
  let i = 1; // line 0 is the BEGIN line
  const hashes: string[] = [];
  for (; i < lines.length && lines[i].trim() !== ''; i++) {
    const h = /^Hash: ?([A-Za-z0-9, -]+)$/.exec(lines[i].trimEnd());
    if (!h) return { ok: false, reason: 'the inline signed block has an unexpected armour header line' };
    hashes.push(...h[1].split(',').map((x) => x.trim().toLowerCase().replace(/-/g, '')).filter(Boolean));
  }
  i++; // the empty line
  const text: string[] = [];
  for (; i < lines.length && lines[i].trimEnd() !== BEGIN_SIG; i++) {
    let line = lines[i];
    if (line.startsWith('- ')) line = line.slice(2);
    text.push(trimBlanksEnd(line));
  }
  if (i >= lines.length) return { ok: false, reason: 'the inline signed block has no signature' };
  const armoredSignature = lines.slice(i).join('\n');
  if (!armoredSignature.includes(END_SIG)) return { ok: false, reason: 'the inline signature has no END line' };
  return { ok: true, hashes, signedData: Buffer.from(text.join('\r\n'), 'latin1'), armoredSignature };
}

/** The canonical form of cleartext as hashed: trailing blanks removed, CRLF between lines. */
function cleartextCanonical(text: string): string {
  // trimBlanksEnd, not /[ \t]+$/: the regex is quadratic on a long run of blanks before a letter.
  return text.split(/\r?\n/).map(trimBlanksEnd).join('\r\n');
}

/** The charset of the first text/* leaf (in the signed part) that TextDecoder does not know, or null. */
function undecodableCharset(node: MimeNode): string | null {
  if (node.children.length) {
    for (const c of node.children) {
      const u = undecodableCharset(c);
      if (u) return u;
    }
    return null;
  }
  if (node.contentType.type !== 'text') return null;
  const charset = node.contentType.params.charset?.trim();
  if (!charset) return null;
  try {
    new TextDecoder(charset);
    return null;
  } catch {
    return charset;
  }
}

/** The text in `charset`, or null when the bot cannot decode that charset (never a guess: see fillSignedContent). */
function decodeCharset(bytes: Buffer, charset: string): string | null {
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Signature checking shared by both kinds

interface Outcome {
  verdict: Verdict;
  detail: string;
  /** The signature matches the data and the key (whatever the key's state or the policy say). */
  cryptoValid: boolean;
  signer: string | null;
  signingKeyId: string | null;
  signatureCreated: Date | null;
  signatureId: string | null;
  hashAlgorithm: string | null;
  publicKeyAlgorithm: string | null;
  signatureVersion: number | null;
  /** A hint of its own (a policy refusal names its fix); else the verdict's usual hint. */
  hint?: string;
  warnings: string[];
}

/** Allow the policy's clock skew at library level; the age is judged by callers. */
function verifyDate(ctx: Ctx): Date {
  return latestAcceptedDate(ctx.policy, ctx.now);
}

async function checkSignature(
  signature: openpgp.Signature, contentDigest: Buffer, data: openpgp.LiteralDataPacket, ctx: Ctx,
): Promise<Outcome> {
  const packets = signature.packets.filter((p): p is openpgp.SignaturePacket => p instanceof openpgp.SignaturePacket);
  const out: Outcome = {
    verdict: 'bad', detail: '', cryptoValid: false, signer: null, signingKeyId: null,
    signatureCreated: null, signatureId: null, hashAlgorithm: null, publicKeyAlgorithm: null, signatureVersion: null, warnings: [],
  };
  if (packets.length === 0) {
    out.detail = 'the signature part holds no signature packet';
    return out;
  }
  // The same judgement as on the raw octets (refusedByOctets), on what
  // openpgp.js parsed: a packet the policy refuses is never the one checked.
  const judged = packets.map((p) => ({ p, j: judgeSignatureAlgorithms(ctx.policy, { version: p.version, hashId: p.hashAlgorithm ?? -1, publicKeyId: p.publicKeyAlgorithm ?? -1 }) }));
  const acceptable = judged.filter((x) => x.j.ok).map((x) => x.p);
  // With several signatures (rare), use the first acceptable one whose key we know.
  let chosen = acceptable[0] ?? packets[0];
  let candidates: openpgp.PublicKey[] = [];
  for (const p of acceptable) {
    const c = candidateKeys(p, ctx.keyring);
    if (c.length > 0) { chosen = p; candidates = c; break; }
  }
  out.signingKeyId = chosen.issuerKeyID.toHex().toUpperCase();
  out.signatureCreated = chosen.created ?? null;
  out.hashAlgorithm = hashName(chosen.hashAlgorithm);
  out.publicKeyAlgorithm = publicKeyName(chosen.publicKeyAlgorithm);
  out.signatureVersion = chosen.version;
  const refusal = judged.find((x) => x.p === chosen)!.j;
  if (!refusal.ok) {
    out.verdict = refusal.verdict;
    out.detail = `the signature by key ${out.signingKeyId} was not accepted: ${refusal.reason}`;
    out.hint = refusal.fix;
    return out;
  }
  out.signatureId = chosen.signatureData
    ? createHash('sha256').update(chosen.signatureData).update(contentDigest).digest('hex')
    : null;
  if (![openpgp.enums.signature.binary, openpgp.enums.signature.text].includes(chosen.signatureType as number)) {
    out.detail = `the signature is not a document signature (type 0x${(chosen.signatureType ?? 0).toString(16).padStart(2, '0')})`;
    return out;
  }
  if (candidates.length === 0) {
    const fpr = chosen.issuerFingerprint ? Buffer.from(chosen.issuerFingerprint).toString('hex').toUpperCase() : null;
    out.verdict = 'nokey';
    out.detail = `signed by key ${out.signingKeyId}${fpr ? ` (${fpr})` : ''}, which is not in the keyring`;
    return out;
  }

  let firstError: { key: openpgp.PublicKey; err: unknown } | null = null;
  for (const key of candidates) {
    // The key's algorithm and size, before verifying: openpgp.js (minRSABits,
    // rejectPublicKeyAlgorithms) would only throw, which reads as "bad".
    const refusedKey = judgeSigningKey(chosen, key, ctx.policy).refused;
    if (refusedKey) {
      out.signer = key.getFingerprint().toUpperCase();
      out.verdict = 'weak';
      out.detail = `the ${refusedKey.label} of ${out.signer} is refused by the policy: ${refusedKey.reason}`;
      out.hint = KEY_FIX;
      return out;
    }
    let err: unknown = null;
    try {
      // Only the chosen packet is checked; openpgp.js's verify(), which this
      // follows, would check every packet and report each.
      await verifyMessageSignature(chosen, key, data, verifyDate(ctx), ctx.config);
    } catch (e) {
      err = e;
    }
    if (err === null) return judgeValid(out, chosen, key, ctx);
    const judgedAt = await laterValidityDate(err, chosen, key, ctx);
    if (judgedAt) {
      out.warnings.push(`every self-signature of the key is newer than this signature; its validity was judged at ${judgedAt.toISOString()}, as GnuPG does`);
      return judgeValid(out, chosen, key, ctx);
    }
    firstError ??= { key, err };
  }
  return classifyFailure(out, chosen, firstError!.key, firstError!.err);
}

/**
 * A refreshed key often carries only self-signatures made after some of its
 * old signatures (clients and keyservers prune superseded ones). openpgp.js
 * then finds no self-signature valid at the signature's time and reports
 * "creation time is in the future". GnuPG judges such a key by its current
 * self-signatures instead. We do the same, narrowly: the cryptography held
 * (openpgp.js checks it first), the message signature itself is not dated in
 * the future, and the key is valid for signing at the earliest of its own
 * self-signature dates after the signature. Returns that date, or null.
 */
async function laterValidityDate(err: unknown, sig: openpgp.SignaturePacket, key: openpgp.PublicKey, ctx: Ctx): Promise<Date | null> {
  if (!/creation time is in the future/i.test(describeError(err)) || !sig.created) return null;
  if (sig.created > verifyDate(ctx)) return null;
  const direct = (key as unknown as { directSignatures?: openpgp.SignaturePacket[] }).directSignatures ?? [];
  const dates = [
    ...key.users.flatMap((u) => u.selfCertifications),
    ...direct,
    ...key.subkeys.flatMap((s) => s.bindingSignatures),
  ].map((p) => p.created).filter((d): d is Date => d instanceof Date && d >= sig.created! && d <= ctx.now)
    .sort((a, b) => a.getTime() - b.getTime());
  for (const d of dates) {
    try {
      await key.getSigningKey(sig.issuerKeyID, d, undefined, ctx.config);
      return d;
    } catch { /* try the next date */ }
  }
  return null;
}

/** Keys that may have made this signature: by issuer fingerprint when present, else by key id. */
function candidateKeys(p: openpgp.SignaturePacket, keyring: Keyring): openpgp.PublicKey[] {
  if (p.issuerFingerprint) {
    const k = keyring.findByFingerprint(Buffer.from(p.issuerFingerprint).toString('hex'));
    return k ? [k] : [];
  }
  const id = p.issuerKeyID.toHex();
  if (/^0+$/.test(id)) return []; // wildcard key id: we do not try every key
  return keyring.findAllByKeyId(id);
}

async function judgeValid(out: Outcome, sig: openpgp.SignaturePacket, key: openpgp.PublicKey, ctx: Ctx): Promise<Outcome> {
  out.cryptoValid = true;
  out.signer = key.getFingerprint().toUpperCase();
  const signingKey = key.getKeys(sig.issuerKeyID)[0] ?? key;
  const made = sig.created ? ` made ${sig.created.toISOString()}` : '';

  // Revocation is judged as of now: a revoked key must not authorise anything any more.
  const primaryRevoked = await key.isRevoked(undefined, undefined, ctx.now, ctx.config);
  const subRevoked = signingKey instanceof openpgp.Subkey
    && await signingKey.isRevoked(undefined as unknown as openpgp.SignaturePacket, undefined as unknown as openpgp.PublicKeyPacket, ctx.now, ctx.config);
  if (primaryRevoked || subRevoked) {
    out.verdict = 'revoked-key';
    out.detail = `the signature${made} is by ${primaryRevoked ? 'a revoked key' : 'a revoked subkey of'} ${out.signer}`;
    return out;
  }
  try {
    const exp = await key.getExpirationTime(undefined, ctx.config);
    if (exp instanceof Date && exp < ctx.now) {
      out.warnings.push(`the key expired on ${exp.toISOString()}, after it made this signature`);
    }
  } catch { /* informational only */ }

  // The hash and the key's strength were judged before verifying (refusedByOctets, judgeSigningKey); only warnings remain.
  out.warnings.push(...judgeSigningKey(sig, key, ctx.policy).warnings);
  out.verdict = 'good';
  out.detail = `good signature${made} by ${out.signer} (${out.hashAlgorithm})`;
  return out;
}

/**
 * The signing (sub)key and, when different, the primary key against the
 * policy (algorithm, size, curve): the first refusal, and the warnings
 * (e.g. RSA below the recommended size).
 */
function judgeSigningKey(sig: openpgp.SignaturePacket, key: openpgp.PublicKey, policy: CryptoPolicy): { refused: { label: string; reason: string } | null; warnings: string[] } {
  const signingKey = key.getKeys(sig.issuerKeyID)[0] ?? key;
  const packets: Array<[string, openpgp.AnyKeyPacket]> = [['signing key', signingKey.keyPacket]];
  if (signingKey.keyPacket !== key.keyPacket) packets.push(['primary key', key.keyPacket]);
  const warnings: string[] = [];
  for (const [label, packet] of packets) {
    const judged = judgeKeyAlgorithm(policy, algorithmInfo(packet));
    if (!judged.ok) return { refused: { label, reason: judged.reason }, warnings };
    if (judged.warning) warnings.push(`${label}: ${judged.warning}`);
  }
  return { refused: null, warnings };
}

/**
 * Failures come as openpgp.js's Error messages (message-signature.ts keeps
 * its words). In its order of checks (openpgp.mjs createVerificationObject,
 * which message-signature.ts follows) the digest and the signature value
 * are checked first; a revoked/expired key is reported only after the
 * cryptography held, which is why those two verdicts imply a valid signature.
 */
async function classifyFailure(out: Outcome, sig: openpgp.SignaturePacket, key: openpgp.PublicKey, err: unknown): Promise<Outcome> {
  const msg = oneLine(describeError(err));
  out.signer = key.getFingerprint().toUpperCase();
  const made = sig.created ? ` made ${sig.created.toISOString()}` : '';
  if (/Signed digest did not match|Signature verification failed/i.test(msg)) {
    out.verdict = 'bad';
    out.detail = `the signature${made} by ${out.signer} does not match the signed data (changed after signing)`;
  } else if (/Insecure (message )?hash algorithm|considered too weak|is disabled|too weak for EdDSA/i.test(msg)) {
    // openpgp.js's reject lists (messageVerifyConfig, the second wall) refused
    // what the octet checks cannot see: the key's own self-signature or
    // binding made with MD5 or RIPEMD-160. A policy refusal, not tampering.
    out.verdict = 'weak';
    out.detail = `the key ${out.signer} is valid only through a signature the policy refuses (${msg})`;
    out.hint = KEY_FIX;
  } else if (/\bis revoked\b/i.test(msg)) {
    // openpgp.js's "Primary key / Subkey / ... is revoked"; not "intended to
    // be revoked with an authorized key" (a revocation-key subpacket on the
    // signature itself), which is a signature it refuses: 'bad' below.
    out.verdict = 'revoked-key';
    out.cryptoValid = true;
    out.detail = `the signature${made} is by a revoked key ${out.signer} (${msg})`;
  } else if (/Signature is expired/i.test(msg)) {
    out.verdict = 'bad';
    out.detail = `the signature${made} by ${out.signer} has expired`;
  } else if (/expired/i.test(msg)) {
    out.verdict = 'expired-key';
    out.cryptoValid = true;
    let when = '';
    try {
      const exp = await key.getExpirationTime();
      if (exp instanceof Date) when = ` (key expired ${exp.toISOString()})`;
    } catch { /* informational only */ }
    out.detail = `the key ${out.signer} had already expired when it signed${sig.created ? ` on ${sig.created.toISOString()}` : ''}${when}`;
  } else if (/creation time is in the future/i.test(msg)) {
    out.verdict = 'bad';
    out.detail = `the signature by ${out.signer} is dated in the future${made}`;
  } else {
    out.verdict = 'bad';
    out.detail = `the signature by ${out.signer} is not valid: ${msg}`;
  }
  return out;
}

function applyOutcome(r: MailVerification, o: Outcome, listy: boolean): void {
  r.verdict = o.verdict;
  r.detail = o.detail;
  r.signer = o.signer;
  r.signingKeyId = o.signingKeyId;
  r.signatureCreated = o.signatureCreated;
  r.signatureId = o.signatureId;
  r.hashAlgorithm = o.hashAlgorithm;
  r.publicKeyAlgorithm = o.publicKeyAlgorithm;
  r.signatureVersion = o.signatureVersion;
  r.warnings.push(...o.warnings);
  r.hint = o.hint ?? hintFor(o.verdict, listy);
}

function hintFor(verdict: Verdict, listy: boolean): string | null {
  switch (verdict) {
    case 'bad': return badHint(listy);
    case 'nokey': return 'The signing key is not known here; its key must be in the collection before its signatures count.';
    case 'expired-key': return 'The key had expired when it signed: extend its expiry, send the updated key (UPDATE KEY), then sign and resend.';
    case 'revoked-key': return 'The key is revoked; sign with a key that is not revoked.';
    case 'weak': return KEY_FIX;
    case 'malformed': return MALFORMED_HINT;
    default: return null;
  }
}

function badHint(listy: boolean): string {
  return listy
    ? 'A mailing list appears to have altered the signed part (refolded headers, re-encoded text or removed the signature part). '
      + 'Resend with an inline (cleartext) signature, which survives list footers, or send directly to the bot, '
      + 'or ask the list owner to stop rewriting signed messages.'
    : 'The message was changed after it was signed (or signed wrongly). Sign it again and resend it directly.';
}

function sha256(b: Uint8Array): Buffer {
  return createHash('sha256').update(b).digest();
}

function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex -- text from hostile mail: control characters are what this replaces
  return s.replace(/[\r\n]+/g, ' ').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '?').slice(0, REPLY_BOUNDS.quotedErrorChars);
}
