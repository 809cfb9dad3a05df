/**
 * Building the bot's outgoing mail, byte for byte, and signing it.
 *
 * We build the MIME by hand rather than with a MIME library because the
 * signature must cover the exact bytes of the first part: a library that
 * refolds headers or re-encodes the body after signing would break it
 * (NOTES.md, "Signed mail"). Header values are folded and encoded with
 * nodemailer's mime-funcs in their header modes (see headerLine).
 */
import { createHash, randomBytes } from 'node:crypto';
import { domainToASCII } from 'node:url';
import mimeFuncs from 'nodemailer/lib/mime-funcs/index.js';
import qp from 'nodemailer/lib/qp/index.js';
import { HEADER_LIMITS, NAME_BOUNDS } from '../limits.js';
import type { BotSigner } from '../pgp/botkey.js';
import { isAscii, sanitizeHeaderText } from './text.js';
import { trimLinesBlanksEnd } from '../text/blocks.js';
import { line } from '../templates.js';

export type ReplyStatus = 'accepted' | 'pending' | 'approved' | 'rejected' | 'applied' | 'found' | 'not-found' | 'error';
export type SigningStyle = 'pgpmime' | 'inline';

export interface Address { name?: string; address: string }

export interface OutgoingMail {
  from: Address;
  to: string[];
  subject: string;
  messageId: string;
  date: Date;
  inReplyTo?: string | null;
  references?: string[];
  /** RFC 3834: auto-replied for answers, auto-generated for notices and digests. */
  /** RFC 3834; omitted only for mail written on behalf of a person (the demo's sample mail). */
  autoSubmitted: 'auto-replied' | 'auto-generated' | null;
  loopHeader: { name: string; value: string } | null;
  status?: ReplyStatus;
  /** Extra headers (List-Unsubscribe, X-Ztrust-Ticket...). Names must be ASCII tokens. */
  headers?: Record<string, string>;
  /** The full text body (status lines first); already reflowed to 72 columns. */
  body: string;
  signing: SigningStyle;
  /**
   * Files sent with the text (a key a VERIFY reply hands out). PGP/MIME
   * only: they go inside the signed entity (multipart/mixed), so the
   * signature covers them. An inline-signed mail cannot sign an attachment,
   * so there they are left out: what the reader needs must also be in the
   * signed text.
   */
  attachments?: readonly MailAttachment[];
}

/** A text file attached to a reply: ASCII only (armour), a plain file name, a known type. */
export interface MailAttachment {
  filename: string;
  contentType: 'application/pgp-keys';
  content: string;
}

const CRLF = '\r\n';

export function toCrlf(s: string): string {
  return s.replace(/\r?\n/g, CRLF);
}

// --- Header encoding (RFC 5322 2.2.3, RFC 2047) ------------------------------
// Every header line the bot writes is at most 78 characters where the input
// allows a fold (never over 998: the inputs are bounded by HEADER_LIMITS), is
// broken only before whitespace, and is plain printable ASCII. Non-ASCII text,
// and ASCII text that a reader would take for an encoded word or that has a
// token too long to fold, is written as RFC 2047 encoded words.

/** nodemailer's header line length: lines stay within RFC 5322's 78. */
const FOLD_COLUMNS = 76;
/** RFC 2047 allows 75; 60 leaves room for "Subject: " in front of the first word. */
const ENCODED_WORD_CHARS = 60;
/** A token longer than this cannot be folded within 78 columns: encode it so it can be split. */
const LONGEST_PLAIN_TOKEN = 66;

/**
 * One header field, folded. mimeFuncs.foldLines with afterSpace=false is
 * nodemailer's header mode: it breaks before a run of whitespace, so every
 * continuation line starts with it. (afterSpace=true is for format=flowed
 * bodies: it leaves the space at the end of the line and the next line
 * starting in column 0, which ends the header section for strict readers
 * and let a user id start a header of its own: issue 8 items 2 and 7.)
 */
function headerLine(name: string, value: string): string {
  let folded = mimeFuncs.foldLines(`${name}: ${value}`, FOLD_COLUMNS, false).replace(/\r?\n/g, CRLF);
  // A first token too long for the first line is not moved off it: a field
  // line holding only "Name:" gives readers a value with a leading space.
  if (folded.startsWith(`${name}:${CRLF}`)) folded = `${name}:${folded.slice(name.length + 1 + CRLF.length)}`;
  // The inputs are bounded so that this cannot happen; if a new caller
  // breaks that, fail loudly rather than send a header readers truncate.
  if (folded.split(CRLF).some((l) => l.length > 998 || !/^[\x20-\x7e]*$/.test(l))) throw new Error(`header ${name} cannot be written within RFC 5322 limits`);
  return folded;
}

