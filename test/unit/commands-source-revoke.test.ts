/**
 * REVOKE KEY and UPDATE KEY of an upstream source-signing key
 * (pgp/for-source/), through the real Dispatcher, the real apply step and a
 * real log, with keys and revocation certificates made by GnuPG: the
 * revocation is applied at once and written back under the same file name,
 * one commit and one `key-revoked` entry, and VERIFY <release> then says
 * REVOKED; a refreshed expiry is merged; new material (a user ID) is
 * refused, as are revocations of other keys and replays.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { checkState } from '../../src/state/consistency.js';
import { inspectKey } from '../../src/pgp/inspect.js';
import { flat, stateOf, TO_BOT } from './commands-world.js';
import { fileOf, gpgPerson, gpgRevocation, RELEASE, sendForText, sourceKeyWorld } from './source-keys-world.js';

async function readFileKey(w: Parameters<typeof fileOf>[0], rel: string): Promise<openpgp.PublicKey> {
  return openpgp.readKey({ armoredKey: await fileOf(w, rel) });
}

async function commits(w: Parameters<typeof fileOf>[0]): Promise<number> {
  return Number((await (await w.collection()).git(['rev-list', '--count', 'HEAD'])).trim());
}

describe('REVOKE KEY of a source-signing key', () => {
  test('gpg\'s revocation certificate, unsigned mail: applied at once, same file, one commit, one key-revoked entry; VERIFY says REVOKED; a replay is refused', async () => {
    const { w, svc, gpg, fpr, keyId, file } = await sourceKeyWorld();
    try {
      const cert = gpgRevocation(gpg, fpr);
      const unrevoked = await fileOf(w, file);
      const before = { commits: await commits(w), size: svc.size() };
      const s = await w.send(await w.mail(null, `REVOKE KEY\n\n${cert}`, { from: 'release@upstream.example' }));
      const r = s.replies[0];
      assert.equal(s.outcome, 'REVOKE KEY:accepted', r.text);
      assert.equal(s.replies.length, 1, 'no ticket, no maintainer notices');
      assert.match(flat(r.text), new RegExp(`revocation of key 0x${keyId} Upstream Release Signing`));
      // The same certificate again before it is applied: a replay.
      const again = await w.send(await w.mail(null, `REVOKE KEY\n\n${cert}`, { from: 'someone@people.test' }));
      assert.equal(again.outcome, 'REVOKE KEY:refused:replay', again.replies[0].text);
      assert.equal((await w.store.pendingChanges()).length, 1);

      const { outcomes, notices } = await w.applyAll();
      assert.deepEqual(outcomes.map((o) => o.state), ['applied'], outcomes[0]?.detail);
      assert.equal(notices[0].status, 'applied');
      assert.equal(await commits(w), before.commits + 1, 'one commit');
      const col = await w.collection();
      assert.match(await col.git(['log', '-1', '--format=%B']), new RegExp(`^Revoke source-signing key 0x${keyId} \\(release@upstream\\.example\\)\\n`));
      assert.equal((await col.git(['show', '--name-only', '--format=', 'HEAD'])).split('\n').filter((l) => l.startsWith('pgp/')).join(' '), file,
        'only the source key file changes among the keys');
      const stored = await readFileKey(w, file);
      assert.equal((await inspectKey(stored, { collection: [] })).revoked, true, 'the same file, now revoked');
      assert.equal((await col.sourceKeys()).length, 1);
      assert.deepEqual(await col.keys().then((ks) => ks.filter((k) => k.fingerprint === fpr)), [], 'nothing entered pgp/all');
      assert.equal(svc.size(), before.size + 1, 'one log entry');
      const entry = (await svc.entry(before.size)).entry;
      assert.equal(entry.type, 'key-revoked');
      assert.equal(entry.subject, fpr);
      assert.equal(entry.name, 'release@upstream.example');

      const v = await sendForText(w, await w.mail(null, `VERIFY ${RELEASE}\n`));
      assert.equal(v.outcome, 'VERIFY:release-found:1', v.text);
      assert.match(flat(v.text), /Key today: REVOKED since \d{4}-\d\d-\d\d/, v.text);
      // After it is applied: already revoked, nothing queued.
      const late = await w.send(await w.mail(null, `REVOKE KEY\n\n${cert}`, { from: 'other@people.test' }));
      assert.equal(late.outcome, 'REVOKE KEY:refused:already-revoked');
      assert.deepEqual(await w.store.pendingChanges(), []);
      // The state check (start and every apply) agrees with the log: the revoked entry is the source key's.
      assert.deepEqual(await checkState({ dataDir: w.cfg.dataDir, deep: true, store: w.store }), []);
      // The unrevoked copy put back by hand: the check names the file, and the next apply would refuse to run.
      await col.apply((c) => c.putSourceFile(file.split('/').pop()!, Buffer.from(unrevoked)), { message: 'put back', signer: null });
      const found = await checkState({ dataDir: w.cfg.dataDir, deep: false, store: w.store });
      assert.deepEqual(found.map((f) => f.code), ['STATE_COLLECTION_DIVERGED']);
      assert.match(found[0].message, new RegExp(`revoked source-signing key ${fpr}, but ${file} is not revoked`));
    } finally {
      await svc.close();
      await gpg.cleanup();
    }
  });

  test('a key in both folders (a member who signs releases upstream) is revoked in both, in one commit', async () => {
    const { w, svc, gpg, fpr, keyId, file } = await sourceKeyWorld({ alsoMember: true });
    try {
      const before = await commits(w);
      const s = await w.send(await w.mail(null, `REVOKE KEY\n\n${gpgRevocation(gpg, fpr)}`));
      assert.equal(s.outcome, 'REVOKE KEY:accepted', s.replies[0].text);
      assert.deepEqual((await w.applyAll()).outcomes.map((o) => o.state), ['applied']);
      assert.equal(await commits(w), before + 1);
      const col = await w.collection();
      assert.match(await col.git(['log', '-1', '--format=%B']), new RegExp(`^Revoke key 0x${keyId} .* in pgp/all and pgp/for-source\\n`));
      const member = (await col.findKeys(fpr))[0];
      assert.equal((await inspectKey(member.key, { collection: [] })).revoked, true);
      assert.equal((await inspectKey(await readFileKey(w, file), { collection: [] })).revoked, true);
      assert.deepEqual(await checkState({ dataDir: w.cfg.dataDir, deep: true, store: w.store }), []);
    } finally {
      await svc.close();
      await gpg.cleanup();
    }
  });

  test('a revocation of another key (not in the collection) is refused; nothing changes', async () => {
    const { w, svc, gpg, file } = await sourceKeyWorld();
    try {
      const other = await gpg.genKey('Other Upstream <other@upstream.example>', { algo: 'ed25519', encryptSubkey: false });
      const keep = await fileOf(w, file);
      const before = await stateOf(w);
      const s = await w.send(await w.mail(null, `REVOKE KEY\n\n${gpgRevocation(gpg, other)}`));
      assert.equal(s.outcome, 'REVOKE KEY:refused:not-in-collection', s.replies[0].text);
      assert.match(flat(s.replies[0].text), new RegExp(`0x${other.slice(-16).toLowerCase()}`));
      assert.deepEqual(await stateOf(w), before);
      assert.equal(await fileOf(w, file), keep);
    } finally {
      await svc.close();
      await gpg.cleanup();
    }
  });
});

describe('UPDATE KEY of a source-signing key', () => {
  test('a new expiry, signed by the upstream key itself: applied at once, same file, one commit, one key-updated entry', async () => {
    const { w, svc, gpg, fpr, file } = await sourceKeyWorld();
    try {
      const was = (await inspectKey(await readFileKey(w, file), { collection: [] })).expires;
      const set = await gpg.run(['--quick-set-expire', fpr, '3y']);
      assert.equal(set.code, 0, set.stderr);
      const upstream = await gpgPerson(gpg, fpr, 'Upstream Release Signing', 'release@upstream.example');
      const before = { commits: await commits(w), size: svc.size() };
      const s = await w.send(await w.mail(upstream, `UPDATE KEY\n${TO_BOT}\n\n${await gpg.exportPublic(fpr)}`));
      assert.equal(s.outcome, 'UPDATE KEY:accepted', s.replies[0].text);
      assert.match(flat(s.replies[0].text), /expiry changes from \S+ to \S+/);
      const { outcomes } = await w.applyAll();
      assert.deepEqual(outcomes.map((o) => o.state), ['applied'], outcomes[0]?.detail);
      assert.equal(await commits(w), before.commits + 1);
      const now = (await inspectKey(await readFileKey(w, file), { collection: [] })).expires;
      assert.ok(was && now && now.getTime() > was.getTime() + 365 * 86400_000, `expiry ${String(was)} -> ${String(now)}`);
      assert.equal(svc.size(), before.size + 1);
      const entry = (await svc.entry(before.size)).entry;
      assert.deepEqual([entry.type, entry.subject], ['key-updated', fpr]);
      assert.deepEqual(await checkState({ dataDir: w.cfg.dataDir, deep: true, store: w.store }), []);
    } finally {
      await svc.close();
      await gpg.cleanup();
    }
  });

  test('a key in both folders: a new expiry reaches both copies in one commit; a new user ID goes to the maintainers for the member copy only', async () => {
    const { w, svc, gpg, fpr, file, bob, alice, carol } = await sourceKeyWorld({ alsoMember: true });
    try {
      assert.equal((await gpg.run(['--quick-set-expire', fpr, '3y'])).code, 0);
      const before = await commits(w);
      const s = await w.send(await w.mail(bob, `UPDATE KEY\n${TO_BOT}\n\n${await gpg.exportPublic(fpr)}`));
      assert.equal(s.outcome, 'UPDATE KEY:accepted', s.replies[0].text);
      assert.deepEqual((await w.applyAll()).outcomes.map((o) => o.state), ['applied']);
      assert.equal(await commits(w), before + 1);
      const col = await w.collection();
      const expiry = async (k: openpgp.PublicKey) => (await inspectKey(k, { collection: [] })).expires?.getTime();
      const memberExpiry = await expiry((await col.findKeys(fpr))[0].key);
      assert.equal(await expiry(await readFileKey(w, file)), memberExpiry);
      assert.ok(memberExpiry! > Date.now() + 2 * 365 * 86400_000);

      // A new user ID: the member rules (a ticket); approved, only the member copy takes it.
      assert.equal((await gpg.run(['--quick-add-uid', fpr, 'Upstream Release Team <team@upstream.example>'])).code, 0);
      const sourceBefore = await fileOf(w, file);
      const t = await w.send(await w.mail(bob, `UPDATE KEY\n${TO_BOT}\n\n${await gpg.exportPublic(fpr)}`));
      assert.equal(t.replies[0].status, 'pending', t.replies[0].text);
      for (const m of [alice, carol]) await w.send(await w.mail(m, `APPROVE ${t.replies[0].fields.Ticket}\n${t.replies[0].fields['Ticket-Digest']}\n${TO_BOT}`));
      assert.deepEqual((await w.applyAll()).outcomes.map((o) => o.state), ['applied']);
      assert.ok((await col.findKeys(fpr))[0].key.users.some((u) => u.userID?.email === 'team@upstream.example'));
      assert.equal(await fileOf(w, file), sourceBefore, 'the source copy keeps what a member vouched for');
      assert.deepEqual(await checkState({ dataDir: w.cfg.dataDir, deep: true, store: w.store }), []);
    } finally {
      await svc.close();
      await gpg.cleanup();
    }
  });

  test('a copy with a new user ID is refused with the reason; nothing changes', async () => {
    const { w, svc, gpg, fpr, file, bob } = await sourceKeyWorld();
    try {
      const add = await gpg.run(['--quick-add-uid', fpr, 'Upstream Release Team <team@upstream.example>']);
      assert.equal(add.code, 0, add.stderr);
      const keep = await fileOf(w, file);
      const before = await stateOf(w);
      const s = await w.send(await w.mail(bob, `UPDATE KEY\n${TO_BOT}\n\n${await gpg.exportPublic(fpr)}`));
      assert.equal(s.outcome, 'UPDATE KEY:refused:source-key-new-material', s.replies[0].text);
      const text = flat(s.replies[0].text);
      assert.match(text, /brings the new user ID Upstream Release Team <team@upstream\.example>;/);
      assert.match(text, /ask a member to vouch again with SUBMIT SOURCE KEY/);
      assert.deepEqual(await stateOf(w), before);
      assert.equal(await fileOf(w, file), keep);
      assert.deepEqual(await w.store.listTickets().then((ts) => ts.filter((t) => t.state === 'pending')), []);
    } finally {
      await svc.close();
      await gpg.cleanup();
    }
  });
});
