// Real GnuPG in a temporary GNUPGHOME: keys, signatures and signed mail made
// the way users' tools make them, and verification of mail the way a user
// would check it with gpg. Everything here runs the gpg binary; nothing is
// simulated, so interop tests compare the bot against the reference tool.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mimeFuncs from 'nodemailer/lib/mime-funcs/index.js';
import qp from 'nodemailer/lib/qp/index.js';
import { atExit, removeDir, trackDir } from './cleanup.js';
import { findBinary } from './procs.js';

export interface MessageHeaders {
  from: string;
  to: string;
  subject: string;
  /** With or without angle brackets; a random one when absent. */
  messageId?: string;
  /** RFC 5322 date; now when absent. */
  date?: string;
  /** More header fields, written in this order after Message-ID. */
  extra?: Record<string, string>;
}

export interface Attachment {
  filename: string;
  contentType: string;
  /** Strings are encoded as UTF-8; sent base64-encoded. */
  content: string | Buffer;
}

export type Digest = 'SHA1' | 'SHA256' | 'SHA384' | 'SHA512';

/** Body options shared by the message builders. */
export interface BodyOptions {
  /** Charset of the text (default UTF-8); ISO-8859-1 writes the body as Latin-1 bytes. */
  charset?: 'UTF-8' | 'ISO-8859-1';
  /** Return CRLF line endings instead of LF (as Maildir stores them). */
  crlf?: boolean;
}

export interface PgpMimeOptions extends BodyOptions {
  attachments?: Attachment[];
  /** Hash algorithm of the signature (default SHA512); micalg follows the signature actually made. */
  digest?: Digest;
  /** Sign in text mode (signature class 0x01, as mutt with gpg does) instead of binary (0x00, as Thunderbird does). */
  textmode?: boolean;
  /** Copy From/To/Subject/Message-ID into the signed part (protected-headers="v1"). */
  protectedHeaders?: boolean;
}

export interface InlineOptions extends BodyOptions {
  digest?: Digest;
}

export interface VerifyResult {
  /** gpg reported a GOODSIG and VALIDSIG and no BADSIG/ERRSIG. */
  ok: boolean;
  kind: 'pgpmime' | 'inline' | 'unsigned';
  /** Primary key fingerprint of the good signature's key (upper hex), else null. */
  signer: string | null;
  /** Fingerprint of the (sub)key that made the good signature, else null. */
  signingKey: string | null;
  /** gpg's --status-fd output. */
  status: string;
}

export interface GpgResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface GpgHome {
  home: string;
  /** Run gpg with this home, --batch and an empty loopback passphrase. */
  run(args: string[], input?: Buffer | string): Promise<GpgResult>;
  /** Generate a key (with an encryption subkey unless encryptSubkey is false); returns the primary fingerprint (upper hex). */
  genKey(uid: string, opts?: { algo?: 'ed25519' | 'rsa3072' | 'rsa2048'; expire?: string; encryptSubkey?: boolean }): Promise<string>;
  exportPublic(fpr: string): Promise<string>;
  importKeys(armored: string | Buffer): Promise<void>;
  /** gpg -u signer --quick-sign-key target (target must be in this keyring). */
  signKey(signerFpr: string, targetFpr: string): Promise<void>;
  clearsign(fpr: string, text: string | Buffer, opts?: { digest?: Digest }): Promise<string>;
  detachSign(fpr: string, data: Buffer, opts?: { textmode?: boolean; armor?: boolean; digest?: Digest }): Promise<Buffer>;
  /** A complete RFC 5322 message signed PGP/MIME (RFC 3156). */
  pgpMimeMessage(fpr: string, headers: MessageHeaders, body: string, opts?: PgpMimeOptions): Promise<Buffer>;
  /** A text/plain message whose body is clearsigned. */
  inlineMessage(fpr: string, headers: MessageHeaders, body: string, opts?: InlineOptions): Promise<Buffer>;
  /** An unsigned text/plain message. */
  plainMessage(headers: MessageHeaders, body: string, opts?: BodyOptions): Buffer;
  /** Verify a PGP/MIME or inline-signed message with gpg, as a user would. */
  verifyMail(raw: Buffer): Promise<VerifyResult>;
  cleanup(): Promise<void>;
}

