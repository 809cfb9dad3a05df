/**
 * The collection repository as the check sees it: a readable git repository
 * with no lock left behind, a work tree equal to its last commit, the log
 * index each commit recorded (trailer Ztrust-Log-Index), and the keys and
 * certificates it holds. Read-only: nothing here writes to the repository.
 *
 * Why the work tree must equal HEAD: the apply step commits with
 * `git add -A`, so any file changed outside the bot (a revoked key put back
 * to its old copy, a half-applied change whose rollback failed) would be
 * published by the next commit under someone else's change.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Collection, type StoredKey } from '../collection/collection.js';
import type { StateFinding } from './errors.js';

export interface CollectionView {
  col: Collection;
  head: string | null;
  /** Log index -> commit that recorded it. */
  logIndexes: Map<number, string>;
  /** Every commit reachable from HEAD. */
  commits: Set<string>;
  /** Null when the work tree is not the last commit (reported instead). */
  keys: (StoredKey & { revoked: boolean })[] | null;
  /** The source-signing keys of pgp/for-source/ (REVOKE KEY reaches them too); null with `keys`. */
  sourceKeys: { fingerprint: string; file: string; revoked: boolean }[] | null;
  certNames: Set<string> | null;
}

export type CollectionRead = { ok: true; view: CollectionView | null; findings: StateFinding[] } | { ok: false; findings: StateFinding[] };

/** Lock files git leaves behind when it crashes or is killed; while one exists every git write fails. */
function gitLocks(gitDir: string): string[] {
  const out = ['index.lock', 'HEAD.lock', 'config.lock', 'packed-refs.lock'].map((f) => path.join(gitDir, f)).filter((f) => existsSync(f));
  const heads = path.join(gitDir, 'refs', 'heads');
  if (existsSync(heads)) for (const n of readdirSync(heads)) if (n.endsWith('.lock')) out.push(path.join(heads, n));
  return out;
}

export async function readCollection(dir: string, deep: boolean): Promise<CollectionRead> {
  if (!existsSync(dir)) return { ok: true, view: null, findings: [] };
  const gitDir = path.join(dir, '.git');
  const broken = (message: string, file = gitDir): CollectionRead => ({
    ok: false,
    findings: [{
      code: 'STATE_COLLECTION_BROKEN', file, message,
      repair: `restore ${dir} from its published copy (\`git clone\` it again and copy .git over), then check it with \`git -C ${dir} fsck\``,
    }],
  });
  if (!existsSync(gitDir)) {
    const files = readdirSync(dir).filter((n) => !n.startsWith('.'));
    return files.length ? broken(`${dir} holds files but is not a git repository`) : { ok: true, view: null, findings: [] };
  }
  const locks = gitLocks(gitDir);
  if (locks.length) {
    return {
      ok: false,
      findings: locks.map((f) => ({
        code: 'STATE_COLLECTION_LOCKED' as const, file: f,
        message: `${path.basename(f)} exists: another git process is running in the collection, or one crashed`,
        repair: `make sure no git process runs in ${dir} (\`pgrep -a git\`), then remove ${f}`,
      })),
    };
  }
  const col = await Collection.open(dir, { readOnly: true });
  try {
    await col.git(['rev-parse', '--git-dir']);
  } catch (err) {
    return broken(`git does not read the repository: ${(err as Error).message}`, existsSync(path.join(gitDir, 'HEAD')) ? gitDir : path.join(gitDir, 'HEAD'));
  }
  let head: string | null;
  try {
    head = (await col.git(['rev-parse', '-q', '--verify', 'HEAD^{commit}'])).trim() || null;
  } catch {
    head = null; // no commit yet
  }
  if (deep && head) {
    try {
      await col.git(['fsck', '--no-dangling', '--no-progress', '--full']);
    } catch (err) {
      return broken(`git fsck finds the repository damaged: ${(err as Error).message.split('\n').slice(0, 4).join(' ')}`);
    }
  }
  const findings: StateFinding[] = [];
  const dirty = await col.dirtyFiles();
  for (const f of dirty.slice(0, 20)) {
    findings.push({
      code: 'STATE_COLLECTION_DIRTY', file: path.join(dir, f),
      message: `collection file ${f} differs from the last commit (changed outside the bot, or a failed apply was not rolled back)`,
      repair: `look at \`git -C ${dir} status\` and \`git -C ${dir} diff\`; put the committed copy back with `
        + `\`git -C ${dir} checkout -- ${f}\` (or \`git -C ${dir} clean -f -- ${f}\` for a new file); the bot changes the collection only through its apply step`,
    });
  }
  const logIndexes = new Map<number, string>();
  const commits = new Set<string>();
  if (head) {
    for (const rec of (await col.git(['log', '--format=%H%x00%B%x01', 'HEAD'])).split('\x01')) {
      const [hash, body] = rec.replace(/^\n/, '').split('\x00');
      if (!hash || body === undefined) continue;
      commits.add(hash.trim());
      for (const line of body.split('\n')) {
        const m = /^Ztrust-Log-Index: (\d+)$/.exec(line);
        if (m) logIndexes.set(Number(m[1]), hash.trim());
      }
    }
  }
  let keys: CollectionView['keys'] = null;
  let certNames: Set<string> | null = null;
  let sourceKeys: CollectionView['sourceKeys'] = null;
  if (dirty.length === 0) {
    keys = [];
    for (const k of await col.keys()) keys.push({ ...k, revoked: await k.key.isRevoked().catch(() => false) });
    sourceKeys = [];
    for (const k of await col.sourceKeys()) sourceKeys.push({ fingerprint: k.fingerprint, file: k.file, revoked: await k.key.isRevoked().catch(() => false) });
    certNames = new Set((await col.certs()).map((c) => c.name));
  }
  return { ok: true, view: { col, head, logIndexes, commits, keys, sourceKeys, certNames }, findings };
}
