/**
 * Helpers for the verify tests: what mailing lists and mail stores do to a
 * raw message, done on the bytes (never through a MIME library, which would
 * re-serialise and so hide exactly the damage we test for). Messages signed
 * at a faked time are made here because the shared gpg harness signs "now".
 */
import { randomBytes } from 'node:crypto';
import * as openpgp from 'openpgp';
import type { GpgHome } from '../harness/gpg.js';

const HASHES: Record<string, string> = {
  '1': 'md5', '2': 'sha1', '3': 'ripemd160', '8': 'sha256', '9': 'sha384', '10': 'sha512', '11': 'sha224',
};

/** Every --digest-algo value GnuPG 2.2 signs with (MD5 with a warning only). */
export type GpgDigest = 'MD5' | 'SHA1' | 'RIPEMD160' | 'SHA224' | 'SHA256' | 'SHA384' | 'SHA512';

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
  digest?: GpgDigest;
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
  return wrapPgpMime(inner, r.stdout.toString('latin1'), micalg);
}

/**
 * A PGP/MIME message around a signed part (CRLF) and an armoured detached
 * signature, stored with LF line endings as a Maildir holds it.
 */
export function wrapPgpMime(inner: string, armoredSignature: string, micalg: string): Buffer {
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
    armoredSignature.replace(/\r?\n/g, '\r\n').trimEnd(),
    `--${b}--`,
    '',
  ].join('\r\n');
  return Buffer.from(msg.replace(/\r\n/g, '\n'), 'latin1');
}

