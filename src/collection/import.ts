/**
 * `import`: bring an existing, hand-kept collection under the bot.
 *
 * Layouts accepted (as found in the group's repositories):
 *   flat:  pgp/*.asc, pki/*.crt (+ .crt.asc, .txt)            (vmworkshop, zvm-community-tools)
 *   wg:    pgp/all/, pgp/signing/, pgp/email/, pgp/pgp-bundle.asc,
 *          pki/all/, pki/pki-bundle.pem                        (the working group's repository)
 * A directory holding `ztrust/` with one of these inside is accepted too.
 * Either may hold pgp/for-source/ (upstream release-signing keys) and its
 * list key-and-source.md: every file there is kept byte for byte under its
 * own name, the list as the group wrote it (see planSourceFolder).
 *
 * Nothing is dropped for breaking today's policy: DSA keys, SHA-1
 * certifications, uncertified keys all enter the collection and are reported
 * by the audit. Where copies of one key differ (pgp/all vs a role folder vs
 * the bundle), the stored key is their union, so no signature is lost, and
 * the difference is reported. Only what cannot be read is left out (and
 * reported as an error).
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { DEFAULT_CRYPTO_POLICY, type CryptoPolicy } from '../policy/index.js';
import { fingerprintOf, keyIdOf, readKeysAny, type KeyLookup } from '../pgp/inspect.js';
import { sameKeyContent, unionKeys } from '../pgp/merge.js';
import { auditCollection, compareKeySets, finding, type Finding } from './audit.js';
import { ARMOR_CONFIG, Collection, PATHS, primaryIdentity, type Signer, type Trailers } from './collection.js';
import { CollectionError } from './errors.js';
import { isKeepableSourceFileName, isSafeKeyFileName, keyFileName, parseKeyFileName, sourceKeyFileName, validateCertName, type KeyRole } from './naming.js';
import { formatSourceList, parseSourceList, resolveRows, sourceRows, withRows } from './source-list.js';

export interface ImportOptions {
  policy?: CryptoPolicy;
  now?: Date;
  /** Signs the regenerated SHA256SUMS (the bot's key); null leaves it unsigned. */
  signer?: Signer | null;
  message?: string;
  trailers?: Trailers;
  manifestKeys?: KeyLookup;
}

export interface ImportResult {
  layout: 'flat' | 'wg';
  /** `sourceFiles`: names written to pgp/for-source/; `sourceList`: key-and-source.md was written. */
  imported: { keys: string[]; certs: string[]; sourceFiles: string[]; sourceList: boolean };
  /**
   * What the import changed, for the transparency log: keys whose file is new
   * (`added: true`) or changed, and certificates that are new or changed.
   * Files that were already there byte for byte are not listed.
   * `sourceKeys`: source-signing keys (by fingerprint) and the releases the
   * import made rows point at them for, in list order; `added` when no row
   * pointed at the key before (so the log has not named it yet: a key
   * enters the log with its first vouch). Keys no row points at, and rows
   * pointing at no key (a bare key id with no file), are not listed.
   */
  added: {
    keys: { fingerprint: string; identity: string; added: boolean }[];
    certs: { name: string; sha256: string; added: boolean }[];
    sourceKeys: SourceVouches[];
  };
  /** Notes about the source (subject = path relative to it), then the audit of the result. */
  findings: Finding[];
  commit: string | null;
}

export interface SourceVouches {
  fingerprint: string;
  releases: string[];
  added: boolean;
}

type Source = 'all' | 'flat' | 'signing' | 'email' | 'bundle';
interface KeyEntry {
  source: Source;
  file: string;
  bytes: Buffer;
  key: openpgp.PublicKey;
  /** The file holds exactly this one key (its bytes can be kept as they are). */
  single: boolean;
}

