/**
 * Attack: a member vouches for an "upstream" key whose user ID names the
 * bot's own address, so that GET KEY or a reader of pgp/for-source/ would
 * find it for mail meant for the bot. Source keys need no community
 * certification, but the reserved addresses are no one's: refused with the
 * address rule, nothing changes.
 */
import { describe, test } from 'node:test';
import { community, person, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: a source key claiming the bot\'s address', () => {
  test('SUBMIT SOURCE KEY of a key with the user ID <bot@ztrust.test>: refused:address-reserved, nothing changed', async () => {
    const c = await community();
    const fake = await person('ztrust-bot', 'BOT@ztrust.test');
    const before = await stateOf(c.w);
    const s = await sendChecked(c.w, await c.w.mail(c.alice, `SUBMIT SOURCE KEY ztrust-bot-1.0\n${TO_BOT}\n\n${fake.pub.armor()}`));
    assertRefused(s, {
      outcome: 'SUBMIT SOURCE KEY:refused:address-reserved', to: 'alice@people.test',
      says: [/Your SUBMIT SOURCE KEY request was refused\. Nothing was changed\. Rule: address-reserved/, /names bot@ztrust\.test, which is the bot's own address\./],
    });
    await assertUnchanged(c.w, before);
  });
});
