/**
 * Property test of the header folder and encoder (issue 8, "What must be
 * true" 5): for any Subject, display name and recipient address (all of Unicode, control
 * characters, lone surrogates, CR/LF, look-alike encoded words, long words,
 * runs of spaces, "Reply-To:" at any column), the composed mail read by
 * Python's email package (policy=default) has no defects, exactly the
 * intended headers, every header line within 78 columns, encoded words
 * within 75, and the Subject Python decodes is the sanitized input.
 *
 * Python starts once per batch (readManyWithPython), so a run reads
 * thousands of mails in bounded time; a failing batch shrinks to the one
 * input that breaks it.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { HEADER_LIMITS } from '../../src/limits.js';
import { composeSigned, type OutgoingMail } from '../../src/mail/compose.js';
import { sanitizeHeaderText } from '../../src/mail/text.js';
import { signerFromKey, type BotSigner } from '../../src/pgp/botkey.js';
import { headerValues, readManyWithPython } from '../harness/mailcheck.js';

/**
 * Inputs per run (ZTRUST_FUZZ_INPUTS for a longer run), and the bound on
 * composing one of them: far above the few milliseconds a mail takes even on
 * a loaded machine, far below what a super-linear fold of a hostile Subject
 * would take.
 */
const BATCH = 500;
const TOTAL_INPUTS = Math.max(BATCH, Number(process.env.ZTRUST_FUZZ_INPUTS ?? 2000));
const MAX_MS_PER_INPUT = 2000;

const HEADERS = ['From', 'To', 'Subject', 'Date', 'Message-ID', 'In-Reply-To', 'References', 'MIME-Version',
  'Auto-Submitted', 'X-Ztrust-Loop', 'X-Ztrust-Status', 'Content-Type'];

let bot: BotSigner;
before(async () => {
  const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'ztrust-bot', email: 'bot@example.org' }], format: 'object' });
  bot = signerFromKey(privateKey);
});

/** Pieces an attacker or an unlucky user would put in a Subject or a user id. */
const hostile = fc.constantFrom(
  '\r\n', '\n', '\r', '\r\n\r\n', '\u0000', '\t', ' ', '   ', '\u0085', '\u2028', '\u2029', '\u000b', '\u000c', '\u001b', '\u007f',
  'Reply-To: attacker@evil.example', '\r\nReply-To: attacker@evil.example', 'Bcc: victim@example.org', 'Content-Type: text/html',
  '=?UTF-8?Q?Reply-To=3A_x?=', '=?', '?=', '=?UTF-8?B?', '"', '\\', ',', ';', ':', '<', '>', '(', ')', '@', '_', '=', '?',
  'Re: ', 'AW: ', 'ü', 'Grüße', 'Jürgen Groß', '鍵', '鍵の署名', '🔑', '👩‍💻', '🏳️‍🌈', '𠀀', '\ud800', '\udfff', '\ufeff', '\u00a0', '\u3000',
  'x'.repeat(67), 'y'.repeat(80), 'z'.repeat(200), 'é'.repeat(40), '-'.repeat(75),
);
const word = fc.oneof(
  { weight: 3, arbitrary: hostile },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.nat(90).map((n) => 'w'.repeat(n)) },
);
/** Words joined by nothing or by spaces, so hostile text lands at every column. */
const text = fc.array(fc.tuple(word, fc.constantFrom('', ' ', ' ', '  ')), { maxLength: 40 }).map((ws) => ws.map(([w, sep]) => w + sep).join(''));
const address = fc.tuple(text, fc.oneof(text, fc.constantFrom('example.org', 'exämple.org', '例え.jp'))).map(([l, d]) => `${l}@${d}`);
const input = fc.record({ subject: text, name: fc.option(text, { nil: undefined }), to: fc.option(address, { nil: undefined }) });
type Input = { subject: string; name: string | undefined; to: string | undefined };

const mailOf = (i: Input): OutgoingMail => ({
  from: { ...(i.name !== undefined ? { name: i.name } : {}), address: 'bot@example.org' }, to: i.to !== undefined ? [i.to, 'a@example.org'] : ['a@example.org'], subject: i.subject,
  messageId: '<m@example.org>', date: new Date('2026-11-22T10:00:00Z'), inReplyTo: '<p@example.org>', references: ['<p@example.org>'],
  autoSubmitted: 'auto-replied', loopHeader: { name: 'X-Ztrust-Loop', value: 'bot@example.org' }, status: 'found',
  body: 'Status: found\n\nHello.\n', signing: 'pgpmime',
});

/** Every header line of the raw mail: a field or a continuation, printable ASCII, within 78 columns where a fold is possible. */
function checkLines(raw: Buffer, what: string): void {
  const head = raw.toString('latin1').split('\r\n\r\n')[0];
  for (const line of head.split('\r\n')) {
    // Over 78 only where no fold is possible: one address token on its line.
    assert.ok(line.length <= 78 || (line.length <= 998 && /^([ \t]+|[\x21-\x39\x3b-\x7e]+: )\S+$/.test(line)), `header line over 78: ${JSON.stringify(line)} for ${what}`);
    assert.match(line, /^([\x21-\x39\x3b-\x7e]+:|[ \t]+\S)[\x20-\x7e]*$/, `a field, or a continuation starting with whitespace: ${JSON.stringify(line)} for ${what}`);
    for (const w of line.match(/=\?[^?]*\?[QB]\?[^?]*\?=/gi) ?? []) assert.ok(w.length <= 75, `encoded word over 75: ${w} for ${what}`);
  }
}

let inputs = 0;
let slowest = 0;

test(`fold and encode, then Python: ${TOTAL_INPUTS} Subjects and names round-trip with no defect and no injected header`, async () => {
  const started = Date.now();
  // fc.check, not fc.assert: a failing batch is reported by its first
  // failing input (in the assertion message) and the seed, not by shrinking
  // 500 inputs through Python one step at a time.
  const details = await fc.check(fc.asyncProperty(fc.array(input, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
    const raws: Buffer[] = [];
    for (const i of batch) {
      const t0 = performance.now();
      raws.push(await composeSigned(mailOf(i), bot));
      slowest = Math.max(slowest, performance.now() - t0);
    }
    inputs += batch.length;
    const readings = await readManyWithPython(raws);
    batch.forEach((i, n) => {
      const r = readings[n];
      const what = JSON.stringify(i);
      assert.deepEqual(r.defects, [], what);
      assert.deepEqual(r.headers.map(([h]) => h), HEADERS, `no header added or lost: ${what}`);
      assert.deepEqual(headerValues(r, 'Subject'), [sanitizeHeaderText(i.subject, HEADER_LIMITS.subjectChars)], what);
      assert.equal(r.contentType, 'multipart/signed', what);
      checkLines(raws[n], what);
    });
  }), { numRuns: Math.ceil(TOTAL_INPUTS / BATCH), endOnFailure: true, ...(process.env.ZTRUST_FUZZ_SEED ? { seed: Number(process.env.ZTRUST_FUZZ_SEED) } : {}) });
  if (details.failed) assert.fail(`seed ${details.seed} (ZTRUST_FUZZ_SEED): ${String((details.errorInstance as Error | undefined)?.message)}`);
  assert.ok(inputs >= TOTAL_INPUTS, `only ${inputs} inputs were tried`);
  assert.ok(slowest < MAX_MS_PER_INPUT, `composing one mail took ${slowest.toFixed(0)} ms`);
  console.log(`# ${inputs} inputs in ${Date.now() - started} ms; slowest compose ${slowest.toFixed(1)} ms`);
});
