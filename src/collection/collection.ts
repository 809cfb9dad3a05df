/**
 * The collection on disk (contract: the working group's repository layout):
 *
 *   pgp/all/0x<keyid>-<identity>-<public|signing|email>.asc
 *   pgp/signing/, pgp/email/   role copies of the same files
 *   pgp/pgp-bundle.asc         every key in pgp/all, concatenated in key-id order
 *   pki/all/<name>.crt         PEM, byte-exact as submitted
 *   pki/all/<name>.crt.asc     detached armoured signature over the .crt bytes
 *   pki/pki-bundle.pem
 *   SHA256SUMS, SHA256SUMS.asc signed manifest of every file
 *
 * The directory is a git repository; each applied change is one commit with
 * trailers (Ztrust-Ticket, Ztrust-Approved-By, Ztrust-Log-Index). Every
 * mutation runs inside `apply`: lock -> write files -> regenerate bundles and
 * manifest -> commit; on any failure the tree is restored to the last commit.
 *
 * git runs with an environment built from scratch (no user or system config,
 * no hooks, no inherited GIT_DIR), so the operator's settings can neither
 * break nor redirect the bot's commits.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as openpgp from 'openpgp';
import { Keyring } from '../pgp/keyring.js';
import { fingerprintOf, inspectKey, keyIdOf, readKeysAny } from '../pgp/inspect.js';
import { collectionLockFile, withCollectionLock, type LockOptions } from './lock.js';
import { removeFileDurable, writeFileAtomic } from '../fsync/atomic.js';
import { lockIsStale } from '../fsync/lock.js';
import { CollectionError } from './errors.js';
import { formatSourceList, parseSourceList, sourceRows, withRows, type SourceList } from './source-list.js';
import {
  identityFromUserId,
  isKeepableSourceFileName,
  isSafeKeyFileName,
  keyFileName,
  parseKeyFileName,
  parseSourceKeyName,
  roleFolder,
  sourceKeyFileName,
  validateCertName,
  type KeyRole,
  type ParsedKeyFileName,
} from './naming.js';

const execFileP = promisify(execFile);

export type Signer = (data: Buffer) => Promise<string>;
export type Trailers = Record<string, string | readonly string[]>;

export const PATHS = {
  pgpAll: 'pgp/all',
  pgpSigning: 'pgp/signing',
  pgpEmail: 'pgp/email',
  pgpBundle: 'pgp/pgp-bundle.asc',
  /** Upstream release-signing keys (not members: never in pgp-bundle.asc) and their list. */
  forSource: 'pgp/for-source',
  sourceList: 'pgp/for-source/key-and-source.md',
  pkiAll: 'pki/all',
  pkiBundle: 'pki/pki-bundle.pem',
  sums: 'SHA256SUMS',
  sumsSig: 'SHA256SUMS.asc',
} as const;

export interface StoredKey {
  keyId: string;
  fingerprint: string;
  role: KeyRole;
  identity: string;
  /** Relative path, e.g. pgp/all/0x...-public.asc */
  file: string;
  key: openpgp.PublicKey;
  bytes: Buffer;
}

export interface ScannedKeyFile {
  file: string;
  name: ParsedKeyFileName | null;
  bytes: Buffer;
  keys: openpgp.PublicKey[];
  error: string | null;
}

/** A key file of pgp/for-source/ holding exactly one readable key. */
export interface SourceKey {
  keyId: string;
  fingerprint: string;
  /** Relative path, e.g. pgp/for-source/0x...-signing.asc */
  file: string;
  /** The file name follows the rule `0x<keyid>-<identity>-signing.asc`. */
  nameRule: boolean;
  key: openpgp.PublicKey;
  bytes: Buffer;
}

export interface StoredCert {
  name: string;
  file: string;
  pem: Buffer;
  sigFile: string | null;
  signature: string | null;
  /** The human-readable dump (`<name>.txt`) the group keeps beside some certificates. */
  text: Buffer | null;
}

export interface CollectionOptions {
  /** Keep the directory a git repository and commit each change (default true). */
  git?: boolean;
  committer?: { name: string; email: string };
  lock?: LockOptions;
  /** Only read (audit of a directory the bot does not own): create nothing, refuse writes. */
  readOnly?: boolean;
}

