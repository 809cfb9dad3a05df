/**
 * One value (a user id, a file name, a reason) on one line of a ticket's
 * content or a reply field: the pgp admission checks, the command handlers
 * and the tickets all show values this way, so it lives below all of them.
 */

/** The longest value shown on one content line, so mail lines stay within 72 columns. */
export const MAX_VALUE_COLUMNS = 64;

/** Printable ASCII on one line: anything else percent-encoded; long values shortened deterministically. */
export function contentValue(value: string, max = MAX_VALUE_COLUMNS): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  out = out.trim();
  // Shortened values never end in half an escape.
  return out.length > max ? `${out.slice(0, max - 3).replace(/%[0-9A-F]?$/, '')}...` : out;
}
