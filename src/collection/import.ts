/**
 * `import`: bring an existing, hand-kept collection under the bot.
 *
 * Layouts accepted (as found in the group's repositories):
 *   flat:  pgp/*.asc, pki/*.crt (+ .crt.asc, .txt)            (vmworkshop, zvm-community-tools)
 *   wg:    pgp/all/, pgp/signing/, pgp/email/, pgp/pgp-bundle.asc,
 *          pki/all/, pki/pki-bundle.pem                        (the working group's repository)
 * A directory holding `ztrust/` with one of these inside is accepted too.
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
import { Collection, primaryIdentity, type Signer, type Trailers } from './collection.js';
import { CollectionError } from './errors.js';
import { isSafeKeyFileName, keyFileName, parseKeyFileName, validateCertName, type KeyRole } from './naming.js';

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
  imported: { keys: string[]; certs: string[] };
  /**
   * What the import changed, for the transparency log: keys whose file is new
   * (`added: true`) or changed, and certificates that are new or changed.
   * Files that were already there byte for byte are not listed.
   */
  added: { keys: { fingerprint: string; identity: string; added: boolean }[]; certs: { name: string; sha256: string; added: boolean }[] };
  /** Notes about the source (subject = path relative to it), then the audit of the result. */
  findings: Finding[];
  commit: string | null;
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

  const message = opts.message ?? `Import collection from ${path.basename(path.dirname(root)) || root}/${path.basename(root)}`;
  const { commit } = await dest.apply(async (c) => {
    for (const p of plans) {
      const o: { fileName: string; armored?: Buffer } = { fileName: p.fileName };
      if (p.armored) o.armored = p.armored;
      await c.putKey(p.key, p.role, o);
    }
    for (const cp of certPlans) await c.putCert(cp.name, cp.pem, cp.sig, { text: cp.text });
  }, { message, trailers: opts.trailers ?? {}, signer: opts.signer ?? null, date: now });

  const auditOpts: Parameters<typeof auditCollection>[1] = { policy, now };
  if (opts.manifestKeys) auditOpts.manifestKeys = opts.manifestKeys;
  const audit = await auditCollection(dest, auditOpts);
  return {
    layout,
    imported: { keys: plans.map((p) => keyIdOf(p.key)).sort(), certs: certPlans.map((c) => c.name).sort() },
    added: await changedByCommit(dest, commit, plans, certPlans),
    findings: [...notes, ...audit],
    commit,
  };
}

/** Which planned keys and certificates the import commit added (A) or changed (M). */
async function changedByCommit(
  dest: Collection, commit: string | null,
  plans: { key: openpgp.PublicKey; fileName: string }[], certPlans: { name: string; pem: Buffer }[],
): Promise<ImportResult['added']> {
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
