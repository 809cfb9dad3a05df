/**
 * Attack: a mail that stalls `ztrust-bot verify-proof`. The proof-block
 * finders (findLogBlocks, which verify-proof runs on a mail it is given, and
 * extractProofBlocks) scanned from every tlog-proof or consistency header
 * line to the end of the text when the block was incomplete: 32K header
 * lines took 1.5 s (8K: 0.13 s), so a 10 MB mail would hold the command for
 * minutes. A header whose block is known to be incomplete is now skipped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLogText, findLogBlocks } from '../../src/ledger/proofmail.js';
import { CONSISTENCY_HEADER, extractProofBlocks, PROOF_HEADER } from '../../src/tlog/proof.js';
import { generateLogKey } from '../../src/tlog/note.js';
import { fastest, fill } from './timing.js';

const KB = 1024;

async function assertLinear(name: string, unit: string, fn: (s: string) => unknown): Promise<void> {
  const ts = await fastest(() => fn(fill(unit, 256 * KB)));
  const tl = await fastest(() => fn(fill(unit, 1024 * KB)));
  const ratio = tl / Math.max(ts, 50);
  assert.ok(ratio < 8, `${name}: ${ts.toFixed(0)} ms for 256 KiB, ${tl.toFixed(0)} ms for 1 MiB (x${ratio.toFixed(1)}): not linear`);
}

const HOSTILE = [
  ['proof headers', `${PROOF_HEADER}\n`],
  ['consistency headers', `${CONSISTENCY_HEADER}\n`],
  ['proof headers, one blank line each', `${PROOF_HEADER}\nindex 1\n\n`],
] as const;

test('findLogBlocks and extractProofBlocks are linear on incomplete blocks', async () => {
  for (const [name, unit] of HOSTILE) {
    await assertLinear(`findLogBlocks: ${name}`, unit, findLogBlocks);
    await assertLinear(`extractProofBlocks: ${name}`, unit, extractProofBlocks);
  }
});

test('a mail of incomplete proof blocks: no block found, nothing verified', () => {
  const { vkey } = generateLogKey('log.ztrust.test');
  for (const [, unit] of HOSTILE) {
    const text = fill(unit, 64 * KB);
    assert.deepEqual(findLogBlocks(text).blocks, []);
    // extractProofBlocks cuts blocks without checking them (verifyProofBlock does): only the unfinished ones give none.
    if (!unit.endsWith('\n\n')) assert.deepEqual(extractProofBlocks(text), []);
    const r = checkLogText(text, vkey);
    assert.equal(r.results.length, 0);
    assert.equal(r.ok, false);
    assert.equal(r.reason, `no complete ${PROOF_HEADER} or ${CONSISTENCY_HEADER} block found`);
  }
});
