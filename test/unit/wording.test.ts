/**
 * Issue 9 item 3: "all wording (templates only)". Every word the bot says
 * lives in templates/, one Mustache file each, so the working group edits
 * wording without touching code. Read from the source (TypeScript's own
 * parser, not regular expressions over text):
 *
 *   - no English sentence is written in code where it reaches a refusal:
 *     the reason and fix of `refused(...)`, `refusedConfirm(...)` (src/commands/) and `refuse(...)`
 *     (src/pgp/admission.ts), a `reason:`/`fix:`/`why:`/`who:`/`text:` property, a
 *     fix constant (`*_FIX`, `HOWTO`, `usage`), a string returned by the
 *     refusal-reason functions of src/ledger/standing.ts, the default reply
 *     Subject (src/mail/compose.ts replySubject) and a ticket's closing
 *     reason (src/tickets/ticket.ts);
 *   - every template named in code exists, and every template file is named
 *     somewhere in src/ (no orphan wording nobody can send).
 *
 * Template names for refusals: reason-<rule>[-<where>].txt says what the bot
 * found, fix-<rule>[-<where>].txt how to fix it; <where> (the command, or a
 * variant) is added only where one rule is worded differently in two places.
 *
 * "A sentence" is three words in a row; the allow-list below names the few
 * literals in those positions that are not wording, each with its reason.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { TEMPLATES_DIR } from '../../src/package-root.js';
import { sourceFiles } from './source-scan.js';

/** Three words in a row (a letter word, then two lower-case words): prose, not an identifier or a code. */
const SENTENCE = /[A-Za-z]{2,}[,:;]? [a-z]{2,}[,:;]? [a-z]{2,}/;

/** The files whose refusals reach mail. */
const SCOPE = [
  'src/commands', 'src/policy', 'src/pgp/admission.ts', 'src/ledger/standing.ts', 'src/mail/compose.ts', 'src/tickets/ticket.ts',
  'src/changes/apply.ts', 'src/ledger/attest.ts',
];

/** Calls whose arguments are a refusal's words. */
const REFUSAL_CALLS = new Set(['refused', 'refuse', 'refusedConfirm']);
/** Properties and constants that hold a refusal's words. */
const WORD_NAMES = /^(reason|fix|why|who|what|via|found|error|text|closedReason|usage|changeText|next|HOWTO|[A-Z_]*FIX)$/;
/** Functions whose returned strings are a refusal's reason (src/ledger/standing.ts, src/ledger/attest.ts), a note in a reply (HELP) or a mail header (replySubject). */
const WORD_FUNCTIONS = new Set(['attestRefusal', 'lapsed', 'checkDigest', 'checkName', 'parseSumLine', 'replySubject', 'signatureNote']);

/**
 * Literals in those positions that are not wording (file, start of the literal, why). Kept short on purpose.
 */
const ALLOWED: { file: string; starts: string; why: string }[] = [
  { file: 'src/commands/parse.ts', starts: 'GET KEY <', why: 'command syntax (the command table), matched and shown as the user types it' },
];

/** The text of a string or template literal (its literal parts joined), or null. */
function literalText(n: ts.Node): string | null {
  if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) return n.text;
  if (ts.isTemplateExpression(n)) return [n.head.text, ...n.templateSpans.map((s) => s.literal.text)].join(' | ');
  return null;
}

function calleeName(call: ts.CallExpression): string {
  const e = call.expression;
  return ts.isIdentifier(e) ? e.text : ts.isPropertyAccessExpression(e) ? e.name.text : '';
}

/** Why this literal reaches a refusal or a mail header, or null when its position does not. */
function wordingPosition(n: ts.Node): string | null {
  for (let p: ts.Node | undefined = n.parent; p; p = p.parent) {
    // A value put into a template (line/render view) is data, not wording.
    if (ts.isCallExpression(p) && ['line', 'clause', 'render', 'wording'].includes(calleeName(p))) return null;
    if (ts.isCallExpression(p) && REFUSAL_CALLS.has(calleeName(p)) && p.arguments.some((a) => a.pos <= n.pos && n.end <= a.end)) {
      return `argument of ${calleeName(p)}()`;
    }
    if ((ts.isPropertyAssignment(p) || ts.isVariableDeclaration(p)) && ts.isIdentifier(p.name) && WORD_NAMES.test(p.name.text)) {
      return `value of ${p.name.text}`;
    }
    if (ts.isBinaryExpression(p) && p.operatorToken.kind === ts.SyntaxKind.EqualsToken && ts.isIdentifier(p.left) && WORD_NAMES.test(p.left.text)) {
      return `assigned to ${p.left.text}`;
    }
    if (ts.isReturnStatement(p)) {
      for (let f: ts.Node | undefined = p.parent; f; f = f.parent) {
        if ((ts.isFunctionDeclaration(f) || ts.isMethodDeclaration(f)) && f.name && ts.isIdentifier(f.name) && WORD_FUNCTIONS.has(f.name.text)) {
          return `returned by ${f.name.text}()`;
        }
      }
    }
    if (ts.isFunctionLike(p) || ts.isSourceFile(p)) {
      if (!ts.isArrowFunction(p)) return null;
    }
  }
  return null;
}

