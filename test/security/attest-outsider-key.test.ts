/**
 * Attack: an outsider (a key nobody in the collection certified, not in the
 * collection) ATTESTs an artifact digest, hoping the log will show the
 * artifact as attested. Only collection keys attest: refused as nokey,
 * nothing queued for the log. (ATTEST by a revoked key:
 * revoked-key-signature.test.ts.)
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { community, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: ATTEST by an outsider key', () => {
  test('PGP/MIME and inline: refused:nokey, nothing logged', async () => {
    const { w, stranger } = await community();
    const before = await stateOf(w);
    const sum = createHash('sha256').update('evil-1.0.tar').digest('hex');
    for (const signing of ['pgpmime', 'inline'] as const) {
      const s = await sendChecked(w, await w.mail(stranger, `ATTEST\n${TO_BOT}\n${sum}  evil-1.0.tar\n`, { signing }));
      assertRefused(s, {
        outcome: 'refused:nokey', to: 'sid@elsewhere.test',
        says: [/The command ATTEST changes the collection, so it must be signed/, new RegExp(`\\(${stranger.fpr}\\), which is not in the keyring`),
          /its key must be in the collection before its signatures count/],
      });
      assert.equal(s.replies[0].fields['Log-Index'], undefined);
    }
    await assertUnchanged(w, before);
  });
});