async function listFiles(dir: string, ext: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile() && e.name.endsWith(ext) && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function resolveRoot(srcDir: string): { root: string; layout: 'flat' | 'wg' } {
  for (const root of [srcDir, path.join(srcDir, 'ztrust')]) {
    if (existsSync(path.join(root, 'pgp', 'all')) || existsSync(path.join(root, 'pki', 'all'))) return { root, layout: 'wg' };
    if (existsSync(path.join(root, 'pgp')) || existsSync(path.join(root, 'pki'))) return { root, layout: 'flat' };
  }
  throw new CollectionError('COLLECTION_LAYOUT', `${srcDir} holds neither pgp/ nor pki/ (nor ztrust/pgp, ztrust/pki)`);
}

export async function importCollection(srcDir: string, dest: Collection, opts: ImportOptions = {}): Promise<ImportResult> {
  const policy = opts.policy ?? DEFAULT_CRYPTO_POLICY;
  const now = opts.now ?? new Date();
  const { root, layout } = resolveRoot(path.resolve(srcDir));
  const notes: Finding[] = [];
  const entries: KeyEntry[] = [];

  const readKeyFile = async (rel: string, source: Source): Promise<void> => {
    const bytes = await fs.readFile(path.join(root, ...rel.split('/')));
    let keys: openpgp.Key[];
    try {
      keys = await readKeysAny(bytes);
    } catch (err) {
      notes.push(finding('IMPORT_UNREADABLE', rel, `${rel}: ${(err as Error).message}; not imported`, { source: 'import' }));
      return;
    }
    for (const k of keys) {
      const pub = k.isPrivate() ? k.toPublic() : (k);
      entries.push({ source, file: rel, bytes, key: pub, single: keys.length === 1 });
    }
  };

  if (layout === 'wg') {
    for (const [folder, source] of [['pgp/all', 'all'], ['pgp/signing', 'signing'], ['pgp/email', 'email']] as const) {
      for (const n of await listFiles(path.join(root, ...folder.split('/')), '.asc')) await readKeyFile(`${folder}/${n}`, source);
    }
    if (existsSync(path.join(root, 'pgp', 'pgp-bundle.asc'))) await readKeyFile('pgp/pgp-bundle.asc', 'bundle');
  } else {
    for (const n of await listFiles(path.join(root, 'pgp'), '.asc')) await readKeyFile(`pgp/${n}`, 'flat');
  }

  // The source's bundle against its folders (reported as the source had it).
  const folderKeys = entries.filter((e) => e.source === 'all' || e.source === 'flat').map((e) => e.key);
  const bundleKeys = entries.filter((e) => e.source === 'bundle').map((e) => e.key);
  if (bundleKeys.length > 0) {
    for (const f of compareKeySets('pgp/pgp-bundle.asc', folderKeys, bundleKeys)) {
      notes.push({ ...f, data: { ...f.data, source: 'import' } });
    }
  }

  // ---- keys: one stored file per fingerprint
  const groups = new Map<string, KeyEntry[]>();
  for (const e of entries) groups.set(fingerprintOf(e.key), [...(groups.get(fingerprintOf(e.key)) ?? []), e]);
  const existing = new Map((await dest.keys()).map((k) => [k.fingerprint, k] as const));
  type Plan = { key: openpgp.PublicKey; role: KeyRole; fileName: string; armored?: Buffer };
  const plans: Plan[] = [];
  for (const [fpr, group] of groups) {
    const keyId = keyIdOf(group[0].key);
    const primaryEntries = group.filter((e) => e.source === 'all' || e.source === 'flat');
    const roleEntries = group.filter((e) => e.source === 'signing' || e.source === 'email');
    if (primaryEntries.length === 0) {
      const where = roleEntries.length > 0 ? roleEntries : group;
      notes.push(finding(roleEntries.length > 0 ? 'IMPORT_ONLY_IN_ROLE_FOLDER' : 'IMPORT_ONLY_IN_BUNDLE', keyId,
        `key ${keyId} was only in ${[...new Set(where.map((e) => e.file))].join(', ')}; added to pgp/all`, { source: 'import', keyId }));
    }
    const copies = group.map((e) => e.key);
    const prior = existing.get(fpr);
    if (prior) copies.unshift(prior.key);
    const distinct: openpgp.PublicKey[] = [];
    for (const k of copies) if (!distinct.some((d) => sameKeyContent(d, k))) distinct.push(k);
    // The collection already holds exactly this key: keep its file as it is
    // (re-armouring it would be a change with no content, and a log entry).
    if (prior && distinct.length === 1) continue;
    const key = distinct.length === 1 ? distinct[0] : await unionKeys(distinct);
    if (distinct.length > 1) {
      notes.push(finding('IMPORT_MERGED', keyId,
        `key ${keyId}: ${distinct.length} different copies (${[...new Set(group.map((e) => e.file))].join(', ')}${prior ? ', the collection' : ''}) were merged`,
        { source: 'import', keyId }));
    }
    // The file name: the group's own, when it is safe and names this key.
    let fileName: string | null = null;
    let role: KeyRole = 'public';
    for (const e of [...primaryEntries, ...roleEntries]) {
      const base = e.file.split('/').pop()!;
      const p = parseKeyFileName(base);
      if (p && isSafeKeyFileName(base) && p.keyId === keyId) {
        fileName = base;
        role = p.role;
        break;
      }
      if (p) role = p.role;
      notes.push(finding('IMPORT_RENAMED', e.file, `${e.file} is not a safe name for key ${keyId}; a name is derived from the key`, { source: 'import', keyId }));
    }
    if (!fileName) fileName = keyFileName(keyId, await primaryIdentity(key), role);
    const plan: Plan = { key, role, fileName };
    // Keep the group's bytes when nothing had to be merged.
    if (distinct.length === 1 && !prior) {
      const src = [...primaryEntries, ...roleEntries].find((e) => e.single && e.file.endsWith(`/${fileName}`)) ??
        [...primaryEntries, ...roleEntries].find((e) => e.single);
      if (src) plan.armored = src.bytes;
    }
    plans.push(plan);
  }

  // ---- certificates
  const pkiDir = layout === 'wg' ? 'pki/all' : 'pki';
  type CertPlan = { name: string; pem: Buffer; sig: string | null; text: Buffer | null };
  const certPlans: CertPlan[] = [];
  const pkiFiles = new Set(await listFiles(path.join(root, ...pkiDir.split('/')), ''));
  for (const n of [...pkiFiles].filter((f) => f.endsWith('.crt'))) {
    const stem = n.slice(0, -4);
    let name: string;
    try {
      name = validateCertName(stem);
    } catch (err) {
      notes.push(finding('IMPORT_UNREADABLE', `${pkiDir}/${n}`, `${pkiDir}/${n}: ${(err as Error).message}; not imported`, { source: 'import' }));
      continue;
    }
    const read = (f: string) => fs.readFile(path.join(root, ...pkiDir.split('/'), f));
    certPlans.push({
      name,
      pem: await read(n),
      sig: pkiFiles.has(`${n}.asc`) ? (await read(`${n}.asc`)).toString('utf8') : null,
      text: pkiFiles.has(`${stem}.txt`) ? await read(`${stem}.txt`) : null,
    });
  }

  // ---- upstream release-signing keys
  const sourcePlan = await planSourceFolder(root, dest, notes);
  const vouchedBefore = await sourceVouches(dest);

  const message = opts.message ?? `Import collection from ${path.basename(path.dirname(root)) || root}/${path.basename(root)}`;
  const { commit } = await dest.apply(async (c) => {
    for (const p of plans) {
      const o: { fileName: string; armored?: Buffer } = { fileName: p.fileName };
      if (p.armored) o.armored = p.armored;
      await c.putKey(p.key, p.role, o);
    }
    for (const cp of certPlans) await c.putCert(cp.name, cp.pem, cp.sig, { text: cp.text });
    for (const f of sourcePlan.files) await c.putSourceFile(f.name, f.bytes);
    if (sourcePlan.list) await c.putSourceListBytes(sourcePlan.list);
  }, { message, trailers: opts.trailers ?? {}, signer: opts.signer ?? null, date: now });

  const auditOpts: Parameters<typeof auditCollection>[1] = { policy, now };
  if (opts.manifestKeys) auditOpts.manifestKeys = opts.manifestKeys;
  const audit = await auditCollection(dest, auditOpts);
  return {
    layout,
    imported: {
      keys: plans.map((p) => keyIdOf(p.key)).sort(),
      certs: certPlans.map((c) => c.name).sort(),
      sourceFiles: sourcePlan.files.map((f) => f.name),
      sourceList: sourcePlan.list !== null,
    },
    added: { ...(await changedByCommit(dest, commit, plans, certPlans)), sourceKeys: commit ? newVouches(vouchedBefore, await sourceVouches(dest)) : [] },
    findings: [...notes, ...audit],
    commit,
  };
}

/**
 * What pgp/for-source/ of the source brings: every file, byte for byte,
 * under its own name (one the folder can hold: a name with a path or
 * control character, or a hidden one, is replaced by the rule's name for
 * the key inside, and reported). A file that cannot be read as a key is
 * kept too and reported by the audit: the group's folder is copied, not
 * judged. Files the collection already holds byte for byte are not written
 * again. A file the collection holds under the same name with other bytes:
 * the same key is merged (no signature lost); anything else keeps the
 * collection's file and is reported.
 *
 * The list: the group's bytes as they are. Rows the collection's list has
 * and the group's does not (added by the bot since an earlier import) are
 * spliced into the group's text, so no vouch is dropped either way.
 */
async function planSourceFolder(root: string, dest: Collection, notes: Finding[]): Promise<{ files: { name: string; bytes: Buffer }[]; list: Buffer | null }> {
  const dir = path.join(root, 'pgp', 'for-source');
  const out: { files: { name: string; bytes: Buffer }[]; list: Buffer | null } = { files: [], list: null };
  const listName = PATHS.sourceList.slice(PATHS.forSource.length + 1);
  const rel = (n: string) => `pgp/for-source/${n}`;
  for (const n of await listFiles(dir, '')) {
    if (n === listName) continue;
    const bytes = await fs.readFile(path.join(dir, n));
    let keys: openpgp.PublicKey[] = [];
    try {
      if (!n.endsWith('.md')) keys = (await readKeysAny(bytes)).map((k) => (k.isPrivate() ? k.toPublic() : k));
    } catch {
      // kept as found; the audit reports it (SOURCE_KEY_UNREADABLE)
    }
    let name = n;
    if (!isKeepableSourceFileName(n)) {
      if (keys.length === 0) {
        notes.push(finding('IMPORT_UNREADABLE', rel(n), `${rel(n)}: no file of the collection can have this name, and it holds no key to name it by; not imported`, { source: 'import' }));
        continue;
      }
      name = sourceKeyFileName(keyIdOf(keys[0]), await primaryIdentity(keys[0]));
      notes.push(finding('IMPORT_RENAMED', rel(n), `${rel(n)} is not a name a file of the collection can have; stored as ${rel(name)}`, { source: 'import', keyId: keyIdOf(keys[0]) }));
    }
    const have = await fs.readFile(path.join(dest.dir, ...rel(name).split('/'))).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (have === null) {
      out.files.push({ name, bytes });
      continue;
    }
    if (have.equals(bytes)) continue;
    const held = await readKeysAny(have).catch(() => [] as openpgp.Key[]);
    if (keys.length === 1 && held.length === 1 && fingerprintOf(held[0]) === fingerprintOf(keys[0])) {
      if (sameKeyContent(held[0], keys[0])) continue;
      const merged = await unionKeys([held[0], keys[0]]);
      if (sameKeyContent(merged, held[0])) continue;
      out.files.push({ name, bytes: sameKeyContent(merged, keys[0]) ? bytes : Buffer.from(merged.armor(ARMOR_CONFIG), 'utf8') });
      notes.push(finding('IMPORT_MERGED', keyIdOf(keys[0]), `key ${keyIdOf(keys[0])}: ${rel(n)} and the collection's ${rel(name)} differed; they were merged`, { source: 'import', keyId: keyIdOf(keys[0]) }));
      continue;
    }
    notes.push(finding('IMPORT_SOURCE_CONFLICT', rel(name), `${rel(n)} holds other data than the collection's ${rel(name)}; the collection's file is kept`, { source: 'import', file: rel(name) }));
  }

  const group = await fs.readFile(path.join(dir, listName)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (group !== null) {
    const have = await dest.sourceListBytes();
    if (have === null) out.list = group;
    else if (!have.equals(group)) {
      const theirs = parseSourceList(group.toString('latin1'));
      const ours = sourceRows(parseSourceList(have.toString('latin1')));
      const merged = withRows(theirs, ours);
      const bytes = merged === theirs ? group : Buffer.from(formatSourceList(merged), 'latin1');
      if (!bytes.equals(have)) out.list = bytes;
    }
  }
  return out;
}

/** Each source-signing key (by fingerprint) and the releases rows point at it for, in list order (one per release, case-insensitive). */
async function sourceVouches(col: Collection): Promise<Map<string, string[]>> {
  const keys = await col.sourceKeys();
  const names = new Set((await col.scanSourceFolder()).map((s) => s.file.slice(s.file.lastIndexOf('/') + 1)));
  const out = new Map<string, string[]>();
  for (const { row, key } of resolveRows(sourceRows(await col.sourceList()), keys, names)) {
    if (!key) continue;
    const releases = out.get(key.fingerprint) ?? [];
    if (!releases.some((r) => r.toLowerCase() === row.release.toLowerCase())) releases.push(row.release);
    out.set(key.fingerprint, releases);
  }
  return out;
}

/** The vouches `after` holds that `before` did not: what the import brought, for the log. */
function newVouches(before: Map<string, string[]>, after: Map<string, string[]>): SourceVouches[] {
  const out: SourceVouches[] = [];
  for (const [fingerprint, releases] of after) {
    const had = (before.get(fingerprint) ?? []).map((r) => r.toLowerCase());
    const fresh = releases.filter((r) => !had.includes(r.toLowerCase()));
    if (fresh.length) out.push({ fingerprint, releases: fresh, added: !before.has(fingerprint) });
  }
  return out.sort((a, b) => a.fingerprint.localeCompare(b.fingerprint));
}

/** Which planned keys and certificates the import commit added (A) or changed (M). */
async function changedByCommit(
  dest: Collection, commit: string | null,
  plans: { key: openpgp.PublicKey; fileName: string }[], certPlans: { name: string; pem: Buffer }[],
): Promise<Pick<ImportResult['added'], 'keys' | 'certs'>> {
  if (!commit) return { keys: [], certs: [] };
  // --root: the first commit of a new collection lists every file as added.
  const out = await dest.git(['diff-tree', '--root', '--no-commit-id', '--name-status', '-r', commit]);
  const status = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [st, file] = line.split('\t');
    if (st && file) status.set(file, st[0]);
  }
  const keys = plans.flatMap((p) => {
    const st = status.get(`pgp/all/${p.fileName}`);
    return st === 'A' || st === 'M'
      ? [{ fingerprint: p.key.getFingerprint().toUpperCase(), identity: p.key.getUserIDs()[0] ?? '', added: st === 'A' }] : [];
  }).sort((a, b) => a.fingerprint.localeCompare(b.fingerprint));
  const certs = certPlans.flatMap((c) => {
    const st = status.get(`pki/all/${c.name}.crt`) ?? status.get(`pki/all/${c.name}.crt.asc`);
    return st === 'A' || st === 'M' ? [{ name: c.name, sha256: createHash('sha256').update(c.pem).digest('hex'), added: st === 'A' }] : [];
  }).sort((a, b) => a.name.localeCompare(b.name));
  return { keys, certs };
}
