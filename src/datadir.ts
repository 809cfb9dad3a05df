/**
 * The data directory's layout, in one place (DESIGN.md "The data directory").
 *
 * Every module asks this one for a path instead of joining names onto the
 * data directory itself, so the layout can be read (and changed, with a
 * migration) here alone. The names are the on-disk contract: existing data
 * directories must keep working, so a name here never changes silently.
 */
import path from 'node:path';

export interface DataLayout {
  /** The data directory itself (absolute when the config loader resolved it). */
  readonly root: string;
  /** SQLite state store. */
  readonly stateDb: string;
  /** The collection git repository (published as it is). */
  readonly collection: string;
  /** The collection's own copy of every digest (committed). */
  readonly collectionDigests: string;
  /** The transparency log: checkpoint, tile/, log.vkey (published as it is). */
  readonly log: string;
  /** The log's C2SP verifier key, published beside the log. */
  readonly logVerifierKey: string;
  /** Every digest sent, numbered (the authoritative archive). */
  readonly digests: string;
  /** Private keys (mode 0700 directory, 0600 files). */
  readonly keys: string;
  readonly botKey: string;
  readonly botPublicKey: string;
  /**
   * A new bot key waiting for a root version that names it (`root propose
   * --new-bot-key` writes it; src/root/rotation.ts promotes it).
   */
  readonly botKeyNext: string;
  /** Bot keys a root rotated away, by fingerprint (kept to co-sign the announcing digest). */
  readonly retiredKeys: string;
  readonly logKey: string;
  /** The passphrase `init` generates when none is given. */
  readonly passphrase: string;
  /** The embedded redis-server's working directory (RDB/AOF). */
  readonly redis: string;
  /** Defaults `init` writes into the config: Maildir in, .eml files out. */
  readonly inbox: string;
  readonly outbox: string;
  /** The config file `init` writes unless told otherwise. */
  readonly config: string;
  /** Lock files, each next to what it guards. */
  readonly locks: { readonly collection: string; readonly log: string; readonly digests: string };
  /** A path from the config: absolute as given, otherwise inside the data directory. */
  resolve(rel: string): string;
}

/**
 * Relative names, for what `init` writes into a config (so the config stays
 * valid when the data directory moves).
 */
export const DATA_NAMES = {
  botKey: 'keys/bot.key',
  botKeyNext: 'keys/bot-next.key',
  logKey: 'keys/log.key',
  passphrase: 'keys/passphrase',
} as const;

export function dataLayout(dataDir: string): DataLayout {
  const at = (...p: string[]): string => path.join(dataDir, ...p);
  const collection = at('collection');
  const log = at('log');
  const digests = at('digests');
  return {
    root: dataDir,
    stateDb: at('state.db'),
    collection,
    collectionDigests: path.join(collection, 'digests'),
    log,
    logVerifierKey: path.join(log, 'log.vkey'),
    digests,
    keys: at('keys'),
    botKey: at(DATA_NAMES.botKey),
    botPublicKey: at('keys', 'bot.pub.asc'),
    botKeyNext: at(DATA_NAMES.botKeyNext),
    retiredKeys: at('keys', 'retired'),
    logKey: at(DATA_NAMES.logKey),
    passphrase: at(DATA_NAMES.passphrase),
    redis: at('redis'),
    inbox: at('inbox'),
    outbox: at('outbox'),
    config: at('ztrust.yaml'),
    locks: {
      // Inside .git so that git never sees or cleans it.
      collection: path.join(collection, '.git', 'ztrust-bot.lock'),
      log: path.join(log, '.lock'),
      digests: path.join(digests, '.lock'),
    },
    resolve: (rel: string): string => (path.isAbsolute(rel) ? rel : at(rel)),
  };
}
