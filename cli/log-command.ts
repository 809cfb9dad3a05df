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

/** Loads the config and opens the log for a `log` subcommand, then runs `fn`; a config error is usage (2), an unreadable log a failure (1). */
async function withLog(cmd: Command, opts: ConfigOpt, fn: (cfg: LoadedConfig, reader: LogReader) => Promise<void>): Promise<void> {
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
}

/** The action of `log checkpoint` (the `log` subcommands are defined in cli/main.ts). */
export function checkpoint(opts: ConfigOpt, cmd: Command): Promise<void> {
  return withLog(cmd, opts, (_cfg, reader) => {
    writer(cmd)(reader.note);
    return Promise.resolve();
  });
}

/** The action of `log consistency`. */
export function consistency(oldArg: string, newArg: string | undefined, opts: ConfigOpt, cmd: Command): Promise<void> {
  return withLog(cmd, opts, async (cfg, reader) => {
    try {
      const oldNote = await checkpointArg(oldArg, reader, cfg);
      const newNote = newArg === undefined ? reader.note : await checkpointArg(newArg, reader, cfg);
      if (newNote === null) throw new UsageError('NEW must be a non-empty tree');
      writer(cmd)(await reader.consistency(oldNote, newNote));
    } catch (err) {
      const usage = err instanceof UsageError;
      cmd.error(`log consistency: ${describeError(err)}`, usage ? { exitCode: 2, code: USAGE } : { exitCode: 1, code: FAILED });
    }
  });
}

/** The action of `log fsck`. */
export function fsck(opts: ConfigOpt, cmd: Command): Promise<void> {
  return withLog(cmd, opts, async (_cfg, reader) => {
    const write = writer(cmd);
    const r = await reader.fsck();
    write(`log ${reader.checkpoint.origin}: tree size ${r.size}, ${r.entries} entries and ${r.tiles} tiles checked\n`);
    for (const p of r.problems) write(`problem: ${p}\n`);
    if (!r.ok) cmd.error(`log fsck: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} found`, { exitCode: 1, code: FAILED });
    write('ok: every entry and tile matches the signed checkpoint\n');
  });
}
