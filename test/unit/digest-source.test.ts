/**
 * The digest lists source-signing key entries (issue 11, item 2): the
 * releases vouched for, the ticket, the maintainers who approved and the
 * member who vouched, in 72 columns of plain ASCII. The entries go through
 * the real log service (the one append path), which also fills the store's
 * index of vouches.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initDataDir } from '../../src/app/init.js';
import { openApp } from '../../src/app/app.js';
import { silentLogger } from '../../src/logger.js';
import { formatDigest, parseDigest } from '../../src/digest/format.js';
import { openLogView } from '../../src/digest/logview.js';
import { parseEntry, type LogEntry } from '../../src/tlog/index.js';

const FPR = (c: string) => c.repeat(40 / c.length).toUpperCase();
const dir = mkdtempSync(path.join(os.tmpdir(), 'zdigest-src-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('source-key-added and source-release-added entries: releases, ticket, approvers and the member who vouched', async () => {
  const init = await initDataDir({
    dataDir: path.join(dir, 'data'), address: 'bot@example.org', name: 'ztrust-bot', origin: 'digest.test/log',
    mailboxUrl: `maildir:${path.join(dir, 'inbox')}`, outboxUrl: `dir:${path.join(dir, 'outbox')}`,
  });
  const app = await openApp(init.config, silentLogger);
  try {
    const base = { time: '2026-01-02T03:04:05Z', source: 'a'.repeat(64), approvers: [FPR('5678'), FPR('9abc')] };
    // Enough releases that the Releases: line must wrap.
    const many = Array.from({ length: 9 }, (_, i) => `util-linux-2.40.${i}`).join(' ');
    const entries: LogEntry[] = [
      { ...base, type: 'source-key-added', subject: FPR('2a3f'), name: 'openssh-9.8p1 openssh-9.9p1', ticket: 'ZT-000007', signers: [FPR('a11c')] },
      { ...base, type: 'source-release-added', subject: FPR('2a3f'), name: many, ticket: 'ZT-000008', signers: [FPR('b0b0')] },
    ];
    await (await app.log.get()).appendEntries(entries);
    const view = (await openLogView(path.join(init.config.dataDir, 'log')))!;
    const text = formatDigest({
      number: 1, date: new Date('2026-01-06T08:00:00Z'), previous: null, consistency: await view.consistencyBlock(null),
      entries: await Promise.all([0, 1].map(async (i) => ({ index: i, entry: parseEntry(await view.entry(i)) }))),
      expiring: [], windowDays: 30, bot: { name: 'ztrust-bot', address: 'bot@example.org', fingerprint: app.signer.fingerprint },
    });
    for (const l of text.split('\n')) {
      assert.ok(l.length <= 72, `over 72 columns: ${l}`);
      assert.match(l, /^[\x20-\x7e]*$/);
    }
    assert.equal(parseDigest(text).changes, 2);
    assert.ok(text.includes([
      '  #0 source-signing key added, 2026-01-02T03:04:05Z',
      `    Key: ${FPR('2a3f')}`,
      '    Releases: openssh-9.8p1 openssh-9.9p1',
      '    Ticket: ZT-000007',
      `    Approved-By: ${FPR('5678')}`,
      `                 ${FPR('9abc')}`,
      `    Vouched-By: ${FPR('a11c')}`,
    ].join('\n')), text);
    const second = / {2}#1 releases added to a source-signing key, 2026-01-02T03:04:05Z\n([\s\S]*?)\n\n/.exec(text)![1];
    assert.equal(/Releases: ([\s\S]*?)\n {4}Ticket:/.exec(second)![1].split(/\s+/).join(' '), many, 'every release, wrapped');
    assert.match(second, new RegExp(`Vouched-By: ${FPR('b0b0')}$`));
    assert.doesNotMatch(text, /Signed-By/, 'a vouch is not a signature over an artifact');

    // The store's index, filled from the same entries.
    const vouches = await app.store.findSourceVouches({ release: 'OpenSSH-9.8P1' });
    assert.deepEqual(vouches.map((v) => [v.logIndex, v.release, v.package, v.fingerprint, v.voucher, v.ticket, v.type]),
      [[0, 'openssh-9.8p1', 'openssh', FPR('2a3f'), FPR('a11c'), 'ZT-000007', 'source-key-added']]);
    assert.equal((await app.store.findSourceVouches({ fingerprint: FPR('2a3f') })).length, 11);
  } finally {
    await app.close();
  }
});
