/**
 * Attack: one message stalls the bot. The regex that read an unverified
 * cleartext-signature armour was quadratic: a 1 MB mail of repeated armour
 * header lines held the single thread for about 9 s, and four of them
 * stalled every job. Every scan of untrusted text is now a linear line scan.
 *
 * Not a speed test: the worst case must be LINEAR, so the time for 4n lines
 * is compared with the time for n lines (a quadratic scan takes 16 times as
 * long; a linear one about 4 times; 8 leaves room for a busy machine). Each
 * size is timed a few times and the fastest run counts, so a pause of the
 * machine does not decide the result. Measured before the fix: untrustedText
 * 557 ms for 256 KiB and 13.1 s for 1 MiB; shapeProse 1.5 s and 12.5 s; the
 * whole dispatcher 0.5 s and 9.0 s; SUBMIT KEY with key-block BEGIN lines
 * 2.3 s and 35 s; REVOKE KEY with BEGIN lines 3.5 s and 49 s.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { untrustedText } from '../../src/commands/dispatch.js';
import { shapeProse } from '../../src/outbound/frame.js';
import { community, person } from '../unit/commands-world.js';
import { deliver, snapshot } from './reply-gate.js';
import { fastest, fill } from './timing.js';

const MB = 1024 * 1024;

async function assertLinear(name: string, make: (bytes: number) => string, fn: (s: string) => unknown): Promise<void> {
  const small = make(MB / 4);
  const large = make(MB);
  const ts = await fastest(() => fn(small), 5);
  const tl = await fastest(() => fn(large), 5);
  // Below 50 ms the clock and the garbage collector dominate (a quadratic
  // scan takes over 500 ms for 256 KiB and many seconds for 1 MiB).
  const ratio = tl / Math.max(ts, 50);
  assert.ok(ratio < 8, `${name}: ${ts.toFixed(1)} ms for 256 KiB, ${tl.toFixed(1)} ms for 1 MiB (x${ratio.toFixed(1)}): not linear`);
}

const HOSTILE_ARMOUR = [
  ['armour header lines, no signature', '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n'],
  ['armour starts only', '-----BEGIN PGP SIGNED MESSAGE-----\n'],
  ['header lines without the blank line', '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\nHash: SHA512\n'],
  ['CRLF armour', '-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\n- x\r\n'],
] as const;

test('untrustedText is linear on 1 MB of hostile armour', async () => {
  for (const [name, unit] of HOSTILE_ARMOUR) await assertLinear(name, (n) => fill(unit, n), untrustedText);
});

test('shapeProse is linear on 1 MB of unmatched BEGIN lines', async () => {
  await assertLinear('BEGIN without END', (n) => fill('-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc def\n', n), shapeProse);
  await assertLinear('BEGIN of many labels', (n) => fill('-----BEGIN A-----\n-----BEGIN B-----\n-----END C-----\n', n), shapeProse);
});

test('1 MB hostile-armour mails through the dispatcher: linear, answered, nothing changed', async () => {
  const { w } = await community({ config: { limits: { maxMessageBytes: 4 * MB } } });
  const mallory = await person('Mallory', 'mallory@people.test');
  const before = await snapshot(w);
  const cases: [string, (bytes: number) => Promise<Buffer>, string][] = [
    ['armour header lines (untrustedText)', (n) => w.mail(null, fill(HOSTILE_ARMOUR[0][1], n)), 'no-command'],
    // A key signed by a key outside the collection: the carried keys are read (carried.ts).
    ['SUBMIT KEY with key-block BEGIN lines', (n) => w.mail(mallory, `SUBMIT KEY\n${fill('-----BEGIN PGP PUBLIC KEY BLOCK-----\n', n)}`), 'refused:nokey'],
    // REVOKE KEY reads a revocation from unsigned text (revoke-key.ts).
    ['REVOKE KEY with BEGIN lines', (n) => w.mail(null, `REVOKE KEY\n${fill('-----BEGIN PGP SIGNATURE-----\n', n)}`), 'REVOKE KEY:refused:revocation-unreadable'],
  ];
  let i = 0;
  for (const [name, mail, outcome] of cases) {
    const outcomes: string[] = [];
    const run = async (raw: Buffer) => {
      const r = await deliver(w, raw, { key: `q${++i}` });
      outcomes.push(r.outcome);
    };
    const small = await mail(MB / 4);
    const large = await mail(MB);
    const ts = await fastest(() => run(small), 2);
    const tl = await fastest(() => run(large), 2);
    const ratio = tl / Math.max(ts, 50);
    assert.ok(ratio < 8, `${name}: ${ts.toFixed(0)} ms for 256 KiB, ${tl.toFixed(0)} ms for 1 MiB (x${ratio.toFixed(1)}): not linear`);
    assert.deepEqual([...new Set(outcomes)], [outcome], name);
  }
  assert.equal(await snapshot(w), before);
});
