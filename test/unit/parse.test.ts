import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { findCommand, COMMANDS, mustBeBound } from '../../src/commands/parse.js';
import { untrustedText } from '../../src/commands/dispatch.js';

test('the first non-blank line is the command, case-insensitive; a command further down is never read', () => {
  const c = findCommand('\n  \nstatus zt-000042\nHELP\n');
  assert.equal(c?.spec.name, 'STATUS');
  assert.deepEqual(c?.args, ['zt-000042']);
  assert.equal(c?.lineIndex, 2);
  // Issue 8, item 5: text first, a pasted or quoted command below: no command.
  assert.equal(findCommand('Hello bot,\n\nstatus zt-000042\n'), null);
  assert.equal(findCommand('I object.\n\n  APPROVE ZT-000001\n  abc\n  To: bot@example.org\n'), null);
});

test('longer keywords win over shorter prefixes', () => {
  assert.equal(findCommand('SUBMIT KEY\n')?.spec.name, 'SUBMIT KEY');
  assert.equal(findCommand('SUBMIT CERT root2026\n')?.args[0], 'root2026');
  assert.equal(findCommand('UNSUBSCRIBE\n')?.spec.name, 'UNSUBSCRIBE');
  assert.equal(findCommand('GET KEY alice@example.org')?.args[0], 'alice@example.org');
  assert.equal(findCommand('SUBMITTED KEY'), null, 'a keyword must be a whole word');
  assert.equal(findCommand('HELPFUL'), null);
});

test('a quote, a "-- " separator, an "end" line or armour first means no command', () => {
  assert.equal(findCommand('> HELP\nVERIFY abc'), null);
  assert.equal(findCommand('hi\n-- \nHELP\n'), null);
  assert.equal(findCommand('-- \nHELP\n'), null);
  assert.equal(findCommand('end\nHELP\n'), null);
  assert.equal(findCommand('-----BEGIN PGP PUBLIC KEY BLOCK-----\nHELP\n'), null);
});

test('binding: the To: line directly under the command (or under the digest line of APPROVE/REJECT)', () => {
  const to = { boundTo: ['Bot@Example.org', 'linux-390@lists.example.org'] };
  assert.equal(findCommand('APPROVE ZT-1 abc\nTo: bot@example.org\n', to)?.bound, true);
  assert.equal(findCommand('APPROVE ZT-1\nabc\nTo: <BOT@example.org>\n', to)?.bound, true);
  assert.equal(findCommand('ATTEST\nto: ztrust <linux-390@lists.example.org>\nx', to)?.bound, true);
  // Wrong place, wrong address, none: unbound, and the refusal says what stood there.
  const under = findCommand('APPROVE ZT-1\nTo: bot@example.org\nabc\n', to)!;
  assert.equal(under.bound, false);
  assert.equal(under.binding.found, 'the line under the ticket digest is "abc"');
  assert.equal(findCommand('APPROVE ZT-1 abc\n\nTo: bot@example.org\n', to)!.binding.found, 'the line under the command is empty');
  assert.equal(findCommand('APPROVE ZT-1 abc', to)!.binding.found, 'the text ends after the command');
  const other = findCommand('APPROVE ZT-1 abc\nTo: bot@example.org.evil.test\n', to)!;
  assert.equal(other.bound, false);
  assert.equal(other.binding.found, "the line under the command names bot@example.org.evil.test, which is not this bot's address");
  assert.equal(findCommand('APPROVE ZT-1 abc\nTo: bot@example.org\n')?.bound, false, 'no addresses given: nothing binds');
  assert.equal(findCommand('SUBMIT KEY\nTo:\n', to)!.binding.found, 'the To: line under the command names no address');
  // The binding line is not payload: it is blanked in `following`, line numbers kept.
  const a = findCommand('ATTEST\nTo: bot@example.org\nabc  f\n', to)!;
  assert.equal(a.following, '\nabc  f\n');
  const r = findCommand('REJECT ZT-1\nabc\nTo: bot@example.org\nthe reason\n', to)!;
  assert.equal(r.following, 'abc\n\nthe reason\n');
});

test('which commands must be bound: signed state-changing ones; REVOKE KEY and read-only ones not', () => {
  assert.deepEqual(COMMANDS.filter(mustBeBound).map((c) => c.name).sort(),
    ['ADD SOURCE', 'APPROVE', 'ATTEST', 'REJECT', 'ROOT PROPOSE', 'SUBMIT CERT', 'SUBMIT KEY', 'SUBMIT SOURCE KEY', 'UNWATCH', 'UPDATE KEY', 'WATCH']);
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

test('property: text whose first non-blank line is not a command has no command, whatever follows (pasted notices included)', () => {
  const notice = '  APPROVE ZT-000001\n  ' + 'a'.repeat(64) + '\n  To: bot@example.org\n';
  fc.assert(fc.property(
    fc.string({ maxLength: 80 }).filter((l) => l.trim() !== '' && !l.includes('\n') && !l.includes('\r')
      && !COMMANDS.some((c) => l.trim().toUpperCase() === c.name || l.trim().toUpperCase().startsWith(`${c.name} `) || l.trim().toUpperCase().startsWith(`${c.name}\t`))),
    fc.string({ maxLength: 400 }),
    fc.constantFrom('', '\n', '\r\n', '\n\n  \n'),
    (first, rest, lead) => {
      assert.equal(findCommand(`${lead}${first}\n${rest}\n${notice}`, { boundTo: ['bot@example.org'] }), null);
    },
  ), { numRuns: 2000 });
});

test('property: a binding line naming any other address never binds', () => {
  fc.assert(fc.property(fc.emailAddress(), (addr) => {
    fc.pre(addr.toLowerCase() !== 'bot@example.org');
    const c = findCommand(`APPROVE ZT-1 ${'b'.repeat(64)}\nTo: ${addr}\n`, { boundTo: ['bot@example.org'] });
    assert.equal(c?.bound, false);
  }), { numRuns: 1000 });
});
