/**
 * `ztrust-bot import DIR [--config FILE] [--json]`: seed (or merge into) the
 * collection from a directory in the working group's layout (or the flat
 * layout of the older repositories), commit it, and print the audit of the
 * result. Nothing that breaks today's policy is dropped: it is imported and
 * reported. Exit 1 when the audit has errors or warnings.
 *
 * The import writes the collection under its lock, so it is safe beside a
 * running bot; it is the one writer besides the apply step, meant for the
 * seed of a new deployment. What it added is logged in the transparency
 * log (key-added / cert-added / source-key-added entries, ticket "import"). The log is opened
 * (and its lock taken) BEFORE the collection is touched, so a running worker
 * that holds the log makes the import refuse cleanly instead of leaving an
 * unlogged change.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { defaultConfigPath, loadConfig, cryptoPolicyOf } from '../src/config/load.js';
import { Collection } from '../src/collection/collection.js';
import { formatFindings } from '../src/collection/audit.js';
import { importCollection } from '../src/collection/import.js';
import { describeError } from '../src/errors.js';
import { botPublicKey, botSigner, collectionPath, countFindings, io, type Io } from './collection-common.js';
import { openStore } from '../src/store/open.js';
import { LogService } from '../src/ledger/service.js';
import { logImport } from '../src/ledger/import-entries.js';

/** The action of `import` (its options are defined in cli/main.ts). */
export async function importCommand(dir: string, o: { config?: string; json?: boolean }, cmd: Command): Promise<void> {
  const x: Io = io(cmd, 'import');
  if (!existsSync(dir)) x.fail(`${dir} does not exist`, 2);
  const cfg = loadConfig(o.config ?? defaultConfigPath());
  const signer = await botSigner(cfg);
  const pub = await botPublicKey(cfg);
  const store = openStore(cfg);
  let log: LogService;
  try {
    log = await LogService.fromConfig(cfg, store);
  } catch (err) {
    await store.close();
    x.fail(`cannot open the transparency log (is the worker running? stop it for the import): ${describeError(err)}`, 1);
  }
  const col = await Collection.open(collectionPath(cfg), { committer: { name: cfg.bot.name, email: cfg.bot.address } });
  let r;
  try {
    r = await importCollection(dir, col, {
      policy: cryptoPolicyOf(cfg),
      signer: async (data) => (await signer.signDetached(data)).armored,
      ...(pub ? { manifestKeys: [pub] } : {}),
    });
  } catch (err) {
    await log.close();
    await store.close();
    x.fail(describeError(err), 1);
  }
  let logged: { firstIndex: number; count: number } | null = null;
  try {
    logged = await logImport(log, r, col.dir);
  } catch (err) {
    x.fail(`the import is committed (${r.commit}) but could not be logged: ${describeError(err)}`, 1);
  } finally {
    await log.close();
    await store.close();
  }
  const n = countFindings(r.findings);
  if (o.json) {
    x.out(`${JSON.stringify({ collection: col.dir, layout: r.layout, imported: r.imported, sourceKeys: r.added.sourceKeys, commit: r.commit, logged, counts: n, findings: r.findings })}\n`);
  } else {
    x.out(`imported ${r.imported.keys.length} key(s) and ${r.imported.certs.length} certificate(s) from ${dir} (${r.layout} layout)\n`);
    if (r.imported.sourceFiles.length || r.imported.sourceList) {
      x.out(`and ${r.imported.sourceFiles.length} file(s) of pgp/for-source/${r.imported.sourceList ? ' and its key-and-source.md' : ''}`
        + ` (${r.added.sourceKeys.length} source-signing key(s) with new rows)\n`);
    }
    x.out(`into ${col.dir}${r.commit ? `, commit ${r.commit}` : ' (nothing changed)'}\n`);
    if (logged) x.out(`logged as entries ${logged.firstIndex}-${logged.firstIndex + logged.count - 1} of the transparency log\n`);
    if (r.findings.length) x.out(`\n${formatFindings(r.findings)}\n`);
    x.out(`\n${n.error} error(s), ${n.warning} warning(s), ${n.info} note(s)\n`);
  }
  if (n.failing > 0) x.fail(`${n.failing} finding(s): the collection breaks today's policy in places (kept, see above)`, 1, 'findings');
}

