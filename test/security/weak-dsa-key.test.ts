/**
 * Attack: an ATTEST signed by a DSA key that made it into the collection (old data kept for audit): DSA is no longer accepted for new signatures.
 * Refused with the verdict `weak`: nothing is logged, nothing changes.
 */
import { describe, test } from 'node:test';
import { stateOf } from '../unit/commands-world.js';
import { weakWorld } from './weak.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: weak algorithms', () => {
  test('an ATTEST signed (SHA-256) by a DSA collection key: refused:weak', async () => {
    const { w, wanda, attest } = await weakWorld('dsa2048');
    const before = await stateOf(w);
    const s = await sendChecked(w, await attest('SHA256'));
    assertRefused(s, {
      outcome: 'refused:weak', to: 'wanda@people.test',
      says: [/The command ATTEST changes the collection, so it must be signed/, new RegExp(`${wanda}`), /DSA keys are no longer accepted/, /gpg --quick-gen-key/],
    });
    await assertUnchanged(w, before);
  });
});
