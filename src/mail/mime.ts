/**
 * A raw-bytes MIME splitter, written by hand on purpose.
 *
 * PGP/MIME (RFC 3156) signs the first body part of a multipart/signed
 * exactly as transmitted, MIME headers included. A MIME library that parses
 * and re-serialises (or, like mailparser, flattens and decodes) cannot give
 * those bytes back: header refolding and boundary whitespace would break the
 * signature. So this module only *locates* entities: every node records
 * offsets into a buffer, and the bytes of any part can be sliced out
 * unchanged. Decoding text for display is left to mailparser, run on a slice.
 *
 * The whole message is first turned into canonical CRLF form (Maildir and
 * mbox files hold bare LF; RFC 3156 section 5 hashes CRLF), so every offset
 * refers to canonical bytes and a slice is ready to hash.
 *
 * Hostile input: nothing here throws except LimitError (depth, part count),
 * which the caller turns into a 'malformed' verdict. Anything merely broken
 * (missing close delimiter, header lines without a colon, a multipart with
 * no boundary) is tolerated and recorded in `problems`.
 */
import { DEFAULT_LIMITS, LimitError, type Limits } from '../limits.js';

export interface ContentType {
  /** Lower-case `type/subtype`. */
  mime: string;
  type: string;
  subtype: string;
  /** Parameter names in lower case; values unquoted, RFC 2231 continuations joined. */
  params: Record<string, string>;
}

export interface MimeHeader {
  /** Lower-case field name. */
  name: string;
  /** Unfolded value, bytes read as Latin-1 (no charset or encoded-word decoding). */
  value: string;
}

export interface MimeNode {
  /** The buffer the offsets below refer to (canonical CRLF bytes). */
  buf: Buffer;
  /** First byte of the entity (its header section). */
  start: number;
  /** End of the header section (after the CRLF of the last header line). */
  headerEnd: number;
  /** First byte of the body. */
  bodyStart: number;
  /** End of the entity (exclusive); the CRLF before a following delimiter is NOT included. */
  end: number;
  headers: MimeHeader[];
  contentType: ContentType;
  /** Lower-case Content-Transfer-Encoding, '7bit' when absent. */
  transferEncoding: string;
  children: MimeNode[];
  /** Content types from the root to this node joined by '>', e.g. 'multipart/mixed>multipart/signed'. */
  path: string;
  depth: number;
  /** Recoverable defects found while splitting this node. */
  problems: string[];
}

export interface MimeTree {
  root: MimeNode;
  /** The canonical (CRLF) form of the whole message. */
  canonical: Buffer;
  partCount: number;
}

type MimeLimits = Pick<Limits, 'maxMimeDepth' | 'maxMimeParts'>;

const CR = 0x0d;
const LF = 0x0a;

/**
 * Bare LF -> CRLF. Existing CRLF pairs and lone CRs are kept as they are
 * (GnuPG and RFC 3156 canonicalisation only concern line feeds).
 */
export function canonicalizeLineEndings(input: Buffer): Buffer {
  let bare = 0;
  for (let i = 0; i < input.length; i++) {
    if (input[i] === LF && (i === 0 || input[i - 1] !== CR)) bare++;
  }
  if (bare === 0) return input;
  const out = Buffer.allocUnsafe(input.length + bare);
  let o = 0;
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c === LF && (i === 0 || input[i - 1] !== CR)) out[o++] = CR;
    out[o++] = c;
  }
  return out;
}

/**
 * Parse a Content-Type value. Tolerant: a value it cannot read yields
 * text/plain (RFC 2045 section 5.2 default), with whatever parameters parsed.
 */
