/**
 * SUBMIT SOURCE KEY and ADD SOURCE through the real Dispatcher and apply
 * step (test/unit/commands-world.ts): a member vouches for an upstream key,
 * two maintainers approve, the key file and the list rows land in
 * pgp/for-source/; and every refusal names its rule and changes nothing.
 * (The same on the real stack, with gpg-made keys and the log:
 * test/integration/source-keys.test.ts.)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { submitSourceKeyHandler } from '../../src/commands/submit-source-key.js';
import { findCommand } from '../../src/commands/parse.js';
import type { CommandRequest } from '../../src/commands/types.js';
import { silentLogger } from '../../src/logger.js';
import { NAME_BOUNDS, COMMAND_BOUNDS } from '../../src/limits.js';
import { describeTicket, releasesOf, unframeContent } from '../../src/tickets/ticket.js';
import { certify, community, flat, person, stateOf, TO_BOT, type World } from './commands-world.js';
import { revokeInCollection } from '../security/world.js';

async function world() {
  const c = await community();
  const djm = await person('Damien Miller', 'djm@mindrot.org');
  const keyId = djm.fpr.slice(-16).toLowerCase();
  return { ...c, djm, keyId, file: `0x${keyId}-djm@mindrot.org-signing.asc` };
}

/** Sends `raw`; expects exactly one reply with Status: error and `rule`, and no change at all. */
async function assertRefusedRule(w: World, raw: Buffer, cmd: string, rule: string, says: RegExp[] = []): Promise<string> {
  const before = await stateOf(w);
  const s = await w.send(raw);
  assert.equal(s.outcome, `${cmd}:refused:${rule}`, s.replies[0]?.text);
  assert.equal(s.replies.length, 1);
  assert.equal(s.replies[0].status, 'error');
  const text = flat(s.replies[0].text);
  assert.match(text, new RegExp(`Rule: ${rule} `));
  assert.match(text, /How to fix it: \S/);
  for (const re of says) assert.match(text, re);
  assert.deepEqual(await stateOf(w), before);
  return text;
}

async function approveAll(w: World, ticket: string, digest: string, by: { key: unknown }[]): Promise<void> {
  for (const m of by) {
    const s = await w.send(await w.mail(m as never, `APPROVE ${ticket}\n${digest}\n${TO_BOT}`));
    assert.match(s.replies[0].status, /^(pending|approved)$/, s.replies[0].text);
  }
}

test('the command lines: keyword in any case, the releases (and the key) as words; the To: line is no release', () => {
  const s = findCommand(`submit source key openssh-9.8p1\topenssh-9.9p1\n${TO_BOT}\nChecked: x`, { boundTo: ['bot@ztrust.test'] })!;
  assert.equal(s.spec.name, 'SUBMIT SOURCE KEY');
  assert.deepEqual(s.args, ['openssh-9.8p1', 'openssh-9.9p1']);
  assert.equal(s.bound, true);
  assert.equal(s.spec.carriesSigningKey, undefined, 'the carried key never counts as the signer');
  const a = findCommand(`ADD SOURCE 0x2A3F414E736060BA musl-1.2.5\n${TO_BOT}`, { boundTo: ['bot@ztrust.test'] })!;
  assert.equal(a.spec.name, 'ADD SOURCE');
  assert.deepEqual(a.args, ['0x2A3F414E736060BA', 'musl-1.2.5']);
  assert.equal(findCommand('SUBMIT KEY')!.spec.name, 'SUBMIT KEY');
});

