/** Where the package's own files are (templates/, config/), wherever it runs from. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'templates'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the ztrust-bot package root (templates/ missing?)');
}

export const PACKAGE_ROOT = findRoot();
export const TEMPLATES_DIR = path.join(PACKAGE_ROOT, 'templates');
