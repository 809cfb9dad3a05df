/**
 * Attack: one message stalls the bot through the signature verifier. The
 * regexes that found the armoured signature of a PGP/MIME signature part
 * (/BEGIN[\s\S]*?END/ and its line-anchored twin) were retried from every
 * BEGIN line and scanned to the end each time; the trailing-blank regex
 * /[ \t]+$/ applied to each signed line was retried from every blank of a
 * long run followed by a letter. Both are quadratic; the scans are now linear.
 *
 * As in quadratic-armour.test.ts: the time for 4n is compared with the time
 * for n (quadratic: 16 times; linear: about 4; 8 leaves room for a busy
 * machine), fastest of several runs, with a 50 ms floor. Measured before the
 * fix: see the report in each assertion message and the commit message.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { canonicalContent } from '../../src/tickets/ticket.js';
import { normalizeDigestText } from '../../src/digest/text.js';
import { signerFromKey } from '../../src/pgp/botkey.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { community, person, TO_BOT } from '../unit/commands-world.js';
import { botMail, deliver, snapshot } from './reply-gate.js';
import { fastest, fill } from './timing.js';

const KB = 1024;
const MB = 1024 * KB;

async function assertLinear(name: string, n: number, make: (bytes: number) => string | Buffer | Promise<string | Buffer>, fn: (s: never) => unknown, runs = 3): Promise<void> {
  const small = await make(n);
  const large = await make(4 * n);
  const ts = await fastest(() => fn(small as never), runs);
  const tl = await fastest(() => fn(large as never), runs);
  const ratio = tl / Math.max(ts, 50);
  assert.ok(ratio < 8, `${name}: ${ts.toFixed(1)} ms for ${n / KB} KiB, ${tl.toFixed(1)} ms for ${(4 * n) / KB} KiB (x${ratio.toFixed(1)}): not linear`);
}

/** A PGP/MIME mail from `p` whose signature part is replaced by `sigPart`. */
function withSignaturePart(raw: Buffer, sigPart: string): Buffer {
  const s = raw.toString('latin1');
  const start = s.indexOf('name="signature.asc"\r\n\r\n') + 'name="signature.asc"\r\n\r\n'.length;
  const end = s.lastIndexOf('\r\n--s-');
  return Buffer.from(s.slice(0, start) + sigPart + s.slice(end), 'latin1');
}

/** An inline-signed mail (ISO-8859-1, so the verifier reads the cleartext bytes itself) with `line` added to the signed text. */
async function inlineWithLine(key: Parameters<typeof signerFromKey>[0], line: string, charset: string): Promise<Buffer> {
  const signed = (await signerFromKey(key).signCleartext(`HELP\n${TO_BOT}\n`)).replace(/\r?\n/g, '\r\n');
  const blank = signed.indexOf('\r\n\r\n') + 4;
  const body = `${signed.slice(0, blank)}${line}\r\n${signed.slice(blank)}`;
  return Buffer.from(`From: m@people.test\r\nTo: bot@ztrust.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=${charset}\r\n\r\n${body}`, 'latin1');
}

test('the PGP/MIME signature part is read in linear time (1 MB of BEGIN lines)', async () => {
  const mallory = await person('Mallory', 'mallory@people.test');
  const ring = Keyring.fromKeys([mallory.key.toPublic()]);
  const { w } = await community({ config: { limits: { maxMessageBytes: 4 * MB } } });
  const mail = await w.mail(mallory, `HELP\n${TO_BOT}`);
  for (const [name, unit] of [
    ['BEGIN lines', '-----BEGIN PGP SIGNATURE-----\r\n'],
    ['BEGIN lines and text', '-----BEGIN PGP SIGNATURE-----\r\nabc\r\n'],
  ] as const) {
    await assertLinear(name, 64 * KB, (n) => withSignaturePart(mail, fill(unit, n)), (raw: Buffer) => verifyMail(raw, ring));
  }
});