/** Plain ASCII that no reader would decode or refuse to fold: written as it is. */
function plainAscii(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text) && !text.includes('=?') && !new RegExp(`\\S{${LONGEST_PLAIN_TOKEN + 1}}`).test(text);
}

/**
 * RFC 2047 encoded words (UTF-8, Q) for the whole text, each at most
 * ENCODED_WORD_CHARS long and holding whole characters, separated by spaces
 * where the folder may break. Q's character set here is the strict one of
 * RFC 2047 5(3), so the same words are valid in a display name.
 */
function encodedWords(text: string): string {
  return mimeFuncs.encodeWord(text, 'Q', ENCODED_WORD_CHARS);
}

/** An unstructured value (the Subject): outside text made safe, then encoded if it needs it. */
function unstructured(value: string, max: number): string {
  const clean = sanitizeHeaderText(value, max);
  return plainAscii(clean) ? clean : encodedWords(clean);
}

/**
 * The value of a header the bot defines (List-Unsubscribe, the loop header,
 * X-Ztrust-*): these are structured (a URL, an address, a number), so ASCII
 * is written as it is, long tokens whole, never as encoded words, which a
 * reader would not decode there. Non-ASCII has no place in them; should a
 * configured value carry some, encoded words at least keep the header 7-bit.
 */
function structured(value: string): string {
  const clean = sanitizeHeaderText(value, HEADER_LIMITS.extraValueChars);
  return /^[\x20-\x7e]*$/.test(clean) ? clean : encodedWords(clean);
}

/** RFC 5322 atext: words of a display name or a local part that need no quoting. */
const ATOM = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+";
const ATOM_PHRASE = new RegExp(`^${ATOM}( ${ATOM})*$`);
/** RFC 5322 dot-atom: a local part that needs no quoting. */
const DOT_ATOM = new RegExp(`^${ATOM}(\\.${ATOM})*$`);

/** RFC 5322 3.2.4 quoted-string. */
function quoted(text: string): string {
  return `"${text.replace(/["\\]/g, '\\$&')}"`;
}

function displayName(name: string): string {
  const clean = sanitizeHeaderText(name, HEADER_LIMITS.phraseChars);
  if (!plainAscii(clean)) return encodedWords(clean);
  if (ATOM_PHRASE.test(clean)) return clean;
  // A "." or "," or quote in a name: a quoted string, as RFC 5322 3.2.4 says.
  return quoted(clean);
}

/** RFC 1035 host name in ASCII: LDH labels of 1..63, no hyphen at either end, at least one. */
const DOMAIN = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$/;

/**
 * An address as it goes into a 7-bit header, or null when it cannot be
 * written there. Addresses come from parsed mail and user ids, so control
 * characters are removed; a domain with non-ASCII letters is written in its
 * ASCII (IDNA) form; a local part that is not a dot-atom is a quoted string.
 * A non-ASCII local part needs SMTPUTF8 (RFC 6532), which 7-bit headers
 * cannot carry: the caller leaves it out of the header (the envelope still
 * names it).
 */
function addrSpec(address: string): string | null {
  // eslint-disable-next-line no-control-regex -- addresses are hostile input: control characters must never reach a header
  const clean = address.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '').trim();
  const at = clean.lastIndexOf('@');
  if (at <= 0 || clean.length > NAME_BOUNDS.addressChars) return null;
  // domainToASCII drops or maps what it cannot take ("?x: ;" became "."),
  // so the domain's ASCII is checked before it and its labels after it.
  const rawDomain = clean.slice(at + 1);
  // eslint-disable-next-line no-control-regex -- a hostile domain: any control character refuses it
  if (/[\x00-\x2c\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]/.test(rawDomain)) return null;
  const domain = domainToASCII(rawDomain);
  if (!DOMAIN.test(domain)) return null;
  const local = clean.slice(0, at).replace(/^"(.*)"$/, '$1');
  // Readers decode "=?...?=" in a local part, quoted or not (Python counts
  // it a defect): no real mailbox is named so, and no header shows one that is.
  if (!/^[\x20-\x7e]+$/.test(local) || local.includes('=?')) return null;
  return DOT_ATOM.test(local) ? `${local}@${domain}` : `${quoted(local)}@${domain}`;
}

