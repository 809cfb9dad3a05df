/**
 * Attack: a key with 1,000 self-signed user IDs (every address the
 * attacker wants the collection to vouch for, or just bulk to slow every
 * reader), submitted with SUBMIT KEY and signed by itself. Its armour is
 * larger than src/limits.ts maxKeyBytes; a smaller flood (40 user IDs) is
 * over maxUserIds. Refused either way, nothing stored, bounded time; the
 * reply should name the limit that was hit.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { DEFAULT_LIMITS } from '../../src/limits.js';
import { community, stateOf, TO_BOT, type Person } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

async function uidFlood(count: number) {
  const c = await community();
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc', curve: 'ed25519Legacy', format: 'object', config: { v6Keys: false },
    userIDs: Array.from({ length: count }, (_, i) => ({ name: `Uma ${i}`, email: `uma${i}@people.test` })),
  });
  assert.equal(privateKey.users.length, count);
  const uma: Person = { name: 'Uma 0', email: 'uma0@people.test', key: privateKey, fpr: privateKey.getFingerprint().toUpperCase(), pub: privateKey.toPublic() };
  // Alice certifies it, as a member vouching for a newcomer would (every user ID).
  const certified = await uma.pub.signAllUsers([c.alice.key], undefined, { ...openpgp.config });
  const armoured = certified.armor();
  return { ...c, uma, armoured };
}

describe('security: a key with 1,000 user IDs', () => {
  test('1,000 user IDs: refused, nothing stored, in bounded time', async () => {
    const t0 = Date.now();
    const { w, uma, armoured } = await uidFlood(1000);
    assert.ok(armoured.length > DEFAULT_LIMITS.maxKeyBytes, `${armoured.length}`);
    const before = await stateOf(w);
    const s = await sendChecked(w, await w.mail(uma, `SUBMIT KEY\n${TO_BOT}\n\n${armoured}`));
    // The carried key is dropped by the key-size limit, so the self-signature finds no key.
    assertRefused(s, { outcome: 'refused:nokey', to: 'uma0@people.test', says: [new RegExp(`\\(${uma.fpr}\\), which is not in the keyring`)] });
    await assertUnchanged(w, before);
    assert.ok(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`);
  });

  test('1,000 user IDs: the reply names the limit that was hit', async () => {
    const { w, uma, armoured } = await uidFlood(1000);
    const s = await sendChecked(w, await w.mail(uma, `SUBMIT KEY\n${TO_BOT}\n\n${armoured}`));
    assert.equal(s.replies[0].status, 'error');
    assert.match(s.replies[0].text.replace(/\s+/g, ' '), /the OpenPGP key block in your mail \(\d+ bytes\) is larger than the bot accepts \(limit \d+ bytes of key data\)/);
  });

  test(`40 user IDs (over maxUserIds ${DEFAULT_LIMITS.maxUserIds}): refused by the limit`, async () => {
    const { w, uma, armoured } = await uidFlood(40);
    const before = await stateOf(w);
    const s = await sendChecked(w, await w.mail(uma, `SUBMIT KEY\n${TO_BOT}\n\n${armoured}`));
    assertRefused(s, {
      outcome: 'SUBMIT KEY:refused:limit-user-ids', to: 'uma0@people.test',
      says: [/Rule: limit-user-ids/, new RegExp(`the key has more user IDs than the bot accepts \\(limit ${DEFAULT_LIMITS.maxUserIds}, got 40\\)`)],
    });
    await assertUnchanged(w, before);
  });
});
