/**
 * The offline checker behind `verify-proof`: blocks found in text as the
 * bot mails it (framed, CRLF, dash-escaped by an inline signature), the
 * entry shown before each proof, and every way a proof can be wrong: a
 * flipped byte anywhere, another key, another entry, another digest.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkLogText, describeResult, findLogBlocks, textOf } from '../../src/ledger/proofmail.js';
import { framed, FRAME_ENTRY, FRAME_PROOF } from '../../src/ledger/replies.js';
import { LogService } from '../../src/ledger/service.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { formatEntry, generateLogKey, type LogEntry } from '../../src/tlog/index.js';

const ORIGIN = 'proofs.ztrust.test';
const D1 = `sha256:${'1'.repeat(64)}`;
let svc: LogService;
let vkey: string;
let entries: Buffer[];

function att(subject: string, name: string): LogEntry {
  return { type: 'attestation', subject, name, signers: ['C'.repeat(40)], time: '2025-04-01T12:00:00Z', source: 'd'.repeat(64) };
}

before(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'zt-proofmail-'));
  const k = generateLogKey(ORIGIN);
  vkey = k.vkey;
  svc = await LogService.open({ dir, origin: ORIGIN, signer: k.skey, store: SqliteStore.open(':memory:') });
  const list = [att(D1, 'one.tar'), att(`sha256:${'2'.repeat(64)}`, 'two.tar'), att(D1, 'one-again.tar'),
    { type: 'key-added', subject: 'E'.repeat(40), signers: [], time: '2025-04-01T12:00:00Z', source: 'd'.repeat(64) } as LogEntry];
  for (let i = 0; i < 5; i++) await svc.appendEntries(list.map((e) => ({ ...e, name: e.name ? `${e.name}.${i}` : undefined })));
  entries = [];
  for (let i = 0; i < svc.size(); i++) entries.push((await svc.entry(i)).bytes);
});

async function reply(indexes: number[], digest: string | null): Promise<string> {
  const parts = [`Status: found${digest ? `\nDigest: ${digest.split(':')[1]}` : ''}\n\nSome prose.\n`];
  for (const i of indexes) parts.push(`Attestation\n\n${framed(FRAME_ENTRY, entries[i].toString())}${framed(FRAME_PROOF, await svc.proofBlock(i))}`);
  return parts.join('\n');
}

function flip(text: string, at: number): string {
  const c = text[at];
  const repl = c === 'A' ? 'B' : 'A';
  return text.slice(0, at) + repl + text.slice(at + 1);
}

describe('finding blocks', () => {
  test('each proof is paired with the entry shown just before it', async () => {
    const text = await reply([0, 2], D1);
    const { blocks, digest } = findLogBlocks(text);
    assert.equal(digest, D1);
    assert.equal(blocks.length, 2);
    assert.deepEqual(blocks.map((b) => (b.kind === 'inclusion' ? b.entry : null)), [entries[0], entries[2]]);
  });

  test('CRLF line ends and an inline signature\'s dash-escaping are undone', async () => {
    const text = (await reply([0], D1)).replace(/^-/gm, '- -').replace(/\n/g, '\r\n');
    const signed = `-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA512\r\n\r\n${text}-----BEGIN PGP SIGNATURE-----\r\nxx\r\n-----END PGP SIGNATURE-----\r\n`;
    const r = checkLogText(await textOf(Buffer.from(signed)), vkey);
    assert.equal(r.ok, true, r.reason);
  });

  test('a raw message is read through its transfer encoding', async () => {
    const body = (await reply([2], D1)).replace(/=/g, '=3D').replace(/\u2014/g, '=E2=80=94').replace(/\n/g, '\r\n');
    const eml = `From: bot@ztrust.test\r\nTo: a@b.test\r\nSubject: Re: VERIFY\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${body}`;
    const r = checkLogText(await textOf(Buffer.from(eml)), vkey);
    assert.equal(r.ok, true, r.reason);
    assert.equal(r.results[0].index, 2);
  });
});

describe('checking', () => {
  test('a good reply: every proof verifies and the entries are described', async () => {
    const r = checkLogText(await reply([0, 2, 8], D1), vkey);
    assert.equal(r.ok, true, r.reason);
    assert.deepEqual(r.results.map((x) => [x.index, x.size]), [[0, 20], [2, 20], [8, 20]]);
    assert.match(describeResult(r.results[0]), /^ok: entry 0 is in log proofs\.ztrust\.test at tree size 20: attestation of sha256:1{64} \("one\.tar\.0"\) by C{40}/);
  });

  test('flipping any single character of the proof block or the entry makes it fail', async () => {
    const text = await reply([6], null);
    const start = text.indexOf('-----BEGIN ZTRUST LOG ENTRY-----');
    const end = text.indexOf('-----END TLOG PROOF-----');
    let tried = 0;
    for (let at = start; at < end; at++) {
      if (!/[A-Za-z0-9+/]/.test(text[at])) continue;
      const lineStart = text.lastIndexOf('\n', at) + 1;
      if (text.startsWith('-----', lineStart)) continue; // the frames are decoration
      tried++;
      const r = checkLogText(flip(text, at), vkey);
      assert.equal(r.ok, false, `a flip at ${at} (${JSON.stringify(text.slice(at - 10, at + 10))}) went unnoticed`);
    }
    assert.ok(tried > 300, `flipped ${tried} characters`);
  });

  test('reasons: another key, a missing entry, a non-canonical entry, another digest, no block at all', async () => {
    const other = generateLogKey(ORIGIN).vkey;
    const r1 = checkLogText(await reply([0], D1), other);
    assert.equal(r1.ok, false);
    assert.match(r1.results[0].reason, /signature/);

    const bare = await svc.proofBlock(3);
    const r2 = checkLogText(bare, vkey);
    assert.match(r2.results[0].reason, /no ztrust-log-entry v1 text before the proof/);
    assert.equal(checkLogText(bare, vkey, { entry: entries[3] }).ok, true, 'the entry given separately');
    assert.equal(checkLogText(bare, vkey, { entry: entries[4] }).ok, false, 'another entry');

    const padded = (await reply([0], D1)).replace('type: attestation', 'type:  attestation');
    assert.match(checkLogText(padded, vkey).results[0].reason, /not a canonical entry/);

    const r3 = checkLogText(await reply([1], D1), vkey);
    assert.equal(r3.ok, false);
    assert.match(r3.results[0].reason, /not an attestation of sha256:1{64}, the digest this reply is about/);
    assert.equal(checkLogText(await reply([1], null), vkey).ok, true, 'without a Digest line any proven entry is fine');

    const r4 = checkLogText('Status: not-found\n\nnothing here\n', vkey);
    assert.equal(r4.ok, false);
    assert.match(r4.reason, /no complete c2sp\.org\/tlog-proof@v1 or ztrust-bot\/tlog-consistency@v1 block/);
    const truncated = (await reply([0], null)).split('\u2014')[0];
    assert.equal(checkLogText(truncated, vkey).ok, false);
  });

  test('a proof that is correct but for an entry at another index fails', async () => {
    const text = (await reply([0], D1)).replace('index 0\n', 'index 2\n');
    const r = checkLogText(text, vkey);
    assert.equal(r.ok, false);
    assert.match(r.results[0].reason, /not included at index 2/);
  });

  test('consistency blocks, framed or bare, from the empty tree and from an older checkpoint', async () => {
    const fromEmpty = await svc.consistencyBlock(null);
    const old = await svc.checkpointAt(8);
    const fromOld = await svc.consistencyBlock(old);
    const r = checkLogText(`Status: found\n\n${framed('TLOG CONSISTENCY', fromOld)}\n${fromEmpty}`, vkey);
    assert.equal(r.ok, true, r.reason);
    assert.deepEqual(r.results.map((x) => [x.kind, x.oldSize, x.newSize]), [['consistency', 8, 20], ['consistency', 0, 20]]);
    assert.match(describeResult(r.results[0]), /^ok: consistency .*the tree of size 20 extends the tree of size 8/);
    const lines = fromOld.split('\n');
    lines[2] = lines[2].replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    const bad = checkLogText(lines.join('\n'), vkey);
    assert.equal(bad.ok, false);
    assert.match(bad.results[0].reason, /not an extension|proof/);
  });

  test('entries that are not attestations are checked too (collection changes)', async () => {
    const e = entries[3];
    assert.equal(e.toString().includes('type: key-added'), true);
    const text = `${framed(FRAME_ENTRY, e.toString())}${framed(FRAME_PROOF, await svc.proofBlock(3))}`;
    const r = checkLogText(text, vkey);
    assert.equal(r.ok, true, r.reason);
    assert.match(describeResult(r.results[0]), /key-added E{40}/);
    assert.deepEqual(formatEntry({ type: 'key-added', subject: 'E'.repeat(40), signers: [], time: '2025-04-01T12:00:00Z', source: 'd'.repeat(64) }), e);
  });
});