function scopeFiles(): { file: string; text: string }[] {
  return sourceFiles('src').filter((f) => SCOPE.some((s) => f.file === s || f.file.startsWith(`${s}/`)));
}

/** Every sentence literal in a wording position: `file:line: why: text`. */
function sentencesInCode(): string[] {
  const out: string[] = [];
  for (const { file, text } of scopeFiles()) {
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node): void => {
      const s = literalText(n);
      if (s !== null && SENTENCE.test(s) && !ALLOWED.some((a) => a.file === file && s.startsWith(a.starts))) {
        const where = wordingPosition(n);
        if (where) out.push(`${file}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}: ${where}: ${s.slice(0, 80)}`);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}

/** Template names given to render/line/templateText in src/ (both branches of a conditional too). */
function templatesNamedInCalls(): { name: string; at: string }[] {
  const out: { name: string; at: string }[] = [];
  for (const { file, text } of sourceFiles('src')) {
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const names = (e: ts.Expression): string[] => {
      if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return [e.text];
      if (ts.isConditionalExpression(e)) return [...names(e.whenTrue), ...names(e.whenFalse)];
      if (ts.isParenthesizedExpression(e)) return names(e.expression);
      return [];
    };
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && ['render', 'line', 'clause', 'wording', 'templateText'].includes(calleeName(n)) && n.arguments[0]) {
        for (const name of names(n.arguments[0])) out.push({ name, at: `${file}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}` });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}

test('no English sentence that reaches a refusal or a mail header is written in code', () => {
  const found = sentencesInCode();
  assert.deepEqual(found, [], `move these into templates/ (reason-<rule>.txt, fix-<rule>.txt):\n${found.join('\n')}`);
});

test('the scan finds a sentence in each wording position (it is not blind)', () => {
  const probe = [
    "refused(CMD, 'rule', 'the key is not in the collection', line('fix-x', {}));",
    "refuse('rule', `key ${f} is not here`, 'send the key again please');",
    "const HASH_FIX = 'Sign again with SHA-512';",
    "x = { reason: 'the ticket has expired now', fix: line('fix-y', { v: 'a value with words in it' }) };",
    "export function replySubject(s) { return s ? s : 'Re: your message to ztrust-bot'; }",
  ].join('\n');
  const sf = ts.createSourceFile('probe.ts', probe, ts.ScriptTarget.Latest, true);
  const hits: string[] = [];
  const visit = (n: ts.Node): void => {
    const s = literalText(n);
    if (s !== null && SENTENCE.test(s) && wordingPosition(n)) hits.push(s);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  assert.deepEqual(hits, [
    'the key is not in the collection', 'key  |  is not here', 'send the key again please', 'Sign again with SHA-512',
    'the ticket has expired now', 'Re: your message to ztrust-bot',
  ]);
});

test('every template named in code exists', () => {
  const missing = templatesNamedInCalls().filter((t) => !existsSync(path.join(TEMPLATES_DIR, `${t.name}.txt`)));
  assert.deepEqual(missing, []);
});

test('every template file is named in src/ (no orphan wording)', () => {
  // Any string literal that equals a template's name counts: some names are
  // chosen in a table or a conditional before they reach render().
  const literals = new Set<string>();
  for (const { file, text } of sourceFiles('src')) {
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node): void => {
      const s = literalText(n);
      if (s !== null) literals.add(s);
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  const orphans = readdirSync(TEMPLATES_DIR).filter((f) => f.endsWith('.txt')).map((f) => f.slice(0, -4)).filter((n) => !literals.has(n));
  assert.deepEqual(orphans, []);
});