export interface ApplyOptions {
  message: string;
  trailers?: Trailers;
  /** Signs SHA256SUMS; null leaves the manifest unsigned (its stale .asc is removed). */
  signer: Signer | null;
  /** Commit date (defaults to the clock). */
  date?: Date;
}

export interface ApplyResult<T> {
  result: T;
  commit: string | null;
}

/** Armour without Version/Comment headers, so equal keys give equal text (the collection's files and the tickets' key blocks alike). */
export const ARMOR_CONFIG = { ...openpgp.config, showVersion: false, showComment: false } as openpgp.Config;

export class Collection {
  readonly dir: string;
  private readonly opts: Required<Pick<CollectionOptions, 'git'>> & CollectionOptions;
  private lockDepth = 0;

  private constructor(dir: string, opts: CollectionOptions) {
    this.dir = dir;
    this.opts = { git: true, ...opts };
  }

  /** Open (and on first use create) a collection directory and its git repository. */
  static async open(dir: string, opts: CollectionOptions = {}): Promise<Collection> {
    const abs = path.resolve(dir);
    if (opts.readOnly) {
      if (!existsSync(abs)) throw new CollectionError('COLLECTION_NOT_FOUND', `no collection directory ${abs}`);
      return new Collection(abs, { ...opts, git: false });
    }
    await fs.mkdir(abs, { recursive: true });
    const c = new Collection(abs, opts);
    if (c.opts.git) {
      if (!existsSync(path.join(abs, '.git'))) await c.git(['-c', 'init.defaultBranch=main', 'init', '-q']);
      // Temp files of interrupted atomic writes must never be committed
      // (`git add -A` would otherwise pick them up after a crash).
      const exclude = path.join(abs, '.git', 'info', 'exclude');
      const want = '.*.tmp-*\n';
      const have = existsSync(exclude) ? await fs.readFile(exclude, 'utf8') : '';
      if (!have.includes(want.trim())) {
        await fs.mkdir(path.dirname(exclude), { recursive: true });
        await fs.writeFile(exclude, have + (have === '' || have.endsWith('\n') ? '' : '\n') + want);
      }
    } else {
      await fs.mkdir(path.join(abs, '.git'), { recursive: true }); // home of the lock file
    }
    return c;
  }

  // ------------------------------------------------------------------ reading

  private abs(rel: string): string {
    return path.join(this.dir, ...rel.split('/'));
  }

