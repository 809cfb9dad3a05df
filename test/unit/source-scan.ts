/** The project's own TypeScript sources, for tests that pin a rule on all of them (limits, error codes, ticket updates). */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** Every .ts file under the given folders (relative to the checkout), with its text. */
export function sourceFiles(...dirs: string[]): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  const walk = (dir: string): void => {
    for (const d of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${d.name}`;
      if (d.isDirectory()) walk(rel);
      else if (rel.endsWith('.ts')) out.push({ file: rel, text: readFileSync(path.join(ROOT, rel), 'utf8') });
    }
  };
  for (const d of dirs) walk(d);
  return out;
}
