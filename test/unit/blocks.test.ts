/**
 * The linear armoured-block scanner returns what the lazy regexes it
 * replaced returned (those are the oracles here, on small inputs), and is
 * linear on a megabyte of BEGIN lines without END (see also
 * test/security/quadratic-armour.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { armouredBlocks, blockKind } from '../../src/text/blocks.js';

const ORACLES = [
  { name: 'key blocks (carried.ts)', kinds: [blockKind('PGP PUBLIC KEY BLOCK', 'PGP PRIVATE KEY BLOCK')], max: Infinity,
    re: (t: string) => t.match(/-----BEGIN PGP (?:PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP (?:PUBLIC|PRIVATE) KEY BLOCK-----/g) ?? [] },
  { name: 'revocation (revoke-key.ts)', kinds: [blockKind('PGP PUBLIC KEY BLOCK'), blockKind('PGP SIGNATURE')], max: 1,
    re: (t: string) => { const m = /:?(-----BEGIN PGP (PUBLIC KEY BLOCK|SIGNATURE)-----[\s\S]*?-----END PGP \2-----)/.exec(t); return m ? [m[1]] : []; } },
  { name: 'signatures (submit-cert.ts)', kinds: [blockKind('PGP SIGNATURE')], max: Infinity,
    re: (t: string) => t.match(/-----BEGIN PGP SIGNATURE-----[\s\S]*?-----END PGP SIGNATURE-----/g) ?? [] },
];
const PIECES = [
  '-----BEGIN PGP PUBLIC KEY BLOCK-----', '-----END PGP PUBLIC KEY BLOCK-----', '-----BEGIN PGP PRIVATE KEY BLOCK-----',
  '-----END PGP PRIVATE KEY BLOCK-----', '-----BEGIN PGP SIGNATURE-----', '-----END PGP SIGNATURE-----', ':', 'x', '\n', '\r\n', 'mQENBF',
  '-----BEGIN PGP', '-----END', 'KEY BLOCK-----',
];

for (const o of ORACLES) {
  test(`armouredBlocks finds what the old regex found: ${o.name}`, () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(...PIECES), { maxLength: 16 }).map((p) => p.join('')),
      (t) => assert.deepEqual(armouredBlocks(t, o.kinds, o.max), o.re(t))), { numRuns: 5000 });
  });
}

test('armouredBlocks is linear on 1 MB of BEGIN lines without END', () => {
  const time = (s: string) => {
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      armouredBlocks(s, ORACLES[1].kinds);
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return best;
  };
  const unit = '-----BEGIN PGP SIGNATURE-----\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n-----END PGP PUBLIC KEY BLOCK-----\n';
  const small = time(unit.repeat(Math.ceil(256 * 1024 / unit.length)));
  const large = time(unit.repeat(Math.ceil(1024 * 1024 / unit.length)));
  // A quadratic scan takes 16 times as long for 4 times the text; below 50 ms the clock decides.
  assert.ok(large / Math.max(small, 50) < 8, `${small.toFixed(1)} ms for 256 KiB, ${large.toFixed(1)} ms for 1 MiB`);
});
