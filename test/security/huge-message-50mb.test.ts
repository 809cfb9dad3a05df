/**
 * Attack: a 50 MB message (an "attachment" of random bytes under a SUBMIT
 * KEY) sent to exhaust memory and time. Nothing parses more than the
 * size limit (src/limits.ts maxMessageBytes, 1 MiB by default): the sender
 * gets a short error reply, nothing is stored or changed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { DEFAULT_LIMITS } from '../../src/limits.js';
import { community, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, headLines, rawMessage, sendChecked } from './world.js';

describe('security: a 50 MB message', () => {
  test('refused as too-large without parsing, in bounded time; nothing changes', async () => {
    const { w } = await community();
    const before = await stateOf(w);
    const head = rawMessage(headLines('Alice Mainframe <alice@people.test>', ['Content-Type: text/plain; charset=us-ascii']), `\nSUBMIT KEY\n${TO_BOT}\n\n`);
    // 50 MB of base64 lines (random, so nothing downstream could compress it away).
    const filler = Buffer.from(`${(randomBytes(37.5 * 1024 * 1024).toString('base64').match(/.{1,76}/g) ?? []).join('\r\n')}\r\n`, 'latin1');
    const raw = Buffer.concat([head, filler]);
    assert.ok(raw.length >= 50 * 1024 * 1024, `${raw.length}`);
    const t0 = Date.now();
    const s = await sendChecked(w, raw);
    const ms = Date.now() - t0;
    assertRefused(s, {
      outcome: 'too-large', to: 'alice@people.test',
      says: [new RegExp(`Your mail is ${raw.length} bytes long; the bot reads mail of at most ${DEFAULT_LIMITS.maxMessageBytes} bytes\\. Nothing was read or changed\\.`)],
    });
    assert.ok(ms < 15_000, `took ${ms} ms`);
    await assertUnchanged(w, before);
  });
});
