/**
 * The keys whose signatures the bot can check: every key in the collection
 * (`<data>/collection/pgp/all/*.asc`). Reloaded when that folder changes, so
 * an applied change is seen by the next message without a restart.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Keyring } from './keyring.js';
import type { Logger } from '../logging.js';

export class KnownKeys {
  private cached: Keyring = Keyring.fromKeys([]);
  private stamp = '';

  constructor(private readonly dataDir: string, private readonly logger?: Logger) {}

  private folder(): string {
    return path.join(this.dataDir, 'collection', 'pgp', 'all');
  }

  private currentStamp(): string {
    const dir = this.folder();
    if (!existsSync(dir)) return 'none';
    const names = readdirSync(dir).filter((n) => n.endsWith('.asc')).sort();
    return names.map((n) => `${n}:${statSync(path.join(dir, n)).mtimeMs}`).join('|');
  }

  async get(): Promise<Keyring> {
    const stamp = this.currentStamp();
    if (stamp === this.stamp) return this.cached;
    const dir = this.folder();
    const texts: string[] = [];
    if (existsSync(dir)) {
      for (const n of readdirSync(dir).filter((x) => x.endsWith('.asc')).sort()) texts.push(readFileSync(path.join(dir, n), 'utf8'));
    }
    try {
      this.cached = texts.length ? await Keyring.fromArmored(texts.join('\n')) : Keyring.fromKeys([]);
    } catch (err) {
      // A broken key file must not stop the bot: keep the keys that load.
      this.logger?.error({ err: (err as Error).message }, 'cannot load collection keys; loading them one by one');
      const ok: import('openpgp').PublicKey[] = [];
      for (const t of texts) {
        try { ok.push(...(await Keyring.fromArmored(t)).all()); } catch { /* reported by audit */ }
      }
      this.cached = Keyring.fromKeys(ok);
    }
    this.stamp = stamp;
    return this.cached;
  }
}
