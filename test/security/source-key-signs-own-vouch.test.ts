/**
 * Attack: an upstream key that is already in pgp/for-source/ vouches for
 * itself. A source-signing key is trusted for the releases a member vouched
 * for; it is no member and must never authorise a change: its signature on
 * ADD SOURCE (more releases for itself) or SUBMIT SOURCE KEY (another key)
 * is no collection signature at all. Refused; nothing changes.
 */
import { describe, test } from 'node:test';
import { community, person, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: a source-signing key signs a vouch', () => {
  test('ADD SOURCE and SUBMIT SOURCE KEY signed by a key of pgp/for-source/: refused:nokey, nothing changed', async () => {
    const c = await community();
    const [djm, other] = await Promise.all([person('Damien Miller', 'djm@mindrot.org'), person('Other Upstream', 'rel@other.test')]);
    const col = await c.w.collection();
    await col.apply(async (x) => {
      const file = await x.putSourceKey(djm.pub);
      await x.addSourceRows([{ key: file.split('/').pop()!, release: 'openssh-9.8p1' }]);
    }, { message: 'seed a source key', signer: async (d) => (await c.w.bot.signDetached(d)).armored });
    const before = await stateOf(c.w);
    for (const body of [`ADD SOURCE ${djm.fpr} openssh-9.9p1\n${TO_BOT}`, `SUBMIT SOURCE KEY other-1.0\n${TO_BOT}\n\n${other.pub.armor()}`]) {
      const cmd = body.startsWith('ADD') ? 'ADD SOURCE' : 'SUBMIT SOURCE KEY';
      const s = await sendChecked(c.w, await c.w.mail(djm, body));
      assertRefused(s, {
        outcome: 'refused:nokey', to: 'djm@mindrot.org',
        says: [new RegExp(`The command ${cmd} changes the collection, so it must be signed`), new RegExp(djm.fpr.slice(-16), 'i')],
      });
    }
    await assertUnchanged(c.w, before);
  });
});
