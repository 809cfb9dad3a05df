/**
 * Strict standard base64 (RFC 4648 section 4). Buffer.from(s, 'base64')
 * silently skips characters it does not know and accepts missing padding, so
 * a tampered proof line could decode to *something*; every base64 field the
 * log reads from outside goes through this instead, which accepts only the
 * one canonical encoding of each byte string.
 */
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes canonical standard base64, or returns null. */
export function decodeBase64Strict(text: string): Buffer | null {
  if (!B64.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  // Re-encoding rejects non-zero padding bits (two encodings of one value).
  if (bytes.toString('base64') !== text) return null;
  return bytes;
}
