/**
 * Text rules of a digest: plain ASCII, at most 72 columns, one canonical
 * byte form for hashing.
 *
 * The hash chain names the SHA-256 of the previous digest's TEXT, not of a
 * signed file: subscribers get PGP/MIME and lists get an inline signature
 * (different bytes around the same text), and both must be able to check the
 * chain from their own copy. The text is hashed in a normal form that every
 * mail path preserves: LF line ends, no trailing blanks on a line (gateways
 * strip them; OpenPGP cleartext signatures ignore them), no trailing empty
 * lines, one final newline. Digests are written in that form already, so
 * normalising never changes a genuine digest.
 */
import { createHash } from 'node:crypto';
import { trimBlanksEnd } from '../text/blocks.js';
import { MAX_COLUMNS, wrapParagraph } from '../mail/text.js';

export const ZERO_SHA256 = '0'.repeat(64);

export function normalizeDigestText(text: string): string {
  // trimBlanksEnd, not /[ \t]+$/ (quadratic on a long run of blanks before a letter).
  const lines = text.replace(/\r\n?/g, '\n').split('\n').map(trimBlanksEnd);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return `${lines.join('\n')}\n`;
}

export function digestSha256(text: string): string {
  return createHash('sha256').update(normalizeDigestText(text), 'utf8').digest('hex');
}

/**
 * A value from the log (a name, a user ID) made safe for mainframe readers:
 * printable ASCII stays, except `%` and the characters EBCDIC code pages map
 * badly (`[ ] ^ | ~`); those and every non-ASCII byte of the UTF-8 form
 * become `%XX`. Reversible, so nothing is hidden, and a hostile name cannot
 * start a line of its own or forge a field.
 */
export function asciiValue(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (byte >= 0x20 && byte <= 0x7e && !'%[]^|~'.includes(c)) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * `label value` within `width` columns: on one line when it fits, else the
 * value continues on lines indented to `indent + label.length` (words kept
 * whole where possible; a long word, such as a hash, is cut).
 */
export function field(indent: number, label: string, value: string, width = MAX_COLUMNS): string[] {
  const pad = ' '.repeat(indent);
  const first = `${pad}${label}${value}`;
  if (first.length <= width) return [first];
  // One long word (a hash): whole on its own line under the label, if it fits there.
  if (!value.includes(' ') && indent + 2 + value.length <= width) return [`${pad}${label.trimEnd()}`, `${pad}  ${value}`];
  const cont = ' '.repeat(indent + label.length);
  const room = width - cont.length;
  const pieces: string[] = [];
  for (const word of value.split(' ').filter(Boolean)) {
    for (let i = 0; i < word.length; i += room) pieces.push(word.slice(i, i + room));
  }
  const lines = wrapParagraph(pieces.join(' '), room).map((l) => l.trim());
  return lines.map((l, i) => (i === 0 ? `${pad}${label}${l}` : `${cont}${l}`));
}

/** Lines that break the rule, for the self-check before a digest is signed. */
export function ruleBreaks(text: string, width = MAX_COLUMNS): string[] {
  const out: string[] = [];
  text.split('\n').forEach((l, i) => {
    if (l.length > width) out.push(`line ${i + 1} has ${l.length} columns`);
    if (!/^[\x20-\x7e]*$/.test(l)) out.push(`line ${i + 1} is not printable ASCII`);
  });
  return out;
}
