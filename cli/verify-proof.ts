/**
 * `ztrust-bot verify-proof FILE [--log-key KEY] [--config FILE] [--entry FILE] [--json]`
 *
 * Checks, offline and with nothing but the log's verifier key, a saved
 * VERIFY or ATTEST reply (a raw .eml, PGP/MIME or inline-signed, any
 * transfer encoding), its text, or a bare tlog-proof or consistency block:
 * the checkpoint's note signature, the inclusion proof of the entry shown
 * with each proof, the entry's canonical form and, for a VERIFY reply, that
 * each entry attests the digest the reply is about (src/ledger/proofmail.ts).
 *
 * KEY is the verifier key text (`<name>+<hex id>+<base64>`) or a file
 * holding it; without --log-key the key is <data>/log/log.vkey of the config.
 * Exit status: 0 every block verified; 1 a block failed or none was found
 * (the reason on stderr); 2 usage (no key, unreadable file or key).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { describeError } from '../src/errors.js';
import { loadConfig } from '../src/config/load.js';
import { checkLogText, describeResult, textOf } from '../src/ledger/proofmail.js';
import { parseVerifierKey } from '../src/tlog/index.js';
import { dataLayout } from '../src/datadir.js';
import { RootError } from '../src/root/errors.js';
import { resolveRootPin, type RootPinOptions } from './root-pin.js';

const USAGE = 'ztrust.verify-proof.usage';
const FAILED = 'ztrust.verify-proof.failed';

interface Options { logKey?: string; config?: string; entry?: string; json?: boolean; root?: string; collection?: string }

/** A verifier key from its text or from a file holding it (the first non-empty line). */
export async function resolveLogKey(opts: { logKey?: string; config?: string }): Promise<string> {
  if (opts.logKey !== undefined) {
    const direct = opts.logKey.trim();
    try {
      parseVerifierKey(direct);
      return direct;
    } catch {
      /* not key text: a file name */
    }
    let text: string;
    try {
      text = await readFile(opts.logKey, 'utf8');
    } catch (err) {
      throw new Error(`--log-key ${opts.logKey}: neither a log verifier key nor a readable file (${describeError(err)})`, { cause: err });
    }
    const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '') ?? '';
    try {
      parseVerifierKey(line);
    } catch (err) {
      throw new Error(`--log-key ${opts.logKey}: the file does not hold a log verifier key (${describeError(err)})`, { cause: err });
    }
    return line;
  }
  const configFile = opts.config ?? process.env.ZTRUST_CONFIG;
  if (!configFile) throw new Error('no log key: give --log-key KEY (the verifier key, or a file holding it) or --config FILE');
  const cfg = loadConfig(configFile);
  const file = dataLayout(cfg.dataDir).logVerifierKey;
  return resolveLogKey({ logKey: file });
}

/**
 * With --root: the current root's log key (reached from the pinned root).
 * A --log-key given too must be that key: a mismatch is a failure, not a choice.
 */
export async function pinnedLogKey(opts: RootPinOptions & { logKey?: string }): Promise<string | null> {
  const pin = await resolveRootPin(opts);
  if (!pin) return null;
  if (opts.logKey !== undefined) {
    const given = await resolveLogKey({ logKey: opts.logKey });
    if (given !== pin.logKey) throw new RootError('ROOT_CHAIN', `--log-key ${given} is not the log key of the current root (version ${pin.version}): ${pin.logKey}`);
  }
  return pin.logKey;
}

/** The action of `verify-proof` (its options are defined in cli/main.ts). */
export async function verifyProof(file: string, opts: Options, cmd: Command): Promise<void> {
  const out = cmd.configureOutput();
  const write = (s: string) => (out.writeOut ? out.writeOut(s) : process.stdout.write(s));
  let vkey: string;
  let bytes: Buffer;
  let entry: Buffer | undefined;
  try {
    const pin = await pinnedLogKey(opts);
    vkey = pin ?? await resolveLogKey(opts);
  } catch (err) {
    return cmd.error(`verify-proof: ${describeError(err)}`, { exitCode: err instanceof RootError ? 1 : 2, code: err instanceof RootError ? FAILED : USAGE });
  }
  try {
    bytes = await readFile(file);
    if (opts.entry !== undefined) entry = await readFile(opts.entry);
  } catch (err) {
    return cmd.error(`verify-proof: ${describeError(err)}`, { exitCode: 2, code: USAGE });
  }
  const result = checkLogText(await textOf(bytes), vkey, entry ? { entry } : {});
  if (opts.json) write(`${JSON.stringify(result)}\n`);
  else for (const r of result.results) write(`${describeResult(r)}\n`);
  if (!result.ok) cmd.error(`verify-proof: ${file}: ${result.reason}`, { exitCode: 1, code: FAILED });
}
