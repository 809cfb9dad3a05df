import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findCommand, COMMANDS } from '../../src/commands/parse.js';
import { untrustedText } from '../../src/commands/dispatch.js';

test('the first line starting with a keyword is the command, case-insensitive', () => {
  const c = findCommand('Hello bot,\n\nstatus zt-000042\nHELP\n');
  assert.equal(c?.spec.name, 'STATUS');
  assert.deepEqual(c?.args, ['zt-000042']);
  assert.equal(c?.lineIndex, 2);
});

test('longer keywords win over shorter prefixes', () => {
  assert.equal(findCommand('SUBMIT KEY\n')?.spec.name, 'SUBMIT KEY');
  assert.equal(findCommand('SUBMIT CERT root2026\n')?.args[0], 'root2026');
  assert.equal(findCommand('UNSUBSCRIBE\n')?.spec.name, 'UNSUBSCRIBE');
  assert.equal(findCommand('GET KEY alice@example.org')?.args[0], 'alice@example.org');
  assert.equal(findCommand('SUBMITTED KEY'), null, 'a keyword must be a whole word');
  assert.equal(findCommand('HELPFUL'), null);
});

test('quoted lines are skipped; reading stops at "-- ", at "end" and at armour', () => {
  assert.equal(findCommand('> HELP\nVERIFY abc')?.spec.name, 'VERIFY');
  assert.equal(findCommand('hi\n-- \nHELP\n'), null);
  assert.equal(findCommand('hi\nend\nHELP\n'), null);
  assert.equal(findCommand('-----BEGIN PGP PUBLIC KEY BLOCK-----\nHELP\n'), null);
});

test('the text after the command line is kept for payloads (armoured keys)', () => {
  const c = findCommand('SUBMIT KEY\n-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n');
  assert.match(c!.following, /BEGIN PGP PUBLIC KEY BLOCK/);
});

test('no text, or text without a command, gives null; scanning is bounded', () => {
  assert.equal(findCommand(null), null);
  assert.equal(findCommand(''), null);
  assert.equal(findCommand(`${'blah\n'.repeat(5000)}HELP`), null);
});

test('every command of the design table is recognised, with the right signing rule', () => {
  const unsigned = COMMANDS.filter((c) => c.unsignedOk).map((c) => c.name).sort();
  // REVOKE KEY: the revocation certificate is its own authority (DESIGN.md), so the mail may be unsigned.
  assert.deepEqual(unsigned, ['CHECKPOINT', 'CONFIRM', 'GET KEY', 'HELP', 'REVOKE KEY', 'STATUS', 'SUBSCRIBE', 'UNSUBSCRIBE', 'VERIFY'].sort());
  assert.deepEqual(COMMANDS.filter((c) => c.carriesSigningKey).map((c) => c.name).sort(), ['SUBMIT KEY', 'UPDATE KEY']);
  for (const c of COMMANDS) assert.equal(findCommand(`${c.usage}\n`)?.spec.name, c.name);
});

test('untrustedText unwraps an inline signature armour (for error replies only)', () => {
  const t = '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nAPPROVE ZT-1 abc\n- -- dashed\n-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----\n';
  assert.equal(untrustedText(t), 'APPROVE ZT-1 abc\n-- dashed');
  assert.equal(untrustedText('plain HELP'), 'plain HELP');
});
