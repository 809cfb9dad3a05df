/**
 * Issue 9 item 3: one outbound-mail module. Every mail the bot sends is
 * framed, gated, budgeted, composed and recorded by src/outbound/, so no
 * path can send around the never-answer gate or the rate limit. Read from
 * the source's import graph (not from a list someone keeps up to date):
 *
 *   - only src/outbound/ imports composeSigned (src/mail/compose.ts), the
 *     one function that turns text into signed mail bytes;
 *   - only src/outbound/ calls the store's direct outbox write (addOutbox;
 *     src/store/ implements it);
 *   - only src/outbound/, src/store/ (which stores them) and queue/ (which
 *     delivers them) name OutboxRecord: an outbox row built by hand
 *     elsewhere is mail that skipped the gate.
 *
 * The one exception is named with its reason: the demo signs its SAMPLE
 * INCOMING mail as the demo's people (never as the bot, never into the
 * outbox); it feeds the bot's mailbox, it is not the bot's mail.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const COMPOSE = 'src/mail/compose.ts';
const OUTBOUND = 'src/outbound/';
/** Files allowed to import composeSigned besides src/outbound/, and why (see the header). */
const COMPOSE_EXCEPTIONS = new Set(['cli/demo.ts']);

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(ROOT, dir))) {
    const rel = `${dir}/${name}`;
    if (statSync(path.join(ROOT, rel)).isDirectory()) out.push(...sources(rel));
    else if (name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

interface Import { from: string; names: string[]; star: boolean }

/** Static imports and re-exports of one file, their targets resolved to repository paths. */
function importsOf(file: string, text: string): Import[] {
  const out: Import[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?:type\s+)?([^;]*?)\s+from\s+'([^']+)'/gms)) {
    const spec = m[2];
    if (!spec.startsWith('.')) continue;
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts');
    const clause = m[1];
    const names = [...clause.matchAll(/([A-Za-z_$][\w$]*)(?:\s+as\s+[\w$]+)?/g)].map((n) => n[1]);
    out.push({ from: target, names, star: /\*/.test(clause) });
  }
  return out;
}

const files = [...sources('src'), ...sources('queue'), ...sources('cli')];

/** The violations of the three rules in `fileSet`, one line each. */
function violations(fileSet: readonly string[], read: (f: string) => string): string[] {
  const bad: string[] = [];
  for (const f of fileSet) {
    if (f.startsWith(OUTBOUND)) continue;
    const text = read(f);
    for (const i of importsOf(f, text)) {
      if (i.from === COMPOSE && (i.star || i.names.includes('composeSigned')) && !COMPOSE_EXCEPTIONS.has(f)) {
        bad.push(`${f} imports composeSigned from ${COMPOSE}: send through src/outbound/`);
      }
    }
    if (!f.startsWith('src/store/') && /\.addOutbox\s*\(/.test(text)) bad.push(`${f} writes the outbox (addOutbox): send through src/outbound/`);
    if (!f.startsWith('src/store/') && !f.startsWith('queue/') && /\bOutboxRecord\b/.test(text)) {
      bad.push(`${f} names OutboxRecord (builds outbox rows): send through src/outbound/`);
    }
  }
  return bad;
}

test('only src/outbound/ composes, signs and records the bot\'s mail', () => {
  assert.deepEqual(violations(files, (f) => readFileSync(path.join(ROOT, f), 'utf8')), []);
});

test('the check sees a violation: an import of composeSigned, an outbox write, a hand-built row', () => {
  const fake: Record<string, string> = {
    'src/changes/x.ts': "import {\n  composeSigned,\n  messageIdFor,\n} from '../mail/compose.js';\n",
    'src/digest/y.ts': "import * as c from '../mail/compose.js';\nawait store.addOutbox(rows);\n",
    'src/tickets/z.ts': "import type { OutboxRecord } from '../store/types.js';\n",
    'src/outbound/ok.ts': "import { composeSigned } from '../mail/compose.js';\nawait store.addOutbox(rows);\n",
    'src/commands/ok.ts': "import { replySubject } from '../mail/compose.js';\n",
  };
  assert.deepEqual(violations(Object.keys(fake), (f) => fake[f]), [
    'src/changes/x.ts imports composeSigned from src/mail/compose.ts: send through src/outbound/',
    'src/digest/y.ts imports composeSigned from src/mail/compose.ts: send through src/outbound/',
    'src/digest/y.ts writes the outbox (addOutbox): send through src/outbound/',
    'src/tickets/z.ts names OutboxRecord (builds outbox rows): send through src/outbound/',
  ]);
});
