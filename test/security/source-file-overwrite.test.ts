/**
 * Attack (found in review): a vouch for key X whose file name
 * (0x<keyid>-<identity>-signing.asc) is already taken in pgp/for-source/ by
 * a file the group keeps: two keys in one file, or another key under a
 * misleading name. Applying the vouch must not overwrite that file (its
 * rows would then point at X, which nobody vouched for those releases):
 * the change fails, and the folder, the list and the log stay as they were.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { community, person, TO_BOT, type World } from '../unit/commands-world.js';

const sign = (w: World) => async (d: Uint8Array | Buffer) => (await w.bot.signDetached(d as Buffer)).armored;

async function vouchAndApply(w: World, c: Awaited<ReturnType<typeof community>>, armored: string) {
  const s = await w.send(await w.mail(c.alice, `SUBMIT SOURCE KEY openssh-9.8p1\n${TO_BOT}\n\n${armored}`));
  const f = s.replies[0].fields;
  for (const m of [c.bob, c.carol]) await w.send(await w.mail(m, `APPROVE ${f.Ticket}\n${f['Ticket-Digest']}\n${TO_BOT}`));
  return w.applyAll();
}

describe('security: a vouch never overwrites a file the group keeps under the same name', () => {
  for (const kind of ['two keys in one file', 'another key under this name'] as const) {
    test(kind, async () => {
      const c = await community();
      const [djm, other] = await Promise.all([person('Damien Miller', 'djm@mindrot.org'), person('Other Upstream', 'other@up.test')]);
      const name = `0x${djm.fpr.slice(-16).toLowerCase()}-djm@mindrot.org-signing.asc`;
      const groupBytes = Buffer.from(kind === 'two keys in one file' ? `${other.pub.armor()}\n${djm.pub.armor()}` : other.pub.armor());
      const col = await c.w.collection();
      await col.apply(async (x) => {
        await x.putSourceFile(name, groupBytes);
        await x.addSourceRows([{ key: name, release: 'old-1.0' }]);
      }, { message: 'the group seeds the folder', signer: sign(c.w) });
      const head = (await col.git(['rev-parse', 'HEAD'])).trim();
      const list = readFileSync(path.join(col.dir, 'pgp', 'for-source', 'key-and-source.md'));
      const { outcomes, notices } = await vouchAndApply(c.w, c, djm.pub.armor());
      assert.deepEqual(outcomes.map((o) => o.state), ['failed']);
      assert.match(outcomes[0].detail ?? '', new RegExp(`already has a file named pgp/for-source/${name.replace(/\./g, '\\.')} that is not this key alone`));
      assert.ok(readFileSync(path.join(col.dir, 'pgp', 'for-source', name)).equals(groupBytes), 'the group file is unchanged');
      assert.ok(readFileSync(path.join(col.dir, 'pgp', 'for-source', 'key-and-source.md')).equals(list), 'the list is unchanged');
      assert.equal((await col.git(['rev-parse', 'HEAD'])).trim(), head, 'no commit');
      assert.deepEqual(await c.w.store.findSourceVouches({}), []);
      assert.ok(notices.some((n) => n.status === 'error'), 'the voucher is told it failed');
    });
  }
});