test('signed lines ending in a long run of blanks then a letter are read in linear time', async () => {
  const mallory = await person('Mallory', 'mallory@people.test');
  const ring = Keyring.fromKeys([mallory.key.toPublic()]);
  for (const charset of ['iso-8859-1', 'us-ascii']) {
    await assertLinear(`inline ${charset}, blanks then x`, 8 * KB, (n) => inlineWithLine(mallory.key, `${' '.repeat(n)}x`, charset),
      (raw: Buffer) => verifyMail(raw, ring));
    await assertLinear(`inline ${charset}, lines of blanks and letters`, 16 * KB, (n) => inlineWithLine(mallory.key, fill(' \t x\r\n', n).trimEnd(), charset),
      (raw: Buffer) => verifyMail(raw, ring));
  }
});

test('ticket content and digest text drop trailing blanks in linear time', async () => {
  const content = (data: string) => canonicalContent({
    id: 'ZT-000001', kind: 'add-key', subject: 's', submitter: 'x', created: new Date(0), expires: new Date(0), summary: [], data,
  });
  await assertLinear('ticket data, blanks then x', 8 * KB, (n) => `${' '.repeat(n)}x`, content);
  await assertLinear('ticket data, line feeds then x', 8 * KB, (n) => `${'\n'.repeat(n)}x`, content);
  await assertLinear('digest text, blanks then x', 8 * KB, (n) => `${' '.repeat(n)}x`, normalizeDigestText);
});

test('a PGP/MIME mail whose signature part is 1 MB of BEGIN lines: linear through the dispatcher, answered, nothing changed', async () => {
  const { w } = await community({ config: { limits: { maxMessageBytes: 4 * MB } } });
  const mallory = await person('Mallory', 'mallory@people.test');
  const before = await snapshot(w);
  const mail = await w.mail(mallory, `HELP\n${TO_BOT}`);
  const outcomes: string[] = [];
  const replies: string[] = [];
  let i = 0;
  const run = async (raw: Buffer) => {
    const r = await deliver(w, raw, { key: `sp${++i}` });
    outcomes.push(r.outcome);
    for (const o of r.outbox) {
      // HELP is answered whatever the signature: the point is that it is answered, quickly.
      await botMail(w, o, 'found');
      replies.push(o.raw.toString('latin1'));
    }
  };
  const small = withSignaturePart(mail, fill('-----BEGIN PGP SIGNATURE-----\r\n', MB / 4));
  const large = withSignaturePart(mail, fill('-----BEGIN PGP SIGNATURE-----\r\n', MB));
  const ts = await fastest(() => run(small), 2);
  const tl = await fastest(() => run(large), 2);
  const ratio = tl / Math.max(ts, 50);
  assert.ok(ratio < 8, `dispatcher: ${ts.toFixed(0)} ms for 256 KiB, ${tl.toFixed(0)} ms for 1 MiB (x${ratio.toFixed(1)}): not linear`);
  assert.deepEqual([...new Set(outcomes)], ['help'], 'outcomes');
  // A repeated copy is a duplicate and gets no second reply; each first copy is answered.
  assert.equal(replies.length, 2);
  // The signature part was read as what it is: no signature.
  const v = await verifyMail(small, w.botKeyring);
  assert.equal(v.verdict, 'bad');
  assert.match(v.detail, /armoured signature without an END line/);
  assert.equal(await snapshot(w), before);
});

test('key blocks are read in linear time (BEGIN PUBLIC lines closed by one END PRIVATE)', async () => {
  const { readKeysAny } = await import('../../src/pgp/inspect.js');
  const hostile = (n: number) => `${fill('-----BEGIN PGP PUBLIC KEY BLOCK-----\n', n)}-----END PGP PRIVATE KEY BLOCK-----\n`;
  await assertLinear('readKeysAny', 64 * KB, hostile, (s: string) => readKeysAny(s).catch((e: Error) => e.message));
  await assert.rejects(readKeysAny(hostile(KB)), { code: 'PGP_PARSE', message: /no armoured OpenPGP key block found/ });
});
