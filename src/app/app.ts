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
import { loadBotSigner, SwitchableSigner, type BotSigner } from '../pgp/botkey.js';
import { KnownKeys } from '../pgp/known.js';
import { verifyMail, type MailVerification } from '../mail/verify-mail.js';
import type { CryptoPolicy } from '../policy/index.js';
import { openStore } from '../store/open.js';
import type { ChangeRow, StateStore } from '../store/types.js';
import { dataLayout } from '../datadir.js';
import { promoteBotKey, retiredSigner, type Promotion } from '../root/rotation.js';
import { currentRootOf } from '../root/draft.js';

export interface App {
  config: LoadedConfig;
  store: StateStore;
  /** The bot's key; a root that rotates it switches it in place (adoptRootBotKey). */
  signer: SwitchableSigner;
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
  /**
   * Where the dispatcher's signature checks run, when not in this thread
   * (queue/verify-pool.ts sets it): verifyMail of `raw` at `now` with the
   * keys of commit `head`, or `local()` (this thread's own check) whenever
   * it cannot give exactly that. Null: in this thread.
   */
  verifyElsewhere: ((raw: Buffer, now: Date, head: string | null, local: () => Promise<MailVerification>) => Promise<MailVerification>) | null;
  /**
   * After the apply step published a root: when it names the waiting next
   * key, make that the bot's key and sign with it from now on
   * (src/root/rotation.ts). Null when nothing changed.
   */
  adoptRootBotKey(): Promise<Promotion | null>;
  /** A retired bot key's signer (by fingerprint or key ID), to co-sign the digest announcing a rotation. */
  retiredSigner(issuer: string): Promise<BotSigner | null>;
  close(): Promise<void>;
}

export function dataPath(cfg: LoadedConfig, rel: string): string {
  return dataLayout(cfg.dataDir).resolve(rel);
}

/** The bot key's passphrase, as the config says where to find it (undefined: none configured). */
export function botPassphrase(config: LoadedConfig): string | undefined {
  return readSecret({ env: config.bot.keyPassphraseEnv, file: config.bot.keyPassphraseFile && dataPath(config, config.bot.keyPassphraseFile) },
    'bot key passphrase', config.dataDir);
}

export async function openApp(config: LoadedConfig, logger: Logger): Promise<App> {
  const passphrase = botPassphrase(config);
  // A root approved while the bot was down may name the waiting next key.
  const promoted = await promoteBotKey(config, passphrase);
  if (promoted) logger.warn({ from: promoted.from, to: promoted.to, root: promoted.version }, `the bot's key is now ${promoted.to}, as root version ${promoted.version} names it`);
  const loadSigner = () => loadBotSigner(dataPath(config, config.bot.keyFile), passphrase);
  const signer = new SwitchableSigner(await loadSigner());
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
      const { keyring, head } = await knownKeys.getWithHead();
      const elsewhere = app.verifyElsewhere;
      const verify = elsewhere && ((raw: Buffer) => {
        const now = new Date();
        return elsewhere(raw, now, head, () => verifyMail(raw, keyring, { policy, limits: config.limits, now }));
      });
      return new Dispatcher({ config, store, signer, keyring, policy, logger, ...(verify ? { verify } : {}) }, handlers);
    },
    verifyElsewhere: null,
    async adoptRootBotKey() {
      await promoteBotKey(config, passphrase);
      // Compared with the key in memory, not only with the files: another
      // process (a CLI command opening the app) may have promoted the key
      // files already, and this worker must still switch.
      const current = currentRootOf(dataLayout(config.dataDir).collection);
      if (!current || signer.fingerprint === current.doc.botKey) return null;
      const fresh = await loadSigner();
      if (fresh.fingerprint !== current.doc.botKey) return null; // no key for it: the root standing reports the mismatch
      const p: Promotion = { from: signer.fingerprint, to: fresh.fingerprint, version: current.doc.version };
      signer.switchTo(fresh);
      logger.warn({ from: p.from, to: p.to, root: p.version }, `the bot's key is now ${p.to}, as root version ${p.version} names it`);
      return p;
    },
    retiredSigner: (issuer) => retiredSigner(config, issuer, passphrase),
    async close() {
      await log.close();
      await store.close();
    },
  };
  return app;
}