describe('SUBMIT SOURCE KEY and ADD SOURCE, end to end in one process', () => {
  test('a member vouches, two maintainers approve: the key file and two rows; the same vouch again is refused; ADD SOURCE adds a row', async () => {
    const { w, alice, bob, carol, djm, keyId, file } = await world();
    const armored = djm.pub.armor();
    const sent = await w.send(await w.mail(alice,
      `SUBMIT SOURCE KEY openssh-9.8p1 openssh-9.9p1 OpenSSH-9.8P1\n${TO_BOT}\nChecked: https://www.openssh.com/ release notes\n\n${armored}`));
    const reply = sent.replies[0];
    assert.equal(sent.outcome, `SUBMIT SOURCE KEY:pending:${reply.fields.Ticket}`, reply.text);
    assert.equal(sent.replies.length, 4, 'the reply and one notice per maintainer');
    assert.match(flat(reply.text), /you vouch that this key signs openssh-9\.8p1 openssh-9\.9p1;/);
    assert.match(flat(reply.text), /where you checked the fingerprint: https:\/\/www\.openssh\.com\/ release notes/);
    const notice = sent.replies[1];
    assert.match(flat(notice.text), /This is not a member key and needs no community certification\./);
    assert.match(flat(notice.text), /\(the Checked: lines of the ticket say where the member checked it\)/);
    const content = unframeContent(notice.text)!;
    for (const l of ['Kind: add-source-key', `Subject: ${djm.fpr}`, 'User-ID: Damien Miller <djm@mindrot.org>', 'Releases: openssh-9.8p1 openssh-9.9p1',
      `Vouched-By: ${alice.fpr}`, 'Checked: https://www.openssh.com/ release notes', 'Key-Expires: never']) {
      assert.ok(content.split('\n').includes(l), `${l} in\n${content}`);
    }
    await approveAll(w, reply.fields.Ticket, reply.fields['Ticket-Digest'], [bob, carol]);
    const { outcomes, notices } = await w.applyAll();
    assert.deepEqual(outcomes.map((o) => o.state), ['applied']);
    assert.equal(notices.find((n) => n.to[0] === alice.email)?.status, 'applied');
    const col = await w.collection();
    const dir = path.join(col.dir, 'pgp', 'for-source');
    // The ticket's data: the rows the list gains, then the exact armour of the key file.
    const [, rows, ...armour] = (await w.store.getTicket(reply.fields.Ticket))!.content.split('\n\n');
    assert.equal(rows, `    ${file}  openssh-9.8p1\n    ${file}  openssh-9.9p1`);
    assert.equal(readFileSync(path.join(dir, file), 'utf8'), armour.join('\n\n'));
    const list = readFileSync(path.join(dir, 'key-and-source.md'), 'utf8');
    assert.match(list, new RegExp(`^    ${file.replace(/\./g, '\\.')} +openssh-9\\.8p1\\n    ${file.replace(/\./g, '\\.')} +openssh-9\\.9p1\\n`, 'm'));
    assert.match((await col.git(['log', '-1', '--format=%B'])), new RegExp(`^Add source-signing key 0x${keyId} \\(djm@mindrot\\.org\\) for openssh-9\\.8p1, openssh-9\\.9p1`));

    // The same key for the same releases: nothing to approve.
    await assertRefusedRule(w, await w.mail(carol, `SUBMIT SOURCE KEY openssh-9.9p1\n${TO_BOT}\n\n${armored}`), 'SUBMIT SOURCE KEY', 'already-vouched',
      [new RegExp(`ADD SOURCE 0x${keyId} <release>`)]);
    // ADD SOURCE of releases already listed: nothing to do, nothing opened.
    const before = await stateOf(w);
    const nothing = await w.send(await w.mail(bob, `ADD SOURCE 0x${keyId} openssh-9.8p1\n${TO_BOT}`));
    assert.equal(nothing.outcome, 'ADD SOURCE:nothing');
    assert.equal(nothing.replies[0].status, 'found');
    assert.match(flat(nothing.replies[0].text), /already listed for every release you named \(openssh-9\.8p1\)\. Nothing was changed\./);
    assert.deepEqual(await stateOf(w), before);

    // A new release, by fingerprint; a second request while it is open is refused.
    const add = await w.send(await w.mail(bob, `ADD SOURCE ${djm.fpr} openssh-9.8p1 openssh-9.9p2\n${TO_BOT}`));
    const t = add.replies[0].fields;
    assert.equal(add.outcome, `ADD SOURCE:pending:${t.Ticket}`, add.replies[0].text);
    const addContent = unframeContent(add.replies[1].text)!;
    assert.ok(addContent.includes('Kind: add-source-release\n'));
    assert.ok(addContent.includes('Releases: openssh-9.9p2\n'), 'only the release not listed yet');
    assert.ok(addContent.endsWith(`\n\n    ${file}  openssh-9.9p2\n`), addContent);
    await assertRefusedRule(w, await w.mail(carol, `ADD SOURCE ${keyId} openssh-9.9p3\n${TO_BOT}`), 'ADD SOURCE', 'already-pending',
      [new RegExp(`already has ticket ${t.Ticket} \\(pending\\)`)]);
    await approveAll(w, t.Ticket, t['Ticket-Digest'], [alice, carol]);
    assert.deepEqual((await w.applyAll()).outcomes.map((o) => o.state), ['applied']);
    assert.match(readFileSync(path.join(dir, 'key-and-source.md'), 'utf8'), /openssh-9\.9p1\n {4}0x[0-9a-f]{16}-djm@mindrot\.org-signing\.asc +openssh-9\.9p2\n/);
  });

  test('a long Checked: note and many releases are shown whole in the ticket, over lines of at most 72 columns', async () => {
    const { w, alice, djm } = await world();
    const note = `https://keys.openpgp.example/search?q=${'0123456789ABCDEF'.repeat(5)} compared with the fingerprint on the release announcement`;
    const releases = Array.from({ length: 12 }, (_, i) => `openssh-portable-9.${i}p1`);
    const s = await w.send(await w.mail(alice, `SUBMIT SOURCE KEY ${releases.join(' ')}\n${TO_BOT}\nChecked: ${note}\n\n${djm.pub.armor()}`));
    assert.equal(s.replies[0].status, 'pending', s.replies[0].text);
    const t = (await w.store.getTicket(s.replies[0].fields.Ticket))!;
    const head = t.content.split('\n\n')[0].split('\n');
    for (const l of head) assert.ok(l.length <= 72 && !l.endsWith('...'), `shortened or too long: ${l}`);
    const values = (k: string) => head.flatMap((l) => (l.startsWith(`${k}: `) ? [l.slice(k.length + 2)] : []));
    assert.ok(values('Releases').length > 1);
    assert.equal(releasesOf(t.content), releases.join(' '));
    const payload = JSON.parse(t.payload) as { releases: string[]; checked: string | null };
    assert.deepEqual(payload.releases, releases);
    // Words go whole from line to line; the one word longer than a line is cut, never shortened.
    const checked = values('Checked');
    assert.ok(checked.length >= 3);
    assert.equal(checked.join('').replace(/ /g, ''), note.replace(/ /g, ''));
    assert.ok(note.endsWith(` ${checked.at(-1)!}`), 'the last words, as written');
    assert.equal(payload.checked, note);
    assert.equal(describeTicket(t), `source-signing key ${djm.fpr} for ${releases.join(' ')}`);
  });

  test('refusals: each names its rule and changes nothing', async () => {
    const { w, alice, djm, stranger } = await world();
    const armored = djm.pub.armor();
    const S = 'SUBMIT SOURCE KEY';
    await assertRefusedRule(w, await w.mail(alice, `${S}\n${TO_BOT}\n\n${armored}`), S, 'no-release');
    await assertRefusedRule(w, await w.mail(alice, `${S} openssh-9.8p1 ../../etc/passwd\n${TO_BOT}\n\n${armored}`), S, 'release-name',
      [/the release "\.\.\/\.\.\/etc\/passwd" is not a release name/]);
    await assertRefusedRule(w, await w.mail(alice, `${S} ${'x'.repeat(NAME_BOUNDS.releaseChars + 1)}\n${TO_BOT}\n\n${armored}`), S, 'release-name');
    const many = Array.from({ length: NAME_BOUNDS.releasesPerRequest + 1 }, (_, i) => `pkg-1.${i}`).join(' ');
    await assertRefusedRule(w, await w.mail(alice, `${S} ${many}\n${TO_BOT}\n\n${armored}`), S, 'limit-releases',
      [new RegExp(`names ${NAME_BOUNDS.releasesPerRequest + 1} releases; one request may name at most ${NAME_BOUNDS.releasesPerRequest}`)]);
    await assertRefusedRule(w, await w.mail(alice, `${S} openssh-9.8p1\n${TO_BOT}\nChecked: ${'y'.repeat(COMMAND_BOUNDS.checkedNoteChars + 1)}\n\n${armored}`), S,
      'limit-checked-note');
    await assertRefusedRule(w, await w.mail(alice, `${S} openssh-9.8p1\n${TO_BOT}\n`), S, 'no-key');
    await assertRefusedRule(w, await w.mail(alice, `${S} openssh-9.8p1\n${TO_BOT}\n\n${armored}\n${stranger.pub.armor()}`), S, 'one-key');
    // Not bound to the bot: the dispatcher refuses before the handler.
    const before = await stateOf(w);
    const unbound = await w.send(await w.mail(alice, `${S} openssh-9.8p1\n\n${armored}`));
    assert.equal(unbound.outcome, 'refused:unbound');
    // Signed by the upstream key itself, not a member: never taken as a signature at all.
    const self = await w.send(await w.mail(djm, `${S} openssh-9.8p1\n${TO_BOT}\n\n${armored}`));
    assert.equal(self.outcome, 'refused:nokey');
    assert.match(flat(self.replies[0].text), /The command SUBMIT SOURCE KEY changes the collection, so it must be signed/);
    assert.deepEqual(await stateOf(w), before);

    const A = 'ADD SOURCE';
    await assertRefusedRule(w, await w.mail(alice, `${A} openssh-9.8p1\n${TO_BOT}`), A, 'key-ref', [/"openssh-9\.8p1" is not a key id or fingerprint/]);
    await assertRefusedRule(w, await w.mail(alice, `${A} 0x${djm.fpr.slice(-16)}\n${TO_BOT}`), A, 'no-release');
    await assertRefusedRule(w, await w.mail(alice, `${A} 0x${djm.fpr.slice(-16)} openssh-9.8p1\n${TO_BOT}`), A, 'not-in-source-folder',
      [new RegExp(`no key in pgp/for-source/ has the key id 0x${djm.fpr.slice(-16).toLowerCase()}`)]);
    // A file's name is no release: no downloaded file would ever match it (VERIFY cuts the suffix).
    for (const [name, release] of [['bash-5.3.tar.gz', 'bash-5.3'], ['openssh-9.8p1.TGZ', 'openssh-9.8p1'], ['zlib-1.3.1.zip', 'zlib-1.3.1'],
      ['tar-1.35.tar.xz.sig', 'tar-1.35.tar.xz']]) {
      const esc = (x: string) => x.replace(/[.+]/g, '\\$&');
      await assertRefusedRule(w, await w.mail(alice, `${S} openssh-9.8p1 ${name}\n${TO_BOT}\n\n${armored}`), S, 'release-file-name',
        [new RegExp(`the release "${esc(name)}" is the name of a file: it ends in \\.`),
          new RegExp(`name the release without the file suffix, as in: ${S} ${esc(release)}`)]);
      await assertRefusedRule(w, await w.mail(alice, `ADD SOURCE 0x${djm.fpr.slice(-16)} ${name}\n${TO_BOT}`), 'ADD SOURCE', 'release-file-name');
    }
    // A member's own key is in pgp/all/, not pgp/for-source/.
    await assertRefusedRule(w, await w.mail(alice, `${A} ${alice.fpr} openssh-9.8p1\n${TO_BOT}`), A, 'not-in-source-folder',
      [new RegExp(`has the fingerprint ${alice.fpr}`)]);
  });

  test('the member who vouched is revoked while the ticket waits: the approved change fails, nothing is written', async () => {
    const { w, alice, bob, carol, djm } = await world();
    const s = await w.send(await w.mail(alice, `SUBMIT SOURCE KEY openssh-9.8p1\n${TO_BOT}\n\n${djm.pub.armor()}`));
    const f = s.replies[0].fields;
    await approveAll(w, f.Ticket, f['Ticket-Digest'], [bob, carol]);
    await revokeInCollection(w, alice);
    const col = await w.collection();
    const head = (await col.git(['rev-parse', 'HEAD'])).trim();
    const { outcomes, notices } = await w.applyAll();
    assert.deepEqual(outcomes.map((o) => o.state), ['failed']);
    assert.match(flat(outcomes[0].detail!), new RegExp(`the member who vouched can no longer vouch \\(the signing key ${alice.fpr} is revoked`));
    assert.equal(notices.find((n) => n.to[0] === alice.email)?.status, 'error');
    assert.equal((await col.git(['rev-parse', 'HEAD'])).trim(), head, 'no commit');
    assert.equal((await w.store.getTicket(f.Ticket))!.state, 'failed');
  });

  test('an upstream key with too many certifications: the fix is a minimal export, not certification by members', async () => {
    const c = await community({ config: { limits: { maxCertifications: 2 } } });
    const djm = await person('Damien Miller', 'djm@mindrot.org');
    const fans = await Promise.all([1, 2, 3].map((i) => person(`Fan ${i}`, `fan${i}@elsewhere.test`)));
    const flooded = await certify(djm.pub, fans);
    const text = await assertRefusedRule(c.w, await c.w.mail(c.alice, `SUBMIT SOURCE KEY openssh-9.8p1\n${TO_BOT}\n\n${flooded.armor()}`),
      'SUBMIT SOURCE KEY', 'limit-certifications', [new RegExp(`gpg --armor --export-options export-minimal --export ${djm.fpr}\\)`)]);
    assert.doesNotMatch(text, /certify it again/);
  });

  test('a member key vouched as an upstream key, and an upstream key claiming a member address: both shown to the maintainers', async () => {
    const { w, alice, bob } = await world();
    const asUpstream = await w.send(await w.mail(alice, `SUBMIT SOURCE KEY bash-5.3\n${TO_BOT}\n\n${bob.pub.armor()}`));
    assert.equal(asUpstream.replies[0].status, 'pending', asUpstream.replies[0].text);
    const n1 = asUpstream.replies[1];
    assert.match(flat(n1.text), /This key is ALSO A MEMBER KEY \(pgp\/all\/ holds it\): a member vouches that this member key also signs upstream releases\./);
    assert.doesNotMatch(flat(n1.text), /not a member key/);
    assert.ok(unframeContent(n1.text)!.split('\n').includes('Also-Member-Key: yes'), n1.text);
    assert.ok(!unframeContent(n1.text)!.split('\n').some((l) => l.startsWith('Address-Already-On:')), 'its own address is no clash');

    const fake = await person('Bob Volunteer', 'bob@people.test');
    const claim = await w.send(await w.mail(alice, `SUBMIT SOURCE KEY coreutils-9.5\n${TO_BOT}\n\n${fake.pub.armor()}`));
    assert.equal(claim.replies[0].status, 'pending', claim.replies[0].text);
    const bobId = bob.fpr.slice(-16).toLowerCase();
    assert.match(flat(claim.replies[0].text), new RegExp(`the user ID "Bob Volunteer <bob@people\\.test>" names bob@people\\.test, which the member key 0x${bobId} \\("Bob Volunteer <bob@people\\.test>"\\) holds\\.`));
    const n2 = claim.replies[1];
    const content = unframeContent(n2.text)!.split('\n');
    assert.ok(content.includes(`Address-Already-On: bob@people.test 0x${bobId}`), n2.text);
    assert.ok(!content.includes('Also-Member-Key: yes'));
    assert.match(flat(n2.text), /This is not a member key and needs no community certification\./);
    assert.match(flat(n2.text), /A user ID of this key names an address a member key holds \(the Address-Already-On: lines\): approve only if the upstream project really uses it\./);
  });

  test('the handler itself refuses a signer that is no member key today (the dispatcher lets only collection keys through)', async () => {
    const { w, djm, stranger } = await world();
    const cmd = findCommand(`SUBMIT SOURCE KEY openssh-9.8p1\n${TO_BOT}\n\n${djm.pub.armor()}`, { boundTo: ['bot@ztrust.test'] })!;
    const req = { command: cmd, signer: stranger.fpr, verification: { signedAttachments: [] }, now: new Date() } as unknown as CommandRequest;
    const r = await submitSourceKeyHandler(req, {
      config: w.cfg, store: w.store, signer: w.bot, keyring: await w.known.get(), policy: w.policy, logger: silentLogger,
    });
    assert.equal(r.outcome, 'SUBMIT SOURCE KEY:refused:signer-not-member');
    assert.match(flat(r.body), new RegExp(`signed by ${stranger.fpr}, and the signing key ${stranger.fpr} is not in the collection: only a collection member can vouch`));
    assert.equal(r.effects, undefined);
  });
});
