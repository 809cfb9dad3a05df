// A module resolve hook (node:module register) that appends every URL a
// process resolves to the file given in `data.log`, one per line: what a
// command run loaded, for test/unit/cli-start.test.ts. Plain JavaScript: it
// runs in Node's hooks thread, outside tsx. Specifiers resolved by require()
// inside CommonJS packages do not pass ESM hooks on Node 20; the first import
// of each package from our own modules does, and that is what is checked.
import { appendFileSync } from 'node:fs';

let log = '';

export function initialize(data) {
  log = data.log;
}

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(log, `${r.url}\n`);
  return r;
}
