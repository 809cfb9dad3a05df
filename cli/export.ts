/**
 * `ztrust-bot export [--wkd DIR] [--domain D]... [--out DIR] [--config FILE]`:
 * the collection's published forms. Without options the PGP bundle goes to
 * stdout; --out copies the bundles and the signed manifest into DIR; --wkd
 * writes a Web Key Directory (advanced layout, DIR/.well-known/openpgpkey/
 * <domain>/hu/<hash>) that `gpg --locate-keys` finds over HTTPS.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { defaultConfigPath, loadConfig } from '../src/config/load.js';
import { Collection, PATHS } from '../src/collection/collection.js';
import { exportWkd } from '../src/collection/wkd.js';
import { collectionPath, io, type Io } from './collection-common.js';

/** The action of `export` (its options are defined in cli/main.ts). */
export async function exportCollection(o: { config?: string; wkd?: string; domain: string[]; out?: string }, cmd: Command): Promise<void> {
  const x: Io = io(cmd, 'export');
  const cfg = loadConfig(o.config ?? defaultConfigPath());
  const dir = collectionPath(cfg);
  if (!existsSync(dir)) x.fail(`no collection at ${dir}; seed it with ztrust-bot import DIR`, 1);
  const col = await Collection.open(dir, { readOnly: true });
  let conflicts = 0;
  if (o.wkd) {
    const r = await exportWkd(col, o.wkd, o.domain.length ? { domains: o.domain } : {});
    for (const e of r.entries) x.out(`${e.email} -> ${e.file} (${e.keyIds.map((k) => `0x${k}`).join(' ')})\n`);
    x.out(`${r.entries.length} address(es) in ${r.domains.length} domain(s) written under ${path.resolve(o.wkd)}\n`);
    // An address two keys hold is left out, not resolved by picking one: say so, and exit 1 (a finding).
    for (const c of r.conflicts) x.err(`not published: ${c.email} is held by ${c.keyIds.length} keys (${c.keyIds.map((k) => `0x${k}`).join(' ')}); see ztrust-bot audit, ADDRESS_CONFLICT\n`);
    conflicts = r.conflicts.length;
  }
  if (o.out) {
    mkdirSync(o.out, { recursive: true });
    const copied: string[] = [];
    for (const rel of [PATHS.pgpBundle, PATHS.pkiBundle, PATHS.sums, PATHS.sumsSig]) {
      const src = path.join(dir, ...rel.split('/'));
      if (!existsSync(src)) continue;
      copyFileSync(src, path.join(o.out, path.basename(rel)));
      copied.push(path.basename(rel));
    }
    x.out(`copied ${copied.join(', ') || 'nothing'} to ${path.resolve(o.out)}\n`);
  }
  if (!o.wkd && !o.out) {
    const bundle = path.join(dir, ...PATHS.pgpBundle.split('/'));
    if (!existsSync(bundle)) x.fail('the collection holds no keys yet', 1);
    x.out(readFileSync(bundle, 'utf8'));
  }
  if (conflicts > 0) x.fail(`${conflicts} address(es) held by more than one key were not published in the WKD`, 1, 'findings');
}
