/**
 * The root ceremony by mail, through the real Dispatcher, store, apply step
 * and log: version 1 drafted from the config (as `root init` does), its
 * notices to the maintainers, APPROVE ROOT-1 by signed mail (PGP/MIME and
 * inline), refusals that change nothing (an outsider, a wrong digest, an
 * unbound approval), publication at the threshold (root files, one commit,
 * one `root` log entry) that `root verify` and GnuPG accept, then version 2
 * adding a maintainer, which needs the new key's approval too.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { openRootDraft } from '../../src/root/ceremony.js';
import { composeNotice } from '../../src/outbound/notice.js';
import { firstRoot, nextRoot, currentRootOf } from '../../src/root/draft.js';
import { verifyPublishedRoot } from '../../src/root/verify.js';
import { formatRoot, parseRoot } from '../../src/root/document.js';
import { rootStanding } from '../../src/root/start.js';
import { reminderStep, rootReminders } from '../../src/root/reminders.js';
import { parseEntry } from '../../src/tlog/index.js';
import { LogReader } from '../../src/ledger/reader.js';
import { assertRefused, assertUnchanged, sendChecked } from '../security/world.js';
import { flat, newcomer, person, stateOf, TO_BOT, withLog, type World } from './commands-world.js';
import { assertBotMail } from '../harness/mailcheck.js';

const gpgOk = spawnSync('gpg', ['--version']).status === 0;

async function draft(w: World, prev: Parameters<typeof openRootDraft>[1], doc: Parameters<typeof openRootDraft>[2]) {
  const d = await openRootDraft({ config: w.cfg, keyring: await w.known.get(), policy: w.policy, now: new Date() }, prev, doc, 'operator');
  const rows = [];
  for (const n of d.notices) rows.push(...(await composeNotice(w.cfg, w.bot, { id: n.tag, to: n.to, subject: n.subject, status: n.status, fields: n.fields, prose: n.body })).rows);
  await w.store.commitEffects([d.effect], rows);
  return { ...d, rows };
}

const approve = (version: number, digest: string): string => `APPROVE ROOT-${version}\n${digest}\n${TO_BOT}\n\nI checked the fingerprints.\n`;

describe('the root ceremony by mail', () => {
  test('version 1: notices, approvals by mail, refusals that change nothing, publication that root verify and GnuPG accept', async () => {
    const { w, alice, bob, carol, stranger, vkey } = await withLog({ threshold: 2 });
    assert.equal(rootStanding(w.cfg, w.bot.fingerprint, new Date()).state, 'unrooted');
    const help0 = await sendChecked(w, await w.mail(null, 'HELP\n'));
    assert.match(flat(help0.replies[0].text), /Trust root: none yet \(unrooted\)\. Until the maintainers approve the first root, the operator's config alone says who the maintainers are\./);
    const d = await draft(w, null, firstRoot(w.cfg, w.bot.fingerprint, vkey, new Date()));
    assert.equal(d.rows.length, 3);
    for (const n of d.rows) {
      const r = await assertBotMail(n.raw, w.bot.publicArmored, { status: 'pending' });
      void r;
      const text = (await w.parse((await w.store.getOutbox(n.id))!)).text;
      assert.match(text, new RegExp(`^ {2}APPROVE ROOT-1\\n {2}${d.digest}\\n {2}To: bot@ztrust\\.test$`, 'm'));
      assert.ok(text.includes(`-----BEGIN ZTRUST ROOT-----\n${d.text}-----END ZTRUST ROOT-----`), 'the exact root bytes are framed in the notice');
    }

    await w.seed([stranger.pub]); // a member, but not a maintainer
    const before = await stateOf(w);
    const outsider = await sendChecked(w, await w.mail(stranger, approve(1, d.digest)));
    assert.equal(outsider.outcome, 'APPROVE:refused:not-a-decider');
    const wrong = await sendChecked(w, await w.mail(alice, approve(1, 'ab'.repeat(32))));
    assertRefused(wrong, { outcome: 'APPROVE:refused:wrong-digest', to: alice.email, says: [/is not the one of root draft 1/] });
    const unbound = await sendChecked(w, await w.mail(alice, `APPROVE ROOT-1\n${d.digest}\n\nfine\n`));
    assert.match(unbound.outcome, /unbound|binding/);
    await assertUnchanged(w, before);
    assert.deepEqual(await w.store.getRootApprovals(1, d.digest), []);

    const first = await sendChecked(w, await w.mail(alice, approve(1, d.digest)));
    assert.equal(first.outcome, 'APPROVE:root-recorded:1');
    assert.equal(first.replies[0].status, 'pending');
    assert.deepEqual(await w.store.pendingChanges(), []);
    const second = await sendChecked(w, await w.mail(bob, approve(1, d.digest), { signing: 'inline' }));
    assert.equal(second.outcome, 'APPROVE:root-approved:1');
    const [o] = (await w.applyAll()).outcomes;
    assert.equal(o.state, 'applied', o.detail);
    assert.notEqual(o.commit, null);

    const col = await w.collection();
    const current = currentRootOf(col.dir)!;
    assert.equal(current.doc.version, 1);
    assert.equal(current.text, d.text);
    const sigs = readdirSync(path.join(col.dir, 'root', '1.sig')).sort();
    assert.deepEqual(sigs, [`${alice.fpr}.key`, `${alice.fpr}.txt`, `${alice.fpr}.txt.sig`, `${bob.fpr}.asc`, `${bob.fpr}.key`].sort());
    assert.match(await col.git(['log', '-1', '--format=%B']), /^Root version 1\n[\s\S]*Ztrust-Log-Index: \d+/m);
    const reader = await LogReader.open(path.join(w.cfg.dataDir, 'log'));
    const entry = parseEntry((await reader.client.proveEntry(o.logIndex!, reader.vkey)).entry);
    assert.deepEqual([entry.type, entry.subject, entry.name, [...entry.signers].sort()], ['root', d.digest, 'ROOT-1', [alice.fpr, bob.fpr].sort()]);
    const walked = await verifyPublishedRoot(col.dir, { trusted: null, policy: w.policy, now: new Date() });
    assert.equal(walked.current.version, 1);
    assert.equal(rootStanding(w.cfg, w.bot.fingerprint, new Date()).state, 'rooted');
    const help1 = await sendChecked(w, await w.mail(null, 'HELP\n'));
    assert.match(flat(help1.replies[0].text), new RegExp(`Trust root: version 1, SHA-256 ${d.digest}, expires \\S+: 2 of its 3 maintainers must approve any change`));
    void carol;

    if (gpgOk) {
      // GnuPG alone, as anyone with a clone would check the approvals.
      const home = mkdtempSync(path.join(tmpdir(), 'zt-root-gpg-'));
      try {
        const g = (args: string[]) => spawnSync('gpg', ['--homedir', home, '--batch', '--status-fd', '1', ...args], { encoding: 'utf8' });
        const dir = path.join(col.dir, 'root', '1.sig');
        assert.equal(g(['--import', path.join(dir, `${alice.fpr}.key`), path.join(dir, `${bob.fpr}.key`)]).status, 0);
        const inline = g(['--verify', path.join(dir, `${bob.fpr}.asc`)]);
        assert.match(inline.stdout, new RegExp(`VALIDSIG ${bob.fpr}`), inline.stderr);
        const mime = g(['--verify', path.join(dir, `${alice.fpr}.txt.sig`), path.join(dir, `${alice.fpr}.txt`)]);
        assert.match(mime.stdout, new RegExp(`VALIDSIG ${alice.fpr}`), mime.stderr);
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    }
  });

  test('two approvals decided at once (each before the other is recorded): the second is refused as a conflict, and processed again it completes the draft', async () => {
    const { w, alice, bob, vkey } = await withLog({ threshold: 2 });
    const d = await draft(w, null, firstRoot(w.cfg, w.bot.fingerprint, vkey, new Date()));
    // As the worker's fresh lane runs two messages that came in together: both decided, then both recorded.
    const rows = [];
    for (const [i, p] of [alice, bob].entries()) {
      const key = `at-once-${i}`;
      await w.store.spool({ key, mailbox: 'test', uidValidity: 1, uid: `9${i}`, messageId: null, raw: await w.mail(p, approve(1, d.digest)), receivedAt: new Date().toISOString() });
      rows.push((await w.store.getSpooled(key))!);
    }
    const dispatcher = await w.dispatcher();
    const [a, b] = await Promise.all(rows.map((r) => dispatcher.processMessage(r)));
    assert.equal(a.completion.outcome, 'APPROVE:root-recorded:1');
    assert.equal(b.completion.outcome, 'APPROVE:root-recorded:1', 'each counted only itself');
    await w.store.complete(a.completion);
    await assert.rejects(w.store.complete(b.completion), (err: unknown) => err instanceof Error && /STORE_CONFLICT|changed while this one was decided/.test(`${(err as { code?: string }).code} ${err.message}`));
    assert.deepEqual((await w.store.getRootApprovals(1, d.digest)).map((x) => x.fingerprint), [alice.fpr], 'the refused record wrote nothing');
    // The retry (the inbound queue's) counts both and hands the draft to the apply step.
    const again = await dispatcher.processMessage((await w.store.getSpooled(rows[1].key))!);
    assert.equal(again.completion.outcome, 'APPROVE:root-approved:1');
    await w.store.complete(again.completion);
    const [o] = (await w.applyAll()).outcomes;
    assert.equal(o.state, 'applied', o.detail);
    assert.equal(currentRootOf((await w.collection()).dir)?.doc.version, 1);
  });

  test('version 2 adds a maintainer: the old threshold is not enough without the new key; a config that disagrees is a mismatch', async () => {
    const { w, alice, bob, vkey } = await withLog({ threshold: 2 });
    const d1 = await draft(w, null, firstRoot(w.cfg, w.bot.fingerprint, vkey, new Date()));
    await sendChecked(w, await w.mail(alice, approve(1, d1.digest)));
    await sendChecked(w, await w.mail(bob, approve(1, d1.digest)));
    await w.applyAll();
    const dave = await person('Dave Newcomer', 'dave@people.test');
    await w.seed([dave.pub]);
    const col = await w.collection();
    // Alice (a maintainer of version 1) proposes it by signed mail.
    const erin = await person('Eve Notmaintainer', 'eve@people.test');
    await w.seed([erin.pub]); // a member, not a maintainer
    const before = await stateOf(w);
    const notMaintainer = await sendChecked(w, await w.mail(erin, `ROOT PROPOSE\n${TO_BOT}\nadd-maintainer ${erin.fpr}\n`));
    assertRefused(notMaintainer, { outcome: 'ROOT PROPOSE:refused:not-a-maintainer', to: erin.email, says: [/is not a maintainer in root version 1/] });
    const badLine = await sendChecked(w, await w.mail(alice, `ROOT PROPOSE\n${TO_BOT}\nmake-me-king now\n`));
    assertRefused(badLine, { outcome: 'ROOT PROPOSE:refused:usage', to: alice.email, says: [/the line "make-me-king now" is not a change/] });
    await assertUnchanged(w, before);
    assert.deepEqual(await w.store.listRootDrafts(['pending']), []);
    const proposed = await sendChecked(w, await w.mail(alice, `ROOT PROPOSE\n${TO_BOT}\nadd-maintainer ${dave.fpr}\n\nDave runs the z/VM builds now.\n`));
    assert.equal(proposed.outcome, 'ROOT PROPOSE:pending:2');
    const notices = proposed.replies.filter((r) => r.fields.Root === 'ROOT-2' && r.status === 'pending' && r.subject.startsWith('Approve trust root version 2'));
    assert.deepEqual(notices.map((n) => n.to[0]).sort(), [alice.email, bob.email, 'carol@people.test', dave.email].sort(), 'the three maintainers and the new one are asked');
    const d2 = { digest: proposed.replies[0].fields['Root-Digest'] };
    const cur = currentRootOf(col.dir)!;
    assert.equal((await w.store.getRootDraft(2, d2.digest))?.text, formatRoot(nextRoot(cur.doc, cur.text, { addMaintainers: [dave.fpr] }, 365,
      new Date(parseRoot((await w.store.getRootDraft(2, d2.digest))!.text).issued))));
    await sendChecked(w, await w.mail(alice, approve(2, d2.digest)));
    const two = await sendChecked(w, await w.mail(bob, approve(2, d2.digest)));
    assert.equal(two.outcome, 'APPROVE:root-recorded:2');
    assert.match(flat(two.replies[0].text), new RegExp(`the new maintainer key ${dave.fpr} did not approve it`));
    const last = await sendChecked(w, await w.mail(dave, approve(2, d2.digest)));
    assert.equal(last.outcome, 'APPROVE:root-approved:2');
    const [o] = (await w.applyAll()).outcomes;
    assert.equal(o.state, 'applied', o.detail);
    const walked = await verifyPublishedRoot(col.dir, { trusted: readFileSync(path.join(col.dir, 'root', '1.txt'), 'latin1'), policy: w.policy, now: new Date() });
    assert.equal(walked.current.version, 2);
    // The config still names three maintainers: the bot must refuse to run until it follows the root.
    const s = rootStanding(w.cfg, w.bot.fingerprint, new Date());
    assert.equal(s.state, 'mismatch');
    assert.match(s.state === 'mismatch' ? s.problems.join('\n') : '', new RegExp(`root version 2 names maintainer ${dave.fpr}, which the config does not`));
    // A worker still running with the old config makes no change meanwhile; questions are still answered.
    const frozen = await stateOf(w);
    const change = await sendChecked(w, await w.mail(alice, `ATTEST\n${TO_BOT}\n\n${'cd'.repeat(32)}  y.tar.gz\n`));
    assertRefused(change, { outcome: 'refused:root-mismatch', to: alice.email,
      says: [new RegExp(`does not match trust root version 2 \\(root version 2 names maintainer ${dave.fpr}, which the config does not\\): until its operator`)] });
    await assertUnchanged(w, frozen);
    const help = await sendChecked(w, await w.mail(alice, 'HELP\n'));
    assert.equal(help.replies[0].status, 'found');
  });

  test('an expired root stops changes with a clear reply, but not the approval of its renewal', async () => {
    const { w, alice, bob, vkey } = await withLog({ threshold: 2 });
    const now = Date.now();
    const old = { ...firstRoot(w.cfg, w.bot.fingerprint, vkey, new Date(now - 20 * 86_400_000)), expires: new Date(now - 86_400_000) };
    const d1 = await draft(w, null, old);
    await sendChecked(w, await w.mail(alice, approve(1, d1.digest)));
    await sendChecked(w, await w.mail(bob, approve(1, d1.digest)));
    assert.equal((await w.applyAll()).outcomes[0].state, 'applied');
    assert.equal(rootStanding(w.cfg, w.bot.fingerprint, new Date()).state, 'expired');
    const dave = await person('Dave Newcomer', 'dave@people.test');
    const before = await stateOf(w);
    const refused = await sendChecked(w, await w.mail(alice, `ATTEST\n${TO_BOT}\n\n${'ab'.repeat(32)}  x.tar.gz\n`));
    assertRefused(refused, { outcome: 'refused:root-expired', to: alice.email, says: [/the trust root \(version 1\) expired at \S+: until the maintainers renew it, the bot makes no change/] });
    await assertUnchanged(w, before);
    void dave;
    const cur = currentRootOf((await w.collection()).dir)!;
    const d2 = await draft(w, cur.doc, nextRoot(cur.doc, cur.text, { renew: true }, 365, new Date()));
    const renew1 = await sendChecked(w, await w.mail(alice, approve(2, d2.digest)));
    assert.equal(renew1.outcome, 'APPROVE:root-recorded:2');
    const renew2 = await sendChecked(w, await w.mail(bob, approve(2, d2.digest)));
    assert.equal(renew2.outcome, 'APPROVE:root-approved:2');
    assert.equal((await w.applyAll()).outcomes[0].state, 'applied');
    assert.equal(rootStanding(w.cfg, w.bot.fingerprint, new Date()).state, 'rooted');
  });

  test('expiry reminders: each step (30, 14, 3 days) once per maintainer, signed; a late sweep sends only the nearest step', async () => {
    const { w, alice, bob, vkey } = await withLog({ threshold: 2 });
    const issued = new Date(Date.now() - 355 * 86_400_000);
    const d1 = await draft(w, null, { ...firstRoot(w.cfg, w.bot.fingerprint, vkey, issued), expires: new Date(Date.now() + 10 * 86_400_000) });
    await sendChecked(w, await w.mail(alice, approve(1, d1.digest)));
    await sendChecked(w, await w.mail(bob, approve(1, d1.digest)));
    assert.equal((await w.applyAll()).outcomes[0].state, 'applied');
    assert.equal(reminderStep(new Date(Date.now() + 10 * 86_400_000), new Date(), [30, 14, 3]), 14);
    assert.equal(reminderStep(new Date(Date.now() + 40 * 86_400_000), new Date(), [30, 14, 3]), null);
    const deps = { config: w.cfg, store: w.store, signer: w.bot, policy: w.policy };
    const first = await rootReminders(deps);
    assert.equal(first.length, 3, 'one per maintainer');
    for (const id of first) {
      const row = (await w.store.getOutbox(id))!;
      await assertBotMail(row.raw, w.bot.publicArmored, { status: 'pending' });
      const r = await w.parse(row);
      assert.match(r.subject, /^The trust root \(version 1\) expires in 10 day\(s\)$/);
      assert.match(flat(r.text), /send a signed ROOT PROPOSE with the line "renew"/);
    }
    assert.deepEqual(await rootReminders(deps), [], 'each step once');
    const late = await rootReminders(deps, new Date(Date.now() + 8 * 86_400_000));
    assert.equal(late.length, 3);
    assert.ok(late.every((id) => id.startsWith('root-expiry:1:3:')), late.join(' '));
    assert.deepEqual(await rootReminders(deps, new Date(Date.now() + 11 * 86_400_000)), [], 'none once it has expired (the expired state is reported instead)');
  });
  test('attack: a ticket approved by a maintainer the new root removes is not applied while the config still names them: the apply step counts only maintainers the current root names', async () => {
    const { w, alice, bob, carol, vkey } = await withLog({ threshold: 2 });
    const d1 = await draft(w, null, firstRoot(w.cfg, w.bot.fingerprint, vkey, new Date()));
    await sendChecked(w, await w.mail(alice, approve(1, d1.digest)));
    await sendChecked(w, await w.mail(bob, approve(1, d1.digest)));
    assert.equal((await w.applyAll()).outcomes[0].state, 'applied');
    // Version 2 removes Carol (say her key is suspected), approved by Alice and Bob; its publication is queued.
    const cur = currentRootOf((await w.collection()).dir)!;
    const d2 = await draft(w, cur.doc, nextRoot(cur.doc, cur.text, { removeMaintainers: [carol.fpr] }, 365, new Date()));
    await sendChecked(w, await w.mail(alice, approve(2, d2.digest)));
    assert.equal((await sendChecked(w, await w.mail(bob, approve(2, d2.digest)))).outcome, 'APPROVE:root-approved:2');
    // Meanwhile Carol and Alice approve a ticket (Carol still a maintainer of version 1 and of the config).
    const dave = await newcomer('Dave Newcomer', 'dave@people.test', [alice, bob]);
    const opened = await sendChecked(w, await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
    const t = (await w.store.getTicket(opened.replies[0].fields.Ticket))!;
    await sendChecked(w, await w.mail(carol, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    await sendChecked(w, await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    const pending = await w.store.pendingChanges();
    assert.equal(pending.length, 2, 'the root publication, then the ticket');
    // The apply queue publishes version 2 first; the ticket's change comes next, with the config still naming Carol.
    const { outcomes } = await w.applyAll();
    assert.equal(outcomes[0].state, 'applied', outcomes[0].detail);
    assert.equal(rootStanding(w.cfg, w.bot.fingerprint, new Date()).state, 'mismatch');
    const col = await w.collection();
    assert.deepEqual(await col.findKeys(dave.fpr), [], `Carol's approval counted under a root that removed her: ${outcomes[1]?.state} ${outcomes[1]?.detail ?? ''}`);
    assert.equal(outcomes[1].state, 'failed');
    assert.match(flat(outcomes[1].detail ?? ''), new RegExp(`had 1 of the 2 valid approvals it needs \\(not counted: the approval by key ${carol.fpr}: trust root version 2 no longer names that key as a maintainer\\)`));
    assert.equal((await w.store.getTicket(t.id))?.state, 'failed');
  });
});
