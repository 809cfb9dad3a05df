/**
 * Pins the error catalogue (src/app/error-catalogue.ts) against the sources:
 * every code listed is raised somewhere in src/ or queue/, every code thrown
 * there is listed, every error domain has its catalogue, descriptions are
 * one non-empty line. Codes that are listed but never raised are how
 * MailError and most MAIL_ and PGP_ codes lingered.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DOMAIN_CATALOGUES, ERROR_CATALOGUE } from '../../src/app/error-catalogue.js';
import { sourceFiles } from './source-scan.js';

const CODE = /'([A-Z][A-Z0-9]*_[A-Z0-9_]+)'/g;
const literals = (s: string): string[] => [...s.matchAll(CODE)].map((m) => m[1]);

/**
 * The code literals each file raises: the first argument of `new XError(...)`
 * (conditional forms included), `enforce('CODE', ...)`, a `code:` field (state
 * findings and verifier results carried into an error), and a catalogue
 * description quoted in a refusal (`LIMIT_ERRORS.CODE`). Catalogue
 * definitions and comparisons (`err.code === 'CODE'`) do not count.
 */
function scan(): { raised: Map<string, string[]>; thrown: Map<string, string[]> } {
  const raised = new Map<string, string[]>();
  const thrown = new Map<string, string[]>();
  const add = (m: Map<string, string[]>, code: string, file: string): void => { m.set(code, [...(m.get(code) ?? []), file]); };
  for (const { file, text } of sourceFiles('src', 'queue')) {
    const t = text
      .replace(/export const \w+_ERRORS = \{[\s\S]*?\} as const/g, '')
      .replace(/[!=]==\s*'[A-Z][A-Z0-9_]*'/g, '');
    for (const m of t.matchAll(/new \w+Error\(\s*([^,]+),/g)) for (const c of literals(m[1])) { add(thrown, c, file); add(raised, c, file); }
    for (const m of t.matchAll(/\benforce\(\s*'([A-Z0-9_]+)'/g)) { add(thrown, m[1], file); add(raised, m[1], file); }
    // src/limits.ts, beforeDeadline(work, ms, 'CODE'): a LimitError with that code at the deadline.
    for (const m of t.matchAll(/\bbeforeDeadline\([^;]*?'([A-Z][A-Z0-9_]+)'\)/g)) { add(thrown, m[1], file); add(raised, m[1], file); }
    for (const m of t.matchAll(/\bcode: ([^,\n}]+)/g)) for (const c of literals(m[1])) add(raised, c, file);
    for (const m of t.matchAll(/\b[A-Z_]+_ERRORS\.([A-Z][A-Z0-9_]+)/g)) add(raised, m[1], file);
  }
  return { raised, thrown };
}

describe('error catalogue', () => {
  const { raised, thrown } = scan();

  test('one catalogue: no code in two domains, descriptions one non-empty line', () => {
    const total = Object.values(DOMAIN_CATALOGUES).reduce((n, c) => n + Object.keys(c).length, 0);
    assert.equal(Object.keys(ERROR_CATALOGUE).length, total, 'a code is listed in two domains');
    for (const [code, text] of Object.entries(ERROR_CATALOGUE)) {
      assert.match(code, /^[A-Z][A-Z0-9]*_[A-Z0-9_]+$/, code);
      assert.ok(text.trim().length > 0, `${code} has no description`);
      assert.ok(!/[\r\n]/.test(text), `${code}: description on one line`);
    }
  });

  test('every code listed is raised somewhere in src/ or queue/', () => {
    const never = Object.keys(ERROR_CATALOGUE).filter((c) => !raised.has(c));
    assert.deepEqual(never, []);
  });

  test('every code thrown in src/ or queue/ is listed', () => {
    const unlisted = [...thrown].filter(([c]) => !(c in ERROR_CATALOGUE)).map(([c, files]) => `${c} (${files.join(', ')})`);
    assert.deepEqual(unlisted, []);
    // The scan itself sees throws (so the test above cannot pass by reading nothing).
    for (const c of ['STORE_CONFLICT', 'TICKET_ILLEGAL_TRANSITION', 'LIMIT_LOG_ENTRY', 'TLOG_ORIGIN', 'CONFIG_UNKNOWN_KEY']) assert.ok(thrown.has(c), c);
  });

  test('every error domain in the sources has its catalogue here', () => {
    const domains = new Set<string>();
    for (const { text } of sourceFiles('src', 'queue')) {
      for (const m of text.matchAll(/extends ZtrustError<\w+>[\s\S]*?super\('([a-z-]+)'/g)) domains.add(m[1]);
    }
    assert.ok(domains.size >= 10, `found only ${[...domains].join(', ')}`);
    assert.deepEqual([...domains].filter((d) => !(d in DOMAIN_CATALOGUES)), []);
  });

  test('no error class nobody throws: MailError is gone', () => {
    const all = sourceFiles('src', 'queue').map((s) => s.text).join('\n');
    assert.doesNotMatch(all, /class MailError\b/);
  });
});
