/**
 * The header section of a message that is too large to take whole (see
 * IntakeMessage.declaredSize): given at most MAX_HEADER_SECTION_BYTES from
 * its start, keep the header section up to and including the blank line
 * that ends it. When the bound cut it short, keep only whole lines, so no
 * half header field (say, a From cut in its address) reaches the gate.
 */
export function headerSection(head: Buffer): Buffer {
  const text = head.toString('latin1');
  const end = /\r?\n\r?\n/.exec(text);
  if (end) return head.subarray(0, end.index + end[0].length);
  const nl = text.lastIndexOf('\n');
  return nl >= 0 ? head.subarray(0, nl + 1) : head;
}