  private async list(relDir: string): Promise<string[]> {
    try {
      const ents = await fs.readdir(this.abs(relDir), { withFileTypes: true });
      return ents.filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Every file in a key folder with what could be read from it (audit uses the failures). */
  async scanKeyFolder(relDir: string = PATHS.pgpAll): Promise<ScannedKeyFile[]> {
    const out: ScannedKeyFile[] = [];
    for (const name of await this.list(relDir)) {
      if (!name.endsWith('.asc')) continue;
      const file = `${relDir}/${name}`;
      const bytes = await fs.readFile(this.abs(file));
      let keys: openpgp.PublicKey[] = [];
      let error: string | null = null;
      try {
        keys = (await readKeysAny(bytes)).map((k) => (k.isPrivate() ? k.toPublic() : (k)));
      } catch (err) {
        error = (err as Error).message;
      }
      out.push({ file, name: parseKeyFileName(name), bytes, keys, error });
    }
    return out;
  }

  /**
   * Every file of pgp/for-source/ but the list, with what could be read from
   * it. Unlike pgp/all, names need not end in .asc: the group keeps some
   * keys under a bare `0x<keyid>`.
   */
  async scanSourceFolder(): Promise<ScannedKeyFile[]> {
    const out: ScannedKeyFile[] = [];
    for (const name of await this.list(PATHS.forSource)) {
      if (`${PATHS.forSource}/${name}` === PATHS.sourceList || name.endsWith('.md')) continue;
      const file = `${PATHS.forSource}/${name}`;
      const bytes = await fs.readFile(this.abs(file));
      let keys: openpgp.PublicKey[] = [];
      let error: string | null = null;
      try {
        keys = (await readKeysAny(bytes)).map((k) => (k.isPrivate() ? k.toPublic() : k));
      } catch (err) {
        error = (err as Error).message;
      }
      out.push({ file, name: null, bytes, keys, error });
    }
    return out;
  }

  /** The source-signing keys (files of pgp/for-source/ holding exactly one readable key), in file-name order. */
  async sourceKeys(): Promise<SourceKey[]> {
    const out: SourceKey[] = [];
    for (const s of await this.scanSourceFolder()) {
      if (s.keys.length !== 1) continue;
      const key = s.keys[0];
      const base = s.file.split('/').pop()!;
      const parsed = parseSourceKeyName(base);
      out.push({
        keyId: keyIdOf(key), fingerprint: fingerprintOf(key), file: s.file, key, bytes: s.bytes,
        nameRule: parsed !== null && parsed.rule && parsed.keyId === keyIdOf(key),
      });
    }
    return out;
  }

  /**
   * pgp/for-source/key-and-source.md as read (an empty list when there is
   * none). Read as latin1, one character a byte, and written back the same
   * way: whatever the group's bytes are (UTF-8 prose, or not), a list the bot
   * adds rows to keeps every other byte. Rows themselves are ASCII.
   */
  async sourceList(): Promise<SourceList> {
    return parseSourceList((await this.sourceListBytes())?.toString('latin1') ?? '');
  }

  /** The bytes of key-and-source.md; null when there is none. */
  async sourceListBytes(): Promise<Buffer | null> {
    return fs.readFile(this.abs(PATHS.sourceList)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
  }

  /**
   * Write key-and-source.md as given, byte for byte: import keeps the group's
   * list as the group wrote it (rows that cannot be read included; the audit
   * reports them).
   */
  async putSourceListBytes(bytes: Uint8Array): Promise<string> {
    this.assertLocked();
    await fs.mkdir(this.abs(PATHS.forSource), { recursive: true });
    await writeFileAtomic(this.abs(PATHS.sourceList), bytes);
    return PATHS.sourceList;
  }

  /**
   * Write a file of pgp/for-source/ as found, under the name it had: import
   * keeps files whose name breaks the naming rule, or that hold no single
   * key, so nothing the group kept is lost (the audit reports them). Only
   * names that are no plain file name of the folder are refused.
   */
  async putSourceFile(fileName: string, bytes: Uint8Array): Promise<string> {
    this.assertLocked();
    if (!isKeepableSourceFileName(fileName) || `${PATHS.forSource}/${fileName}` === PATHS.sourceList) throw new CollectionError('COLLECTION_BAD_NAME', `file name ${JSON.stringify(fileName)} cannot be kept in ${PATHS.forSource}`);
    const rel = `${PATHS.forSource}/${fileName}`;
    await writeFileAtomic(this.abs(rel), bytes);
    return rel;
  }

  /**
   * Store a source-signing key as `pgp/for-source/0x<keyid>-<identity>-signing.asc`
   * (or `fileName`, the name the group gave it, on import). A file the key
   * already has there under another name is left alone: the group named it.
   * Returns the relative path.
   */
  async putSourceKey(key: openpgp.Key, opts: { identity?: string; fileName?: string; armored?: string | Buffer } = {}): Promise<string> {
    this.assertLocked();
    const pub = key.isPrivate() ? key.toPublic() : key;
    const keyId = keyIdOf(pub);
    let name: string;
    if (opts.fileName !== undefined) {
      const p = parseSourceKeyName(opts.fileName);
      if (!p || p.keyId !== keyId) throw new CollectionError('COLLECTION_BAD_NAME', `file name ${JSON.stringify(opts.fileName)} does not fit key ${keyId}`);
      name = opts.fileName;
    } else {
      name = sourceKeyFileName(keyId, opts.identity ?? (await primaryIdentity(pub)));
    }
    const bytes = opts.armored !== undefined ? Buffer.from(opts.armored) : Buffer.from(pub.armor(ARMOR_CONFIG), 'utf8');
    const rel = `${PATHS.forSource}/${name}`;
    await writeFileAtomic(this.abs(rel), bytes);
    return rel;
  }

  /**
   * Add rows to key-and-source.md (src/collection/source-list.ts withRows:
   * spliced in, the group's text kept). Returns how many rows were new; the
   * file is not touched when none is.
   */
  async addSourceRows(rows: readonly { key: string; release: string }[]): Promise<number> {
    this.assertLocked();
    const list = await this.sourceList();
    const next = withRows(list, rows);
    if (next === list) return 0;
    await fs.mkdir(this.abs(PATHS.forSource), { recursive: true });
    await writeFileAtomic(this.abs(PATHS.sourceList), Buffer.from(formatSourceList(next), 'latin1'));
    return sourceRows(next).length - sourceRows(list).length;
  }

  /** The keys of pgp/all (files holding exactly one readable key), in file-name order. */
  async keys(): Promise<StoredKey[]> {
    const out: StoredKey[] = [];
    for (const s of await this.scanKeyFolder(PATHS.pgpAll)) {
      if (s.keys.length !== 1) continue;
      const key = s.keys[0];
      out.push({
        keyId: keyIdOf(key),
        fingerprint: fingerprintOf(key),
        role: s.name?.role ?? 'public',
        identity: s.name?.identity ?? '',
        file: s.file,
        key,
        bytes: s.bytes,
      });
    }
    return out;
  }

  async keyring(): Promise<Keyring> {
    return Keyring.fromKeys((await this.keys()).map((k) => k.key));
  }

  /**
   * Keys matching a fingerprint (primary or subkey, 40 or 64 hex), a key id
   * (16 hex, optional 0x) or an e-mail address (any user ID, case-insensitive).
   */
  async findKeys(query: string): Promise<StoredKey[]> {
    const q = query.trim();
    const hex = q.replace(/^0x/i, '').replace(/\s+/g, '').toUpperCase();
    const all = await this.keys();
    if (/^[0-9A-F]{40}$|^[0-9A-F]{64}$/.test(hex)) return all.filter((k) => k.key.getKeys().some((p) => fingerprintOf(p) === hex));
    if (/^[0-9A-F]{16}$/.test(hex)) return all.filter((k) => k.key.getKeys().some((p) => keyIdOf(p).toUpperCase() === hex));
    if (q.includes('@')) {
      const email = q.replace(/^<|>$/g, '').toLowerCase();
      return all.filter((k) => k.key.users.some((u) => u.userID?.email.toLowerCase() === email));
    }
    return [];
  }

  async getKey(query: string): Promise<StoredKey | null> {
    return (await this.findKeys(query))[0] ?? null;
  }

  async certs(): Promise<StoredCert[]> {
    const names = await this.list(PATHS.pkiAll);
    const have = new Set(names);
    const out: StoredCert[] = [];
    for (const n of names) {
      if (!n.endsWith('.crt')) continue;
      const name = n.slice(0, -4);
      const file = `${PATHS.pkiAll}/${n}`;
      const sigName = `${n}.asc`;
      const txtName = `${name}.txt`;
      out.push({
        name,
        file,
        pem: await fs.readFile(this.abs(file)),
        sigFile: have.has(sigName) ? `${PATHS.pkiAll}/${sigName}` : null,
        signature: have.has(sigName) ? await fs.readFile(this.abs(`${PATHS.pkiAll}/${sigName}`), 'utf8') : null,
        text: have.has(txtName) ? await fs.readFile(this.abs(`${PATHS.pkiAll}/${txtName}`)) : null,
      });
    }
    return out;
  }

  /** Every file of the collection (relative, '/'-separated, sorted), hidden files and .git excluded. */
  async files(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      const ents = await fs.readdir(rel ? this.abs(rel) : this.dir, { withFileTypes: true });
      for (const e of ents) {
        if (e.name.startsWith('.')) continue; // .git, temp files of atomic writes
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(r);
        else if (e.isFile()) out.push(r);
      }
    };
    await walk('');
    return out.sort(byteOrder);
  }

  // ------------------------------------------------------------------ writing

  private assertLocked(): void {
    if (this.opts.readOnly) throw new CollectionError('COLLECTION_NOT_LOCKED', 'this collection was opened read-only');
    if (this.lockDepth === 0) {
      throw new CollectionError('COLLECTION_NOT_LOCKED', 'collection writes must run inside Collection.apply()');
    }
  }

  /**
   * Store a key in pgp/all and its role folder. Other files for the same
   * key id (an older identity or role) are removed. `armored` keeps given
   * bytes (import keeps the group's files byte for byte); otherwise the key
   * is armoured without Version/Comment headers, so equal keys give equal files.
   */
  async putKey(
    key: openpgp.Key,
    role: KeyRole,
    opts: { identity?: string; fileName?: string; armored?: string | Buffer } = {},
  ): Promise<string> {
    this.assertLocked();
    const pub = key.isPrivate() ? key.toPublic() : (key);
    const keyId = keyIdOf(pub);
    let name: string;
    if (opts.fileName !== undefined) {
      const p = parseKeyFileName(opts.fileName);
      if (!p || !isSafeKeyFileName(opts.fileName) || p.keyId !== keyId || p.role !== role) {
        throw new CollectionError('COLLECTION_BAD_NAME', `file name ${JSON.stringify(opts.fileName)} does not fit key ${keyId} (${role})`);
      }
      name = opts.fileName;
    } else {
      name = keyFileName(keyId, opts.identity ?? (await primaryIdentity(pub)), role);
    }
    const bytes = opts.armored !== undefined ? Buffer.from(opts.armored) : Buffer.from(pub.armor(ARMOR_CONFIG), 'utf8');
    await this.removeKeyFiles(keyId, name);
    await writeFileAtomic(this.abs(`${PATHS.pgpAll}/${name}`), bytes);
    await writeFileAtomic(this.abs(`pgp/${roleFolder(role)}/${name}`), bytes);
    return `${PATHS.pgpAll}/${name}`;
  }

  /** Write a file into a role folder only (import keeps copies the group had there). */
  async putRoleCopy(folder: 'signing' | 'email', fileName: string, bytes: Buffer): Promise<string> {
    this.assertLocked();
    if (!isSafeKeyFileName(fileName)) throw new CollectionError('COLLECTION_BAD_NAME', `unsafe key file name ${JSON.stringify(fileName)}`);
    const rel = `pgp/${folder}/${fileName}`;
    await writeFileAtomic(this.abs(rel), bytes);
    return rel;
  }

  private async removeKeyFiles(keyId: string, except: string | null): Promise<string[]> {
    const removed: string[] = [];
    for (const folder of [PATHS.pgpAll, PATHS.pgpSigning, PATHS.pgpEmail]) {
      for (const n of await this.list(folder)) {
        if (n === except) continue;
        if (parseKeyFileName(n)?.keyId === keyId) {
          await removeFileDurable(this.abs(`${folder}/${n}`));
          removed.push(`${folder}/${n}`);
        }
      }
    }
    return removed;
  }

  /** Remove every file of a key (by fingerprint or key id). */
  async removeKey(query: string): Promise<string[]> {
    this.assertLocked();
    const found = await this.findKeys(query);
    const ids = new Set(found.map((k) => k.keyId));
    const hex = query.replace(/^0x/i, '').toLowerCase();
    if (/^[0-9a-f]{16}$/.test(hex)) ids.add(hex);
    if (ids.size === 0) throw new CollectionError('COLLECTION_NOT_FOUND', `no key ${query} in the collection`);
    const removed: string[] = [];
    for (const id of ids) removed.push(...(await this.removeKeyFiles(id, null)));
    return removed;
  }

  /**
   * Write the files that publish a trust-root version (src/root/files.ts
   * rootVersionFiles: root/<n>.txt, root/<n>.sig/*, root/current). Names are
   * checked here again: only root/ and names made of digits, hex and dots.
   */
  async putRootFiles(files: ReadonlyMap<string, Buffer>): Promise<string[]> {
    this.assertLocked();
    const out: string[] = [];
    for (const [rel, bytes] of files) {
      if (!/^root\/(?:current|[1-9][0-9]*\.txt|[1-9][0-9]*\.sig\/[0-9A-F]{40,64}\.(?:asc|txt|txt\.sig|key))$/.test(rel)) {
        throw new CollectionError('COLLECTION_BAD_NAME', `not a root file name: ${JSON.stringify(rel)}`);
      }
      await fs.mkdir(path.dirname(this.abs(rel)), { recursive: true });
      await writeFileAtomic(this.abs(rel), bytes);
      out.push(rel);
    }
    return out;
  }

  /**
   * Store a certificate byte-exact, with its detached signature (or none when
   * it chains to a collection certificate: a stale .asc is then removed).
   */
  async putCert(name: string, pem: Uint8Array, signature: string | null, opts: { text?: Uint8Array | null } = {}): Promise<string> {
    this.assertLocked();
    const n = validateCertName(name);
    const file = `${PATHS.pkiAll}/${n}.crt`;
    await writeFileAtomic(this.abs(file), pem);
    if (signature !== null) await writeFileAtomic(this.abs(`${file}.asc`), signature);
    else await removeFileDurable(this.abs(`${file}.asc`));
    if (opts.text) await writeFileAtomic(this.abs(`${PATHS.pkiAll}/${n}.txt`), opts.text);
    return file;
  }

  async removeCert(name: string): Promise<string[]> {
    this.assertLocked();
    const n = validateCertName(name);
    const removed: string[] = [];
    for (const f of [`${n}.crt`, `${n}.crt.asc`, `${n}.txt`]) {
      if (await removeFileDurable(this.abs(`${PATHS.pkiAll}/${f}`))) removed.push(`${PATHS.pkiAll}/${f}`);
    }
    if (removed.length === 0) throw new CollectionError('COLLECTION_NOT_FOUND', `no certificate ${n} in the collection`);
    return removed;
  }

  /**
   * Rebuild the derived files from the folders, deterministically: the
   * bundles (sorted by file name, i.e. by key id / certificate name, each
   * file's bytes as stored) and SHA256SUMS (sha256sum format, sorted by path),
   * then sign the manifest.
   */
  async regenerate(signer: Signer | null): Promise<{ bundle: Buffer; pkiBundle: Buffer; sums: Buffer }> {
    this.assertLocked();
    const bundle = await this.concatFolder(PATHS.pgpAll, '.asc');
    if (bundle.length > 0) await writeFileAtomic(this.abs(PATHS.pgpBundle), bundle);
    else await removeFileDurable(this.abs(PATHS.pgpBundle));
    const pkiBundle = await this.concatFolder(PATHS.pkiAll, '.crt');
    if (pkiBundle.length > 0) await writeFileAtomic(this.abs(PATHS.pkiBundle), pkiBundle);
    else await removeFileDurable(this.abs(PATHS.pkiBundle));

    const sums = await this.manifest();
    // Re-sign only when the manifest changed: a fresh signature over the
    // same bytes would make a no-op change look like a commit.
    const previous = await fs.readFile(this.abs(PATHS.sums)).catch(() => null);
    const unchanged = previous !== null && previous.equals(sums) && existsSync(this.abs(PATHS.sumsSig));
    await writeFileAtomic(this.abs(PATHS.sums), sums);
    if (signer) {
      if (!unchanged) await writeFileAtomic(this.abs(PATHS.sumsSig), await signer(sums));
    } else await removeFileDurable(this.abs(PATHS.sumsSig));
    return { bundle, pkiBundle, sums };
  }

  /** What SHA256SUMS should hold for the files now on disk. */
  async manifest(): Promise<Buffer> {
    const lines: string[] = [];
    for (const rel of await this.files()) {
      if (rel === PATHS.sums || rel === PATHS.sumsSig) continue;
      if (/[\\\n\r]/.test(rel)) {
        // sha256sum would escape such a name; the bot never writes one.
        throw new CollectionError('COLLECTION_BAD_NAME', `file name not allowed in the manifest: ${JSON.stringify(rel)}`);
      }
      const digest = createHash('sha256').update(await fs.readFile(this.abs(rel))).digest('hex');
      lines.push(`${digest}  ${rel}\n`);
    }
    return Buffer.from(lines.join(''), 'utf8');
  }

  private async concatFolder(rel: string, ext: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (const n of await this.list(rel)) {
      if (!n.endsWith(ext)) continue;
      let b = await fs.readFile(this.abs(`${rel}/${n}`));
      if (b.length > 0 && b[b.length - 1] !== 0x0a) b = Buffer.concat([b, Buffer.from('\n')]);
      parts.push(b);
    }
    return Buffer.concat(parts);
  }

  // ------------------------------------------------------------------ git

  private gitEnv(date?: Date): NodeJS.ProcessEnv {
    const c = this.opts.committer ?? { name: 'ztrust-bot', email: 'ztrust-bot@localhost' };
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: this.dir,
      LC_ALL: 'C',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_AUTHOR_NAME: c.name,
      GIT_AUTHOR_EMAIL: c.email,
      GIT_COMMITTER_NAME: c.name,
      GIT_COMMITTER_EMAIL: c.email,
    };
    if (date) {
      const d = `${Math.floor(date.getTime() / 1000)} +0000`;
      env.GIT_AUTHOR_DATE = d;
      env.GIT_COMMITTER_DATE = d;
    }
    return env;
  }

  /** Run git in the collection with a clean environment. */
  async git(args: string[], date?: Date): Promise<string> {
    const c = this.opts.committer ?? { name: 'ztrust-bot', email: 'ztrust-bot@localhost' };
    const base = ['-c', `user.name=${c.name}`, '-c', `user.email=${c.email}`, '-c', 'commit.gpgsign=false',
      '-c', 'core.hooksPath=/dev/null', '-c', 'core.autocrlf=false', '-c', 'core.quotepath=false'];
    try {
      const { stdout } = await execFileP('git', [...base, ...args], { cwd: this.dir, env: this.gitEnv(date), maxBuffer: 64 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new CollectionError('COLLECTION_GIT', `git ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`, { cause: err });
    }
  }

  private async hasHead(): Promise<boolean> {
    try {
      await this.git(['rev-parse', '--verify', '-q', 'HEAD']);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Commit everything in the tree, one commit, with trailers. Returns the
   * commit id, or null when nothing changed.
   */
  async commit(message: string, trailers: Trailers = {}, date?: Date): Promise<string | null> {
    this.assertLocked();
    if (!this.opts.git) return null;
    await this.git(['add', '-A', '--', '.']);
    try {
      await this.git(['diff', '--cached', '--quiet']);
      return null; // exit 0: nothing staged
    } catch {
      /* exit 1: there are changes */
    }
    const msgFile = path.join(this.dir, '.git', 'ZTRUST_COMMIT_MSG');
    await fs.writeFile(msgFile, formatCommitMessage(message, trailers));
    await this.git(['commit', '-q', '--no-verify', '--cleanup=verbatim', '-F', msgFile], date);
    await fs.rm(msgFile, { force: true });
    return (await this.git(['rev-parse', 'HEAD'])).trim();
  }

  /**
   * Refuse to start a change on a repository that is not exactly its last
   * commit. `commit` stages with `git add -A`, so a file changed outside the
   * bot (a revoked key put back to its old copy, the leftovers of an apply
   * whose rollback failed) would be published under this change's trailers;
   * and a lock file git left behind makes `git add` fail half-way. Either is
   * for the operator to look at, never for the bot to commit or delete.
   */
  async assertCommittable(): Promise<void> {
    if (!this.opts.git) return;
    for (const f of ['index.lock', 'HEAD.lock']) {
      const lock = path.join(this.dir, '.git', f);
      if (existsSync(lock)) {
        throw new CollectionError('COLLECTION_DIRTY', `${lock} exists (a git process is running in the collection, or one crashed): `
          + 'remove it after checking that no git process runs there');
      }
    }
    const dirty = await this.dirtyFiles();
    if (dirty.length) {
      throw new CollectionError('COLLECTION_DIRTY', `collection files differ from the last commit: ${dirty.slice(0, 5).join(', ')}${dirty.length > 5 ? ' ...' : ''}; `
        + `look at \`git -C ${this.dir} status\` and put the committed copies back (\`git -C ${this.dir} checkout -- FILE\`)`);
    }
  }

  /**
   * After a crash in the middle of `apply` (the process killed while it held
   * the collection lock) the work tree holds half a change. That is the
   * bot's own unfinished write, not someone else's edit: the lock it left,
   * whose owner is dead, says so. Put the tree back to the last commit
   * (the change is still queued in the store and is applied again) and
   * return the files restored; null when there was nothing to recover.
   * Anything else (no stale lock of ours, a git lock) is left for the
   * start check to report.
   */
  static async recoverInterrupted(dir: string, opts: CollectionOptions = {}): Promise<string[] | null> {
    const lock = collectionLockFile(dir);
    if (!existsSync(lock) || existsSync(path.join(dir, '.git', 'index.lock')) || !(await lockIsStale(lock))) return null;
    const col = await Collection.open(dir, opts);
    return withCollectionLock(dir, async () => {
      const dirty = await col.dirtyFiles();
      if (dirty.length) await col.restore();
      return dirty;
    }, opts.lock);
  }

  /** Files of the work tree that differ from the last commit (changed, new or deleted). */
  async dirtyFiles(): Promise<string[]> {
    return (await this.git(['status', '--porcelain', '-z', '--untracked-files=all'])).split('\0').filter(Boolean).map((l) => l.slice(3));
  }

  /** Put the work tree back to the last commit (or to empty before the first one). */
  async restore(): Promise<void> {
    if (!this.opts.git) return;
    if (await this.hasHead()) await this.git(['reset', '-q', '--hard', 'HEAD']);
    else await this.git(['rm', '-r', '-q', '--cached', '--ignore-unmatch', '--', '.']);
    await this.git(['clean', '-f', '-d', '-q']);
  }

  /**
   * The only way to change the collection: under the lock, run `fn` (which
   * calls putKey/putCert/...), regenerate bundles and the signed manifest,
   * commit. All or nothing: on any failure the tree is restored.
   */
  async apply<T>(fn: (c: Collection) => Promise<T>, opts: ApplyOptions): Promise<ApplyResult<T>> {
    if (this.opts.readOnly) throw new CollectionError('COLLECTION_NOT_LOCKED', 'this collection was opened read-only');
    formatCommitMessage(opts.message, opts.trailers ?? {}); // validate before touching anything
    return withCollectionLock(this.dir, async () => {
      await this.assertCommittable();
      this.lockDepth++;
      try {
        const result = await fn(this);
        await this.regenerate(opts.signer);
        const commit = await this.commit(opts.message, opts.trailers ?? {}, opts.date);
        return { result, commit };
      } catch (err) {
        try {
          await this.restore();
        } catch (again) {
          // The tree keeps half a change: say so. The next apply refuses
          // (assertCommittable) instead of committing the leftovers.
          throw new CollectionError('COLLECTION_DIRTY', `${(err as Error).message}; and the work tree could not be put back to the last commit `
            + `(${(again as Error).message}): repair ${this.dir} by hand (\`git -C ${this.dir} status\`) before the next change`, { cause: err });
        }
        throw err;
      } finally {
        this.lockDepth--;
      }
    }, this.opts.lock);
  }
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Subject, optional body, a blank line, then `Key: value` trailers (one line
 * each; arrays give one trailer per value, e.g. one Ztrust-Approved-By per
 * approver). Newlines in a trailer value could forge further trailers, so
 * they are refused.
 */
export function formatCommitMessage(message: string, trailers: Trailers): string {
  const msg = message.replace(/\r/g, '').trim();
  if (msg.length === 0) throw new CollectionError('COLLECTION_BAD_NAME', 'empty commit message');
  const lines: string[] = [];
  for (const [k, v] of Object.entries(trailers)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(k)) throw new CollectionError('COLLECTION_BAD_NAME', `bad trailer key ${JSON.stringify(k)}`);
    for (const value of typeof v === 'string' ? [v] : v) {
      if (/[\r\n\0]/.test(value) || value.trim() === '') {
        throw new CollectionError('COLLECTION_BAD_NAME', `bad value for trailer ${k}: ${JSON.stringify(value)}`);
      }
      lines.push(`${k}: ${value.trim()}`);
    }
  }
  return lines.length > 0 ? `${msg}\n\n${lines.join('\n')}\n` : `${msg}\n`;
}

/** The identity part of a key file name: from the primary self-signed user ID. */
export async function primaryIdentity(key: openpgp.Key): Promise<string> {
  const r = await inspectKey(key, { collection: [] });
  const uid = r.userIds.find((u) => u.primary) ?? r.userIds.find((u) => u.selfSigned && !u.attribute) ?? r.userIds.find((u) => !u.attribute);
  return identityFromUserId(uid?.userId ?? '');
}
