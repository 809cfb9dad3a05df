/**
 * Everything a worker or a CLI command needs, built once from the config:
 * the store, the bot's signing key, the collection's keys, the policy and the
 * command handlers. Domain only: the queue layer adds Redis on top.
 */
import type { LoadedConfig } from '../config/load.js';
import { cryptoPolicyOf, readSecret } from '../config/load.js';
import { Dispatcher } from '../commands/dispatch.js';
import { defaultHandlers } from '../commands/index.js';
import type { HandlerTable } from '../commands/types.js';
import type { LogAppend } from '../changes/types.js';
import type { ApplyOutcome } from '../changes/apply.js';
import { applyAttestation } from '../changes/attest-apply.js';
import { LazyLog, LogService } from '../ledger/service.js';
import type { Logger } from '../logger.js';
import { loadBotSigner, type BotSigner } from '../pgp/botkey.js';
import { KnownKeys } from '../pgp/known.js';
import type { CryptoPolicy } from '../policy/index.js';
import { openStore } from '../store/open.js';
import type { ChangeRow, StateStore } from '../store/types.js';
import { dataLayout } from '../datadir.js';

export interface App {
  config: LoadedConfig;
  store: StateStore;
  signer: BotSigner;
  knownKeys: KnownKeys;
  policy: CryptoPolicy;
  logger: Logger;
  handlers: HandlerTable;
  /**
   * The transparency-log seam for the apply step: append an entry, return
   * its index (null: no log). Null until a log is configured.
   */
  logAppend: LogAppend | null;
  /** The transparency log's single writer, opened on first use (src/ledger/service.ts). */
  log: LazyLog;
  /** The apply step for ATTEST requests (src/changes/attest-apply.ts). */
  applyAttestation: ((row: ChangeRow) => Promise<ApplyOutcome>) | null;
  dispatcher(): Promise<Dispatcher>;
  close(): Promise<void>;
}

export function dataPath(cfg: LoadedConfig, rel: string): string {
  return dataLayout(cfg.dataDir).resolve(rel);
}

export async function openApp(config: LoadedConfig, logger: Logger): Promise<App> {
  const passphrase = readSecret({ env: config.bot.keyPassphraseEnv, file: config.bot.keyPassphraseFile && dataPath(config, config.bot.keyPassphraseFile) },
    'bot key passphrase', config.dataDir);
  const signer = await loadBotSigner(dataPath(config, config.bot.keyFile), passphrase);
  const store = openStore(config);
  const knownKeys = new KnownKeys(config.dataDir, logger);
  const policy = cryptoPolicyOf(config);
  const handlers = defaultHandlers();
  const log = new LazyLog(() => LogService.fromConfig(config, store, logger));
  const app: App = {
    config, store, signer, knownKeys, policy, logger, handlers, log,
    // A second call for the same change reuses its entry (idempotency key), so a retried apply never logs twice.
    logAppend: async (entry, changeId) => (await log.get()).appendEntry(entry, `change:${changeId}`),
    applyAttestation: (row) => applyAttestation(row, { config, store, signer, policy, logger, log: () => log.get(), keyring: () => knownKeys.get() }),
    async dispatcher() {
      const keyring = await knownKeys.get();
      return new Dispatcher({ config, store, signer, keyring, policy, logger }, handlers);
    },
    async close() {
      await log.close();
      await store.close();
    },
  };
  return app;
}
