/**
 * ATTEST, VERIFY and CHECKPOINT through the real Dispatcher and the real
 * apply step, with a real log on disk: accepted lines logged by the single
 * writer, refusals line by line with reasons, replies checked offline with
 * only the log's verifier key (the raw signed mail, QP and all), key status
 * and certification paths, and collection changes logged with the index in
 * the git commit trailer.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import * as openpgp from 'openpgp';
import type { ApplyOutcome } from '../../src/changes/apply.js';
import { checkLogText, textOf } from '../../src/ledger/proofmail.js';
import { attestRefusal, keyStanding } from '../../src/ledger/standing.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { parseEntry, verifyConsistencyBlock } from '../../src/tlog/index.js';
import { certify, flat, person, withLog, type Person, type World, TO_BOT } from './commands-world.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

interface Mail { id: string; to: string[]; status: string; fields: Record<string, string>; text: string; raw: Buffer }

/** Every bot mail: signed by the bot, lines within 72 columns outside framed blocks. */
async function parse(w: World, id: string, raw: Buffer, to: string[]): Promise<Mail> {
  const v = await verifyMail(raw, w.botKeyring);
  assert.equal(v.verdict, 'good', `bot mail ${id} is not signed by the bot: ${v.detail}`);
  const text = v.signedText ?? '';
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') break;
    const m = /^([A-Za-z-]+): (.*)$/.exec(line);
    if (m) fields[m[1]] = m[2]!;
  }
  let framedBlock = false;
  for (const line of text.split('\n')) {
    if (/^-----BEGIN [A-Z ]+-----$/.test(line)) framedBlock = true;
    const exempt = framedBlock || /^Digest: [0-9a-f]{128}$/.test(line) || /^ {2}\S+\+[0-9a-f]{8}\+\S+$/.test(line);
    assert.ok(exempt || line.length <= 72, `line over 72 columns in ${id}: ${line}`);
    assert.ok(!/[\t[\]^|~]/.test(line) || framedBlock, `a character mainframe code pages mangle in ${id}: ${line}`);
    if (/^-----END [A-Z ]+-----$/.test(line)) framedBlock = false;
  }
  return { id, to, status: fields.Status ?? '', fields, text, raw };
}

let seq = 0;
async function send(w: World, raw: Buffer): Promise<{ outcome: string; replies: Mail[] }> {
  const key = `k${++seq}-${randomBytes(3).toString('hex')}`;
  await w.store.spool({ key, mailbox: 'test', uidValidity: 1, uid: String(seq), messageId: null, raw, receivedAt: new Date().toISOString() });
  const out = await (await w.dispatcher()).processMessage((await w.store.getSpooled(key))!);
  await w.store.complete(out.completion);
  const replies = await Promise.all(out.completion.outbox.map((o) => parse(w, o.id, o.raw, o.recipients)));
  return { outcome: out.completion.outcome, replies };
}

/** The apply step as the worker runs it (app.ts wiring, withLog): collection changes and ATTEST, with the log; its notices read as mail. */
async function applyAll(w: World): Promise<{ outcomes: ApplyOutcome[]; notices: Mail[] }> {
  const { outcomes } = await w.applyAll();
  const notices: Mail[] = [];
  for (const oid of outcomes.flatMap((o) => o.outboxIds)) {
    const row = (await w.store.getOutbox(oid))!;
    notices.push(await parse(w, oid, row.raw, row.recipients));
  }
  return { outcomes, notices };
}

async function revokeInCollection(w: World, p: Person): Promise<void> {
  const { publicKey } = await openpgp.revokeKey({ key: p.key, reasonForRevocation: { flag: openpgp.enums.reasonForRevocation.keyCompromised, string: 'laptop stolen' }, format: 'object' });
  const col = await w.collection();
  const stored = (await col.findKeys(p.fpr))[0];
  const merged = await stored.key.update(publicKey);
  await col.apply((c) => c.putKey(merged, 'public'), { message: 'revoke for the test', signer: null });
}