export function parseContentType(value: string | undefined, fallback = 'text/plain'): ContentType {
  const params: Record<string, string> = {};
  if (value === undefined) return makeType(fallback, params);
  const semi = value.indexOf(';');
  const mimePart = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
  parseParams(semi === -1 ? '' : value.slice(semi + 1), params);
  const m = /^([a-z0-9!#$&^_.+-]+)\/([a-z0-9!#$&^_.+-]+)$/.exec(mimePart);
  return makeType(m ? `${m[1]}/${m[2]}` : fallback, params);
}

function makeType(mime: string, params: Record<string, string>): ContentType {
  const [type, subtype] = mime.split('/') as [string, string];
  return { mime, type, subtype, params };
}

/** RFC 2045 parameters, quoted strings with backslash escapes, RFC 2231 continuations and charset'lang'value. */
function parseParams(text: string, out: Record<string, string>): void {
  const raw: Array<{ name: string; value: string; extended: boolean }> = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (text[i] === ';' || text[i] === ' ' || text[i] === '\t' || text[i] === '\r' || text[i] === '\n')) i++;
    const nameStart = i;
    while (i < n && text[i] !== '=' && text[i] !== ';') i++;
    const name = text.slice(nameStart, i).trim().toLowerCase();
    if (i >= n || text[i] === ';') continue; // attribute without value: ignore
    i++; // '='
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    let value = '';
    if (text[i] === '"') {
      i++;
      while (i < n && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < n) i++;
        value += text[i];
        i++;
      }
      i++; // closing quote (or end)
      while (i < n && text[i] !== ';') i++;
    } else {
      const vStart = i;
      while (i < n && text[i] !== ';') i++;
      value = text.slice(vStart, i).trim();
    }
    if (name) raw.push({ name, value, extended: name.endsWith('*') });
  }
  // Join RFC 2231 continuations: name*0, name*1*, ...
  const sections = new Map<string, Array<{ idx: number; value: string; extended: boolean }>>();
  for (const p of raw) {
    const m = /^([^*]+)\*(\d+)(\*?)$/.exec(p.name);
    if (m) {
      const list = sections.get(m[1]) ?? [];
      list.push({ idx: Number(m[2]), value: p.value, extended: m[3] === '*' });
      sections.set(m[1], list);
    } else if (p.extended) {
      out[p.name.slice(0, -1)] = decode2231(p.value, true);
    } else if (!(p.name in out)) {
      out[p.name] = p.value;
    }
  }
  for (const [name, list] of sections) {
    list.sort((a, b) => a.idx - b.idx);
    out[name] = list.map((s, k) => (s.extended ? decode2231(s.value, k === 0) : s.value)).join('');
  }
}

