/**
 * Maildir intake, size first (issue 8, item 4): a message file over the
 * size limit is not read whole; the sink gets its header section and its
 * size, so the gate can answer "too large" through the usual rules.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MaildirIntake } from '../../queue/intake/maildir.js';
import type { IntakeMessage } from '../../queue/intake/types.js';
import { MAX_HEADER_SECTION_BYTES } from '../../src/limits.js';
import { silentLogger } from '../../src/logger.js';

const MAX = 64 * 1024;

async function drain(files: Record<string, Buffer>): Promise<Map<string, IntakeMessage>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zmaildir-'));
  const got = new Map<string, IntakeMessage>();
  const intake = new MaildirIntake(dir, { async accept(ms) { for (const m of ms) got.set(m.uid, m); } }, silentLogger, 2000, MAX);
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(dir, 'new', name), bytes);
  assert.equal(await intake.drainOnce(), Object.keys(files).length);
  return got;
}

const head = 'From: Big Sender <big@example.org>\r\nTo: bot@example.org\r\nSubject: a large one\r\nMessage-ID: <big@example.org>\r\n\r\n';

test('an oversize file gives only its header section and its declared size', async () => {
  const big = Buffer.concat([Buffer.from(head), Buffer.alloc(3 * 1024 * 1024, 'A')]);
  const small = Buffer.from(`${head}HELP\r\n`);
  const got = await drain({ '1.big': big, '2.small': small });
  assert.equal(got.get('1.big')!.raw.toString('latin1'), head);
  assert.equal(got.get('1.big')!.declaredSize, big.length);
  assert.deepEqual(got.get('2.small')!.raw, small);
  assert.equal(got.get('2.small')!.declaredSize, undefined);
});

test('an oversize file whose header section never ends keeps whole lines, within the bound', async () => {
  const lines = Buffer.from('X-Filler: ' + 'x'.repeat(60) + '\r\n').toString().repeat(Math.ceil((2 * MAX) / 72));
  const big = Buffer.from(`From: a@example.org\r\n${lines}`);
  const got = (await drain({ '1.endless': big })).get('1.endless')!;
  assert.ok(got.raw.length <= MAX_HEADER_SECTION_BYTES, `${got.raw.length} bytes kept`);
  assert.ok(got.raw.toString('latin1').endsWith('\r\n'), 'no half line');
  assert.ok(got.raw.toString('latin1').startsWith('From: a@example.org\r\n'));
  assert.equal(got.declaredSize, big.length);
});