describe('ATTEST', () => {
  test('accepted lines are logged by the apply step; the notice carries indexes, checkpoint and proofs that verify offline', async () => {
    const { w, alice, svc, vkey } = await withLog();
    const a = sha256('zos-tools-1.0.tar'), b = sha256('zos-tools-1.0.xmi');
    const body = `ATTEST\n${TO_BOT}\n${a}  zos-tools-1.0.tar\n${b} *zos-tools-1.0.xmi\nnot a sum line\n`;
    const s = await send(w, await w.mail(alice, body));
    const r = s.replies[0];
    assert.equal(r.status, 'accepted', r.text);
    assert.match(flat(r.text), /2 of 3 lines will be logged in the transparency log ztrust\.example\.org\/log, attested by key/);
    assert.match(r.text, new RegExp(`line 3, sha256:\\n    ${a}\\n    zos-tools-1.0.tar`));
    assert.match(flat(r.text), /line 5: not a line of the form "<sha256 or sha512 hex> <artifact name>" "not a sum line"/);
    assert.equal(svc.size(), 0, 'the handler does not log: the apply step does');

    const { outcomes, notices } = await applyAll(w);
    assert.equal(outcomes[0].state, 'applied');
    assert.equal(outcomes[0].logIndex, 0);
    const n = notices[0];
    assert.deepEqual(n.to, ['alice@people.test']);
    assert.equal(n.status, 'applied');
    assert.equal(n.fields['Log-Index'], '0-1');
    assert.match(n.text, /line 4, sha256, log index 1:/);
    assert.equal(svc.size(), 2);
    assert.equal((await svc.entry(1)).entry.name, 'zos-tools-1.0.xmi');
    assert.equal((await svc.entry(1)).entry.signers[0], alice.fpr);
    assert.equal((await w.store.getChange(outcomes[0].outboxIds[0].replace('applied:', '')))?.state, 'applied');

    // The raw signed notice (PGP/MIME, quoted-printable) checks offline with the key alone.
    const check = checkLogText(await textOf(n.raw), vkey);
    assert.equal(check.ok, true, check.reason);
    assert.deepEqual(check.results.map((x) => x.index), [0, 1]);
    const broken = (await textOf(n.raw)).replace(/^(index 1\n)(.)/m, (_m, p: string, c: string) => p + (c === 'A' ? 'B' : 'A'));
    assert.equal(checkLogText(broken, vkey).ok, false);
    await svc.close();
  });

  test('inline-signed requests work the same; sha512 lines too', async () => {
    const { w, bob, svc } = await withLog();
    const h = createHash('sha512').update('iso').digest('hex');
    const s = await send(w, await w.mail(bob, `ATTEST\n${TO_BOT}\n${h}  volunteer.iso\n`, { signing: 'inline' }));
    assert.equal(s.replies[0].status, 'accepted', s.replies[0].text);
    const { notices } = await applyAll(w);
    assert.equal(notices[0].fields['Log-Index'], '0');
    assert.equal((await svc.entry(0)).entry.subject, `sha512:${h}`);
    await svc.close();
  });

  test('malformed lines only: refused line by line, nothing queued', async () => {
    const { w, alice, svc } = await withLog();
    const s = await send(w, await w.mail(alice, `ATTEST\n${TO_BOT}\n${'c'.repeat(40)}  old.sha1\nfoo bar\n${sha256('x')}\t tab.txt\n`));
    const r = s.replies[0];
    assert.equal(r.status, 'error');
    assert.match(flat(r.text), /none of its 3 lines was logged/);
    assert.match(flat(r.text), /line 3: a digest must have 64 hex digits \(SHA-256\) or 128 \(SHA-512\), this one has 40 \(that is SHA-1/);
    assert.match(flat(r.text), /line 4: not a line of the form/);
    assert.match(flat(r.text), /line 5: /);
    assert.deepEqual(await w.store.pendingChanges(), []);
    const empty = await send(w, await w.mail(alice, `ATTEST\n${TO_BOT}\n\n`));
    assert.equal(empty.replies[0].status, 'error');
    assert.match(flat(empty.replies[0].text), /Rule: no-lines/);
    await svc.close();
  });

  test('over the line limit: the lines past it are refused as one range', async () => {
    const { w, carol, svc } = await withLog({ config: { limits: { maxAttestLines: 3 } } });
    const lines = Array.from({ length: 5 }, (_, i) => `${sha256(`f${i}`)}  f${i}`).join('\n');
    const s = await send(w, await w.mail(carol, `ATTEST\n${TO_BOT}\n${lines}\n`));
    assert.equal(s.replies[0].status, 'accepted');
    assert.match(flat(s.replies[0].text), /3 of 5 lines will be logged/);
    assert.match(flat(s.replies[0].text), /lines 6 to 7 \(2 lines\): over the limit of 3 lines per ATTEST request/);
    const { notices } = await applyAll(w);
    assert.equal(notices[0].fields['Log-Index'], '0-2');
    await svc.close();
  });

  test('a signer outside the collection, an unsigned request and a revoked key are refused; nothing is logged', async () => {
    const { w, bob, stranger, svc } = await withLog();
    const line = `${sha256('a')}  a.tar\n`;
    const out = await send(w, await w.mail(stranger, `ATTEST\n${TO_BOT}\n${line}`));
    assert.equal(out.replies[0].status, 'error');
    assert.match(flat(out.replies[0].text), /must be signed/);
    const unsigned = await send(w, await w.mail(null, `ATTEST\n${TO_BOT}\n${line}`));
    assert.equal(unsigned.replies[0].status, 'error');
    await revokeInCollection(w, bob);
    const rev = await send(w, await w.mail(bob, `ATTEST\n${TO_BOT}\n${line}`));
    assert.equal(rev.replies[0].status, 'error');
    assert.match(flat(rev.replies[0].text), /revoked/i);
    assert.deepEqual(await w.store.pendingChanges(), []);
    assert.equal(svc.size(), 0);
    await svc.close();
  });

  test('a key revoked between acceptance and the apply step attests nothing', async () => {
    const { w, carol, svc } = await withLog();
    const s = await send(w, await w.mail(carol, `ATTEST\n${TO_BOT}\n${sha256('late')}  late.tar\n`));
    assert.equal(s.replies[0].status, 'accepted');
    await revokeInCollection(w, carol);
    const { outcomes, notices } = await applyAll(w);
    assert.equal(outcomes[0].state, 'failed');
    assert.equal(notices[0].status, 'error');
    assert.match(flat(notices[0].text), /could not be logged: the signing key [0-9A-F]{40} is revoked \(compromised: laptop stolen\)/);
    assert.match(flat(notices[0].text), /None of its 1 lines is in the transparency log/);
    assert.equal(svc.size(), 0);
    await svc.close();
  });

  test('a crash after the log append: the retried apply reuses the indexes, nothing is logged twice', async () => {
    const { w, alice, svc } = await withLog();
    await send(w, await w.mail(alice, `ATTEST\n${TO_BOT}\n${sha256('c1')}  c1\n${sha256('c2')}  c2\n`));
    const id = (await w.store.pendingChanges())[0];
    // The apply step got as far as the log, then the process died.
    const row = (await w.store.getChange(id))!;
    const p = JSON.parse(row.payload) as { lines: { subject: string; name: string }[] };
    await svc.appendEntries(p.lines.map((l) => ({ type: 'attestation', subject: l.subject, name: l.name, signers: [alice.fpr], time: '2025-01-01T00:00:00Z', source: row.sourceDigest })), { key: `change:${id}` });
    const { notices } = await applyAll(w);
    assert.equal(svc.size(), 2);
    assert.equal(notices[0].fields['Log-Index'], '0-1');
    assert.match(flat(notices[0].text), /had been logged before/);
    assert.match(notices[0].text, /time: 2025-01-01T00:00:00Z/, 'the notice shows what the log holds');
    await svc.close();
  });
});

describe('VERIFY', () => {
  test('every attestation with signer, identity, key status, certification path and an offline-checkable proof', async () => {
    const { w, alice, bob, carol, stranger, svc, vkey } = await withLog();
    const d = sha256('release-2.4.tar');
    await send(w, await w.mail(alice, `ATTEST\n${TO_BOT}\n${d}  release-2.4.tar\n`));
    await send(w, await w.mail(bob, `ATTEST\n${TO_BOT}\n${sha256('other')}  other\n${d}  mirror/release-2.4.tar\n`, { signing: 'inline' }));
    await applyAll(w);

    const s = await send(w, await w.mail(stranger, `VERIFY ${d.toUpperCase()}\n`, { signing: 'none' }));
    const r = s.replies[0];
    assert.deepEqual(r.to, ['sid@elsewhere.test']);
    assert.equal(r.status, 'found', r.text);
    assert.equal(r.fields.Digest, d);
    assert.equal(r.fields['Log-Index'], '0 2');
    assert.match(flat(r.text), /has 2 attestations in the transparency log ztrust\.example\.org\/log/);
    assert.match(r.text, /Artifact: {4}release-2\.4\.tar/);
    assert.match(r.text, /Artifact: {4}mirror\/release-2\.4\.tar/);
    assert.match(r.text, new RegExp(`Signer: {6}${alice.fpr}\\n  Identity: {4}Alice Mainframe <alice@people\\.test>`));
    assert.match(r.text, /Key today: {3}valid, no expiry date/);
    assert.match(r.text, new RegExp(`Certified by 2 collection keys:\\n(    (${bob.fpr}|${carol.fpr})\\n      .*\\n){2}`));
    assert.match(r.text, /The signer is a maintainer key\./);

    const check = checkLogText(await textOf(r.raw), vkey);
    assert.equal(check.ok, true, check.reason);
    assert.deepEqual(check.results.map((x) => x.entry?.name), ['release-2.4.tar', 'mirror/release-2.4.tar']);
    await svc.close();
  });

  test('path from a maintainer, and the key status today: revoked since, or gone from the collection', async () => {
    // Only Alice is a maintainer; Dave is certified by Bob, who is certified by Alice.
    const { w, alice, bob, svc } = await withLog({ maintainers: (ps) => [ps[0].fpr], threshold: 1 });
    const dave = await person('Dave Newcomer', 'dave@people.test');
    const col = await w.collection();
    await col.apply((c) => c.putKey(dave.pub, 'public'), { message: 'seed dave', signer: null });
    await col.apply(async (c) => c.putKey(await certify(dave.pub, [bob]), 'public'), { message: 'certify dave', signer: null });
    const d = sha256('dave.tar');
    await send(w, await w.mail(dave, `ATTEST\n${TO_BOT}\n${d}  dave.tar\n`));
    await applyAll(w);
    let r = (await send(w, await w.mail(null, `VERIFY ${d}\n`))).replies[0];
    assert.match(r.text, new RegExp(`Certified by 1 collection key:\\n    ${bob.fpr}\\n      Bob Volunteer <bob@people\\.test>`));
    assert.match(r.text, new RegExp(`Path from a maintainer key, each certifying the next:\\n    ${alice.fpr}\\n      Alice Mainframe <alice@people\\.test>\\n    ${bob.fpr}\\n      Bob Volunteer <bob@people\\.test>\\n    \\(the signer\\)`));

    await revokeInCollection(w, dave);
    r = (await send(w, await w.mail(null, `VERIFY ${d}\n`))).replies[0]!;
    assert.equal(r.status, 'found');
    assert.match(r.text, new RegExp(`Key today: {3}REVOKED since ${new Date().toISOString().slice(0, 10)} \\(compromised: laptop stolen\\)`));

    await col.apply((c) => c.removeKey(dave.fpr), { message: 'remove dave', signer: null });
    r = (await send(w, await w.mail(null, `VERIFY ${d}\n`))).replies[0]!;
    assert.match(r.text, /Key today: {3}no longer in the collection/);
    assert.match(flat(r.text), /the key is no longer in the collection, so its certifications cannot be shown/);
    await svc.close();
  });

  test('not found says plainly that it is not a proof of absence; a bad digest gets the usage', async () => {
    const { w, svc } = await withLog();
    const s = await send(w, await w.mail(null, `VERIFY ${sha256('nothing')}\n`));
    const r = s.replies[0];
    assert.equal(r.status, 'not-found');
    assert.equal(s.outcome, 'VERIFY:not-found');
    assert.match(flat(r.text), /This is not a proof that the log holds no such attestation/);
    assert.match(flat(r.text), /not verifiable/);
    // A hex string of a digest's kind but the wrong length (a SHA-1, a cut digest) is no release name.
    for (const bad of ['VERIFY', `VERIFY ${'c'.repeat(40)}`, `VERIFY ${sha256('a')} extra`, 'VERIFY bash-5.3 extra', 'VERIFY -5.3', 'VERIFY bash..5.3', 'VERIFY bash/']) {
      const u = (await send(w, await w.mail(null, `${bad}\n`))).replies[0];
      assert.equal(u.status, 'error', bad);
      assert.match(flat(u.text), /VERIFY answers three questions/);
      assert.match(flat(u.text), /the SHA-256 \(64 hex digits\) or SHA-512 \(128 hex digits\) digest of an artifact/);
    }
    // Anything else that is a release name asks about that release.
    const release = (await send(w, await w.mail(null, 'VERIFY abc\n'))).replies[0];
    assert.equal(release.status, 'not-found');
    assert.match(flat(release.text), /No key in the collection is vouched for the release abc/);
    await svc.close();
  });

  test('a sender over the hourly reply limit costs no log reads and gets no reply', async () => {
    const { w, svc } = await withLog({ config: { limits: { maxRepliesPerSenderPerHour: 2 } } });
    for (let i = 0; i < 2; i++) assert.equal((await send(w, await w.mail(null, `VERIFY ${sha256(String(i))}\n`))).replies.length, 1);
    const third = await send(w, await w.mail(null, `VERIFY ${sha256('3')}\n`));
    assert.equal(third.replies.length, 0);
    assert.equal(third.outcome, 'rate-limited:VERIFY', 'the dispatcher drops it before the handler runs');
    await svc.close();
  });

  test('without a readable log the answer says so (no silent failure)', async () => {
    const { w, svc } = await withLog();
    await svc.close();
    rmSync(path.join(w.cfg.dataDir, 'log', 'checkpoint'));
    for (const cmd of [`VERIFY ${sha256('x')}`, 'CHECKPOINT']) {
      const r = (await send(w, await w.mail(null, `${cmd}\n`))).replies[0];
      assert.equal(r.status, 'error');
      assert.match(flat(r.text), /The transparency log is not available right now/);
    }
  });
});

describe('CHECKPOINT', () => {
  test('the latest signed checkpoint, and a consistency proof from a size the log signed', async () => {
    const { w, alice, svc, vkey } = await withLog();
    await send(w, await w.mail(alice, `ATTEST\n${TO_BOT}\n${sha256('1')}  one\n`));
    await applyAll(w);
    await send(w, await w.mail(alice, `ATTEST\n${TO_BOT}\n${sha256('2')}  two\n${sha256('3')}  three\n`));
    await applyAll(w);
    const r = (await send(w, await w.mail(null, 'CHECKPOINT\n'))).replies[0];
    assert.equal(r.status, 'found');
    assert.equal(r.fields['Tree-Size'], '3');
    assert.ok(r.text.includes(`-----BEGIN TLOG CHECKPOINT-----\n${svc.checkpoint()}-----END TLOG CHECKPOINT-----`));
    assert.ok(r.text.split('\n').includes(`  ${vkey}`), r.text);

    const c = (await send(w, await w.mail(null, 'CHECKPOINT 1\n'))).replies[0];
    const block = /-----BEGIN TLOG CONSISTENCY-----\n([\s\S]*?)-----END TLOG CONSISTENCY-----/.exec(c.text)?.[1];
    assert.ok(block, c.text);
    const v = verifyConsistencyBlock(block, vkey);
    assert.equal(v.ok, true, v.reason);
    assert.deepEqual([v.oldSize, v.newSize], [1, 3]);
    assert.equal(checkLogText(await textOf(c.raw), vkey).ok, true);

    const none = (await send(w, await w.mail(null, 'CHECKPOINT 2\n'))).replies[0];
    assert.match(flat(none.text), /no recorded checkpoint at tree size 2/);
    await svc.close();
  });
});

describe('collection changes are logged', () => {
  test('an applied change gets one log entry; its index is in the commit trailer; a retry does not log it again', async () => {
    const { w, alice, bob, carol, svc, vkey } = await withLog();
    const col = await w.collection();
    const stored = (await col.findKeys(alice.fpr))[0];
    const newer = await certify(stored.key, [carol]);
    const s = await send(w, await w.mail(bob, `UPDATE KEY\n${TO_BOT}\n\n${newer.armor()}`));
    assert.equal(s.replies[0].status, 'accepted', s.replies[0].text);
    const id = (await w.store.pendingChanges())[0];
    const { outcomes, notices } = await applyAll(w);
    assert.equal(outcomes[0].state, 'applied');
    assert.equal(outcomes[0].logIndex, 0);
    assert.equal(notices[0].fields['Log-Index'], '0');
    const msg = await col.git(['log', '-1', '--format=%B']);
    assert.match(msg, /^Ztrust-Log-Index: 0$/m);
    const e = await svc.entry(0);
    assert.equal(e.entry.type, 'key-updated');
    assert.equal(e.entry.subject, alice.fpr);
    assert.deepEqual(e.entry.signers, [bob.fpr]);
    assert.deepEqual(parseEntry(e.bytes), e.entry);
    // The apply step's seam with the same change id: the same index, no second entry.
    assert.equal(await svc.appendEntry({ ...e.entry, time: '2030-01-01T00:00:00Z' }, `change:${id}`), 0);
    assert.equal(svc.size(), 1);
    const proof = `-----BEGIN ZTRUST LOG ENTRY-----\n${e.bytes.toString()}-----END ZTRUST LOG ENTRY-----\n${await svc.proofBlock(0)}`;
    assert.equal(checkLogText(proof, vkey).ok, true);
    await svc.close();
  });
});

describe('who may attest', () => {
  test('attestRefusal and keyStanding: expired keys and keys that cannot sign', async () => {
    const past = new Date(Date.now() - 10 * 86400_000);
    const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Old', email: 'old@people.test' }],
      date: past, keyExpirationTime: 86400, format: 'object', config: { v6Keys: false } });
    const fpr = privateKey.getFingerprint().toUpperCase();
    const ring = Keyring.fromKeys([privateKey.toPublic()]);
    assert.match((await attestRefusal(fpr, ring))!, new RegExp(`the signing key ${fpr} expired on ${new Date(past.getTime() + 86400_000).toISOString().slice(0, 10)}`));
    const st = await keyStanding(fpr, ring);
    assert.equal(st.status, 'expired');
    assert.equal(st.since?.toISOString().slice(0, 10), new Date(past.getTime() + 86400_000).toISOString().slice(0, 10));
    assert.match((await attestRefusal('F'.repeat(40), ring))!, /is not in the collection/);
    assert.match((await attestRefusal(null, ring))!, /not signed by a collection key/);
    // A subkey fingerprint is not the key's identity.
    const sub = privateKey.subkeys[0].getFingerprint().toUpperCase();
    assert.match((await attestRefusal(sub, ring))!, /is not in the collection/);
  });
});
