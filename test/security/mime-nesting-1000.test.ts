/**
 * Attack: MIME nested 1,000 deep (multipart/mixed inside multipart/mixed
 * ...), with a maintainer-signed APPROVE at the bottom: recursive parsers
 * run out of stack or time. The splitter stops at src/limits.ts
 * maxMimeDepth; the vote at the bottom never counts, nothing crashes, and
 * (the project's rule for bad input) the sender gets a clear reply.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_LIMITS } from '../../src/limits.js';
import { pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, headLines, rawMessage, sendChecked, splitMail, type Refusal } from './world.js';

async function nestedApprove(depth: number, expect: (s: Awaited<ReturnType<typeof sendChecked>>) => void): Promise<void> {
  const { w, alice, t } = await pendingTicket();
  const before = await stateOf(w);
  const signed = splitMail(await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
  let entity = `${signed.head.split('\r\n').filter((l) => /^(Content-Type|\s)/i.test(l)).join('\r\n')}\r\n\r\n${signed.body}`;
  for (let i = 0; i < depth; i++) entity = `Content-Type: multipart/mixed; boundary="n${i}"\r\n\r\n--n${i}\r\n${entity}\r\n--n${i}--\r\n`;
  const [ct, ...rest] = entity.split('\r\n\r\n');
  const raw = rawMessage(headLines('Alice Mainframe <alice@people.test>', [ct]), `\r\n${rest.join('\r\n\r\n')}`);
  const t0 = Date.now();
  const s = await sendChecked(w, raw);
  const ms = Date.now() - t0;
  assert.ok(ms < 15_000, `took ${ms} ms`);
  assert.deepEqual(await w.store.getVotes(t.id), []);
  await assertUnchanged(w, before);
  expect(s);
}

const unreadable: Refusal = { outcome: 'malformed', to: 'alice@people.test', says: [/Your mail could not be read as an Internet message/, /Nothing was changed/] };

describe('security: MIME nested deeply', () => {
  test('1,000 levels: nothing counted, nothing changed, no crash, bounded time', async () => {
    // mailparser itself gives up ("Max allowed child nodes exceeded"): outcome malformed.
    await nestedApprove(1000, (s) => assert.equal(s.outcome, 'malformed'));
  });

  test('1,000 levels: the sender is told the mail could not be read', async () => {
    await nestedApprove(1000, (s) => assertRefused(s, unreadable));
  });

  test(`20 levels (over maxMimeDepth ${DEFAULT_LIMITS.maxMimeDepth}, still parseable): refused with the MIME depth limit`, async () => {
    await nestedApprove(20, (s) => {
      assertRefused(s, {
        outcome: 'refused:malformed', to: 'alice@people.test',
        says: [/The command APPROVE changes the collection, so it must be signed/,
          new RegExp(`the MIME structure is nested too deeply \\(limit ${DEFAULT_LIMITS.maxMimeDepth}, got ${DEFAULT_LIMITS.maxMimeDepth + 1}\\)`)],
      });
    });
  });
});
