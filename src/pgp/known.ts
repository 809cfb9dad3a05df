/**
 * The keys whose signatures the bot can check: every key in the collection
 * (`<data>/collection/pgp/all/*.asc`) AS THE BOT LAST COMMITTED IT.
 *
 * Why the commit and not the work tree: these keys decide who may sign and
 * who may vote. A key file edited behind the bot's back (a revoked key put
 * back to its old, unrevoked copy, a maintainer key swapped) must never
 * count, not even in a worker that is already running: the start check
 * (src/state/consistency.ts) refuses a dirty work tree, but a live worker
 * does not run it for every message. The files are read from git HEAD
 * (`git ls-tree` + `git cat-file --batch`), which only the apply step moves.
 * (A commit made by hand is the consistency check's business: it disagrees
 * with the log and the start and the next apply refuse it.)
 *
 * Fast: HEAD is resolved by reading `.git/HEAD` and the ref it names (no
 * process per message); the keys are loaded again only when HEAD moves.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type * as openpgp from 'openpgp';
import { Keyring } from './keyring.js';
import type { Logger } from '../logger.js';
import { dataLayout } from '../datadir.js';
import { describeError } from '../errors.js';

const execFileP = promisify(execFile);
/** The key folder inside the collection (as committed). */
const KEY_DIR = 'pgp/all';
/** Bound on what git may print here: the bot's own collection, but never unbounded. */
const MAX_GIT_OUTPUT = 256 * 1024 * 1024;

export class KnownKeys {
  private cached: Keyring = Keyring.fromKeys([]);
  private head: string | null | undefined = undefined;

  constructor(private readonly dataDir: string, private readonly logger?: Logger) {}

  private dir(): string {
    return dataLayout(this.dataDir).collection;
  }

  private gitEnv(): NodeJS.ProcessEnv {
    // GIT_DIR: the collection's own repository, never one git would find
    // above it (a data directory inside a home or /etc kept in git) when
    // the collection's .git is damaged: that repository's keys are not ours.
    return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.dir(), LC_ALL: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_DIR: path.join(this.dir(), '.git') };
  }

  /**
   * The commit id HEAD names, or null when there is no repository or no
   * commit yet; throws when HEAD is there and cannot be read. Read from the files git itself reads (HEAD, the loose ref,
   * packed-refs); anything unusual falls back to `git rev-parse`.
   */
  private async currentHead(): Promise<string | null> {
    const gitDir = path.join(this.dir(), '.git');
    const headFile = path.join(gitDir, 'HEAD');
    if (!existsSync(headFile)) return null;
    try {
      const head = readFileSync(headFile, 'utf8').trim();
      if (/^[0-9a-f]{40,64}$/.test(head)) return head;
      const ref = /^ref: (refs\/[^\s]+)$/.exec(head)?.[1];
      if (ref && !ref.split('/').includes('..')) {
        const loose = path.join(gitDir, ...ref.split('/'));
        if (existsSync(loose)) {
          const id = readFileSync(loose, 'utf8').trim();
          if (/^[0-9a-f]{40,64}$/.test(id)) return id;
        } else {
          const packed = path.join(gitDir, 'packed-refs');
          const line = existsSync(packed) ? readFileSync(packed, 'utf8').split('\n').find((l) => l.endsWith(` ${ref}`)) : undefined;
          if (line) return line.split(' ')[0];
          return null; // an unborn branch: no commit yet
        }
      }
    } catch {
      /* fall through to git */
    }
    // A HEAD the files above could not read: git's word, and when git
    // cannot resolve it either, an error (the caller must not go on with
    // keys it cannot vouch for, nor with none as if there were no commit).
    try {
      const { stdout } = await execFileP('git', ['rev-parse', '-q', '--verify', 'HEAD^{commit}'], { cwd: this.dir(), env: this.gitEnv() });
      return stdout.trim() || null;
    } catch (err) {
      throw new Error(`cannot read the collection's HEAD (${path.join(gitDir, 'HEAD')}): ${describeError(err)}`, { cause: err });
    }
  }

  /** The text of every `pgp/all/*.asc` file in commit `head`, in file-name order. */
  private async committedKeyTexts(head: string): Promise<string[]> {
    const { stdout } = await execFileP('git', ['ls-tree', '-z', head, '--', `${KEY_DIR}/`],
      { cwd: this.dir(), env: this.gitEnv(), maxBuffer: MAX_GIT_OUTPUT });
    const blobs: { name: string; oid: string }[] = [];
    for (const rec of stdout.split('\0')) {
      const m = /^\d+ blob ([0-9a-f]+)\t(.*)$/s.exec(rec);
      if (!m) continue;
      const name = m[2].slice(KEY_DIR.length + 1);
      // The same files the work-tree reader takes: direct children, *.asc, no dot files.
      if (name.includes('/') || name.startsWith('.') || !name.endsWith('.asc')) continue;
      blobs.push({ name, oid: m[1] });
    }
    blobs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (!blobs.length) return [];
    const out = await this.catFileBatch(blobs.map((b) => b.oid));
    return out.map((b) => b.toString('utf8'));
  }

  /** Blob contents for `oids`, in order, through one `git cat-file --batch`. */
  private catFileBatch(oids: string[]): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      const p = spawn('git', ['cat-file', '--batch'], { cwd: this.dir(), env: this.gitEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      let size = 0;
      let err = '';
      p.stdout.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_GIT_OUTPUT) p.kill();
        else chunks.push(c);
      });
      p.stderr.on('data', (c: Buffer) => { err += c.toString(); });
      p.on('error', reject);
      p.on('close', (code) => {
        if (code !== 0) return reject(new Error(`git cat-file --batch failed (${code}): ${err.trim()}`));
        const all = Buffer.concat(chunks);
        const blobs: Buffer[] = [];
        let at = 0;
        for (const oid of oids) {
          const nl = all.indexOf(0x0a, at);
          const header = all.subarray(at, nl).toString('latin1');
          const m = /^([0-9a-f]+) blob (\d+)$/.exec(header);
          if (nl < 0 || !m || m[1] !== oid) return reject(new Error(`git cat-file --batch: unexpected answer for ${oid}: ${header.slice(0, 80)}`));
          const n = Number(m[2]);
          blobs.push(all.subarray(nl + 1, nl + 1 + n));
          at = nl + 1 + n + 1; // the content, then a newline
        }
        resolve(blobs);
      });
      p.stdin.end(oids.map((o) => `${o}\n`).join(''));
    });
  }

  async get(): Promise<Keyring> {
    return (await this.getWithHead()).keyring;
  }

  /** The keys, and the commit they were read from (null: no commit yet). */
  async getWithHead(): Promise<{ keyring: Keyring; head: string | null }> {
    const head = await this.currentHead();
    if (head === this.head) return { keyring: this.cached, head };
    // An unreadable commit throws: the caller must not go on with keys it cannot vouch for.
    const texts = head ? await this.committedKeyTexts(head) : [];
    try {
      this.cached = texts.length ? await Keyring.fromArmored(texts.join('\n')) : Keyring.fromKeys([]);
    } catch (err) {
      // A broken key file must not stop the bot: keep the keys that load.
      this.logger?.error({ err: (err as Error).message }, 'cannot load collection keys; loading them one by one');
      const ok: openpgp.PublicKey[] = [];
      for (const t of texts) {
        try { ok.push(...(await Keyring.fromArmored(t)).all()); } catch { /* reported by audit */ }
      }
      this.cached = Keyring.fromKeys(ok);
    }
    this.head = head;
    return { keyring: this.cached, head };
  }
}
