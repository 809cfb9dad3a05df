/**
 * The one place a state store is opened: the backend is chosen by the
 * config's `store.driver`, never by the caller. The worker, the CLI and the
 * demo all open their store here, so a second backend (PostgreSQL, for
 * workers on several hosts) is one more case below once it passes the
 * contract suite (test/unit/store-contract.ts).
 */
import { dataLayout } from '../datadir.js';
import { StoreError } from '../errors.js';
import type { StoreDriver } from './drivers.js';
import { SqliteStore } from './sqlite.js';
import type { StateStore } from './types.js';

/** What the factory needs of a config (a LoadedConfig has both). */
export interface StoreConfig {
  dataDir: string;
  store?: { driver: StoreDriver };
}

export function openStore(cfg: StoreConfig): StateStore {
  const driver: StoreDriver = cfg.store?.driver ?? 'sqlite';
  switch (driver) {
    case 'sqlite':
      return SqliteStore.open(dataLayout(cfg.dataDir).stateDb);
    default:
      // Unreachable through a validated config; a hand-built one gets a clear error.
      throw new StoreError('STORE_OPEN', `unknown store driver ${JSON.stringify(driver)}`);
  }
}