// --- gpg status parsing -----------------------------------------------------

const HASH_NAMES: Record<string, string> = { '1': 'md5', '2': 'sha1', '3': 'ripemd160', '8': 'sha256', '9': 'sha384', '10': 'sha512', '11': 'sha224' };

function statusLines(status: string, keyword: string): string[][] {
  const out: string[][] = [];
  for (const line of status.split('\n')) {
    const parts = line.replace(/\r$/, '').split(' ');
    if (parts[0] === '[GNUPG:]' && parts[1] === keyword) out.push(parts.slice(2));
  }
  return out;
}

function verdict(status: string, code: number): Omit<VerifyResult, 'kind'> {
  const good = statusLines(status, 'GOODSIG').length > 0;
  const valid = statusLines(status, 'VALIDSIG')[0];
  const bad = statusLines(status, 'BADSIG').length > 0 || statusLines(status, 'ERRSIG').length > 0;
  const ok = code === 0 && good && valid !== undefined && !bad;
  return {
    ok,
    // VALIDSIG <fpr> <date> <ts> <expire> <version> <reserved> <pk-algo> <hash-algo> <class> <primary-fpr>
    signer: ok && valid ? (valid[9] ?? valid[0]).toUpperCase() : null,
    signingKey: ok && valid ? valid[0].toUpperCase() : null,
    status,
  };
}

// --- MIME helpers -------------------------------------------------------------

const CRLF = '\r\n';

function toCrlf(s: string): string {
  return s.replace(/\r\n|\r|\n/g, CRLF);
}

