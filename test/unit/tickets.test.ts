/**
 * Tickets as pure functions: ids, the canonical content and its digest
 * (deterministic, hostile text cannot fake a line), the state machine,
 * expiry and the vote tally; and the APPROVE/REJECT argument forms.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { main } from '../../cli/main.js';
import { lapsedVote } from './lapsed-vote-world.js';
import { findCommand } from '../../src/commands/parse.js';
import { parseVote } from '../../src/commands/vote.js';
import {
  CONTENT_BEGIN, CONTENT_END, canTransition, canonicalContent, describeTicket, effectiveState, expiryFor,
  formatTicketId, framedContent, isClosed, isExpired, normaliseDigest, parseTicketId, tally, ticketDigest, unframeContent,
  type ContentInput, type TicketState,
} from '../../src/tickets/ticket.js';
import { contentValue } from '../../src/text/value.js';

const base: ContentInput = {
  id: 'ZT-000042', kind: 'add-key', subject: 'A'.repeat(40), submitter: 'A'.repeat(40),
  created: new Date('2025-01-31T12:00:00.123Z'), expires: new Date('2025-02-14T12:00:00.999Z'),
  summary: [['User-ID', 'Alice <alice@example.org>'], ['Certified-By', '0x0123456789abcdef Bob <bob@example.org>']],
  data: '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZ\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n',
};

describe('ticket ids', () => {
  test('prefix and six digits, more digits past a million', () => {
    assert.equal(formatTicketId('ZT-', 42), 'ZT-000042');
    assert.equal(formatTicketId('ZT-', 1), 'ZT-000001');
    assert.equal(formatTicketId('OMP-', 1234567), 'OMP-1234567');
    assert.throws(() => formatTicketId('ZT-', 0), RangeError);
    assert.throws(() => formatTicketId('ZT-', 1.5), RangeError);
  });

  test('read as people type them; anything else is null', () => {
    assert.equal(parseTicketId('ZT-', 'ZT-000042'), 'ZT-000042');
    assert.equal(parseTicketId('ZT-', 'zt-42'), 'ZT-000042');
    assert.equal(parseTicketId('ZT-', ' ZT-0000042 '), 'ZT-000042');
    for (const bad of ['ZT-', 'ZT-0', 'ZT-x1', 'XY-000042', '000042', 'ZT-1234567890', 'ZT-42;rm', undefined, '']) {
      assert.equal(parseTicketId('ZT-', bad), null, String(bad));
    }
  });
});

describe('canonical content and digest', () => {
  test('deterministic: same input, same bytes; times to whole seconds; digest is SHA-256 of the content', () => {
    const a = canonicalContent(base);
    const b = canonicalContent({ ...base, summary: [...base.summary], data: base.data.replace(/\n/g, '\r\n') + '\n\n' });
    assert.equal(a, b);
    assert.match(a, /^ztrust-ticket v1\nTicket: ZT-000042\nKind: add-key\n/);
    assert.match(a, /\nCreated: 2025-01-31T12:00:00Z\nExpires: 2025-02-14T12:00:00Z\n/);
    assert.match(a, /\n\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZ\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n$/);
    assert.equal(ticketDigest(a), createHash('sha256').update(a).digest('hex'));
    assert.match(ticketDigest(a), /^[0-9a-f]{64}$/);
    // Any change to what is approved changes the digest.
    assert.notEqual(ticketDigest(canonicalContent({ ...base, id: 'ZT-000043' })), ticketDigest(a));
    assert.notEqual(ticketDigest(canonicalContent({ ...base, data: base.data.replace('xjMEZ', 'xjMEY') })), ticketDigest(a));
    assert.notEqual(ticketDigest(canonicalContent({ ...base, submitter: 'B'.repeat(40) })), ticketDigest(a));
  });

  test('hostile values cannot start a line of their own or hide as another field', () => {
    const c = canonicalContent({ ...base, summary: [['User-ID', 'Eve <eve@x>\nCertified-By: 0xdeadbeefdeadbeef Root\r\n%41 \u00e9']] });
    const lines = c.split('\n');
    assert.equal(lines.filter((l) => l.startsWith('Certified-By:')).length, 0);
    const at = lines.indexOf('User-ID:');
    assert.equal(lines[at + 1], '  Eve <eve@x>%0ACertified-By: 0xdeadbeefdeadbeef Root%0D%0A%254...');
    assert.equal(contentValue('a%b\u00e9\t'), 'a%25b%C3%A9%09');
    assert.equal(contentValue('x'.repeat(100)).length, 64);
    assert.equal(contentValue(`${'x'.repeat(60)}\u00e9`), `${'x'.repeat(60)}...`, 'never half an escape');
    // Long values go on their own line, so every line stays within 72 columns.
    const h = 'c'.repeat(64);
    const long = canonicalContent({ ...base, summary: [['Certificate-SHA256', h]] });
    assert.ok(long.includes(`\nCertificate-SHA256:\n  ${h}\n`));
    for (const line of long.split('\n')) assert.ok(line.length <= 72, line);
    assert.equal(describeTicket({ kind: 'add-cert', subject: 'n', content: `Certificate-Subject:\n  ${'CN=x,'.repeat(12)}\n` }),
      `certificate n (${'CN=x,'.repeat(12)})`);
    assert.throws(() => canonicalContent({ ...base, summary: [['bad name', 'x']] }), /field name/);
    assert.throws(() => canonicalContent({ ...base, data: 'caf\u00e9' }), /ASCII/);
  });

  test('framed in mail and read back exactly; digests are normalised', () => {
    const c = canonicalContent(base);
    const mail = `Status: pending\n\nsome prose\n\n${framedContent(c)}\nmore\n`;
    assert.ok(mail.includes(`${CONTENT_BEGIN}\nztrust-ticket v1\n`));
    assert.ok(mail.includes(`-----END PGP PUBLIC KEY BLOCK-----\n${CONTENT_END}\n`));
    assert.equal(unframeContent(mail), c);
    assert.equal(unframeContent(mail.replace(/\n/g, '\r\n')), c);
    assert.equal(unframeContent('no frame'), null);
    const d = ticketDigest(c);
    assert.equal(normaliseDigest(d.toUpperCase()), d);
    assert.equal(normaliseDigest(`${d.slice(0, 32)} ${d.slice(32)}`), d);
    assert.equal(normaliseDigest(d.slice(1)), null);
    assert.equal(normaliseDigest(`${d}0`), null);
    assert.equal(normaliseDigest(undefined), null);
  });

  test('describeTicket reads the content', () => {
    const c = canonicalContent(base);
    assert.equal(describeTicket({ kind: 'add-key', subject: 'A'.repeat(40), content: c }), `new key ${'A'.repeat(40)} (Alice <alice@example.org>)`);
    assert.equal(describeTicket({ kind: 'update-key', subject: 'F', content: c }), 'update of key F');
    assert.equal(describeTicket({ kind: 'add-cert', subject: 'root', content: 'Certificate-Subject: CN=Root\n' }), 'certificate root (CN=Root)');
  });
});

describe('state machine, expiry, tally', () => {
  test('only the documented transitions; closed states stay closed', () => {
    const all: TicketState[] = ['pending', 'approved', 'applied', 'rejected', 'expired', 'failed'];
    const allowed = new Set(['pending>approved', 'pending>rejected', 'pending>expired', 'approved>applied', 'approved>failed']);
    for (const a of all) for (const b of all) assert.equal(canTransition(a, b), allowed.has(`${a}>${b}`), `${a}>${b}`);
    assert.deepEqual(all.filter(isClosed), ['applied', 'rejected', 'expired', 'failed']);
  });

  test('a pending ticket expires after expireDays; other states never do', () => {
    const created = new Date('2025-01-01T00:00:00Z');
    const exp = expiryFor(created, 14);
    assert.equal(exp.toISOString(), '2025-01-15T00:00:00.000Z');
    assert.equal(expiryFor(created, 0.5).toISOString(), '2025-01-01T12:00:00.000Z');
    const t = { state: 'pending' as TicketState, expiresAt: exp.toISOString() };
    assert.equal(isExpired(t, new Date('2025-01-14T23:59:59Z')), false);
    assert.equal(isExpired(t, exp), true);
    assert.equal(effectiveState(t, new Date('2025-02-01T00:00:00Z')), 'expired');
    assert.equal(effectiveState({ ...t, state: 'approved' }, new Date('2025-02-01T00:00:00Z')), 'approved');
  });

  test('tally counts distinct current maintainers only', () => {
    const M = ['A'.repeat(40), 'B'.repeat(40)];
    const t = tally([
      { voter: 'a'.repeat(40), vote: 'approve' }, { voter: 'A'.repeat(40), vote: 'approve' },
      { voter: 'C'.repeat(40), vote: 'approve' }, { voter: 'B'.repeat(40), vote: 'reject' },
    ], M);
    assert.deepEqual(t, { approvals: ['A'.repeat(40)], rejections: ['B'.repeat(40)] });
  });
});

describe('APPROVE / REJECT arguments', () => {
  const d = 'ab'.repeat(32);
  const vote = (text: string) => parseVote(findCommand(text)!, 'ZT-');
  test('the contract form: everything on the command line', () => {
    assert.deepEqual(vote(`APPROVE ZT-000001 ${d}`), { ticket: 'ZT-000001', digestText: d, digest: d, reason: '' });
    assert.deepEqual(vote(`reject zt-7 ${d.toUpperCase()} not who they say`), { ticket: 'ZT-000007', digestText: d.toUpperCase(), digest: d, reason: 'not who they say' });
  });
  test('the notification form: digest and reason on the following lines, quoted text ignored', () => {
    assert.deepEqual(vote(`APPROVE ZT-000001\n${d}\n\n> quoted\n`), { ticket: 'ZT-000001', digestText: d, digest: d, reason: '' });
    assert.deepEqual(vote(`  REJECT ZT-000001\n\n  ${d}\n  key belongs to someone else\n  see list thread\n\n-- \nsig`),
      { ticket: 'ZT-000001', digestText: d, digest: d, reason: 'key belongs to someone else see list thread' });
    assert.deepEqual(vote('APPROVE ZT-000001\n> ' + d), { ticket: 'ZT-000001', digestText: null, digest: null, reason: '' });
    assert.equal(vote(`APPROVE ZT-000001 ${d.slice(2)}`).digest, null);
    assert.equal(vote(`APPROVE nonsense ${d}`).ticket, null);
  });
});

describe('`ztrust-bot tickets` counts with the votes\' rule', () => {
  test('list and show: an approval whose key was revoked since is not counted, and show says why', async () => {
    const { w, carol, t } = await lapsedVote();
    // The World's state as a deployment holds it: a config file and state.db beside the collection.
    const config = path.join(w.dir, 'ztrust.yaml');
    writeFileSync(config, JSON.stringify({
      bot: { address: w.cfg.bot.address, name: w.cfg.bot.name }, dataDir: w.dir, mailbox: { url: `maildir:${path.join(w.dir, 'inbox')}` },
      outbox: { url: `dir:${path.join(w.dir, 'outbox')}` }, maintainers: w.cfg.maintainers, threshold: w.cfg.threshold,
    }));
    writeFileSync(path.join(w.dir, 'state.db'), w.store.db.serialize());
    // The CLI entry point in-process (the binary is this plus a loader); its output captured.
    const cli = async (...args: string[]): Promise<string> => {
      const chunks: string[] = [];
      // eslint-disable-next-line @typescript-eslint/unbound-method -- kept only to be put back on process.stdout, never called unbound
      const write = process.stdout.write;
      process.stdout.write = ((c: string | Uint8Array) => chunks.push(c.toString()) > 0);
      let code: number;
      try {
        code = await main(['tickets', ...args, '--config', config]);
      } finally {
        process.stdout.write = write;
      }
      assert.equal(code, 0, chunks.join(''));
      return chunks.join('');
    };
    assert.match(await cli('list'), new RegExp(`^${t.id}  pending  0/2  `, 'm'));
    const show = await cli('show', t.id);
    assert.match(show, /^Approvals: 0 of 2 needed$/m);
    assert.match(show, new RegExp(`^approve by ${carol.fpr} at \\S+Z \\(not counted: that key has been revoked\\)$`, 'm'));
    const j = JSON.parse(await cli('show', t.id, '--json')) as { approvals: number; votes: { voter: string; counted: boolean; notCounted: string | null }[] };
    assert.equal(j.approvals, 0);
    assert.deepEqual(j.votes.map((v) => [v.voter, v.counted, v.notCounted]), [[carol.fpr, false, 'that key has been revoked']]);
  });
});
