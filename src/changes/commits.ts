/**
 * The collection as the apply steps open it, and how they find the commit
 * that applied a change (its `Ztrust-Change` trailer): shared by the key
 * changes (apply.ts) and the trust root (root-apply.ts).
 */
import type { LoadedConfig } from '../config/load.js';
import { Collection } from '../collection/collection.js';
import { dataLayout } from '../datadir.js';

export function collectionOf(cfg: LoadedConfig): Promise<Collection> {
  return Collection.open(dataLayout(cfg.dataDir).collection, { committer: { name: cfg.bot.name, email: cfg.bot.address } });
}

/** The commit that applied change `id`, found by its trailer, with its log index. */
export async function findAppliedCommit(col: Collection, id: string): Promise<{ commit: string; logIndex: number | null } | null> {
  let out: string;
  try {
    out = await col.git(['log', '--format=%H%x00%B%x01', '-F', `--grep=Ztrust-Change: ${id}`]);
  } catch {
    return null; // no commit yet
  }
  for (const rec of out.split('\x01')) {
    const [hash, body] = rec.replace(/^\n/, '').split('\x00');
    if (!hash || body === undefined) continue;
    const lines = body.split('\n');
    if (!lines.includes(`Ztrust-Change: ${id}`)) continue;
    const idx = lines.map((l) => /^Ztrust-Log-Index: (\d+)$/.exec(l)?.[1]).find((x) => x !== undefined);
    return { commit: hash.trim(), logIndex: idx !== undefined ? Number(idx) : null };
  }
  return null;
}

