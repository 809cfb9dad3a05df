/**
 * Reading the bot's mail with readers we did not write.
 *
 * The bot's own MIME parser agreeing with the bot's own composer proves
 * nothing (a folded header that our parser tolerates ends the header section
 * for Python, Postfix and mutt). Every mail the bot sends is therefore read
 * here by Python's `email` package with policy=default, and its signature is
 * checked with `gpg --verify` in a keyring holding only the bot's public key.
 *
 *   const r = await readWithPython(raw);            // structure, defects, headers
 *   await assertBotMail(raw, botPublicKey);         // no defects + gpg GOODSIG
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { findBinary } from './procs.js';
import { makeGpgHome, type GpgHome, type VerifyResult } from './gpg.js';

export interface PythonPart {
  /** Content type as Python reads it (lower case). */
  contentType: string;
  /** Defect class names Python recorded on this part. */
  defects: string[];
  /** Decoded text of a text/* leaf part (Python's get_content()), else null. */
  text: string | null;
}

export interface PythonReading {
  contentType: string;
  /** Defects of every part, the top level included, as "path: DefectName". */
  defects: string[];
  /** Header name (as written) -> decoded values, in order; registry errors are defects too. */
  headers: [string, string][];
  /** Every part in walk() order, the top level first. */
  parts: PythonPart[];
  /** Raw (undecoded) header lines as Python split them: name and unfolded value. */
  rawHeaders: [string, string][];
}

const SCRIPT = String.raw`
import base64, email, email.policy, json, sys
def read(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    defects = []
    parts = []
    def record(part, where):
        for d in part.defects:
            defects.append(where + ': ' + type(d).__name__)
    for i, part in enumerate(msg.walk()):
        where = 'part%d(%s)' % (i, part.get_content_type())
        record(part, where)
        text = None
        if part.get_content_maintype() == 'text' and not part.is_multipart():
            try:
                text = part.get_content()
            except Exception as e:
                defects.append(where + ': get_content failed: ' + type(e).__name__)
        parts.append({'contentType': part.get_content_type(), 'defects': [type(d).__name__ for d in part.defects], 'text': text})
    headers = []
    # raw_items + header_fetch_parse one by one: msg.items() parses them all
    # at once, and a header Python cannot parse at all would end the reading
    # with a traceback instead of being reported as a defect.
    for name, raw_value in msg.raw_items():
        try:
            value = msg.policy.header_fetch_parse(name, raw_value)
            v = str(value)
            for d in getattr(value, 'defects', ()):
                defects.append('header ' + name + ': ' + type(d).__name__)
        except Exception as e:
            defects.append('header ' + name + ': ' + type(e).__name__)
            v = ''
        headers.append([name, v])
    raw_headers = []
    compat = email.message_from_bytes(raw, policy=email.policy.compat32)
    for name, value in compat.raw_items():
        raw_headers.append([name, str(value)])
    return {'contentType': msg.get_content_type(), 'defects': defects, 'headers': headers, 'parts': parts, 'rawHeaders': raw_headers}
if sys.argv[1:] == ['--many']:
    # One base64 message per line in, one JSON array out: one interpreter for a batch.
    json.dump([read(base64.b64decode(l)) for l in sys.stdin.buffer.read().split()], sys.stdout)
else:
    json.dump(read(sys.stdin.buffer.read()), sys.stdout)
`;

function runReader<T>(args: string[], input: Buffer): Promise<T> {
  const python = findBinary('python3', 'python3');
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-c', SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`python3 email reader failed (${code}): ${Buffer.concat(err).toString()}`));
        return;
      }
      try {
        resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as T);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** Parse `raw` with Python's email package (policy=default). */
export function readWithPython(raw: Buffer): Promise<PythonReading> {
  return runReader<PythonReading>([], raw);
}

/** Parse many messages in one Python run (for property tests): the readings in order. */
export function readManyWithPython(raws: Buffer[]): Promise<PythonReading[]> {
  return runReader<PythonReading[]>(['--many'], Buffer.from(raws.map((r) => r.toString('base64')).join('\n'), 'latin1'));
}

/** All values of a header in a Python reading (case-insensitive name). */
export function headerValues(r: PythonReading, name: string): string[] {
  return r.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

// One GnuPG home for every check in a process, made once. Imports into it
// run one at a time: two gpg processes importing into a fresh home race to
// create its keyring ("no writable keyring found"), which tests that check
// several mails with Promise.all met now and then.
let sharedHome: Promise<{ home: GpgHome; keys: Map<string, Promise<void>>; imports: Promise<unknown> }> | null = null;

/** `gpg --verify` of a bot mail in a keyring holding only the given public key(s). */
export async function gpgVerifyMail(raw: Buffer, publicKey: string): Promise<VerifyResult> {
  sharedHome ??= makeGpgHome().then((home) => ({ home, keys: new Map<string, Promise<void>>(), imports: Promise.resolve() }));
  const shared = await sharedHome;
  let imported = shared.keys.get(publicKey);
  if (!imported) {
    // A failed import is not remembered: the next check tries again.
    imported = shared.imports.then(() => shared.home.importKeys(publicKey)).catch((err: unknown) => {
      shared.keys.delete(publicKey);
      throw err;
    });
    shared.imports = imported.catch(() => undefined);
    shared.keys.set(publicKey, imported);
  }
  await imported;
  return shared.home.verifyMail(raw);
}

export interface BotMailExpectation {
  /** 'pgpmime' (multipart/signed must stay multipart/signed) or 'inline'. */
  signing?: 'pgpmime' | 'inline';
  /** Expected X-Ztrust-Status, when the mail carries one. */
  status?: string;
}

/**
 * The bar every mail the bot sends must clear: Python reads it without a
 * single defect, its structure is what was meant (multipart/signed stays
 * multipart/signed), headers are within 998 octets and folded with leading
 * whitespace, and gpg says GOODSIG by the bot's key.
 */
export async function assertBotMail(raw: Buffer, botPublicKey: string, expect: BotMailExpectation = {}): Promise<PythonReading> {
  const r = await readWithPython(raw);
  assert.deepEqual(r.defects, [], `Python's email package found defects in the bot's mail:\n${raw.toString('latin1').slice(0, 2000)}`);
  const head = raw.toString('latin1').split(/\r\n\r\n/)[0];
  for (const line of head.split('\r\n')) {
    assert.ok(line.length <= 998, `header line over 998 octets: ${line.slice(0, 80)}...`);
    assert.ok(/^[\x21-\x39\x3b-\x7e]+:/.test(line) || /^[ \t]/.test(line), `header line neither a field nor a continuation: ${JSON.stringify(line)}`);
    assert.ok(/^[\x20-\x7e\t]*$/.test(line), `non-ASCII or control octet in a header line: ${JSON.stringify(line)}`);
  }
  const signing = expect.signing ?? (r.contentType === 'multipart/signed' ? 'pgpmime' : 'inline');
  if (signing === 'pgpmime') {
    assert.equal(r.contentType, 'multipart/signed', 'a PGP/MIME mail must read as multipart/signed');
    assert.equal(r.parts[r.parts.length - 1].contentType, 'application/pgp-signature');
  } else {
    assert.equal(r.contentType, 'text/plain', 'an inline-signed mail must read as text/plain');
  }
  if (expect.status) assert.deepEqual(headerValues(r, 'X-Ztrust-Status'), [expect.status]);
  const v = await gpgVerifyMail(raw, botPublicKey);
  assert.equal(v.ok, true, `gpg --verify failed on the bot's mail: ${v.status}`);
  assert.equal(v.kind, signing);
  return r;
}