/** A text/plain message whose body gpg clearsigned with this digest (any GnuPG digest, unlike the harness's). */
export async function inlineWith(home: GpgHome, fpr: string, text: string, digest: GpgDigest): Promise<Buffer> {
  const r = await home.run(['-u', fpr, '--digest-algo', digest, '--clearsign', '--output', '-'], Buffer.from(text, 'utf8'));
  if (r.code !== 0) throw new Error(`gpg clearsign failed: ${r.stderr}`);
  const msg = [
    'From: Tester <tester@example.org>',
    'To: bot@example.org',
    'Subject: inline signed',
    `Message-ID: <${randomBytes(8).toString('hex')}@example.org>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    r.stdout.toString('utf8'),
  ].join('\n');
  return Buffer.from(msg, 'utf8');
}

/** `gpg --quick-gen-key uid ALGO sign,cert never` for the algorithms the harness does not offer (dsa1024, rsa1024, nistp256). */
export async function genKeyWith(home: GpgHome, uid: string, algo: string): Promise<string> {
  const r = await home.run(['--status-fd', '1', '--quick-gen-key', uid, algo, 'sign,cert', 'never']);
  const fpr = /KEY_CREATED \S+ ([0-9A-F]{40})/.exec(r.stdout.toString('utf8'))?.[1];
  if (r.code !== 0 || !fpr) throw new Error(`gpg quick-gen-key ${algo} failed: ${r.stderr}`);
  return fpr;
}

// ---------------------------------------------------------------------------
// Signature packets patched by hand, for ids no client produces.

/** Header length and body offset of the first OpenPGP packet (old or new format, definite length). */
function packetBody(bin: Uint8Array): { tag: number; start: number; length: number } {
  const b = bin[0];
  if ((b & 0x80) === 0) throw new Error('not an OpenPGP packet');
  if (b & 0x40) {
    const o = bin[1];
    if (o < 192) return { tag: b & 0x3f, start: 2, length: o };
    if (o < 224) return { tag: b & 0x3f, start: 3, length: ((o - 192) << 8) + bin[2] + 192 };
    if (o === 255) return { tag: b & 0x3f, start: 6, length: Buffer.from(bin).readUInt32BE(2) };
    throw new Error('partial body length');
  }
  const lt = b & 3;
  const n = [1, 2, 4][lt];
  if (n === undefined) throw new Error('indeterminate length');
  const len = Buffer.from(bin).readUIntBE(1, n);
  return { tag: (b >> 2) & 0xf, start: 1 + n, length: len };
}

/** Replace the armoured signature in a raw message (PGP/MIME or inline) by `patch` of its binary packets. */
export async function replaceSignature(raw: Buffer, patch: (bin: Uint8Array) => Uint8Array): Promise<Buffer> {
  const s = raw.toString('latin1');
  const m = /-----BEGIN PGP SIGNATURE-----[\s\S]*?-----END PGP SIGNATURE-----/.exec(s);
  if (!m) throw new Error('replaceSignature: no armoured signature');
  // openpgp's .d.ts names the uninstalled @openpgp/web-stream-tools: say what unarmoring a string gives.
  const { data } = (await openpgp.unarmor(m[0])) as { data: Uint8Array };
  const armored = openpgp.armor(openpgp.enums.armor.signature, patch(data)).trimEnd();
  const eol = s.includes('\r\n') ? '\r\n' : '\n';
  return Buffer.from(s.slice(0, m.index) + armored.replace(/\r?\n/g, eol) + s.slice(m.index + m[0].length), 'latin1');
}

/** A copy of a v4 signature packet with the public-key (octet 2) and/or hash (octet 3) algorithm id replaced. */
export function patchSignatureIds(bin: Uint8Array, ids: { hash?: number; publicKey?: number }): Buffer {
  const out = Buffer.from(bin);
  const { tag, start } = packetBody(out);
  if (tag !== 2 || out[start] !== 4) throw new Error('expected a v4 signature packet');
  if (ids.publicKey !== undefined) out[start + 2] = ids.publicKey;
  if (ids.hash !== undefined) out[start + 3] = ids.hash;
  return out;
}

/**
 * The same signature in the v3 layout (RFC 4880 5.2.2): version 3, five
 * hashed octets (type, creation time), the issuer key id, the algorithms,
 * the left 16 bits and the MPIs of the v4 packet. What old PGP 2.x/6.x and
 * some list archives still carry.
 */
export function toV3(bin: Uint8Array): Buffer {
  const src = Buffer.from(bin);
  const { tag, start, length } = packetBody(src);
  const body = src.subarray(start, start + length);
  if (tag !== 2 || body[0] !== 4) throw new Error('expected a v4 signature packet');
  const type = body[1];
  const pk = body[2];
  const hash = body[3];
  let created = Buffer.alloc(4);
  let issuer = Buffer.alloc(8);
  let p = 4;
  for (let area = 0; area < 2; area++) { // hashed, then unhashed subpackets
    const len = body.readUInt16BE(p);
    const end = p + 2 + len;
    let q = p + 2;
    while (q < end) {
      let sl = body[q];
      let hl = 1;
      if (sl >= 192 && sl < 255) { sl = ((sl - 192) << 8) + body[q + 1] + 192; hl = 2; } else if (sl === 255) { sl = body.readUInt32BE(q + 1); hl = 5; }
      const st = body[q + hl] & 0x7f;
      const data = body.subarray(q + hl + 1, q + hl + sl);
      if (st === 2) created = Buffer.from(data);
      if (st === 16) issuer = Buffer.from(data);
      if (st === 33) issuer = Buffer.from(data.subarray(data.length - 8));
      q += hl + sl;
    }
    p = end;
  }
  const rest = body.subarray(p); // left 16 bits and the MPIs
  const v3 = Buffer.concat([Buffer.from([3, 5, type]), created, issuer, Buffer.from([pk, hash]), rest]);
  const head = Buffer.alloc(3);
  head[0] = 0x80 | (2 << 2) | 1; // old format, tag 2, two-octet length
  head.writeUInt16BE(v3.length, 1);
  return Buffer.concat([head, v3]);
}

/** Import the revocation certificate gpg made at key generation (openpgp-revocs.d), so the key is revoked. */
export async function revokeKey(home: GpgHome, fpr: string): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  const cert = await readFile(`${home.home}/openpgp-revocs.d/${fpr}.rev`, 'latin1');
  // gpg puts a colon before the armour line so the file is not imported by accident.
  const r = await home.run(['--import'], cert.replace(/^:-----BEGIN/m, '-----BEGIN'));
  if (r.code !== 0) throw new Error(`gpg import of the revocation failed: ${r.stderr}`);
}
