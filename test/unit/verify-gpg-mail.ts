/**
 * Helpers for the verify tests: what mailing lists and mail stores do to a
 * raw message, done on the bytes (never through a MIME library, which would
 * re-serialise and so hide exactly the damage we test for). Messages signed
 * at a faked time are made here because the shared gpg harness signs "now".
 */
import { randomBytes } from 'node:crypto';
import type { GpgHome } from '../harness/gpg.js';

const HASHES: Record<string, string> = { '2': 'sha1', '8': 'sha256', '9': 'sha384', '10': 'sha512' };

/** Split a raw message (LF or CRLF) into its header block and body, keeping the line-ending style. */
export function splitMessage(raw: Buffer): { head: string; body: string; eol: string } {
  const s = raw.toString('latin1');
  const eol = s.includes('\r\n') ? '\r\n' : '\n';
  const at = s.indexOf(eol + eol);
  return { head: s.slice(0, at), body: s.slice(at + eol.length * 2), eol };
}

/**
 * What Mailman 2.1 does with a multipart message when it adds a footer: the
 * original Content-* headers move onto the first part of a new
 * multipart/mixed, the original body follows unchanged, the footer is a
 * second text/plain part; List-* headers and a subject tag are added.
 */
export function mailmanWrap(raw: Buffer, opts: { list?: string; subjectTag?: string } = {}): Buffer {
  const { head, body, eol } = splitMessage(raw);
  const list = opts.list ?? 'ztrust-test';
  const fields = head.split(eol).reduce<string[]>((acc, line) => {
    if (/^[ \t]/.test(line) && acc.length) acc[acc.length - 1] += eol + line;
    else acc.push(line);
    return acc;
  }, []);
  const contentFields = fields.filter((f) => /^content-/i.test(f));
  let outer = fields.filter((f) => !/^(content-|mime-version)/i.test(f));
  if (opts.subjectTag) outer = outer.map((f) => f.replace(/^Subject: /i, `Subject: [${opts.subjectTag}] `));
  outer.push(`List-Id: ${list} <${list}.lists.example.org>`, `X-Mailman-Version: 2.1.14`, `Precedence: list`);
  const b = `===============${randomBytes(6).readUIntBE(0, 6)}==`;
  const footer = ['_______________________________________________', `${list} mailing list`, `${list}@lists.example.org`,
    `https://lists.example.org/mailman/listinfo/${list}`].join(eol);
  const out = [
    ...outer,
    `Content-Type: multipart/mixed; boundary="${b}"`,
    'MIME-Version: 1.0',
    '',
    `--${b}`,
    ...contentFields,
    '',
    body.replace(/(\r?\n)?$/, ''),
    `--${b}`,
    'Content-Type: text/plain; charset="us-ascii"',
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: 7bit',
    'Content-Disposition: inline',
    '',
    footer,
    '',
    `--${b}--`,
    '',
  ].join(eol);
  return Buffer.from(out, 'latin1');
}

/** What Mailman does with a single text/plain message: the footer is appended to the body itself. */
export function appendFooter(raw: Buffer, footer = '_______________________________________________\nztrust-test mailing list\n'): Buffer {
  const { eol } = splitMessage(raw);
  const s = raw.toString('latin1').replace(/(\r?\n)?$/, eol);
  return Buffer.from(s + footer.replace(/\n/g, eol), 'latin1');
}

/** Add header fields at the top of the message (as an MTA or list would). */
export function addHeaders(raw: Buffer, lines: string[]): Buffer {
  const { eol } = splitMessage(raw);
  return Buffer.concat([Buffer.from(lines.join(eol) + eol, 'latin1'), raw]);
}

/** Replace the first occurrence of `from` in the raw bytes (latin1 view); throws when absent. */
export function replaceOnce(raw: Buffer, from: string | RegExp, to: string): Buffer {
  const s = raw.toString('latin1');
  const out = s.replace(from, to);
  if (out === s) throw new Error(`replaceOnce: ${String(from)} not found`);
  return Buffer.from(out, 'latin1');
}

export interface SignAtOptions {
  /** Unix seconds to fake as gpg's clock (frozen). */
  at?: number;
  textmode?: boolean;
  digest?: 'SHA1' | 'SHA256' | 'SHA512';
}

/**
 * A PGP/MIME message whose signed part is a single text/plain entity, with
 * the detached signature made by real gpg (optionally at a faked time).
 * Returned with LF line endings, as a Maildir stores it; the signature was
 * made over the CRLF form, as RFC 3156 requires.
 */
export async function pgpMimeAt(home: GpgHome, fpr: string, text: string, opts: SignAtOptions = {}): Promise<Buffer> {
  const inner = `Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${text.replace(/\r?\n/g, '\r\n')}`;
  const args = [
    '--status-fd', '2', '-u', fpr, '--digest-algo', opts.digest ?? 'SHA512', '--armor',
    ...(opts.at !== undefined ? ['--faked-system-time', `${opts.at}!`] : []),
    ...(opts.textmode ? ['--textmode'] : []),
    '--detach-sign', '--output', '-',
  ];
  const r = await home.run(args, Buffer.from(inner, 'utf8'));
  if (r.code !== 0) throw new Error(`gpg detach-sign failed: ${r.stderr}`);
  const created = /SIG_CREATED \S+ \S+ (\d+)/.exec(r.stderr);
  const micalg = `pgp-${HASHES[created?.[1] ?? ''] ?? 'sha512'}`;
  const b = `b=${randomBytes(9).toString('base64url')}+/.`;
  const msg = [
    'From: Tester <tester@example.org>',
    'To: bot@example.org',
    'Subject: signed at a chosen time',
    'Date: Mon, 2 Mar 2026 10:00:00 +0000',
    `Message-ID: <${randomBytes(8).toString('hex')}@example.org>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/signed; micalg=${micalg};`,
    ' protocol="application/pgp-signature";',
    ` boundary="${b}"`,
    '',
    'This is an OpenPGP/MIME signed message (RFC 4880 and 3156)',
    `--${b}`,
    inner,
    `--${b}`,
    'Content-Type: application/pgp-signature; name="signature.asc"',
    '',
    r.stdout.toString('latin1').trimEnd(),
    `--${b}--`,
    '',
  ].join('\r\n');
  return Buffer.from(msg.replace(/\r\n/g, '\n'), 'latin1');
}

/** Import the revocation certificate gpg made at key generation (openpgp-revocs.d), so the key is revoked. */
export async function revokeKey(home: GpgHome, fpr: string): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  const cert = await readFile(`${home.home}/openpgp-revocs.d/${fpr}.rev`, 'latin1');
  // gpg puts a colon before the armour line so the file is not imported by accident.
  const r = await home.run(['--import'], cert.replace(/^:-----BEGIN/m, '-----BEGIN'));
  if (r.code !== 0) throw new Error(`gpg import of the revocation failed: ${r.stderr}`);
}
