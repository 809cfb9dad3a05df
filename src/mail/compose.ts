/**
 * Building the bot's outgoing mail, byte for byte, and signing it.
 *
 * We build the MIME by hand rather than with a MIME library because the
 * signature must cover the exact bytes of the first part: a library that
 * refolds headers or re-encodes the body after signing would break it
 * (NOTES.md, "Signed mail"). Header values are encoded with nodemailer's
 * well-tested mime-funcs.
 */
import { createHash, randomBytes } from 'node:crypto';
import mimeFuncs from 'nodemailer/lib/mime-funcs/index.js';
import qp from 'nodemailer/lib/qp/index.js';
import type { BotSigner } from '../pgp/botkey.js';
import { isAscii, sanitizeHeaderText } from './text.js';

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
}

const CRLF = '\r\n';

export function toCrlf(s: string): string {
  return s.replace(/\r?\n/g, CRLF);
}

function formatAddress(a: Address): string {
  if (!a.name) return a.address;
  const name = isAscii(a.name) && /^[\w .-]*$/.test(a.name) ? a.name : mimeFuncs.encodeWords(a.name, 'Q', 52);
  return `${name} <${a.address}>`;
}

function headerLine(name: string, value: string): string {
  return mimeFuncs.foldLines(`${name}: ${value}`, 76, true).replace(/\r?\n/g, CRLF).replace(/\r\n$/, '');
}

function encodeSubject(subject: string): string {
  const clean = sanitizeHeaderText(subject, 300);
  return isAscii(clean) ? clean : mimeFuncs.encodeWords(clean, 'Q', 52);
}

/** Deterministic Message-ID for an outbox row, so a resend carries the same id. */
export function messageIdFor(seed: string, domain: string): string {
  return `<ztrust.${createHash('sha256').update(seed).digest('hex').slice(0, 32)}@${domain}>`;
}

/** "Re: " once, whatever the list or the sender put in front. */
export function replySubject(original: string | null | undefined): string {
  const s = sanitizeHeaderText(original ?? '', 250);
  const stripped = s.replace(/^((re|aw|sv|fwd?)\s*(\[\d+\])?\s*:\s*)+/i, '');
  return stripped ? `Re: ${stripped}` : 'Re: your message to ztrust-bot';
}

export function threadReferences(parentId: string | null | undefined, parentRefs: string[] | undefined, parentInReplyTo?: string | null): string[] {
  if (!parentId) return [];
  const base = parentRefs && parentRefs.length ? parentRefs : parentInReplyTo ? [parentInReplyTo] : [];
  return [...base.slice(-20), parentId];
}

/**
 * The text part: us-ascii 7bit when the body is plain ASCII and no line
 * could be mangled in transit; otherwise UTF-8 quoted-printable. Lines that
 * start with "From " are QP-encoded because mbox delivery rewrites them to
 * ">From ", which would break the signature.
 */
function textPart(body: string): { headers: string; content: string } {
  const text = body.replace(/\r?\n/g, '\n').replace(/[ \t]+$/gm, '');
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

function commonHeaders(m: OutgoingMail): string[] {
  const h: string[] = [];
  h.push(headerLine('From', formatAddress(m.from)));
  h.push(headerLine('To', m.to.join(', ')));
  h.push(headerLine('Subject', encodeSubject(m.subject)));
  h.push(`Date: ${m.date.toUTCString().replace('GMT', '+0000')}`);
  h.push(`Message-ID: ${m.messageId}`);
  if (m.inReplyTo) h.push(`In-Reply-To: ${m.inReplyTo}`);
  if (m.references && m.references.length) h.push(headerLine('References', m.references.join(' ')));
  h.push('MIME-Version: 1.0');
  if (m.autoSubmitted) h.push(`Auto-Submitted: ${m.autoSubmitted}`);
  if (m.loopHeader) h.push(headerLine(m.loopHeader.name, m.loopHeader.value));
  if (m.status) h.push(`X-Ztrust-Status: ${m.status}`);
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(k)) throw new Error(`invalid header name ${k}`);
    h.push(headerLine(k, sanitizeHeaderText(v, 900)));
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
    const signed = (await signer.signCleartext(m.body.replace(/\r?\n/g, '\n').replace(/[ \t]+$/gm, ''))).replace(/\r\n/g, '\n');
    const utf8 = !isAscii(signed);
    headers.push(`Content-Type: text/plain; charset=${utf8 ? 'utf-8' : 'us-ascii'}`);
    headers.push(`Content-Transfer-Encoding: ${utf8 ? '8bit' : '7bit'}`);
    return Buffer.from(headers.join(CRLF) + CRLF + CRLF + toCrlf(signed.endsWith('\n') ? signed : `${signed}\n`), 'utf8');
  }
  // PGP/MIME (RFC 3156): sign the first part's exact CRLF bytes, headers included.
  const part = textPart(m.body);
  const signedBytes = Buffer.from(part.headers + CRLF + part.content, 'utf8');
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

/** Envelope sender: the configured VERP/bounce address, else the bot's address. */
export function envelopeSender(botAddress: string, configured?: string): string {
  return configured ?? botAddress;
}
