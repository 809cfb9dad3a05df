/**
 * The words of TUF's rule as maintainers read them (src/root/chain.ts
 * approvalProblems): they go into the reply to an APPROVE ROOT-<n> that is
 * recorded but not yet enough, and into `root verify`'s refusal. Found by the
 * integration test of the ceremony (test/integration/root-ceremony.test.ts):
 * version 1's reply said "1 of the its own maintainers approved it".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { approvalProblems } from '../../src/root/chain.js';
import type { RootDocument } from '../../src/root/document.js';

const [A, B, C, D] = ['A', 'B', 'C', 'D'].map((x) => x.repeat(40));
const root = (version: number, maintainers: string[], threshold: number): RootDocument => ({
  version, issued: new Date('2026-01-01T00:00:00Z'), expires: new Date('2027-01-01T00:00:00Z'), threshold, maintainers,
  botKey: 'E'.repeat(40), logOrigin: 'example.org/log', logKey: 'example.org/log+00000000+AAAA', previous: version === 1 ? null : 'f'.repeat(64),
});

test('version 1 short of its threshold: "of its own maintainers"', () => {
  assert.deepEqual(approvalProblems(null, root(1, [A, B, C], 2), new Set([A])), ['1 of its own maintainers approved it, 2 must']);
  assert.deepEqual(approvalProblems(null, root(1, [A, B, C], 2), new Set([A, C])), []);
});

test('a later version: the previous maintainers, its own, and every new key, each named', () => {
  const v1 = root(1, [A, B, C], 2);
  const v2 = root(2, [A, B, C, D], 3);
  assert.deepEqual(approvalProblems(v1, v2, new Set([B])), [
    "1 of the previous version's (1) maintainers approved it, 2 must",
    '1 of its own maintainers approved it, 3 must',
    `the new maintainer key ${D} did not approve it`,
  ]);
  assert.deepEqual(approvalProblems(v1, v2, new Set([B, C])), ['2 of its own maintainers approved it, 3 must', `the new maintainer key ${D} did not approve it`]);
  assert.deepEqual(approvalProblems(v1, v2, new Set([B, C, D])), []);
});
