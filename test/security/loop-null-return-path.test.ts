/**
 * Attack (mail loop): a bounce (Return-Path: <>, the null reverse-path of RFC 5321) whose body holds a command, under an ordinary From:.
 * Answering would start a loop between the bot and a robot (or itself),
 * or send backscatter to a forged address: such mail is never answered,
 * even when it carries a command the bot would otherwise answer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { community, stateOf } from '../unit/commands-world.js';
import { assertSilent, assertUnchanged, headLines, rawMessage, sendChecked } from './world.js';

describe('security: mail loops are never answered', () => {
  test('a bounce with a null Return-Path: ignored, no reply', async () => {
    const { w } = await community();
    const before = await stateOf(w);
    for (const command of ['HELP', 'CHECKPOINT']) {
      const raw = rawMessage(['Return-Path: <>', ...headLines('Erin <erin@people.test>', ['Content-Type: text/plain'])], `\n${command}\n`);
      await assertSilent(w, await sendChecked(w, raw), 'ignored:null-sender');
    }
    // A control: the same command from a person is answered.
    assert.equal((await sendChecked(w, rawMessage(headLines('Erin <erin@people.test>', ['Content-Type: text/plain']), '\nHELP\n'))).replies.length, 1);
    await assertUnchanged(w, before);
  });
});
