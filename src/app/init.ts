/**
 * `ztrust-bot init`: a data directory with the bot's OpenPGP key, the log's
 * signing key and a config file that works as it is (Maildir in, .eml files
 * out, embedded Redis), ready to be edited for a real mailbox.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '../errors.js';
import { DATA_NAMES, dataLayout } from '../datadir.js';
import { generateBotKey, writePrivateFile } from '../pgp/botkey.js';
import { writeFileAtomic } from '../fsync/atomic.js';
import { generateLogKey, isValidKeyName } from '../tlog/note.js';
import { parseConfig, type LoadedConfig } from '../config/load.js';

export interface InitOptions {
  dataDir: string;
  address: string;
  name: string;
  origin: string;
  /** Where to write the config (default <dataDir>/ztrust.yaml). */
  configPath?: string;
  /** Passphrase for the bot key; when absent one is generated into keys/passphrase (0600). */
  passphrase?: string;
  mailboxUrl?: string;
  outboxUrl?: string;
  extra?: Record<string, unknown>;
}

export interface InitResult {
  config: LoadedConfig;
  configPath: string;
  botFingerprint: string;
  logVerifierKey: string;
}

export async function initDataDir(o: InitOptions): Promise<InitResult> {
  const dataDir = path.resolve(o.dataDir);
  const layout = dataLayout(dataDir);
  const botKeyFile = layout.botKey;
  const configPath = path.resolve(o.configPath ?? layout.config);
  if (existsSync(botKeyFile)) throw new ConfigError('CONFIG_INVALID', `${dataDir} already holds a bot key (${botKeyFile}); refusing to overwrite it`);
  if (existsSync(configPath)) throw new ConfigError('CONFIG_INVALID', `${configPath} already exists; refusing to overwrite it`);
  if (!isValidKeyName(o.origin)) {
    throw new ConfigError('CONFIG_INVALID', `--origin "${o.origin}" cannot be a log origin: it must be non-empty, without spaces or "+" (e.g. example.org/ztrust-log)`);
  }
  for (const d of [layout.collection, layout.log, layout.digests]) mkdirSync(d, { recursive: true });
  mkdirSync(layout.keys, { recursive: true, mode: 0o700 });

  let passphraseFile: string | undefined;
  let passphrase = o.passphrase;
  if (passphrase === undefined) {
    passphrase = randomBytes(24).toString('base64url');
    passphraseFile = DATA_NAMES.passphrase;
    await writePrivateFile(layout.passphrase, `${passphrase}\n`);
  }
  const bot = await generateBotKey(o.name, o.address, passphrase);
  await writePrivateFile(botKeyFile, bot.privateArmored);
  await writeFileAtomic(layout.botPublicKey, bot.publicArmored);

  // The checkpoint origin is also the log key's name (C2SP): refuse one that
  // cannot be a key name rather than write a config the log would refuse.
  const log = generateLogKey(o.origin);
  await writePrivateFile(layout.logKey, `${log.skey}\n`);
  await writeFileAtomic(layout.logVerifierKey, `${log.vkey}\n`);

  const rel = (p: string): string => path.relative(path.dirname(configPath), p) || '.';
  const doc: Record<string, unknown> = {
    bot: {
      address: o.address,
      name: o.name,
      keyFile: DATA_NAMES.botKey,
      ...(passphraseFile ? { keyPassphraseFile: passphraseFile } : { keyPassphraseEnv: 'ZTRUST_KEY_PASSPHRASE' }),
    },
    dataDir: rel(dataDir),
    mailbox: { url: o.mailboxUrl ?? `maildir:${rel(layout.inbox)}` },
    outbox: { url: o.outboxUrl ?? `dir:${rel(layout.outbox)}` },
    maintainers: [],
    threshold: 1,
    log: { origin: o.origin },
    ...(o.extra ?? {}),
  };
  const text = `# ztrust-bot configuration, written by \`ztrust-bot init\`.\n# Every key is documented in config/example.yaml of the ztrust-bot package.\n${YAML.stringify(doc)}`;
  mkdirSync(path.dirname(configPath), { recursive: true });
  await writeFileAtomic(configPath, text);
  const config = parseConfig(YAML.parse(readFileSync(configPath, 'utf8')), path.dirname(configPath), configPath);
  return { config, configPath, botFingerprint: bot.fingerprint, logVerifierKey: log.vkey };
}
