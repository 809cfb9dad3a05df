/**
 * Attack: a member signs an ATTEST for another bot (a staging instance, or
 * another community's anchor), or signs SHA256SUMS lines under ATTEST with
 * no binding at all; someone sends that signed text to this bot. It was not
 * written to this bot, so nothing is queued for the log.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { community, flat, stateOf } from '../unit/commands-world.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('security: an ATTEST not bound to this bot', () => {
  test('bound to a staging bot, or unbound: refused with the binding rule, nothing queued for the log', async () => {
    const { w, alice } = await community();
    const before = await stateOf(w);
    const sums = `${sha256('zos-utils-1.2.tar')}  zos-utils-1.2.tar\n${sha256('zos-utils-1.2.xmi')}  zos-utils-1.2.xmi\n`;
    for (const [text, found] of [
      [`ATTEST\nTo: bot@staging.ztrust.test\n${sums}`, /the line under the command names bot@staging\.ztrust\.test, which is not this bot's address/],
      [`ATTEST\n${sums}`, /the line under the command is "[0-9a-f]{60}\.\.\."/],
    ] as const) {
      const s = await w.send(await w.mail(alice, text, { signing: 'inline', from: 'Mallory <mallory@elsewhere.test>' }));
      assert.equal(s.outcome, 'refused:unbound');
      assert.equal(s.replies.length, 1);
      assert.equal(s.replies[0].status, 'error');
      assert.deepEqual(s.replies[0].to, ['mallory@elsewhere.test']);
      assert.match(flat(s.replies[0].text), /Your ATTEST request was refused\. Nothing was changed\. Rule: command not addressed to this bot/);
      assert.match(flat(s.replies[0].text), found);
    }
    assert.deepEqual(await w.store.pendingChanges(), []);
    assert.deepEqual(await stateOf(w), before);
  });
});
