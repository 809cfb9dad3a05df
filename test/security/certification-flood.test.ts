/**
 * Attack: certificate flooding (the 2019 SKS attack): a key carrying
 * thousands of third-party certifications, submitted to make every
 * consumer of the collection parse them forever. 10,000 certifications do
 * not fit in a message the bot reads (maxMessageBytes); a key just over
 * src/limits.ts maxCertifications is refused by that limit. Nothing is
 * stored either way.
 *
 * Built efficiently: 300 real, distinct certifications by one attacker key
 * (openpgp.js), repeated at the packet level up to 10,000.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { DEFAULT_LIMITS } from '../../src/limits.js';
import { certify, community, person, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

async function flooded(count: number) {
  const c = await community();
  // Made an hour ago, so that certifications can carry distinct past dates (Ed25519 signatures are deterministic).
  const hourAgo = { date: new Date(Date.now() - 3600_000) };
  const [erin, attacker] = await Promise.all([person('Erin', 'erin@people.test', hourAgo), person('Flood', 'flood@elsewhere.test', hourAgo)]);
  const base = await certify(erin.pub, [c.alice, c.bob]);
  const distinct: openpgp.SignaturePacket[] = [];
  for (let i = 0; i < Math.min(count, 300); i++) {
    const k = await erin.pub.signAllUsers([attacker.key], new Date(Date.now() - i * 1000), { ...openpgp.config });
    distinct.push(k.users[0].otherCertifications[0]);
  }
  const key = await openpgp.readKey({ binaryKey: base.write() });
  const flood = Array.from({ length: count }, (_, i) => distinct[i % distinct.length]);
  key.users[0].otherCertifications.push(...flood);
  assert.equal(key.users[0].otherCertifications.length, count + 2);
  return { ...c, erin, armoured: key.armor() };
}

describe('security: a key with a flood of certifications', () => {
  test('10,000 certifications: the message is refused as too-large before any key parsing, nothing stored', async () => {
    const t0 = Date.now();
    const { w, erin, armoured } = await flooded(10_000);
    const before = await stateOf(w);
    const s = await sendChecked(w, await w.mail(erin, `SUBMIT KEY\n${TO_BOT}\n\n${armoured}`));
    assertRefused(s, { outcome: 'too-large', to: 'erin@people.test', says: [new RegExp(`the bot reads mail of at most ${DEFAULT_LIMITS.maxMessageBytes} bytes`)] });
    await assertUnchanged(w, before);
    assert.ok(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`);
  });

  test(`${DEFAULT_LIMITS.maxCertifications + 44} certifications (over maxCertifications ${DEFAULT_LIMITS.maxCertifications}): refused by the limit, nothing stored`, async () => {
    const { w, erin, armoured } = await flooded(DEFAULT_LIMITS.maxCertifications + 42);
    const before = await stateOf(w);
    const s = await sendChecked(w, await w.mail(erin, `SUBMIT KEY\n${TO_BOT}\n\n${armoured}`));
    assertRefused(s, {
      outcome: 'SUBMIT KEY:refused:limit-certifications', to: 'erin@people.test',
      says: [/Your SUBMIT KEY request was refused\. Nothing was changed\. Rule: limit-certifications/,
        new RegExp(`the key carries more certifications than the bot accepts \\(limit ${DEFAULT_LIMITS.maxCertifications}, got ${DEFAULT_LIMITS.maxCertifications + 44}\\)`),
        /export-options export-minimal/],
    });
    await assertUnchanged(w, before);
  });
});
