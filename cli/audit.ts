/**
 * `ztrust-bot audit [--config FILE] [--json]`: check the live collection
 * against today's policy and against itself (bundles, SHA256SUMS and its
 * signature by the bot; pgp/for-source/ against key-and-source.md, and
 * those keys against the crypto policy). Exit 1 when there are errors or warnings; notes
 * (info) are printed but do not fail it.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { defaultConfigPath, loadConfig, cryptoPolicyOf } from '../src/config/load.js';
import { auditCollection, formatFindings } from '../src/collection/audit.js';
import { botPublicKey, collectionPath, countFindings, io, type Io } from './collection-common.js';

/** The action of `audit` (its options are defined in cli/main.ts). */
export async function audit(o: { config?: string; json?: boolean }, cmd: Command): Promise<void> {
  const x: Io = io(cmd, 'audit');
  const cfg = loadConfig(o.config ?? defaultConfigPath());
  const dir = collectionPath(cfg);
  if (!existsSync(dir)) x.fail(`no collection at ${dir}; seed it with ztrust-bot import DIR`, 1);
  const pub = await botPublicKey(cfg);
  const findings = await auditCollection(dir, {
    policy: cryptoPolicyOf(cfg), ...(pub ? { manifestKeys: [pub] } : {}),
  });
  const n = countFindings(findings);
  if (o.json) x.out(`${JSON.stringify({ collection: dir, counts: n, findings })}\n`);
  else {
    if (findings.length) x.out(`${formatFindings(findings)}\n\n`);
    x.out(`${dir}: ${n.error} error(s), ${n.warning} warning(s), ${n.info} note(s)\n`);
  }
  if (n.failing > 0) x.fail(`${n.failing} finding(s)`, 1, 'findings');
}
