/**
 * The text of a signed part that is a single plain-text entity, read from
 * the MIME tree the verifier already has, instead of handing its bytes to
 * mailparser a second time (the dispatcher parsed the whole message once).
 * A PGP/MIME request from a mail client is this shape nearly always.
 *
 * The command is read from this text, so it must be exactly the text
 * mailparser gives for the same bytes (test/unit/plain-text.test.ts checks
 * that property against mailparser itself on generated entities). Every
 * shape whose reading is not plainly the same returns null, and mailparser
 * reads it: anything but one text/plain leaf in US-ASCII or UTF-8, a
 * disposition or file name (an attachment), format=flowed, protected
 * From/Subject headers (they are read from the entity), bytes that are not
 * valid in the charset, a CR that does not end a line.
 */
import { isUtf8 } from 'node:buffer';
import { decodeQuotedPrintable, decodeTransferEncoding, getHeader, rawBody, type MimeNode } from './mime.js';

const CHARSETS = new Set(['us-ascii', 'ascii', 'utf-8', 'utf8']);
const ENCODINGS = new Set(['7bit', '8bit', 'binary', 'quoted-printable', 'base64']);

/** mailparser's `text` for this entity when it is the simple shape above, else null. */
export function plainTextOf(node: MimeNode): string | null {
  if (node.children.length || node.contentType.mime !== 'text/plain') return null;
  const params = node.contentType.params;
  if (params.name !== undefined || params.format !== undefined) return null;
  for (const h of ['content-disposition', 'from', 'subject']) if (getHeader(node, h) !== undefined) return null;
  const charset = (params.charset ?? 'us-ascii').trim().toLowerCase();
  if (!CHARSETS.has(charset) || !ENCODINGS.has(node.transferEncoding)) return null;
  const body = rawBody(node);
  // Quoted-printable: blanks at the end of a line were added in transport
  // (RFC 2045, 6.7 (3)) and are dropped, as mailparser's decoder does.
  const bytes = node.transferEncoding === 'quoted-printable'
    ? decodeQuotedPrintable(Buffer.from(body.toString('latin1').replace(/[\t ]+(?=\r\n|$)/g, ''), 'latin1'))
    : decodeTransferEncoding(body, node.transferEncoding);
  if (!isUtf8(bytes) || (charset.endsWith('ascii') && bytes.some((b) => b > 0x7f))) return null;
  const text = bytes.toString('utf8');
  if (/\r(?!\n)/.test(text)) return null;
  return text.replace(/\r\n/g, '\n');
}