function decode2231(value: string, first: boolean): string {
  let v = value;
  if (first) {
    const m = /^[^']*'[^']*'(.*)$/.exec(v);
    if (m) v = m[1];
  }
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** The unfolded value of the first header with this name, or undefined. */
export function getHeader(node: MimeNode, name: string): string | undefined {
  const lower = name.toLowerCase();
  return node.headers.find((h) => h.name === lower)?.value;
}

/** The exact bytes of the whole entity (headers and body), canonical CRLF. */
export function entityBytes(node: MimeNode): Buffer {
  return node.buf.subarray(node.start, node.end);
}

/** The exact bytes of the body, still transfer-encoded. */
export function rawBody(node: MimeNode): Buffer {
  return node.buf.subarray(node.bodyStart, node.end);
}

/** The body with its Content-Transfer-Encoding removed. */
export function decodedBody(node: MimeNode): Buffer {
  return decodeTransferEncoding(rawBody(node), node.transferEncoding);
}

export function decodeTransferEncoding(body: Buffer, encoding: string): Buffer {
  switch (encoding) {
    case 'base64':
      // Node's decoder skips characters outside the alphabet (line breaks, junk).
      return Buffer.from(body.toString('latin1'), 'base64');
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    default:
      return body;
  }
}

const HEX = /^[0-9A-Fa-f]{2}$/;

export function decodeQuotedPrintable(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(body.length);
  let o = 0;
  let i = 0;
  while (i < body.length) {
    const c = body[i];
    if (c === 0x3d /* = */) {
      // Soft line break: '=' then optional blanks then CRLF.
      let j = i + 1;
      while (j < body.length && (body[j] === 0x20 || body[j] === 0x09)) j++;
      if (j < body.length && body[j] === CR && body[j + 1] === LF) { i = j + 2; continue; }
      if (j < body.length && body[j] === LF) { i = j + 1; continue; }
      if (j >= body.length) { i = j; continue; }
      const hex = body.toString('latin1', i + 1, i + 3);
      if (HEX.test(hex)) { out[o++] = parseInt(hex, 16); i += 3; continue; }
      out[o++] = c; // a stray '=' is kept literally (RFC 2045 robustness advice)
      i++;
      continue;
    }
    out[o++] = c;
    i++;
  }
  return out.subarray(0, o);
}

/** Pre-order walk of the tree. */
export function* walkMime(node: MimeNode): Generator<MimeNode> {
  yield node;
  for (const child of node.children) yield* walkMime(child);
}

interface Ctx {
  limits: MimeLimits;
  parts: number;
}

/**
 * Split a raw message into a tree of entities. The input may use LF or CRLF
 * line endings; offsets refer to `tree.canonical` (CRLF).
 * @throws LimitError (LIMIT_MIME_DEPTH, LIMIT_MIME_PARTS) only.
 */
export function parseMime(raw: Buffer, limits: Partial<MimeLimits> = {}): MimeTree {
  const ctx: Ctx = { limits: { ...pickMimeLimits(DEFAULT_LIMITS), ...limits }, parts: 0 };
  const canonical = canonicalizeLineEndings(raw);
  const root = parseEntity(canonical, canonical.toString('latin1'), 0, canonical.length, 0, '', 'text/plain', ctx);
  return { root, canonical, partCount: ctx.parts };
}

function pickMimeLimits(l: MimeLimits): MimeLimits {
  return { maxMimeDepth: l.maxMimeDepth, maxMimeParts: l.maxMimeParts };
}

function countPart(ctx: Ctx): void {
  ctx.parts++;
  if (ctx.parts > ctx.limits.maxMimeParts) throw new LimitError('LIMIT_MIME_PARTS', ctx.limits.maxMimeParts, ctx.parts);
}

function parseEntity(
  buf: Buffer, s: string, start: number, end: number, depth: number,
  parentPath: string, defaultType: string, ctx: Ctx,
): MimeNode {
  if (depth > ctx.limits.maxMimeDepth) throw new LimitError('LIMIT_MIME_DEPTH', ctx.limits.maxMimeDepth, depth);
  countPart(ctx);
  const problems: string[] = [];

  // Header section: up to the first empty line. An entity starting with CRLF
  // has no headers at all (legal for body parts: all defaults apply).
  let headerEnd: number;
  let bodyStart: number;
  if (s.startsWith('\r\n', start) && start + 2 <= end) {
    headerEnd = start;
    bodyStart = start + 2;
  } else {
    const blank = s.indexOf('\r\n\r\n', start);
    if (blank === -1 || blank + 4 > end) {
      headerEnd = end;
      bodyStart = end;
      if (blank === -1 || blank + 2 > end) problems.push('no empty line after the header section');
    } else {
      headerEnd = blank + 2;
      bodyStart = blank + 4;
    }
  }
  const headers = parseHeaders(s, start, headerEnd, problems);
  const ctHeader = headers.find((h) => h.name === 'content-type')?.value;
  const contentType = parseContentType(ctHeader, defaultType);
  const transferEncoding = (headers.find((h) => h.name === 'content-transfer-encoding')?.value ?? '7bit').trim().toLowerCase();
  const path = parentPath ? `${parentPath}>${contentType.mime}` : contentType.mime;
  const node: MimeNode = {
    buf, start, headerEnd, bodyStart, end, headers, contentType, transferEncoding,
    children: [], path, depth, problems,
  };

  if (contentType.type === 'multipart') {
    const boundary = contentType.params.boundary;
    if (!boundary) {
      problems.push('multipart entity without a boundary parameter');
    } else {
      const childDefault = contentType.subtype === 'digest' ? 'message/rfc822' : 'text/plain';
      for (const range of splitMultipart(s, bodyStart, end, boundary, problems, ctx)) {
        node.children.push(parseEntity(buf, s, range.start, range.end, depth + 1, path, childDefault, ctx));
      }
    }
  } else if (contentType.mime === 'message/rfc822' || contentType.mime === 'message/global') {
    if (transferEncoding === 'base64' || transferEncoding === 'quoted-printable') {
      // Not allowed by RFC 2046, but clients do it. The embedded message then
      // lives in a decoded buffer of its own.
      const inner = canonicalizeLineEndings(decodeTransferEncoding(buf.subarray(bodyStart, end), transferEncoding));
      node.children.push(parseEntity(inner, inner.toString('latin1'), 0, inner.length, depth + 1, path, 'text/plain', ctx));
    } else if (bodyStart < end) {
      node.children.push(parseEntity(buf, s, bodyStart, end, depth + 1, path, 'text/plain', ctx));
    }
  }
  return node;
}

function parseHeaders(s: string, start: number, end: number, problems: string[]): MimeHeader[] {
  const headers: MimeHeader[] = [];
  if (end <= start) return headers;
  const lines = s.slice(start, end).split('\r\n');
  let current: { name: string; value: string } | null = null;
  let first = true;
  for (const line of lines) {
    if (line === '') continue;
    if ((line[0] === ' ' || line[0] === '\t') && current) {
      current.value += line; // unfolding: the CRLF goes, the whitespace stays
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon))) {
      // An mbox "From " separator on the first line is expected; anything else is a defect.
      if (!(first && line.startsWith('From '))) problems.push('header line without a field name');
      current = null;
      first = false;
      continue;
    }
    first = false;
    current = { name: line.slice(0, colon).toLowerCase(), value: line.slice(colon + 1) };
    headers.push(current);
  }
  for (const h of headers) h.value = h.value.trim();
  return headers;
}

/**
 * RFC 2046 section 5.1.1: a delimiter is CRLF "--" boundary, optional
 * transport padding (blanks), CRLF; the close delimiter adds "--". The CRLF
 * before a delimiter belongs to the delimiter, not to the preceding part;
 * the first delimiter may also open the body directly.
 */
function splitMultipart(
  s: string, bodyStart: number, end: number, boundary: string, problems: string[], ctx: Ctx,
): Array<{ start: number; end: number }> {
  const delim = `--${boundary}`;
  const found: Array<{ at: number; next: number; close: boolean }> = [];
  let pos = bodyStart;
  for (;;) {
    const i = s.indexOf(delim, pos);
    if (i === -1 || i + delim.length > end) break;
    const atLineStart = i === bodyStart || (i >= bodyStart + 2 && s.charCodeAt(i - 2) === CR && s.charCodeAt(i - 1) === LF);
    let j = i + delim.length;
    let close = false;
    if (j + 2 <= end && s.startsWith('--', j)) { close = true; j += 2; }
    while (j < end && (s[j] === ' ' || s[j] === '\t')) j++;
    let next = -1;
    if (j === end) next = end;
    else if (j + 2 <= end && s.startsWith('\r\n', j)) next = j + 2;
    if (!atLineStart || next === -1) { pos = i + 1; continue; }
    found.push({ at: i, next, close });
    if (close) break;
    // Count early so a message with a million delimiters stops here, not after splitting.
    if (found.length > ctx.limits.maxMimeParts) throw new LimitError('LIMIT_MIME_PARTS', ctx.limits.maxMimeParts, ctx.parts + found.length);
    pos = next;
  }
  if (found.length === 0) {
    problems.push(`no delimiter line for boundary "${boundary}"`);
    return [];
  }
  if (!found[found.length - 1].close) problems.push(`missing close delimiter for boundary "${boundary}"`);
  if (found[0].close) {
    problems.push('multipart body has no parts');
    return [];
  }
  const ranges: Array<{ start: number; end: number }> = [];
  for (let k = 0; k < found.length; k++) {
    const d = found[k];
    if (d.close) break;
    const nextDelim = found[k + 1];
    const partStart = d.next;
    let partEnd = nextDelim ? nextDelim.at - 2 : end;
    if (partEnd < partStart) partEnd = partStart; // empty part: the one CRLF served both delimiters
    ranges.push({ start: partStart, end: partEnd });
  }
  return ranges;
}