function rfc5322Date(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function headerLine(name: string, value: string): string {
  // Non-ASCII words become RFC 2047 encoded words; long lines are folded.
  return mimeFuncs.foldLines(`${name}: ${mimeFuncs.encodeWords(value, 'Q', 52)}`, 76).replace(/\r?\n/g, CRLF);
}

function messageIdOf(h: MessageHeaders): string {
  const id = h.messageId ?? `${randomUUID()}@harness.test`;
  return id.startsWith('<') ? id : `<${id}>`;
}

// The address headers a user's mail client writes on top of every message.
function outerHeaders(h: MessageHeaders): string {
  const lines = [
    headerLine('From', h.from),
    headerLine('To', h.to),
    headerLine('Subject', h.subject),
    `Date: ${h.date ?? rfc5322Date(new Date())}`,
    `Message-ID: ${messageIdOf(h)}`,
  ];
  for (const [k, v] of Object.entries(h.extra ?? {})) lines.push(headerLine(k, v));
  lines.push('MIME-Version: 1.0');
  return lines.join(CRLF) + CRLF;
}

function boundary(): string {
  return `------------${randomBytes(12).toString('base64url')}`;
}

interface EncodedText {
  /** Content-Type and Content-Transfer-Encoding header lines, CRLF-terminated. */
  headers: string;
  /** The encoded body as a byte-preserving latin1 string with CRLF line endings. */
  body: string;
}

/**
 * A text/plain body as careful mail clients send it inside a signature: 7bit
 * when it is plain short ASCII without trailing whitespace or "From " lines
 * (things transports rewrite), else quoted-printable, so the signed bytes
 * survive transport (RFC 3156 section 3).
 */
function encodeText(text: string, charset: 'UTF-8' | 'ISO-8859-1', extraType = ''): EncodedText {
  let t = text.replace(/\r\n|\r/g, '\n');
  if (!t.endsWith('\n')) t += '\n';
  const bytes = Buffer.from(t, charset === 'UTF-8' ? 'utf8' : 'latin1');
  // eslint-disable-next-line no-control-regex -- 7-bit clean means tab, LF and printable ASCII only: the control range is the test
  const ascii = !/[^\x09\x0a\x20-\x7e]/.test(bytes.toString('latin1'));
  const risky = /[ \t]\n/.test(t) || /^From /m.test(t) || t.split('\n').some((l) => l.length > 76);
  if (ascii && !risky) {
    return {
      headers: `Content-Type: text/plain; charset=${charset === 'UTF-8' ? 'UTF-8' : 'ISO-8859-1'}${extraType}${CRLF}Content-Transfer-Encoding: 7bit${CRLF}`,
      body: toCrlf(t),
    };
  }
  // nodemailer's QP encoder keeps CRLF as hard line breaks (a bare LF would be encoded and wrapped).
  let encoded = qp.wrap(qp.encode(Buffer.from(bytes.toString('latin1').replace(/\n/g, CRLF), 'latin1')), 76);
  encoded = encoded.replace(/^From /gm, '=46rom ');
  return {
    headers: `Content-Type: text/plain; charset=${charset}${extraType}${CRLF}Content-Transfer-Encoding: quoted-printable${CRLF}`,
    body: toCrlf(encoded),
  };
}

function base64Lines(data: Buffer): string {
  return (data.toString('base64').match(/.{1,76}/g) ?? []).join(CRLF) + CRLF;
}

function finish(crlfText: string, crlf: boolean | undefined): Buffer {
  return Buffer.from(crlf ? crlfText : crlfText.replace(/\r\n/g, '\n'), 'latin1');
}

/** Quoted-printable decoding of a latin1 string into bytes. */
function qpDecode(s: string): Buffer {
  const unpadded = s.replace(/[\t ]+(?=\r?\n|$)/g, ''); // trailing whitespace is transport padding
  const joined = unpadded.replace(/=\r?\n/g, ''); // soft line breaks
  return Buffer.from(
    joined.replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  );
}

interface Part {
  headers: Map<string, string>;
  /** Body as a latin1 string (bytes preserved), CRLF line endings. */
  body: string;
}

function parsePart(crlfText: string): Part {
  const end = crlfText.indexOf(CRLF + CRLF);
  const head = end < 0 ? crlfText : crlfText.slice(0, end);
  const body = end < 0 ? '' : crlfText.slice(end + 4);
  const headers = new Map<string, string>();
  for (const field of head.replace(/\r\n(?=[ \t])/g, '').split(CRLF)) {
    const colon = field.indexOf(':');
    if (colon <= 0) continue;
    const name = field.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, field.slice(colon + 1).trim());
  }
  return { headers, body };
}

function contentType(p: Part): { value: string; params: Record<string, string> } {
  const parsed = mimeFuncs.parseHeaderValue(p.headers.get('content-type') ?? 'text/plain');
  return { value: String(parsed.value || 'text/plain').toLowerCase(), params: parsed.params };
}

