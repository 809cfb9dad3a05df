/**
 * Attack: an unsigned CONFIRM line stalls the bot. The token reader trimmed
 * trailing punctuation with /[>"'.,;]+$/, which is retried from every
 * character of a long run of dots followed by a letter: 32K dots took 3.7 s
 * and a 1 MB line would hold the single thread for about an hour. CONFIRM
 * needs no signature, so anyone can send it. The trim is now one walk back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeToken } from '../../src/subscriptions/tokens.js';
import { community } from '../unit/commands-world.js';
import { botMail, deliver, snapshot } from './reply-gate.js';
import { fastest } from './timing.js';

const KB = 1024;

test('normalizeToken still reads what a person pastes', () => {
  const t = 'a'.repeat(32);
  assert.equal(normalizeToken(`<${t.toUpperCase()}>.`), t);
  assert.equal(normalizeToken(`"${t}",;`), t);
  assert.equal(normalizeToken(`${t}x`), null);
});

test('normalizeToken is linear on a long run of dots before a letter', async () => {
  const ts = await fastest(() => normalizeToken(`${'.'.repeat(8 * KB)}x`));
  const tl = await fastest(() => normalizeToken(`${'.'.repeat(32 * KB)}x`));
  const ratio = tl / Math.max(ts, 50);
  assert.ok(ratio < 8, `normalizeToken: ${ts.toFixed(0)} ms for 8 KiB, ${tl.toFixed(0)} ms for 32 KiB (x${ratio.toFixed(1)}): not linear`);
});

test('CONFIRM with a long run of dots before a letter: linear, refused as malformed, nothing changed', async () => {
  const { w } = await community({});
  const before = await snapshot(w);
  const outcomes: string[] = [];
  let i = 0;
  const run = async (n: number) => {
    i++;
    const r = await deliver(w, await w.mail(null, `CONFIRM ${'.'.repeat(n)}x\n`, { from: `Eve${i} <eve${i}@people.test>` }), { key: `ct${i}` });
    outcomes.push(r.outcome);
    for (const o of r.outbox) await botMail(w, o, 'error');
  };
  const ts = await fastest(() => run(16 * KB), 2);
  const tl = await fastest(() => run(64 * KB), 2);
  const ratio = tl / Math.max(ts, 50);
  assert.ok(ratio < 8, `CONFIRM: ${ts.toFixed(0)} ms for 16 KiB, ${tl.toFixed(0)} ms for 64 KiB (x${ratio.toFixed(1)}): not linear`);
  assert.deepEqual([...new Set(outcomes)], ['confirm:malformed']);
  assert.equal(await snapshot(w), before);
});