function formatAddress(a: Address): string {
  const spec = addrSpec(a.address);
  if (!spec) throw new Error(`the bot's own address ${JSON.stringify(a.address)} cannot be written in a mail header`);
  const name = a.name ? displayName(a.name) : '';
  return name ? `${name} <${spec}>` : spec;
}

/** The To header: the addresses that can be written; none of them is an empty group (RFC 5322 3.4). */
function toHeader(to: string[]): string {
  const specs = to.map(addrSpec).filter((a): a is string => a !== null);
  return specs.length ? specs.join(', ') : 'undisclosed-recipients:;';
}

/** A Message-ID from outside, kept only when it is one token a reader can take as it is. */
function msgId(id: string | null | undefined): string | null {
  return id && id.length <= HEADER_LIMITS.messageIdChars && /^<[\x21-\x3d\x3f-\x7e]+>$/.test(id) ? id : null;
}

/** Deterministic Message-ID for an outbox row, so a resend carries the same id. */
export function messageIdFor(seed: string, domain: string): string {
  return `<ztrust.${createHash('sha256').update(seed).digest('hex').slice(0, 32)}@${domain}>`;
}

/** "Re: " once, whatever the list or the sender put in front. */
export function replySubject(original: string | null | undefined): string {
  const s = sanitizeHeaderText(original ?? '', HEADER_LIMITS.subjectChars - 4);
  const stripped = s.replace(/^((re|aw|sv|fwd?)\s*(\[\d+\])?\s*:\s*)+/i, '');
  return `Re: ${stripped || line('subject-default', {})}`;
}

export function threadReferences(parentId: string | null | undefined, parentRefs: string[] | undefined, parentInReplyTo?: string | null): string[] {
  if (!parentId) return [];
  const base = parentRefs && parentRefs.length ? parentRefs : parentInReplyTo ? [parentInReplyTo] : [];
  return [...base.slice(-HEADER_LIMITS.references), parentId];
}

/**
 * The text part: us-ascii 7bit when the body is plain ASCII and no line
 * could be mangled in transit; otherwise UTF-8 quoted-printable. Lines that
 * start with "From " are QP-encoded because mbox delivery rewrites them to
 * ">From ", which would break the signature.
 */
function textPart(body: string): { headers: string; content: string } {
  const text = trimLinesBlanksEnd(body.replace(/\r?\n/g, '\n'));
  const risky = !isAscii(text) || /^From /m.test(text) || text.split('\n').some((l) => l.length > 998);
  if (!risky) {
    return {
      headers: `Content-Type: text/plain; charset=us-ascii${CRLF}Content-Transfer-Encoding: 7bit${CRLF}`,
      content: toCrlf(text.endsWith('\n') ? text : `${text}\n`),
    };
  }
  let encoded = qp.wrap(qp.encode(toCrlf(text.endsWith('\n') ? text : `${text}\n`)), 76);
  encoded = encoded.replace(/^From /gm, '=46rom ');
  return {
    headers: `Content-Type: text/plain; charset=utf-8${CRLF}Content-Transfer-Encoding: quoted-printable${CRLF}`,
    content: toCrlf(encoded.endsWith('\n') ? encoded : `${encoded}\n`),
  };
}

const ATTACHMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** One attachment part (headers, blank line, content), CRLF; the name and content were checked. */
function attachmentPart(a: MailAttachment): string {
  if (!ATTACHMENT_NAME.test(a.filename)) throw new Error(`attachment file name not allowed: ${JSON.stringify(a.filename)}`);
  if (a.contentType !== 'application/pgp-keys') throw new Error(`attachment type not allowed: ${String(a.contentType)}`);
  const text = a.content.replace(/\r?\n/g, '\n');
  if (!isAscii(text) || text.split('\n').some((l) => l.length > 998)) throw new Error(`attachment ${a.filename} is not 7-bit text`);
  return [
    `Content-Type: ${a.contentType}; name="${a.filename}"`,
    `Content-Disposition: attachment; filename="${a.filename}"`,
    'Content-Transfer-Encoding: 7bit',
    '',
    toCrlf(text.endsWith('\n') ? text : `${text}\n`),
  ].join(CRLF);
}