function decodeBody(p: Part): Buffer {
  const cte = (p.headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  if (cte === 'base64') return Buffer.from(p.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (cte === 'quoted-printable') return qpDecode(p.body);
  return Buffer.from(p.body, 'latin1');
}

/**
 * Split a multipart body at its boundary, byte-exact: each part runs from
 * after its delimiter line to before the CRLF that precedes the next
 * delimiter (that CRLF belongs to the delimiter, RFC 2046 section 5.1.1).
 */
function splitMultipart(body: string, b: string): string[] {
  const delim = `--${b}`;
  const text = CRLF + body; // so that a delimiter on the first line is also preceded by CRLF
  const found: { at: number; next: number; close: boolean }[] = [];
  for (let at = text.indexOf(CRLF + delim); at >= 0; at = text.indexOf(CRLF + delim, at + 2)) {
    const eol = text.indexOf(CRLF, at + 2);
    const rest = text.slice(at + 2 + delim.length, eol < 0 ? undefined : eol);
    // Only a whole delimiter line counts (transport padding allowed), not a
    // longer boundary that merely starts with ours.
    if (/^[ \t]*$/.test(rest)) found.push({ at, next: eol < 0 ? text.length : eol + 2, close: false });
    else if (/^--[ \t]*$/.test(rest)) found.push({ at, next: eol < 0 ? text.length : eol + 2, close: true });
  }
  const parts: string[] = [];
  for (let i = 0; i + 1 < found.length && !found[i].close; i++) {
    parts.push(text.slice(found[i].next, Math.max(found[i].next, found[i + 1].at)));
  }
  return parts;
}

function firstTextPlain(p: Part, depth = 0): Part | null {
  const ct = contentType(p);
  if (ct.value === 'text/plain') return p;
  if (ct.value.startsWith('multipart/') && ct.params.boundary && depth < 8) {
    for (const sub of splitMultipart(p.body, ct.params.boundary)) {
      const found = firstTextPlain(parsePart(sub), depth + 1);
      if (found) return found;
    }
  }
  return null;
}

// --- the home ---------------------------------------------------------------

export async function makeGpgHome(): Promise<GpgHome> {
  const gpg = findBinary('gpg', 'gnupg');
  const gpgconf = findBinary('gpgconf', 'gnupg');
  const home = mkdtempSync(join(tmpdir(), 'ztg-'));
  trackDir(home);
  const env: NodeJS.ProcessEnv = { ...process.env, GNUPGHOME: home, LC_ALL: 'C', LANGUAGE: '' };
  delete env.GPG_AGENT_INFO;

  // gpg starts a gpg-agent daemon for this home on first use; it is not our
  // child, so end it through gpgconf (also at process exit).
  const killAgent = () => {
    spawnSync(gpgconf, ['--homedir', home, '--kill', 'all'], { env, stdio: 'ignore', timeout: 10000 });
    // gpg may have put the sockets under /run/user/<uid>/gnupg/d.<hash>.
    spawnSync(gpgconf, ['--homedir', home, '--remove-socketdir'], { env, stdio: 'ignore', timeout: 10000 });
  };
  const disposeAtExit = atExit(killAgent);
  let fileCounter = 0;

  const run = (args: string[], input?: Buffer | string): Promise<GpgResult> =>
    new Promise((resolve, reject) => {
      const child = spawn(
        gpg,
        ['--homedir', home, '--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', ...args],
        { env, stdio: ['pipe', 'pipe', 'pipe'] },
      );
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const timer = setTimeout(() => child.kill('SIGKILL'), 120000);
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
      });
      child.stdin.on('error', () => {}); // gpg may exit before reading all input
      child.stdin.end(input ?? '');
    });

  const must = async (what: string, args: string[], input?: Buffer | string): Promise<GpgResult> => {
    const r = await run(args, input);
    if (r.code !== 0) throw new Error(`gpg ${what} failed (exit ${r.code}): ${r.stderr}`);
    return r;
  };

  const signCreated = (status: string) => {
    const sc = statusLines(status, 'SIG_CREATED')[0];
    // SIG_CREATED <type> <pk-algo> <hash-algo> <class> <timestamp> <fpr>
    const hash = sc ? HASH_NAMES[sc[2]] : undefined;
    if (!hash) throw new Error(`gpg did not report the signature it made:\n${status}`);
    return { micalg: `pgp-${hash}` };
  };

  const detachSignWithStatus = async (fpr: string, data: Buffer, opts: { textmode?: boolean; armor?: boolean; digest?: Digest } = {}) => {
    const r = await must('detach-sign', [
      '--status-fd', '2',
      '-u', fpr,
      '--digest-algo', opts.digest ?? 'SHA512',
      ...(opts.textmode ? ['--textmode'] : []),
      ...(opts.armor ? ['--armor'] : []),
      '--detach-sign', '--output', '-',
    ], data);
    return { sig: r.stdout, ...signCreated(r.stderr) };
  };

  const clearsign = async (fpr: string, text: string | Buffer, opts: { digest?: Digest } = {}) => {
    const r = await must('clearsign', ['-u', fpr, '--digest-algo', opts.digest ?? 'SHA512', '--clearsign', '--output', '-'], text);
    return r.stdout.toString('latin1');
  };

  const gpgVerify = async (kind: 'pgpmime' | 'inline', args: string[], input: Buffer): Promise<VerifyResult> => {
    const r = await run(['--status-fd', '1', '--verify', ...args], input);
    return { kind, ...verdict(r.stdout.toString('utf8'), r.code) };
  };

  const handle: GpgHome = {
    home,
    run,

    async genKey(uid, opts = {}) {
      const algo = opts.algo ?? 'ed25519';
      const expire = opts.expire ?? 'never';
      const r = await must('quick-gen-key', ['--status-fd', '1', '--yes', '--quick-gen-key', uid, algo, 'sign,cert', expire]);
      // KEY_CREATED <type> <fingerprint> [<handle>]
      const created = statusLines(r.stdout.toString('utf8'), 'KEY_CREATED')[0];
      const fpr = created?.[1]?.toUpperCase();
      if (!fpr || !/^[0-9A-F]{40}$/.test(fpr)) throw new Error(`gpg quick-gen-key gave no fingerprint: ${r.stdout.toString('utf8')} ${r.stderr}`);
      if (opts.encryptSubkey !== false) {
        const sub = algo === 'ed25519' ? 'cv25519' : algo;
        await must('quick-add-key', ['--quick-add-key', fpr, sub, 'encr', expire]);
      }
      return fpr;
    },

    async exportPublic(fpr) {
      const r = await must('export', ['--armor', '--export', fpr]);
      const text = r.stdout.toString('utf8');
      if (!text.includes('BEGIN PGP PUBLIC KEY BLOCK')) throw new Error(`gpg exported nothing for ${fpr}`);
      return text;
    },

    async importKeys(armored) {
      await must('import', ['--import'], armored);
    },

    async signKey(signerFpr, targetFpr) {
      await must('quick-sign-key', ['--yes', '-u', signerFpr, '--quick-sign-key', targetFpr]);
    },

    clearsign,

    async detachSign(fpr, data, opts = {}) {
      return (await detachSignWithStatus(fpr, data, opts)).sig;
    },

    async pgpMimeMessage(fpr, headers, body, opts = {}) {
      const charset = opts.charset ?? 'UTF-8';
      const protectedParam = opts.protectedHeaders ? '; protected-headers="v1"' : '';
      const protectedLines = opts.protectedHeaders
        ? [headerLine('From', headers.from), headerLine('To', headers.to), headerLine('Subject', headers.subject), `Message-ID: ${messageIdOf(headers)}`].join(CRLF) + CRLF
        : '';
      const withId: MessageHeaders = { ...headers, messageId: messageIdOf(headers) };

      // The signed part, exactly as it will be transmitted (CRLF).
      let inner: string;
      if (opts.attachments?.length) {
        const b2 = boundary();
        const text = encodeText(body, charset);
        inner = `Content-Type: multipart/mixed; boundary="${b2}"${protectedParam}${CRLF}${protectedLines}${CRLF}`;
        inner += `This is a multi-part message in MIME format.${CRLF}--${b2}${CRLF}${text.headers}${CRLF}${text.body}`;
        for (const a of opts.attachments) {
          const data = typeof a.content === 'string' ? Buffer.from(a.content, 'utf8') : a.content;
          inner += `${CRLF}--${b2}${CRLF}`;
          inner += `Content-Type: ${a.contentType}; name="${a.filename}"${CRLF}`;
          inner += `Content-Disposition: attachment; filename="${a.filename}"${CRLF}`;
          inner += `Content-Transfer-Encoding: base64${CRLF}${CRLF}${base64Lines(data)}`;
        }
        inner += `${CRLF}--${b2}--${CRLF}`;
      } else {
        const text = encodeText(body, charset, protectedParam);
        inner = `${text.headers}${protectedLines}${CRLF}${text.body}`;
      }

      const signed = Buffer.from(inner, 'latin1');
      const { sig, micalg } = await detachSignWithStatus(fpr, signed, { armor: true, textmode: opts.textmode, digest: opts.digest });
      const b = boundary();
      let msg = outerHeaders(withId);
      msg += `Content-Type: multipart/signed; micalg=${micalg};${CRLF} protocol="application/pgp-signature";${CRLF} boundary="${b}"${CRLF}${CRLF}`;
      msg += `This is an OpenPGP/MIME signed message (RFC 4880 and 3156)${CRLF}`;
      msg += `--${b}${CRLF}${inner}${CRLF}--${b}${CRLF}`;
      msg += `Content-Type: application/pgp-signature; name="OpenPGP_signature.asc"${CRLF}`;
      msg += `Content-Description: OpenPGP digital signature${CRLF}`;
      msg += `Content-Disposition: attachment; filename="OpenPGP_signature.asc"${CRLF}${CRLF}`;
      msg += toCrlf(sig.toString('latin1'));
      msg += `${CRLF}--${b}--${CRLF}`;
      return finish(msg, opts.crlf);
    },

    async inlineMessage(fpr, headers, body, opts = {}) {
      const charset = opts.charset ?? 'UTF-8';
      let t = body.replace(/\r\n|\r/g, '\n');
      if (!t.endsWith('\n')) t += '\n';
      const armored = await clearsign(fpr, Buffer.from(t, charset === 'UTF-8' ? 'utf8' : 'latin1'), { digest: opts.digest });
      // The clearsigned text is already in `charset`; hand encodeText the same bytes back as a string.
      const text = encodeText(Buffer.from(armored, 'latin1').toString(charset === 'UTF-8' ? 'utf8' : 'latin1'), charset);
      return finish(outerHeaders(headers) + text.headers + CRLF + text.body, opts.crlf);
    },

    plainMessage(headers, body, opts = {}) {
      const text = encodeText(body, opts.charset ?? 'UTF-8');
      return finish(outerHeaders(headers) + text.headers + CRLF + text.body, opts.crlf);
    },

    async verifyMail(raw) {
      // Work on a byte-preserving string in CRLF form: that is the form the
      // signature covers, whatever line endings the store used.
      const top = parsePart(toCrlf(raw.toString('latin1')));
      const ct = contentType(top);
      if (ct.value === 'multipart/signed' && ct.params.boundary) {
        const parts = splitMultipart(top.body, ct.params.boundary);
        if (parts.length >= 2) {
          const sigPart = parsePart(parts[1]);
          const sigFile = join(home, `verify-${process.pid}-${++fileCounter}.sig`);
          writeFileSync(sigFile, decodeBody(sigPart));
          try {
            // `gpg --verify sig -`: the signed data (the first part's exact bytes) on stdin.
            return await gpgVerify('pgpmime', [sigFile, '-'], Buffer.from(parts[0], 'latin1'));
          } finally {
            await rm(sigFile, { force: true });
          }
        }
        return { ok: false, kind: 'pgpmime', signer: null, signingKey: null, status: `multipart/signed with ${parts.length} part(s)` };
      }
      const textPart = firstTextPlain(top);
      if (textPart) {
        const text = decodeBody(textPart);
        if (text.includes('-----BEGIN PGP SIGNED MESSAGE-----')) return gpgVerify('inline', ['-'], text);
      }
      return { ok: false, kind: 'unsigned', signer: null, signingKey: null, status: '' };
    },

    async cleanup() {
      killAgent();
      disposeAtExit();
      removeDir(home);
    },
  };
  return handle;
}
