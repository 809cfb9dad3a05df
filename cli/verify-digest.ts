/**
 * `ztrust-bot verify-digest FILE [--previous FILE] [--config FILE | --bot-key FILE --log-key KEY] [--json]`
 *
 * Checks a digest offline (src/digest/verify-digest.ts): the OpenPGP signature by
 * the bot's key (a stored <data>/digests/*.txt, an inline-signed or a
 * PGP/MIME .eml, list footers and Mailman wrappers allowed), the hash chain
 * to the previous digest (--previous), and the log consistency proof against
 * the log key. The keys come from --bot-key (an armoured public key file)
 * and --log-key (the verifier key text or a file holding it), else from the
 * data directory of --config ($ZTRUST_CONFIG): keys/bot.pub.asc and
 * log/log.vkey.
 *
 * Exit status: 0 the digest verified; 1 it did not (the reason on stderr);
 * 2 usage (no keys, unreadable files).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { describeError } from '../src/errors.js';
import { loadConfig } from '../src/config/load.js';
import { Keyring } from '../src/pgp/keyring.js';
import { verifyDigest } from '../src/digest/verify-digest.js';
import { resolveLogKey } from './verify-proof.js';
import { dataLayout } from '../src/datadir.js';
import { RootError } from '../src/root/errors.js';
import { resolveRootPin, type RootPin } from './root-pin.js';

const USAGE = 'ztrust.verify-digest.usage';
const FAILED = 'ztrust.verify-digest.failed';

interface Options { previous?: string; config?: string; botKey?: string; logKey?: string; json?: boolean; root?: string; collection?: string }

async function botKeyText(o: Options): Promise<string> {
  let file = o.botKey;
  if (file === undefined) {
    const configFile = o.config ?? process.env.ZTRUST_CONFIG;
    if (!configFile) throw new Error("no bot key: give --bot-key FILE (the bot's armoured public key) or --config FILE");
    file = dataLayout(loadConfig(configFile).dataDir).botPublicKey;
  }
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`bot key ${file}: ${describeError(err)}`, { cause: err });
  }
}

/** The action of `verify-digest` (its options are defined in cli/main.ts). */
export async function verifyDigestCommand(file: string, o: Options, cmd: Command): Promise<void> {
  const out = cmd.configureOutput();
  const write = (s: string) => (out.writeOut ? out.writeOut(s) : process.stdout.write(s));
  let botKeys: Keyring;
  let previousBotKeys: Keyring | undefined;
  let logKey: string;
  let bytes: Buffer;
  let previous: Buffer | null = null;
  let pin: RootPin | null;
  try {
    pin = await resolveRootPin(o);
  } catch (err) {
    const failed = err instanceof RootError;
    return cmd.error(`verify-digest: ${describeError(err)}`, { exitCode: failed ? 1 : 2, code: failed ? FAILED : USAGE });
  }
  try {
    botKeys = await Keyring.fromArmored(await botKeyText(o));
    logKey = pin && o.logKey === undefined ? pin.logKey : await resolveLogKey({ logKey: o.logKey, config: o.config });
    bytes = await readFile(file);
    if (o.previous !== undefined) previous = await readFile(o.previous);
  } catch (err) {
    return cmd.error(`verify-digest: ${describeError(err)} (see ztrust-bot verify-digest --help)`, { exitCode: 2, code: USAGE });
  }
  if (pin) {
    // The keys given must be the ones the current root names: a digest signed by another key, or
    // checked against another log, says nothing about this collection.
    if (logKey !== pin.logKey) return cmd.error(`verify-digest: the log key ${logKey} is not the current root's (version ${pin.version}): ${pin.logKey}`, { exitCode: 1, code: FAILED });
    const named = botKeys.findByFingerprint(pin.botKey);
    if (!named) return cmd.error(`verify-digest: the bot key given is not ${pin.botKey}, the bot key of the current root (version ${pin.version})`, { exitCode: 1, code: FAILED });
    // The previous digest may predate a rotation: any bot key the chain named signs it.
    previousBotKeys = Keyring.fromKeys(pin.botKeys.flatMap((f) => botKeys.findByFingerprint(f) ?? []));
    botKeys = Keyring.fromKeys([named]);
  }
  const r = await verifyDigest({ file: bytes, previous, botKeys, logKey, ...(previousBotKeys ? { previousBotKeys } : {}) });
  if (o.json) {
    write(`${JSON.stringify({ ok: r.ok, reason: r.reason, digest: r.digest?.number ?? null, treeSize: r.digest?.treeSize ?? null,
      checked: r.checked, notes: r.notes })}\n`);
  } else {
    for (const line of r.checked) write(`ok: ${line}\n`);
    for (const line of r.notes) write(`note: ${line}\n`);
  }
  if (!r.ok) return cmd.error(`verify-digest: ${file}: ${r.reason}`, { exitCode: 1, code: FAILED });
  if (!o.json) write(`${file}: digest ${r.digest!.number} verified\n`);
}
