/**
 * Attack: an ATTEST signed by an RSA-1024 key in the collection (factorable at nation-state cost; the policy wants RSA >= 2048).
 * Refused with the verdict `weak`: nothing is logged, nothing changes.
 */
import { describe, test } from 'node:test';
import { stateOf } from '../unit/commands-world.js';
import { weakWorld } from './weak.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: weak algorithms', () => {
  test('an ATTEST signed (SHA-256) by an RSA-1024 collection key: refused:weak', async () => {
    const { w, wanda, attest } = await weakWorld('rsa1024');
    const before = await stateOf(w);
    const s = await sendChecked(w, await attest('SHA256'));
    assertRefused(s, {
      outcome: 'refused:weak', to: 'wanda@people.test',
      says: [/The command ATTEST changes the collection, so it must be signed/, new RegExp(`${wanda}`), /is refused by the policy: .*(1024|RSA)/],
    });
    await assertUnchanged(w, before);
  });
});
