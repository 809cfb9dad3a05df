/**
 * `ztrust-bot verify-source ARTIFACT [SIGNATURE] --collection DIR
 *    [--release NAME] [--log DIR --log-key KEY | --config FILE] [--no-log] [--root FILE] [--json]`
 *
 * --root FILE: a trust root the user saved; the chain in the collection's
 * root/ is walked from it (src/root/) and the log key is the current root's.
 *
 * Checks a downloaded release file offline against the published
 * collection and log (src/ledger/verify-source.ts): the detached signature
 * over the file's bytes, the key (kind, not revoked, not expired when it
 * signed), the key-and-source.md row for the file's release, and the
 * vouching log entry's inclusion proof under a checkpoint signed by the log
 * key. SIGNATURE defaults to ARTIFACT.sig, then ARTIFACT.asc.
 *
 * The log is the bot's published log directory (checkpoint, tile/); its key
 * is --log-key (the verifier key text or a file holding it) or, with
 * --config, <data>/log/log.vkey, never the log.vkey beside a downloaded log:
 * a key that travels with the data it checks proves nothing. Without --log
 * the vouch cannot be checked: exit 1, unless --no-log says to leave it.
 *
 * Exit status: 0 every check holds; 1 a check failed (each reason printed);
 * 2 usage (a file that cannot be read, no collection, no key for the log).
 */
import { existsSync, realpathSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { describeError } from '../src/errors.js';
import { cryptoPolicyOf, loadConfig } from '../src/config/load.js';
import { parseRelease } from '../src/collection/naming.js';
import { MESSAGE_BOUNDS } from '../src/limits.js';
import { collectionRoot, verifySource, type SourceCheck } from '../src/ledger/verify-source.js';
import { DEFAULT_CRYPTO_POLICY, type CryptoPolicy } from '../src/policy/index.js';
import { pinnedLogKey, resolveLogKey } from './verify-proof.js';
import { RootError } from '../src/root/errors.js';

const USAGE = 'ztrust.verify-source.usage';
const FAILED = 'ztrust.verify-source.failed';

interface Options {
  collection?: string;
  release?: string;
  /** --log DIR gives the directory; --no-log sets it to false (commander joins the two). */
  log?: string | false;
  logKey?: string;
  config?: string;
  json?: boolean;
  /** A trust root the user saved: the log key is then the current root's, reached from it through the collection's root/. */
  root?: string;
}

function describeCheck(c: SourceCheck): string {
  const head = c.state === 'ok' ? 'ok' : c.state === 'skipped' ? 'UNCHECKED' : 'FAILED';
  return `${head}: ${c.name}: ${c.detail}`;
}

/**
 * The --log-key file lies inside the --log directory (symlinks resolved): a
 * key that travels with the log it checks proves nothing. False when
 * --log-key is key text, not a file.
 */
function logKeyInsideLog(logKey: string | undefined, logDir: string): boolean {
  if (logKey === undefined || !existsSync(logKey)) return false;
  try {
    const rel = path.relative(realpathSync(logDir), realpathSync(logKey));
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  } catch {
    return false;
  }
}

/** The action of `verify-source` (its options are defined in cli/main.ts). */
export async function verifySourceCommand(artifact: string, signatureArg: string | undefined, opts: Options, cmd: Command): Promise<void> {
  const out = cmd.configureOutput();
  const write = (s: string) => (out.writeOut ? out.writeOut(s) : process.stdout.write(s));
  const writeErr = (s: string) => (out.writeErr ? out.writeErr(s) : process.stderr.write(s));
  const usage = (msg: string): never => cmd.error(`verify-source: ${msg}`, { exitCode: 2, code: USAGE });

  if (!opts.collection) usage('give --collection DIR, the published collection (a clone or a download of the group\'s repository)');
  if (!collectionRoot(opts.collection!)) usage(`${opts.collection}: no pgp/ folder (nor ztrust/pgp/) in it`);
  const signaturePath = signatureArg ?? [`${artifact}.sig`, `${artifact}.asc`].find((f) => existsSync(f));
  if (!signaturePath) usage(`no signature given and neither ${artifact}.sig nor ${artifact}.asc exists`);
  if (!existsSync(artifact)) usage(`${artifact}: no such file`);
  // A file that cannot be read (a directory, no permission) is the caller's mistake, never "a bad signature": it must not look like tampering.
  try {
    const fh = await open(artifact, 'r');
    try {
      if (!(await fh.stat()).isFile()) usage(`${artifact}: not a regular file`);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as { code?: string }).code === USAGE) throw err;
    usage(`${artifact}: cannot be read (${describeError(err)})`);
  }
  if (opts.release !== undefined && !parseRelease(opts.release)) {
    usage(`--release ${JSON.stringify(opts.release)}: not a release name (a package name, a dash and a version, like bash-5.3)`);
  }
  let signature: Buffer;
  try {
    signature = await readFile(signaturePath!);
  } catch (err) {
    return usage(`${signaturePath}: ${describeError(err)}`);
  }
  if (signature.length > MESSAGE_BOUNDS.detachedSignatureBytes) {
    usage(`${signaturePath}: ${signature.length} bytes; a detached signature file is read up to ${MESSAGE_BOUNDS.detachedSignatureBytes} bytes`);
  }

  // commander turns --log DIR and --no-log into one option: a string, or false.
  const noLog = opts.log === false;
  const logDir = typeof opts.log === 'string' ? opts.log : null;
  let log: { dir: string; vkey: string } | null = null;
  const notes: string[] = [];
  if (logDir !== null) {
    try {
      const pinned = await pinnedLogKey({ root: opts.root, collection: opts.collection, logKey: opts.logKey });
      log = { dir: logDir, vkey: pinned ?? await resolveLogKey({ logKey: opts.logKey, config: opts.config }) };
      if (pinned === null) {
        const inside = logKeyInsideLog(opts.logKey, logDir);
        if (inside) notes.push(`the --log-key file ${opts.logKey} lies inside the --log directory ${logDir}: a key shipped with the copy being checked proves nothing; take the log key from somewhere else (the bot's own announcement, a saved trust root with --root)`);
      }
    } catch (err) {
      // A chain that does not hold, or a log key the root does not name, is a failed check, not a usage error.
      if (err instanceof RootError) return cmd.error(`verify-source: ${describeError(err)}`, { exitCode: 1, code: FAILED });
      return usage(describeError(err));
    }
  } else if (opts.root !== undefined) {
    usage('--root checks the log key the vouch is proven with: give --log DIR too');
  }
  let policy: CryptoPolicy = DEFAULT_CRYPTO_POLICY;
  // The operator's policy when a config is named; else the built-in one (an outsider has no config).
  if (opts.config !== undefined) policy = cryptoPolicyOf(loadConfig(opts.config));

  const result = await verifySource({
    artifactPath: artifact, signature, signatureName: signaturePath!, collectionDir: opts.collection!,
    release: opts.release ?? null, log, noLog, policy, now: new Date(),
  });
  // The warning goes to stderr; --json carries it among the notes too.
  for (const n of notes) writeErr(`verify-source: warning: ${n}\n`);
  if (opts.json) write(`${JSON.stringify({ ...result, notes: [...notes, ...result.notes] })}\n`);
  else {
    for (const c of result.checks) write(`${describeCheck(c)}\n`);
    for (const n of result.notes) write(`note: ${n}\n`);
  }
  if (!result.ok) {
    const failed = result.checks.find((c) => c.state === 'failed');
    cmd.error(`verify-source: ${artifact}: ${failed ? `${failed.name}: ${failed.detail}` : 'not verified'}`, { exitCode: 1, code: FAILED });
  }
}
