/**
 * Plain-text shaping for mainframe readers: ASCII where possible, at most 72
 * columns, no tabs, no trailing blanks (which some gateways strip, breaking
 * signatures).
 */

export const MAX_COLUMNS = 72;

/** Wrap one paragraph at word boundaries; words longer than the width stay whole. */
export function wrapParagraph(text: string, width = MAX_COLUMNS, indent = ''): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = indent;
  for (const w of words) {
    if (line.trim().length === 0) line = indent + w;
    else if (line.length + 1 + w.length <= width) line += ` ${w}`;
    else {
      lines.push(line);
      line = indent + w;
    }
  }
  if (line.trim().length > 0) lines.push(line);
  return lines;
}

/**
 * Reflow text: paragraphs (separated by blank lines) are wrapped, except
 * lines that are "preformatted": indented by two or more spaces, armour,
 * key/value header lines, or copy-paste command lines, which are kept as they
 * are (wrapping them would break copy-and-paste).
 */
export function reflow(text: string, width = MAX_COLUMNS): string {
  const out: string[] = [];
  let para: string[] = [];
  const flush = (): void => {
    if (para.length) out.push(...wrapParagraph(para.join(' '), width));
    para = [];
  };
  for (const raw of text.replace(/\t/g, '    ').split(/\r?\n/)) {
    // trimEnd, not /\s+$/: the regex is quadratic on a long run of blanks
    // followed by a non-blank (untrusted text may reach reply prose).
    const line = raw.trimEnd();
    if (line === '') {
      flush();
      out.push('');
    } else if (/^( {2,}|-----|[A-Z][A-Za-z-]*: |- |\* |\d+\. )/.test(line) || line.length <= width && para.length === 0 && /^[A-Z]{2,}( |$)/.test(line)) {
      flush();
      const indent = /^ {2,}/.exec(line)?.[0];
      if (indent && line.length > width && /\S\s+\S/.test(line.trim())) {
        // An indented line that is too long (a key with its user id, say):
        // wrap it at spaces with a hanging indent; single long tokens stay whole.
        const wrapped = wrapParagraph(line.trim(), width - indent.length);
        wrapped.forEach((l, i) => out.push((i === 0 ? indent : `${indent}  `) + l));
      } else if (/^(- |\* |\d+\. )/.test(line) && line.length > width) {
        const bullet = /^(- |\* |\d+\. )/.exec(line)![0];
        const wrapped = wrapParagraph(line.slice(bullet.length), width - bullet.length);
        wrapped.forEach((l, i) => out.push((i === 0 ? bullet : ' '.repeat(bullet.length)) + l));
      } else out.push(line);
    } else para.push(line);
  }
  flush();
  return out.join('\n').replace(/\n{3,}/g, '\n\n');
}

/** True when every character is 7-bit printable ASCII or a newline. */
export function isAscii(text: string): boolean {
  return /^[\x20-\x7e\n]*$/.test(text);
}

/** A UTF-16 half of a pair with no other half: UTF-8 cannot carry it. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Header text that can come from outside (a request's Subject, user ids,
 * names, ticket subjects), made safe to put in a header: control characters
 * (C0, DEL, C1: CR, LF and NUL among them) and the Unicode line and paragraph
 * separators become spaces, so no reader can see a line end, and so a new
 * header, inside the value (header injection defence); a lone surrogate
 * becomes U+FFFD, which is what its UTF-8 encoding would say anyway;
 * whitespace collapses. Shortened to `max` code points, never inside a
 * surrogate pair.
 */
export function sanitizeHeaderText(value: string, max = 200): string {
  // eslint-disable-next-line no-control-regex -- header text from hostile mail: control characters are what this removes
  const clean = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(LONE_SURROGATE, '\ufffd').replace(/\s+/g, ' ').trim();
  if (clean.length <= max) return clean;
  const points = Array.from(clean);
  return points.length <= max ? clean : points.slice(0, max).join('').trimEnd();
}
