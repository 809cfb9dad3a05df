/**
 * WATCH / UNWATCH (issue 12, item 6): the owner of a collection key gets a
 * signed alert, with the entry and its log proof, for every log entry that
 * touches the key, through the real Dispatcher, apply step and log. Only the
 * key's holder may watch it; an alert is sent once; UNWATCH ends them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkLogText, textOf } from '../../src/ledger/proofmail.js';
import { touchedKeys, watchAlerts } from '../../src/watch/alerts.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { assertRefused, assertUnchanged, sendChecked } from '../security/world.js';
import { certify, flat, stateOf, TO_BOT, withLog, type World } from './commands-world.js';

/** The apply step for everything queued; every change must apply. */
async function applyAll(w: World): Promise<void> {
  for (const o of (await w.applyAll()).outcomes) assert.equal(o.state, 'applied', o.detail);
}

describe('WATCH and UNWATCH', () => {
  test('the holder watches their key; a change to it and an attestation with it bring one signed alert each, with a proof verify-proof accepts', async () => {
    const { w, alice, bob, carol, svc, vkey } = await withLog();
    const deps = { config: w.cfg, store: w.store, signer: w.bot };
    // Something in the log before the watch: it is history, never alerted.
    await sendChecked(w, await w.mail(alice, `ATTEST\n${TO_BOT}\n${'11'.repeat(32)}  before.tar\n`));
    await applyAll(w);
    assert.deepEqual(await watchAlerts(deps), []);

    const before = await stateOf(w);
    const other = await sendChecked(w, await w.mail(bob, `WATCH ${alice.fpr}\n${TO_BOT}\n`));
    assertRefused(other, { outcome: 'WATCH:refused:not-the-key', to: bob.email, says: [new RegExp(`not by key ${alice.fpr}: only a key's holder may watch it`)] });
    const unbound = await sendChecked(w, await w.mail(alice, `WATCH ${alice.fpr}\n`));
    assert.equal(unbound.outcome, 'refused:unbound');
    await assertUnchanged(w, before);
    assert.deepEqual(await w.store.listWatchers(), []);

    const watch = await sendChecked(w, await w.mail(alice, `WATCH ${alice.fpr}\n${TO_BOT}\n`));
    assert.equal(watch.outcome, 'WATCH:applied');
    assert.match(flat(watch.replies[0].text), /You are watching key [0-9A-F]{40}\. From log entry 1 on/);
    assert.deepEqual((await w.store.listWatchers()).map((x) => [x.fingerprint, x.address, x.since]), [[alice.fpr, alice.email, 1]]);

    // Bob sends a copy of Alice's key with Carol's certification: applied at once, logged (key-updated, subject Alice).
    const stored = (await (await w.collection()).findKeys(alice.fpr))[0];
    await sendChecked(w, await w.mail(bob, `UPDATE KEY\n${TO_BOT}\n\n${(await certify(stored.key, [carol])).armor()}`));
    await applyAll(w);
    const alerts = await watchAlerts(deps);
    assert.equal(alerts.length, 1);
    const row = (await w.store.getOutbox(alerts[0]))!;
    assert.deepEqual(row.recipients, [alice.email]);
    await assertBotMail(row.raw, w.bot.publicArmored, { status: 'found' });
    const r = await w.parse(row);
    assert.equal(r.fields['Watched-Key'], alice.fpr);
    assert.match(r.subject, new RegExp(`^Log entry about your watched key 0x${alice.fpr.slice(-16).toLowerCase()}: key-updated$`));
    assert.match(flat(r.text), /Your key is what the entry changes\./);
    const checked = checkLogText(await textOf(row.raw), vkey);
    assert.equal(checked.ok, true, checked.reason);
    assert.equal(checked.results[0].entry?.subject, alice.fpr);
    assert.deepEqual(await watchAlerts(deps), [], 'each alert once');

    // Alice's own attestation names her key as signer: alerted too.
    await sendChecked(w, await w.mail(alice, `ATTEST\n${TO_BOT}\n${'22'.repeat(32)}  mine.tar\n`));
    await applyAll(w);
    const mine = await watchAlerts(deps);
    assert.equal(mine.length, 1);
    assert.match(flat((await w.parse((await w.store.getOutbox(mine[0]))!)).text), /Your key signed what the entry records/);

    // UNWATCH: no more alerts.
    const un = await sendChecked(w, await w.mail(alice, `UNWATCH ${alice.fpr}\n${TO_BOT}\n`));
    assert.equal(un.outcome, 'UNWATCH:applied');
    await sendChecked(w, await w.mail(alice, `ATTEST\n${TO_BOT}\n${'33'.repeat(32)}  after.tar\n`));
    await applyAll(w);
    assert.deepEqual(await watchAlerts(deps), []);
    const again = await sendChecked(w, await w.mail(alice, `UNWATCH ${alice.fpr}\n${TO_BOT}\n`));
    assert.equal(again.outcome, 'UNWATCH:not-watched');
    await svc.close();
  });

  test('touchedKeys: subject, signers and approvers that are fingerprints', () => {
    const f = (c: string) => c.repeat(40);
    const t = touchedKeys({ type: 'key-added', subject: f('a'), signers: [f('B')], approvers: [f('c'), 'x'], time: '2026-01-01T00:00:00Z', source: '0'.repeat(64) });
    assert.deepEqual([...t].sort(), [f('A'), f('B'), f('C')]);
    assert.deepEqual([...touchedKeys({ type: 'attestation', subject: `sha256:${'0'.repeat(64)}`, signers: [], time: '2026-01-01T00:00:00Z', source: '0'.repeat(64) })], []);
  });
});
