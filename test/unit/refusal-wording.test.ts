/**
 * Errors people can act on (issue 8, what must be true 8). Every reply that
 * refuses or reports an error starts with a Status: line, names the rule it
 * applies (a Rule: line) and says what to do (a How to fix it: line), and
 * never carries an internal detail: no stack frame, no exception name, no
 * path of the machine. Checked for every refusal template, and through the
 * real reply path (Dispatcher, signed reply, Python's email parser and gpg)
 * for each refusal a mail can cause, including a handler that throws.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import Mustache from 'mustache';
import { Dispatcher } from '../../src/commands/dispatch.js';
import { bodyWithStatus } from '../../src/outbound/frame.js';
import { defaultHandlers } from '../../src/commands/index.js';
import type { HandlerTable } from '../../src/commands/types.js';
import { silentLogger } from '../../src/logger.js';
import { TEMPLATES_DIR } from '../../src/package-root.js';
import { render, templateText } from '../../src/templates.js';
import { botMail } from '../security/reply-gate.js';
import { community, TO_BOT, type World } from './commands-world.js';

/** Templates a refusal or an error reply is made of (the rest answer a question or confirm a change). */
const REFUSALS = [
  'refused', 'command-unbound', 'malformed', 'no-command', 'not-available', 'signature-refused', 'signature-required', 'too-large',
  'confirm-refused', 'log-unavailable', 'handler-error', 'get-key-ambiguous', 'attest-refused', 'attest-not-applied', 'notice-failed',
];

/** What must never reach a reply: stack frames, exception names, paths of the machine, source files. */
const INTERNAL = /^\s*at \S|\b[A-Za-z]*Error:|\/work\/|\/tmp\/|\/srv\/|\/home\/|node_modules|file:\/\/|\.ts\b|\.js:\d/m;

function assertActionable(name: string, body: string): void {
  assert.match(body, /^Status: \S+\n/, `${name}: no Status: line first`);
  assert.match(body, /^Rule: \S/m, `${name}: names no rule`);
  assert.match(body, /^How to fix it: \S/m, `${name}: says nothing to do`);
  assert.doesNotMatch(body, INTERNAL, `${name}: an internal detail reaches the reply`);
}

/** Any tag of a template gets a harmless value, so every section renders. */
const anyView = new Proxy({}, { has: () => true, get: (_t, k) => (k === Symbol.unscopables ? undefined : 'value') });

test('every refusal template names a rule and a fix, behind a Status line', () => {
  for (const name of REFUSALS) {
    assert.ok(Mustache.parse(templateText(name)).length > 0);
    assertActionable(name, bodyWithStatus('error', undefined, render(name, anyView)));
  }
});

test('no template holds an internal detail', () => {
  for (const f of readdirSync(TEMPLATES_DIR).filter((f) => f.endsWith('.txt'))) {
    assert.doesNotMatch(templateText(f.slice(0, -4)), INTERNAL, f);
  }
});

/** Spool, dispatch with `handlers` and complete one message; the direct reply, read and checked. */
async function refusal(w: World, raw: Buffer, handlers: HandlerTable = defaultHandlers()) {
  const key = `rw-${randomBytes(6).toString('hex')}`;
  await w.store.spool({ key, mailbox: 'INBOX', uidValidity: 1, uid: key, messageId: null, raw, receivedAt: new Date().toISOString() });
  const d = new Dispatcher({ config: w.cfg, store: w.store, signer: w.bot, keyring: await w.known.get(), policy: w.policy, logger: silentLogger }, handlers);
  const out = await d.processMessage((await w.store.getSpooled(key))!);
  await w.store.complete(out.completion);
  const row = (await w.store.listOutbox()).find((r) => r.id === `reply:${key}`);
  assert.ok(row, `no reply for ${out.completion.outcome}`);
  await botMail(w, { ...row, spoolKey: key }, 'error');
  return { outcome: out.completion.outcome, text: (await w.parse(row)).text };
}

test('refusals through the real reply path: Status, rule, fix, no internals', async () => {
  const { w, alice } = await community({ config: { limits: { maxMessageBytes: 64 * 1024 } } });
  const cases: [string, Buffer, string, HandlerTable?][] = [
    ['no command', await w.mail(null, 'hello, is anybody there?'), 'no-command'],
    ['too large', await w.mail(null, `HELP\n${'x'.repeat(70 * 1024)}`), 'too-large'],
    ['unsigned APPROVE', await w.mail(null, `APPROVE ZT-000001\n${TO_BOT}`), 'refused:unsigned'],
    ['APPROVE not bound to the bot', await w.mail(alice, 'APPROVE ZT-000001'), 'refused:unbound'],
    ['SUBMIT KEY without a key', await w.mail(alice, `SUBMIT KEY\n${TO_BOT}`), 'SUBMIT KEY:refused:no-key'],
    ['CONFIRM without a token', await w.mail(null, 'CONFIRM nonsense'), 'confirm:malformed'],
    ['ATTEST of a line that is no digest', await w.mail(alice, `ATTEST\n${TO_BOT}\nnot a digest  file.tar.gz`), 'ATTEST:refused'],
    ['VERIFY without a log', await w.mail(null, `VERIFY ${'ab'.repeat(32)}`), 'VERIFY:log-unavailable'],
  ];
  const { CHECKPOINT: _gone, ...withoutCheckpoint } = defaultHandlers();
  cases.push(['a command not offered', await w.mail(null, 'CHECKPOINT'), 'not-available', withoutCheckpoint]);
  // A handler bug whose error carries a path, a source file and a stack: none of it may reach the sender.
  const thrower: HandlerTable = {
    ...defaultHandlers(),
    STATUS: async () => {
      throw new TypeError(`ENOENT: no such file or directory, open '/srv/ztrust/data/tickets.db' (src/commands/status.ts:42)`);
    },
  };
  cases.push(['a handler that throws', await w.mail(null, 'STATUS ZT-000001'), 'handler-error', thrower]);
  const outcomes: string[] = [];
  for (const [name, raw, , handlers] of cases) {
    const r = await refusal(w, raw, handlers);
    outcomes.push(r.outcome);
    assertActionable(name, r.text);
  }
  assert.deepEqual(outcomes, cases.map((c) => c[2]));
});
