/**
 * Attack: the command stands only in the Subject (which no signature
 * covers: PGP/MIME signs the body part, inline signing the body text), and
 * the signed body says something harmless. Subject lines are never trusted
 * (DESIGN.md), so there is no command at all.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pendingTicket, stateOf } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: a command in the Subject only', () => {
  // A Subject as long as a whole APPROVE line used to be folded without leading
  // whitespace in the reply (Python: MissingHeaderBodySeparatorDefect).
  test('the whole APPROVE line in the Subject of a signed mail: no command, no vote', async () => {
    await subjectOnly((t) => `APPROVE ${t.id} ${t.digest}`);
  });

  test('APPROVE <ticket> in the Subject of a maintainer-signed mail (PGP/MIME and inline), and unsigned: no command, no vote', async () => {
    await subjectOnly((t) => `APPROVE ${t.id}`);
  });
});

async function subjectOnly(subjectOf: (t: { id: string; digest: string }) => string): Promise<void> {
    const { w, alice, t } = await pendingTicket();
    const before = await stateOf(w);
    const subject = subjectOf(t);
    for (const signing of ['pgpmime', 'inline', 'none'] as const) {
      const s = await sendChecked(w, await w.mail(alice, 'Looks fine to me.\n', { signing, subject }));
      assertRefused(s, {
        outcome: 'no-command', to: 'alice@people.test',
        says: [/No command was found in your mail/, /The Subject is ignored/],
      });
      assert.equal(s.replies[0].subject, `Re: ${subject}`);
    }
    assert.deepEqual(await w.store.getVotes(t.id), []);
    await assertUnchanged(w, before);
}
