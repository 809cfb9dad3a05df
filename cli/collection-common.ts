/**
 * What the collection CLI commands (import, audit, export, tickets) share:
 * output through commander's output configuration (so tests can capture
 * it), exits through `cmd.error` with the DESIGN.md codes (0 ok, 1 findings
 * or failure, 2 usage or configuration error), and the bot's keys.
 */
import { existsSync, readFileSync } from 'node:fs';
import { CommanderError, type Command } from 'commander';
import * as openpgp from 'openpgp';
import { botPassphrase, dataPath } from '../src/app/app.js';
import type { LoadedConfig } from '../src/config/load.js';
import type { Finding } from '../src/collection/audit.js';
import { loadBotSigner, type BotSigner } from '../src/pgp/botkey.js';
import { dataLayout } from '../src/datadir.js';

export interface Io {
  out(s: string): void;
  err(s: string): void;
  /** Exit 1 (findings or failure) or 2 (usage); never returns. */
  fail(message: string, exitCode: 1 | 2, what?: string): never;
}

export function io(cmd: Command, name: string): Io {
  const o = cmd.configureOutput();
  return {
    out: (s) => (o.writeOut ? o.writeOut(s) : process.stdout.write(s)),
    err: (s) => (o.writeErr ? o.writeErr(s) : process.stderr.write(s)),
    fail: (message, exitCode, what) => {
      const code = `ztrust.${name}.${what ?? (exitCode === 2 ? 'usage' : 'failure')}`;
      // Usage errors show the command's help (commander); findings and failures only the message.
      if (exitCode === 2) cmd.error(`${name}: ${message}`, { exitCode, code });
      (o.writeErr ?? ((s: string) => process.stderr.write(s)))(`${name}: ${message}\n`);
      throw new CommanderError(exitCode, code, message);
    },
  };
}

export function collectionPath(cfg: LoadedConfig): string {
  return dataLayout(cfg.dataDir).collection;
}

/** The bot's public key (written by `init`), which signs SHA256SUMS; null when absent. */
export async function botPublicKey(cfg: LoadedConfig): Promise<openpgp.PublicKey | null> {
  const file = dataLayout(cfg.dataDir).botPublicKey;
  if (!existsSync(file)) return null;
  return openpgp.readKey({ armoredKey: readFileSync(file, 'utf8') });
}

export async function botSigner(cfg: LoadedConfig): Promise<BotSigner> {
  return loadBotSigner(dataPath(cfg, cfg.bot.keyFile), botPassphrase(cfg));
}

/** Errors and warnings are findings; info lines are printed but do not fail the command. */
export function countFindings(findings: Finding[]): { error: number; warning: number; info: number; failing: number } {
  const c = { error: 0, warning: 0, info: 0 };
  for (const f of findings) c[f.severity]++;
  return { ...c, failing: c.error + c.warning };
}
