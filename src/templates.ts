/**
 * Reply and digest texts live in templates/, one Mustache file each, so the
 * working group can edit wording without touching code. Mustache's HTML
 * escaping is switched off: these are plain-text mails, and every value put
 * into them is already sanitised by the caller.
 */
import Mustache from 'mustache';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TEMPLATES_DIR } from './package-root.js';

const cache = new Map<string, string>();

export function templateText(name: string): string {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`bad template name ${name}`);
  let t = cache.get(name);
  if (t === undefined) {
    t = readFileSync(path.join(TEMPLATES_DIR, `${name}.txt`), 'utf8');
    cache.set(name, t);
  }
  return t;
}

export function render(name: string, view: Record<string, unknown>): string {
  return Mustache.render(templateText(name), view, undefined, { escape: (s: unknown) => String(s) });
}

/**
 * A template rendered exactly, without its file's final line end: for a
 * clause whose values come from outside (a user ID, a reason) and are made
 * safe by the caller afterwards, so their text reaches the caller unchanged.
 */
export function clause(name: string, view: Record<string, unknown>): string {
  return render(name, view).replace(/\r?\n$/, '');
}

/**
 * A template rendered as one line: its line ends become spaces, outer
 * whitespace goes. For a Subject, or a clause (a refusal's reason or fix)
 * put into another template. Here in the kernel so that every folder
 * (pgp/, policy/ too, which outbound/ imports) can word with it.
 */
export function line(name: string, view: Record<string, unknown>): string {
  return render(name, view).replace(/\s*\r?\n\s*/g, ' ').trim();
}
