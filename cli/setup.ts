/**
 * The commands that set a deployment up: `init` (a data directory, the keys
 * and a config file), `key` (print the bot's or the log's public key) and
 * `config-schema`. Their options are defined in cli/main.ts, which imports
 * this module only when one of them runs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defaultConfigPath, loadConfig } from '../src/config/load.js';
import { configSchema } from '../src/config/schema.js';
import { initDataDir } from '../src/app/init.js';
import { dataLayout } from '../src/datadir.js';

export interface InitOptions { data: string; config?: string; address: string; name: string; origin: string; passphraseFile?: string }

export async function init(o: InitOptions): Promise<void> {
  const passphrase = o.passphraseFile ? readFileSync(o.passphraseFile, 'utf8').split(/\r?\n/)[0] : process.env.ZTRUST_KEY_PASSPHRASE;
  const r = await initDataDir({ dataDir: o.data, configPath: o.config, address: o.address, name: o.name, origin: o.origin, passphrase });
  process.stdout.write([
    `data directory:  ${r.config.dataDir}`,
    `config:          ${r.configPath}`,
    `bot key:         ${r.botFingerprint}`,
    `log key:         ${r.logVerifierKey}`,
    '',
    `Next: edit ${path.relative(process.cwd(), r.configPath) || r.configPath} (mailbox, outbox, maintainers), then`,
    `  ztrust-bot run --config ${path.relative(process.cwd(), r.configPath) || r.configPath}`,
    '',
  ].join('\n'));
}

export function key(o: { log?: boolean; config?: string }): void {
  const cfg = loadConfig(o.config ?? defaultConfigPath());
  const file = o.log ? dataLayout(cfg.dataDir).logVerifierKey : dataLayout(cfg.dataDir).botPublicKey;
  process.stdout.write(readFileSync(file, 'utf8'));
}

export function printConfigSchema(): void {
  process.stdout.write(`${JSON.stringify(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }), null, 2)}\n`);
}
