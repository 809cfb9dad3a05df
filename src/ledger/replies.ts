/**
 * Shaping log data for plain-text mail. Proofs, checkpoints and entries go
 * out framed as `-----BEGIN <LABEL>-----` / `-----END <LABEL>-----`: the
 * reply shaper keeps framed blocks byte for byte (wrapping would break
 * them), and inside the frame the text is exactly the C2SP format, so it
 * can be cut out and handed to any tlog-proof verifier. Two unavoidable
 * departures from the reply rules, inside frames only: a note's signature
 * line is longer than 72 columns and starts with U+2014 (the signed-note
 * format allows neither a line break nor another dash there).
 */
import { wrapParagraph } from '../mail/text.js';
import type { AttestGood } from './attest.js';

export function framed(label: string, text: string): string {
  if (!/^[A-Z0-9 ]{1,40}$/.test(label)) throw new Error(`bad frame label ${label}`);
  return `-----BEGIN ${label}-----\n${text.endsWith('\n') ? text : `${text}\n`}-----END ${label}-----\n`;
}

export const FRAME_ENTRY = 'ZTRUST LOG ENTRY';
export const FRAME_PROOF = 'TLOG PROOF';
export const FRAME_CHECKPOINT = 'TLOG CHECKPOINT';
export const FRAME_CONSISTENCY = 'TLOG CONSISTENCY';

/** `5`, `5-7` for a run, else the indexes separated by spaces. */
export function indexList(indexes: readonly number[]): string {
  if (indexes.length === 0) return '';
  const contiguous = indexes.every((x, i) => i === 0 || x === indexes[i - 1] + 1);
  if (indexes.length === 1) return String(indexes[0]);
  if (contiguous) return `${indexes[0]}-${indexes[indexes.length - 1]}`;
  return indexes.join(' ');
}

/**
 * Text from a sender or a key shown in a reply: control and other
 * invisible characters become `?`, and long text is cut.
 */
export function shown(text: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g, '?');
  const chars = [...clean];
  return chars.length > max ? `${chars.slice(0, max - 3).join('')}...` : clean;
}

/** Lines of at most `width` characters (hex digests, fingerprints), each indented. */
export function chunked(text: string, indent: string, width = 64): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += width) out.push(indent + text.slice(i, i + width));
  return out.length ? out : [indent];
}

/** A paragraph wrapped at 72 columns with a hanging indent (preformatted: the reply shaper keeps it). */
export function hanging(first: string, text: string, indent: string): string[] {
  const lines = wrapParagraph(text, 72 - Math.max(first.length, indent.length));
  return lines.map((l, i) => (i === 0 ? first : indent) + l);
}

/** Accepted ATTEST lines (the accepted reply and the applied notice), two or three lines each: where, digest, name. */
export function goodLines(lines: readonly Pick<AttestGood, 'line' | 'subject' | 'name'>[], index?: readonly number[]): string {
  const out: string[] = [];
  lines.forEach((l, i) => {
    const [alg, hex] = l.subject.split(':') as [string, string];
    out.push(`  line ${l.line}, ${alg}${index ? `, log index ${index[i]}` : ''}:`);
    out.push(...chunked(hex, '    '));
    out.push(`    ${shown(l.name)}`);
  });
  return out.join('\n');
}

export function isoDay(d: Date | null): string {
  return d ? d.toISOString().slice(0, 10) : 'unknown';
}
