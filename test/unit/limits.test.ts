/**
 * Every hostile-input bound lives in src/limits.ts, and the message-size
 * limit is checked by one function (messageSizeError) everywhere: the
 * intakes, the dispatcher, verifyMail and check-mail.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_LIMITS, LimitError, MAX_LOG_ENTRY_BYTES, messageReadBytes, messageSizeError } from '../../src/limits.js';
import { sourceFiles } from './source-scan.js';

/** `file:line: text` of every line in src/ and queue/ (limits.ts aside) matching `re`. */
function linesMatching(re: RegExp): string[] {
  const hits: string[] = [];
  for (const { file, text } of sourceFiles('src', 'queue').filter((f) => f.file !== 'src/limits.ts')) {
    text.split('\n').forEach((line, i) => { if (re.test(line)) hits.push(`${file}:${i + 1}: ${line.trim()}`); });
  }
  return hits;
}

describe('the message-size check', () => {
  test('over the limit only past it; the error names the limit and the size; unknown sizes are read up to one byte over', () => {
    const limits = { maxMessageBytes: 1000 };
    assert.equal(messageSizeError(1000, limits), null);
    assert.equal(messageSizeError(0, limits), null);
    assert.equal(messageSizeError(undefined, limits), null);
    const e = messageSizeError(1001, limits);
    assert.ok(e instanceof LimitError);
    assert.equal(e.code, 'LIMIT_MESSAGE_SIZE');
    assert.equal(e.limit, 1000);
    assert.equal(e.actual, 1001);
    assert.equal(e.message, 'the message is larger than the bot accepts (limit 1000, got 1001)');
    assert.equal(messageReadBytes(limits), 1001);
    assert.equal(messageReadBytes(DEFAULT_LIMITS), DEFAULT_LIMITS.maxMessageBytes + 1);
  });

  test('no module compares or sizes against maxMessageBytes itself', () => {
    // A comparison or arithmetic on the limit, or the limit copied into a
    // local to compare later (how check-mail and IMAP intake did it).
    assert.deepEqual(linesMatching(/[<>]=?\s*[\w.?()]*\bmaxMessageBytes\b|\bmaxMessageBytes\s*[-+<>]|=\s*[\w.?() ]*\.maxMessageBytes;/), []);
  });
});

describe('every bound in src/limits.ts', () => {
  test('no numeric MAX_/MIN_/_LIMIT constant is defined outside it', () => {
    // Constants that bound no input: the replies' own format, the bot's
    // own schedule, and the output of git on the bot's own repository.
    const notInputBounds = new Set([
      'MAX_COLUMNS', // the reply contract: lines of at most 72 columns
      'MAX_LINE', // the same 72 columns for ticket content lines
      'MAX_VALUE_COLUMNS', // a value on one ticket content line (72 less the field name)
      'RECONNECT_MAX_MS', // IMAP reconnect backoff ceiling
      'FINAL_REMINDER_DAYS', // when the last key-expiry reminder is sent
      'MAX_GIT_OUTPUT', // git cat-file on the collection repository the bot writes itself
    ]);
    const found = linesMatching(/\bconst\s+\w*(?:MAX|MIN|LIMIT)\w*\s*=\s*[\d(]/)
      .filter((l) => !notInputBounds.has(/const\s+(\w+)/.exec(l)![1]));
    assert.deepEqual(found, []);
  });

  test('the configurable log-entry limit cannot pass the format bound', () => {
    assert.equal(MAX_LOG_ENTRY_BYTES, 0xffff);
    assert.ok(DEFAULT_LIMITS.maxLogEntryBytes <= MAX_LOG_ENTRY_BYTES);
  });
});