function commonHeaders(m: OutgoingMail): string[] {
  const h: string[] = [];
  h.push(headerLine('From', formatAddress(m.from)));
  h.push(headerLine('To', toHeader(m.to)));
  h.push(headerLine('Subject', unstructured(m.subject, HEADER_LIMITS.subjectChars)));
  h.push(`Date: ${m.date.toUTCString().replace('GMT', '+0000')}`);
  h.push(`Message-ID: ${m.messageId}`);
  const inReplyTo = msgId(m.inReplyTo);
  if (inReplyTo) h.push(headerLine('In-Reply-To', inReplyTo));
  const refs = (m.references ?? []).map(msgId).filter((r): r is string => r !== null).slice(-(HEADER_LIMITS.references + 1));
  if (refs.length) h.push(headerLine('References', refs.join(' ')));
  h.push('MIME-Version: 1.0');
  if (m.autoSubmitted) h.push(`Auto-Submitted: ${m.autoSubmitted}`);
  if (m.loopHeader) h.push(headerLine(m.loopHeader.name, structured(m.loopHeader.value)));
  if (m.status) h.push(`X-Ztrust-Status: ${m.status}`);
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(k)) throw new Error(`invalid header name ${k}`);
    h.push(headerLine(k, structured(v)));
  }
  return h;
}

function micalg(hash: string): string {
  return `pgp-${hash.toLowerCase()}`;
}

/** Compose and sign one message; returns the raw RFC 5322 bytes (CRLF). */
export async function composeSigned(m: OutgoingMail, signer: BotSigner): Promise<Buffer> {
  const headers = commonHeaders(m);
  if (m.signing === 'inline') {
    // Cleartext signature: survives list footers appended after the armour.
    // openpgp.js emits the cleartext armour with CRLF: normalise before the
    // ASCII check, or plain ASCII would be labelled utf-8/8bit.
    const signed = (await signer.signCleartext(trimLinesBlanksEnd(m.body.replace(/\r?\n/g, '\n')))).replace(/\r\n/g, '\n');
    const utf8 = !isAscii(signed);
    headers.push(`Content-Type: text/plain; charset=${utf8 ? 'utf-8' : 'us-ascii'}`);
    headers.push(`Content-Transfer-Encoding: ${utf8 ? '8bit' : '7bit'}`);
    return Buffer.from(headers.join(CRLF) + CRLF + CRLF + toCrlf(signed.endsWith('\n') ? signed : `${signed}\n`), 'utf8');
  }
  // PGP/MIME (RFC 3156): sign the first part's exact CRLF bytes, headers included.
  const part = textPart(m.body);
  let entity = part.headers + CRLF + part.content;
  if (m.attachments?.length) {
    // The text and the files in one multipart/mixed, all inside the signed part.
    const mixed = `ztrust-mixed-${randomBytes(12).toString('hex')}`;
    entity = [
      `Content-Type: multipart/mixed; boundary="${mixed}"`, '',
      `--${mixed}`, entity,
      ...m.attachments.flatMap((a) => [`--${mixed}`, attachmentPart(a)]),
      `--${mixed}--`, '',
    ].join(CRLF);
  }
  const signedBytes = Buffer.from(entity, 'utf8');
  // RFC 3156: the CRLF before the boundary belongs to the boundary, so the
  // signed bytes end with the part's last CRLF stripped.
  const toSign = signedBytes.subarray(0, signedBytes.length - 2);
  const { armored, hash } = await signer.signDetached(toSign);
  const boundary = `ztrust-${randomBytes(12).toString('hex')}`;
  headers.push(`Content-Type: multipart/signed; micalg=${micalg(hash)};${CRLF} protocol="application/pgp-signature";${CRLF} boundary="${boundary}"`);
  const body = [
    'This is an OpenPGP/MIME signed message (RFC 4880 and 3156).',
    `--${boundary}`,
    toSign.toString('utf8'),
    `--${boundary}`,
    'Content-Type: application/pgp-signature; name="signature.asc"',
    'Content-Description: OpenPGP digital signature',
    'Content-Disposition: attachment; filename="signature.asc"',
    '',
    toCrlf(armored).replace(/\r\n$/, ''),
    `--${boundary}--`,
    '',
  ].join(CRLF);
  return Buffer.from(headers.join(CRLF) + CRLF + CRLF + body, 'utf8');
}
