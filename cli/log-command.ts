/**
 * `ztrust-bot log checkpoint|consistency|fsck [--config FILE]`: the
 * transparency log from the operator's side. Every subcommand reads the
 * log's files without its lock (src/ledger/reader.ts), so it works while the
 * worker runs, and verifies what it prints with the log's verifier key.
 *
 *   log checkpoint            the latest signed checkpoint
 *   log consistency OLD [NEW] a consistency block from OLD to NEW (default:
 *                             the latest); each a tree size the log signed
 *                             (the checkpoint history in state.db) or a
 *                             file holding a signed checkpoint; OLD 0 is
 *                             the empty tree
 *   log fsck                  every entry, tile and hash against the
 *                             checkpoint (like Tessera's fsck)
 *
 * Exit status: 0 success; 1 failure or findings; 2 usage or configuration.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { describeError } from '../src/errors.js';
import { defaultConfigPath, loadConfig, type LoadedConfig } from '../src/config/load.js';
import { LogReader } from '../src/ledger/reader.js';
import { openStore } from '../src/store/open.js';
import { dataLayout } from '../src/datadir.js';

const USAGE = 'ztrust.log.usage';
const FAILED = 'ztrust.log.failed';

interface ConfigOpt { config?: string }

/** A bad argument (exit 2), as opposed to a log that cannot give what was asked (exit 1). */
class UsageError extends Error {}

/** Output through the command's output configuration, so the CLI can be run and captured in-process. */
function writer(cmd: Command): (s: string) => void {
  const out = cmd.configureOutput();
  return (s: string) => (out.writeOut ? out.writeOut(s) : process.stdout.write(s));
}

function logDirOf(cfg: LoadedConfig): string {
  return dataLayout(cfg.dataDir).log;
}

/** A signed checkpoint named by a tree size (from the history, or the latest) or by a file holding one. */
async function checkpointArg(arg: string, reader: LogReader, cfg: LoadedConfig): Promise<string | null> {
  if (/^\d+$/.test(arg)) {
    const size = Number(arg);
    if (!Number.isSafeInteger(size)) throw new UsageError(`tree size ${arg} is too large`);
    if (size === 0) return null;
    if (size === reader.size) return reader.note;
    if (size > reader.size) throw new Error(`the log has ${reader.size} entries; there is no tree of size ${size}`);
    const store = openStore(cfg);
    try {
      const note = await store.getCheckpoint(size);
      if (note === undefined) {
        const sizes = (await store.checkpointSizes()).filter((s) => s <= reader.size);
        const near = sizes.length > 12 ? [...sizes.slice(0, 6), '...', ...sizes.slice(-6)] : sizes;
        throw new Error(`the log has no recorded checkpoint at size ${size}; sizes with one: ${near.join(' ') || 'none'}`);
      }
      return note;
    } finally {
      await store.close();
    }
  }
  let text: string;
  try {
    text = await readFile(arg, 'utf8');
  } catch (err) {
    throw new UsageError(`${arg}: not a tree size, and not a readable checkpoint file (${describeError(err)})`);
  }
  reader.verify(text); // refuse a checkpoint this log did not sign before using it
  return text;
}

export function registerLog(program: Command): void {
  const log = program.command('log').description('the transparency log: latest checkpoint, consistency proofs, integrity check');

  const run = (cmd: Command, fn: (cfg: LoadedConfig, reader: LogReader) => Promise<void>) => async (opts: ConfigOpt) => {
    let cfg: LoadedConfig;
    try {
      cfg = loadConfig(opts.config ?? defaultConfigPath());
    } catch (err) {
      cmd.error(`log: ${describeError(err)}`, { exitCode: 2, code: USAGE });
    }
    let reader: LogReader;
    try {
      reader = await LogReader.open(logDirOf(cfg));
    } catch (err) {
      cmd.error(`log: cannot read the log in ${logDirOf(cfg)}: ${describeError(err)}`, { exitCode: 1, code: FAILED });
    }
    await fn(cfg, reader);
  };

  const cp = log.command('checkpoint')
    .description('print the latest signed checkpoint (verified with log.vkey)')
    .option('--config <file>', 'config file (default: $ZTRUST_CONFIG or ./ztrust.yaml)');
  cp.action(async (opts: ConfigOpt) => run(cp, (_cfg, reader) => {
    writer(cp)(reader.note);
    return Promise.resolve();
  })(opts));

  const cons = log.command('consistency')
    .description('print a consistency block from OLD to NEW (tree sizes the log signed, or checkpoint files; NEW default: latest)')
    .argument('<old>', 'tree size (0: the empty tree) or a file holding a signed checkpoint')
    .argument('[new]', 'tree size or checkpoint file (default: the latest checkpoint)')
    .option('--config <file>', 'config file (default: $ZTRUST_CONFIG or ./ztrust.yaml)');
  cons.action(async (oldArg: string, newArg: string | undefined, opts: ConfigOpt) => run(cons, async (cfg, reader) => {
    try {
      const oldNote = await checkpointArg(oldArg, reader, cfg);
      const newNote = newArg === undefined ? reader.note : await checkpointArg(newArg, reader, cfg);
      if (newNote === null) throw new UsageError('NEW must be a non-empty tree');
      writer(cons)(await reader.consistency(oldNote, newNote));
    } catch (err) {
      const usage = err instanceof UsageError;
      cons.error(`log consistency: ${describeError(err)}`, usage ? { exitCode: 2, code: USAGE } : { exitCode: 1, code: FAILED });
    }
  })(opts));

  const fsck = log.command('fsck')
    .description('check every entry bundle and tile against the signed checkpoint')
    .option('--config <file>', 'config file (default: $ZTRUST_CONFIG or ./ztrust.yaml)');
  fsck.action(async (opts: ConfigOpt) => run(fsck, async (_cfg, reader) => {
    const write = writer(fsck);
    const r = await reader.fsck();
    write(`log ${reader.checkpoint.origin}: tree size ${r.size}, ${r.entries} entries and ${r.tiles} tiles checked\n`);
    for (const p of r.problems) write(`problem: ${p}\n`);
    if (!r.ok) fsck.error(`log fsck: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} found`, { exitCode: 1, code: FAILED });
    write('ok: every entry and tile matches the signed checkpoint\n');
  })(opts));
}
