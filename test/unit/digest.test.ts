/**
 * Digests without a queue: the text format, numbering and the hash chain,
 * empty-digest suppression, the collection copy, resuming an interrupted
 * distribution, expiry reminders, and verify-digest's refusals. Log entries
 * go through the real log service (src/ledger/service.ts), the one append path.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { simpleParser } from 'mailparser';
import { initDataDir } from '../../src/app/init.js';
import { openApp, type App } from '../../src/app/app.js';
import { silentLogger } from '../../src/logger.js';
import { Collection } from '../../src/collection/collection.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { generateLogKey, type LogEntry } from '../../src/tlog/index.js';
import { LogService } from '../../src/ledger/service.js';
import { runDigestCycle, DISTRIBUTED_META } from '../../src/digest/run.js';
import { formatDigest, parseDigest, MAX_LISTED_ATTESTATIONS, type DigestInput } from '../../src/digest/format.js';
import { digestSha256, normalizeDigestText, asciiValue, ZERO_SHA256 } from '../../src/digest/text.js';
import { DigestArchive, signedDigestText } from '../../src/digest/archive.js';
import { verifyDigest } from '../../src/digest/verify-digest.js';
import { expiringKeysOf, reminderOutboxId } from '../../src/digest/key-expiry.js';
import { digestOutboxId } from '../../src/digest/mail.js';
import { DigestError } from '../../src/digest/errors.js';
import { assertBotMail, headerValues } from '../harness/mailcheck.js';

const PASS = 'digest-test-passphrase';
const SRC = 'a'.repeat(64);
const FPR = (c: string) => c.repeat(40 / c.length).toUpperCase();

interface Bot { app: App; dataDir: string; ring: Keyring; vkey: string }

async function makeBot(extra: Record<string, unknown> = {}): Promise<Bot> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zdigest-'));
  process.env.ZTRUST_DIGEST_TEST_PASS = PASS;
  const init = await initDataDir({
    dataDir: path.join(dir, 'data'), address: 'bot@example.org', name: 'ztrust-bot', origin: 'digest.test/log', passphrase: PASS,
    extra: {
      bot: { address: 'bot@example.org', name: 'ztrust-bot', keyFile: 'keys/bot.key', keyPassphraseEnv: 'ZTRUST_DIGEST_TEST_PASS' },
      lists: [{ listId: 'linux-390.example.org', address: 'linux-390@example.org', postDigests: true }],
      digest: { recipients: ['ops@example.org'] },
      ...extra,
    },
  });
  const app = await openApp(init.config, silentLogger);
  return { app, dataDir: init.config.dataDir, ring: await Keyring.fromArmored(app.signer.publicArmored), vkey: init.logVerifierKey };
}

const entry = (over: Partial<LogEntry> & Pick<LogEntry, 'type' | 'subject'>): LogEntry =>
  ({ signers: [FPR('1234')], time: '2025-01-02T03:04:05Z', source: SRC, ...over });

async function append(bot: Bot, entries: LogEntry[]): Promise<void> {
  const log = await bot.app.log.get();
  await log.appendEntries(entries);
}

const bots: Bot[] = [];
after(async () => {
  for (const b of bots) {
    await b.app.close();
    rmSync(path.dirname(b.dataDir), { recursive: true, force: true });
  }
});
async function bot(extra?: Record<string, unknown>): Promise<Bot> {
  const b = await makeBot(extra);
  bots.push(b);
  return b;
}

describe('the digest text', () => {
  let input: DigestInput;
  let b: Bot;
  before(async () => {
    b = await bot();
    await append(b, [
      entry({ type: 'key-added', subject: FPR('abcd'), name: 'Vera Volunteer <vera@example.org>', ticket: 'ZT-000001', approvers: [FPR('5678'), FPR('9abc')] }),
      entry({ type: 'attestation', subject: `sha512:${'b'.repeat(128)}`, name: 'evil\nSigned-By: me [x] ~|^ \u00e9t\u00e9.tgz' }),
      entry({ type: 'key-revoked', subject: FPR('dead'), name: 'Old Key <old@example.org>' }),
      entry({ type: 'cert-added', subject: 'c'.repeat(64), name: 'volunteer-root-ca', ticket: 'ZT-000002' }),
    ]);
    const log = await b.app.log.get();
    const { openLogView } = await import('../../src/digest/logview.js');
    const view = (await openLogView(path.join(b.dataDir, 'log')))!;
    const { parseEntry } = await import('../../src/tlog/index.js');
    input = {
      number: 1, date: new Date('2025-01-06T08:00:00.123Z'), previous: null, consistency: await view.consistencyBlock(null),
      entries: await Promise.all([0, 1, 2, 3].map(async (i) => ({ index: i, entry: parseEntry(await view.entry(i)) }))),
      expiring: [], windowDays: 30, bot: { name: 'ztrust-bot', address: 'bot@example.org', fingerprint: b.app.signer.fingerprint },
    };
    assert.equal(log.size(), 4);
  });

  test('is deterministic, 72 columns of plain ASCII, and parses back', () => {
    const t1 = formatDigest(input);
    const t2 = formatDigest({ ...input, entries: input.entries.map((e) => ({ ...e })) });
    assert.equal(t1, t2);
    assert.equal(normalizeDigestText(t1), t1, 'written in the normal form it is hashed in');
    for (const line of t1.split('\n')) {
      assert.ok(line.length <= 72, `over 72 columns: ${line}`);
      assert.match(line, /^[\x20-\x7e]*$/);
      assert.doesNotMatch(line, /[[\]^|~]/, `EBCDIC-unsafe character in: ${line}`);
    }
    const p = parseDigest(t1);
    assert.equal(p.number, 1);
    assert.equal(p.date, '2025-01-06T08:00:00Z');
    assert.equal(p.previousNumber, null);
    assert.equal(p.previousSha256, ZERO_SHA256);
    assert.equal(p.treeSize, 4);
    assert.equal(p.logEntries, '0 to 3');
    assert.deepEqual([p.changes, p.revocations, p.attestations, p.expiringKeys], [3, 1, 1, 0]);
    assert.equal(p.consistency, input.consistency);
    assert.equal(p.origin, 'digest.test/log');
  });

  test('marks revocations first and prominently; a hostile name cannot forge a line', () => {
    const t = formatDigest(input);
    const revoked = t.indexOf('*** REVOKED KEYS: 1 ***');
    assert.ok(revoked > 0 && revoked < t.indexOf('Changes to the collection (3)'), 'the revocation section comes before the changes');
    assert.match(t, /#2 \*\*\* KEY REVOKED \*\*\*, 2025-01-02T03:04:05Z\n {4}Key: DEADDEAD/);
    assert.match(t, /#0 key added[\s\S]*Ticket: ZT-000001\n {4}Approved-By: 5678[0-9A-F]{36}\n {17}9ABC/);
    assert.match(t, /Cert-SHA256:\n {6}c{64}\n/);
    assert.doesNotMatch(t, /^\s*Signed-By: me/m, 'the newline in the name is encoded, so it starts no line');
    const listed = /#1 0x1234123412341234 ([\s\S]*?)\n\n/.exec(t)![1].split('\n').map((l) => l.trim()).join(' ');
    assert.equal(listed, 'evil%0ASigned-By: me %5Bx%5D %7E%7C%5E %C3%A9t%C3%A9.tgz');
    assert.equal(asciiValue('a\u00e9[]'), 'a%C3%A9%5B%5D');
  });

  test('an entry this version cannot read is listed as such, within 72 columns', () => {
    const t = formatDigest({ ...input, entries: input.entries.map((e, i) => (i === 3 ? { index: 3, entry: null, error: `TLOG_ENTRY_INVALID: unknown entry type "key-renamed" ${'x'.repeat(80)}` } : e)) });
    assert.match(t, /^ {2}#3 \(an entry this version cannot read: TLOG_ENTRY_INVALID: unknown$/m);
    assert.match(t, /^Changes: 3$/m);
    for (const line of t.split('\n')) assert.ok(line.length <= 72, line);
  });

  test('must list exactly the entries the proof covers', () => {
    assert.throws(() => formatDigest({ ...input, entries: input.entries.slice(1) }), (e: unknown) => e instanceof DigestError && e.code === 'DIGEST_LOG');
    assert.throws(() => formatDigest({ ...input, entries: input.entries.map((e, i) => ({ ...e, index: i + 1 })) }), /exactly the log entries 0 to 3/);
  });

  test('lists at most 100 attestations one by one, then counts the rest', async () => {
    const b2 = await bot();
    await append(b2, Array.from({ length: MAX_LISTED_ATTESTATIONS + 5 }, (_, i) =>
      entry({ type: 'attestation', subject: `sha256:${i.toString(16).padStart(64, '0')}`, name: `f${i}.tgz` })));
    const r = await runDigestCycle(b2.app);
    const t = (await new DigestArchive(path.join(b2.dataDir, 'digests')).read(r.digest!.number)).parsed.text;
    assert.equal(t.match(/^ {2}#\d+ 0x1234123412341234 f\d+\.tgz$/gm)?.length, MAX_LISTED_ATTESTATIONS);
    assert.match(t, /^ {2}\.\.\. and 5 more \(log entries 100 to 104\)$/m);
    assert.match(t, /^Attestations: 105$/m);
    assert.match(t, /^Changes: 0$/m);
    assert.match(t, /There were no changes to the collection\./);
  });

  test('the hash is over the normal form, so CRLF and trailing blanks do not change it', () => {
    const t = formatDigest(input);
    assert.equal(digestSha256(t), digestSha256(`${t.replace(/\n/g, ' \r\n')}\r\n\r\n`));
    assert.notEqual(digestSha256(t), digestSha256(t.replace('Changes: 3', 'Changes: 4')));
  });

  test('a text that is not a digest is refused with the reason', () => {
    const t = formatDigest(input);
    assert.throws(() => parseDigest(t.replace(/^Digest: 1\n/, '')), /no Digest line/);
    assert.throws(() => parseDigest(t.replace('BEGIN LOG PROOF', 'BEGIN PROOF')), /no BEGIN LOG PROOF/);
    assert.throws(() => parseDigest(t.replace(/(BEGIN LOG PROOF\n {2})[A-Za-z0-9+/]{64}/, '$1!!!')), /not base64/);
    assert.throws(() => parseDigest(t.replace('Tree-Size: 4', 'Tree-Size: four')), /Tree-Size is not a number/);
    assert.throws(() => parseDigest(`Digest: 1\nDigest: 2\n${t.slice(10)}`), /appears twice/);
  });
});

describe('digest cycles', () => {
  test('no digest while nothing changed; then digests 1 and 2 form a chain that verify-digest accepts', async () => {
    const b = await bot();
    const { app } = b;
    const r0 = await runDigestCycle(app);
    assert.equal(r0.digest, null);
    assert.match(r0.skipped!, /log has no entries yet|no checkpoint/);
    assert.deepEqual(await app.store.listOutbox(), []);

    await append(b, [entry({ type: 'key-added', subject: FPR('abcd'), name: 'Vera <vera@example.org>', ticket: 'ZT-000001', approvers: [FPR('5678')] })]);
    const r1 = await runDigestCycle(app, { now: new Date('2025-01-06T08:00:00Z') });
    assert.equal(r1.digest?.number, 1);
    assert.equal(r1.digest?.recipients, 2);
    assert.equal(path.basename(r1.digest.file), '000001.txt');
    assert.deepEqual(r1.outboxIds.sort(), [digestOutboxId(1, 'linux-390@example.org'), digestOutboxId(1, 'ops@example.org')].sort());

    const again = await runDigestCycle(app, { now: new Date('2025-01-06T09:00:00Z') });
    assert.equal(again.digest, null);
    assert.equal(again.skipped, 'nothing changed since digest 1');
    assert.equal((await app.store.listOutbox()).length, 2, 'nothing new queued');

    await append(b, [entry({ type: 'key-revoked', subject: FPR('abcd'), name: 'Vera <vera@example.org>' }),
      entry({ type: 'attestation', subject: `sha256:${'e'.repeat(64)}`, name: 'zowe.tgz' })]);
    const r2 = await runDigestCycle(app, { now: new Date('2025-01-13T08:00:00Z') });
    assert.equal(r2.digest?.number, 2);
    assert.equal(r2.digest?.revocations, 1);
    assert.equal(r2.digest?.attestations, 1);

    const archive = new DigestArchive(path.join(b.dataDir, 'digests'));
    assert.deepEqual(await archive.numbers(), [1, 2]);
    const d1 = await archive.read(1);
    const d2 = await archive.read(2);
    assert.equal(d2.parsed.previousNumber, 1);
    assert.equal(d2.parsed.previousSha256, digestSha256(d1.parsed.text));
    assert.equal(d2.parsed.logEntries, '1 to 2');
    assert.equal(d2.parsed.treeSize, 3);

    const f1 = readFileSync(d1.file);
    const f2 = readFileSync(d2.file);
    const ok = await verifyDigest({ file: f2, previous: f1, botKeys: b.ring, logKey: b.vkey });
    assert.equal(ok.ok, true, ok.reason);
    assert.equal(ok.checked.length, 3);
    const first = await verifyDigest({ file: f1, botKeys: b.ring, logKey: b.vkey });
    assert.equal(first.ok, true, first.reason);
    const alone = await verifyDigest({ file: f2, botKeys: b.ring, logKey: b.vkey });
    assert.equal(alone.ok, true);
    assert.match(alone.notes[0], /hash chain not checked/);

    // The collection carries both, one commit each, with trailers.
    const col = path.join(b.dataDir, 'collection');
    assert.equal(readFileSync(path.join(col, 'digests', '000002.txt'), 'utf8'), d2.signed);
    const logText = execFileSync('git', ['-C', col, 'log', '--format=%s|%(trailers:key=Ztrust-Digest,valueonly)'], { encoding: 'utf8' });
    assert.match(logText, /^Digest 2\|2\n\nDigest 1\|1\n/);
    assert.match(readFileSync(path.join(col, 'SHA256SUMS'), 'utf8'), / {2}digests\/000002\.txt\n/);

    // Empty digests on request: Log-Entries none, the chain continues.
    const r3 = await runDigestCycle(app, { now: new Date('2025-01-20T08:00:00Z'), allowEmpty: true });
    assert.equal(r3.digest?.number, 3);
    const d3 = await archive.read(3);
    assert.equal(d3.parsed.logEntries, 'none');
    assert.match(d3.parsed.text, /There were no changes to the collection\./);
    const ok3 = await verifyDigest({ file: readFileSync(d3.file), previous: f2, botKeys: b.ring, logKey: b.vkey });
    assert.equal(ok3.ok, true, ok3.reason);
  });

  test('a lost data/digests folder is restored from the collection: numbering and the chain go on', async () => {
    const b = await bot();
    const { app } = b;
    await append(b, [entry({ type: 'key-added', subject: FPR('abcd'), name: 'Vera <vera@example.org>' })]);
    await runDigestCycle(app, { now: new Date('2025-01-06T08:00:00Z') });
    const archive = new DigestArchive(path.join(b.dataDir, 'digests'));
    const d1 = await archive.read(1);
    rmSync(path.join(b.dataDir, 'digests'), { recursive: true, force: true });
    await append(b, [entry({ type: 'attestation', subject: `sha256:${'e'.repeat(64)}`, name: 'zowe.tgz' })]);
    const r2 = await runDigestCycle(app, { now: new Date('2025-01-13T08:00:00Z') });
    assert.equal(r2.digest?.number, 2, 'numbering continues from the published digest 1');
    assert.deepEqual(await archive.numbers(), [1, 2]);
    assert.equal((await archive.read(1)).signed, d1.signed, 'digest 1 restored byte for byte');
    assert.equal((await archive.read(2)).parsed.previousSha256, digestSha256(d1.parsed.text));
  });

  test('the mails: inline for the list (still good after a Mailman footer), PGP/MIME for people, List-Unsubscribe on both', async () => {
    const b = await bot();
    await append(b, [entry({ type: 'cert-added', subject: 'c'.repeat(64), name: 'root-ca' })]);
    await runDigestCycle(b.app);
    const rows = await b.app.store.listOutbox();
    const list = rows.find((r) => r.recipients[0] === 'linux-390@example.org')!;
    const ops = rows.find((r) => r.recipients[0] === 'ops@example.org')!;
    assert.equal(list.kind, 'digest');
    for (const [row, kind] of [[list, 'inline'], [ops, 'pgpmime']] as const) {
      const v = await verifyMail(row.raw, b.ring);
      assert.equal(v.verdict, 'good', v.detail);
      assert.equal(v.kind, kind);
      assert.equal(parseDigest(v.signedText!).number, 1);
      const parsed = await simpleParser(row.raw);
      assert.equal(parsed.headers.get('auto-submitted'), 'auto-generated');
      assert.match(row.raw.toString('latin1'), /^List-Unsubscribe:\s+<mailto:bot@example\.org\?subject=UNSUBSCRIBE&body=UNSUBSCRIBE>/m);
      assert.match(parsed.subject ?? '', /^ztrust digest 1: 1 change$/);
    }
    const footer = Buffer.concat([list.raw, Buffer.from('_______________________________________________\r\nLINUX-390 mailing list\r\nTo unsubscribe, send LISTSERV@example.org the line SIGNOFF LINUX-390\r\n')]);
    const vf = await verifyMail(footer, b.ring);
    assert.equal(vf.verdict, 'good');
    const chk = await verifyDigest({ file: footer, botKeys: b.ring, logKey: b.vkey });
    assert.equal(chk.ok, true, chk.reason);
    const chk2 = await verifyDigest({ file: ops.raw, botKeys: b.ring, logKey: b.vkey });
    assert.equal(chk2.ok, true, chk2.reason);
  });

  test('confirmed subscribers get their own mail; nobody else does', async () => {
    const b = await bot({ lists: [], digest: { recipients: [] } });
    await b.app.store.commitEffects([{ kind: 'subscription-token', token: { tokenHash: 'h', address: 'sub@example.org', action: 'subscribe',
      createdAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 3600_000).toISOString(), spoolKey: null } }], []);
    await b.app.store.commitEffects([{ kind: 'subscription-token', token: { tokenHash: 'h2', address: 'pending@example.org', action: 'subscribe',
      createdAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 3600_000).toISOString(), spoolKey: null } }], []);
    await b.app.store.commitEffects([{ kind: 'subscription-confirm', tokenHash: 'h', at: new Date().toISOString() }], []);
    await append(b, [entry({ type: 'key-removed', subject: FPR('abcd') })]);
    const r = await runDigestCycle(b.app);
    assert.deepEqual(r.outboxIds, [digestOutboxId(1, 'sub@example.org')]);
    const rows = await b.app.store.listOutbox();
    assert.deepEqual(rows.map((x) => x.recipients), [['sub@example.org']]);
  });

  test('a crash between queueing the mails and the collection commit is finished by the next cycle, without sending twice', async () => {
    const b = await bot();
    await append(b, [entry({ type: 'key-added', subject: FPR('abcd') })]);
    const col = path.join(b.dataDir, 'collection');
    // The commit step fails: git finds no repository (HEAD is gone).
    await Collection.open(col);
    renameSync(path.join(col, '.git', 'HEAD'), path.join(col, '.git', 'HEAD.away'));
    await assert.rejects(runDigestCycle(b.app), (e: unknown) => e instanceof DigestError && e.code === 'DIGEST_ARCHIVE');
    const queued = (await b.app.store.listOutbox()).map((r) => r.id).sort();
    assert.equal(queued.length, 2);
    assert.equal(await b.app.store.getMeta(DISTRIBUTED_META), undefined);
    renameSync(path.join(col, '.git', 'HEAD.away'), path.join(col, '.git', 'HEAD'));

    const r = await runDigestCycle(b.app);
    assert.equal(r.resumed, 1);
    assert.equal(r.digest, null, 'no new digest: the log did not grow');
    assert.deepEqual([...r.outboxIds].sort(), queued);
    assert.deepEqual((await b.app.store.listOutbox()).map((x) => x.id).sort(), queued, 'the same rows, none added');
    assert.equal(await b.app.store.getMeta(DISTRIBUTED_META), '1');
    assert.ok(existsSync(path.join(col, 'digests', '000001.txt')));
    assert.match(execFileSync('git', ['-C', col, 'log', '--format=%s'], { encoding: 'utf8' }), /^Digest 1\n/);
  });

  test('a log that no longer extends the previous digest (replaced, forked) stops the digest', async () => {
    const b = await bot();
    await append(b, [entry({ type: 'key-added', subject: FPR('abcd') }), entry({ type: 'key-added', subject: FPR('bcde') })]);
    assert.ok((await runDigestCycle(b.app)).digest);
    await b.app.log.close();
    // A different log under the same key: same size plus one, different history.
    const logDir = path.join(b.dataDir, 'log');
    rmSync(logDir, { recursive: true });
    const skey = readFileSync(path.join(b.dataDir, 'keys', 'log.key'), 'utf8').trim();
    const other = await LogService.open({ dir: logDir, origin: 'digest.test/log', signer: skey, store: b.app.store });
    await other.appendEntries([entry({ type: 'key-added', subject: FPR('ffff') }), entry({ type: 'key-added', subject: FPR('eeee') }),
      entry({ type: 'key-added', subject: FPR('dddd') })]);
    await other.close();
    await assert.rejects(runDigestCycle(b.app), (e: unknown) => e instanceof DigestError && e.code === 'DIGEST_LOG' && /fork|rewrite/.test(e.message));
    assert.deepEqual(await new DigestArchive(path.join(b.dataDir, 'digests')).numbers(), [1], 'no digest 2');
  });
});

describe('verify-digest refuses', () => {
  let b: Bot;
  let f1: Buffer;
  let f2: Buffer;
  let d2text: string;
  before(async () => {
    b = await bot();
    await append(b, [entry({ type: 'key-added', subject: FPR('abcd') })]);
    f1 = readFileSync((await runDigestCycle(b.app)).digest!.file);
    await append(b, [entry({ type: 'key-added', subject: FPR('bcde') }), entry({ type: 'key-added', subject: FPR('cdef') })]);
    f2 = readFileSync((await runDigestCycle(b.app)).digest!.file);
    d2text = await signedDigestText(f2.toString('utf8'));
  });
  const resign = async (text: string) => Buffer.from(await b.app.signer.signCleartext(text));

  test('an edited digest (the signature breaks)', async () => {
    const r = await verifyDigest({ file: Buffer.from(f2.toString().replace('Tree-Size: 3', 'Tree-Size: 2')), previous: f1, botKeys: b.ring, logKey: b.vkey });
    assert.equal(r.ok, false);
    assert.match(r.reason, /^signature: bad/);
  });

  test('a digest signed by another key, or not signed', async () => {
    const other = (await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ email: 'x@example.org' }], format: 'object' })).privateKey;
    const forged = await openpgp.sign({ message: await openpgp.createCleartextMessage({ text: d2text }), signingKeys: other });
    assert.match((await verifyDigest({ file: Buffer.from(forged), botKeys: b.ring, logKey: b.vkey })).reason, /not by the bot's key/);
    assert.match((await verifyDigest({ file: Buffer.from(d2text), botKeys: b.ring, logKey: b.vkey })).reason, /not signed/);
  });

  test('a tampered previous-hash, even when signed by the bot key', async () => {
    // The first hex digit changed, whatever it was (a hash starting with 'f' but not 'ff' used to stay unchanged).
    const bad = await resign(d2text.replace(/(Previous-SHA256:\n {2})([0-9a-f])/, (_m, p: string, d: string) => `${p}${d === '0' ? '1' : '0'}`));
    const r = await verifyDigest({ file: bad, previous: f1, botKeys: b.ring, logKey: b.vkey });
    assert.equal(r.ok, false);
    assert.match(r.reason, /^hash chain broken/);
  });

  test('a tampered consistency proof, even when signed by the bot key', async () => {
    const p = parseDigest(d2text);
    const hashes = p.consistency.split('\n');
    const i = hashes.findIndex((l, k) => k > 1 && /^[A-Za-z0-9+/]{43}=$/.test(l));
    hashes[i] = Buffer.alloc(32, 7).toString('base64');
    const b64 = Buffer.from(hashes.join('\n')).toString('base64').match(/.{1,64}/g)!.map((l) => `  ${l}`).join('\n');
    const text = d2text.replace(/(BEGIN LOG PROOF\n)[\s\S]*?(\n {2}END LOG PROOF)/, (_m, a: string, z: string) => `${a}${b64}${z}`);
    const r = await verifyDigest({ file: await resign(text), previous: f1, botKeys: b.ring, logKey: b.vkey });
    assert.equal(r.ok, false);
    assert.match(r.reason, /^log consistency proof: .*not an extension/);
  });

  test('header lines that disagree with the proof; the wrong previous digest; the wrong log key', async () => {
    const r1 = await verifyDigest({ file: await resign(d2text.replace('Tree-Size: 3', 'Tree-Size: 30')), botKeys: b.ring, logKey: b.vkey });
    assert.match(r1.reason, /Tree-Size says 30/);
    const r2 = await verifyDigest({ file: f2, previous: f2, botKeys: b.ring, logKey: b.vkey });
    assert.match(r2.reason, /previous file is digest 2, not 1/);
    const r3 = await verifyDigest({ file: f2, botKeys: b.ring, logKey: generateLogKey('digest.test/log').vkey });
    assert.match(r3.reason, /^log consistency proof:/);
    // Renumbered as digest 3 claiming digest 2 as its predecessor: the chain check catches it.
    const r4 = await verifyDigest({ file: await resign(d2text.replace('Digest: 2', 'Digest: 3').replace('Previous-Digest: 1', 'Previous-Digest: 2')),
      previous: f2, botKeys: b.ring, logKey: b.vkey });
    assert.match(r4.reason, /hash chain broken/);
  });
});

describe('expiry', () => {
  const day = 86_400_000;
  async function keyExpiringIn(days: number, email: string): Promise<openpgp.PublicKey> {
    const { publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Owner', email }],
      keyExpirationTime: Math.round(days * 86400), format: 'object' });
    return publicKey;
  }

  test('keys expiring within the window are listed, sooner first; expired, revoked and far ones are not', async () => {
    const now = new Date();
    const soon = await keyExpiringIn(10, 'soon@example.org');
    const sooner = await keyExpiringIn(3, 'sooner@example.org');
    const far = await keyExpiringIn(90, 'far@example.org');
    const never = (await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ email: 'never@example.org' }], format: 'object' })).publicKey;
    const { privateKey: rk } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ email: 'rev@example.org' }],
      keyExpirationTime: 5 * 86400, format: 'object' });
    const revoked = (await openpgp.revokeKey({ key: rk, format: 'object' })).publicKey;
    const got = await expiringKeysOf([soon, far, never, sooner, revoked], (await import('../../src/policy/index.js')).DEFAULT_CRYPTO_POLICY, now, 30);
    assert.deepEqual(got.map((k) => k.addresses[0]), ['sooner@example.org', 'soon@example.org']);
    assert.equal(got[0].part, 'key');
    assert.ok(Math.abs(got[1].expires.getTime() - (now.getTime() + 10 * day)) < 60_000);
    assert.match(reminderOutboxId(got[0], now), /^expiry-[0-9A-F]{40}-\d{4}-\d{2}-\d{2}-final$/);
    assert.match(reminderOutboxId(got[1], now), /-window$/);
  });

  test('the digest lists them, and each owner gets one signed reminder per stage, however often the job runs', async () => {
    const b = await bot();
    const key = await keyExpiringIn(12, 'owner@example.org');
    const col = await Collection.open(path.join(b.dataDir, 'collection'));
    await col.apply(async (c) => { await c.putKey(key, 'public'); }, { message: 'add owner key', signer: null });
    await append(b, [entry({ type: 'key-added', subject: key.getFingerprint().toUpperCase(), name: 'Owner <owner@example.org>' })]);

    const r1 = await runDigestCycle(b.app);
    assert.equal(r1.reminders, 1);
    const d = await new DigestArchive(path.join(b.dataDir, 'digests')).read(1);
    assert.equal(d.parsed.expiringKeys, 1);
    assert.match(d.parsed.text, new RegExp(`Keys that expire within 30 days \\(1\\)[\\s\\S]*0x${key.getKeyID().toHex()} expires`));
    const reminder = (await b.app.store.listOutbox()).find((o) => o.id.startsWith('expiry-'))!;
    assert.deepEqual(reminder.recipients, ['owner@example.org']);
    assert.equal(reminder.kind, 'notice');
    const v = await verifyMail(reminder.raw, b.ring);
    assert.equal(v.verdict, 'good');
    assert.match(v.signedText!, new RegExp(`gpg --quick-set-expire ${key.getFingerprint().toUpperCase()} 1y`));
    assert.match(v.signedText!, /UPDATE KEY/);
    for (const line of v.signedText!.split('\n')) assert.ok(line.length <= 72, line);
    assert.match((await simpleParser(reminder.raw)).headers.get('auto-submitted') as string, /auto-generated/);

    const r2 = await runDigestCycle(b.app);
    assert.equal(r2.reminders, 0, 'not reminded twice for the same stage');
    assert.equal(r2.digest, null);
    assert.ok(r2.outboxIds.includes(reminder.id), 'an unsent reminder is handed to the sender again');
    await b.app.store.markSent(reminder.id);
    const r3 = await runDigestCycle(b.app, { now: new Date(Date.now() + 6 * 86_400_000) });
    assert.equal(r3.reminders, 1, 'the final-week reminder is a second, distinct one');
    assert.ok(!(await runDigestCycle(b.app)).outboxIds.includes(reminder.id), 'a sent reminder is not handed out again');
  });
});

// Every mail this file's bots queued (digests, reminders), read by Python's
// email package and gpg (issue 8, "What must be true" 3).
describe('every queued mail, read by another reader', () => {
  test('a reminder for a key with a long non-ASCII user id and IDN and non-ASCII addresses', async () => {
    const b = await bot();
    const { publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', format: 'object', keyExpirationTime: 5 * 86400,
      userIDs: [{ name: `Jürgen Groß 鍵 🔑 ${'Langername '.repeat(8).trim()}`, email: 'juergen@exämple.org' }, { name: 'Jörg', email: 'jörg@example.org' }] });
    const col = await Collection.open(path.join(b.dataDir, 'collection'));
    await col.apply(async (c) => { await c.putKey(publicKey, 'public'); }, { message: 'add owner key', signer: null });
    await append(b, [entry({ type: 'key-added', subject: publicKey.getFingerprint().toUpperCase(), name: 'Jürgen' })]);
    assert.equal((await runDigestCycle(b.app)).reminders, 1);
    const reminder = (await b.app.store.listOutbox()).find((o) => o.id.startsWith('expiry-'))!;
    const r = await assertBotMail(reminder.raw, b.app.signer.publicArmored);
    assert.deepEqual(headerValues(r, 'To'), ['juergen@xn--exmple-cua.org'], 'the IDN domain in ASCII form; the non-ASCII local part left out');
    assert.match(headerValues(r, 'Subject')[0], /^Your OpenPGP key 0x[0-9A-F]{16} expires on \d{4}-\d{2}-\d{2}$/i);
  });

  test('every digest and reminder queued in this file reads cleanly in Python and verifies with gpg', async () => {
    let n = 0;
    for (const b of bots) {
      for (const row of await b.app.store.listOutbox()) {
        await assertBotMail(row.raw, b.app.signer.publicArmored);
        n++;
      }
    }
    assert.ok(n >= 10, `only ${n} mails were read`);
  });
});
