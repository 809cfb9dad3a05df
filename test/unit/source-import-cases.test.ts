/**
 * importCollection on pgp/for-source/ beyond the first import of a clean
 * folder (test/unit/source-import.test.ts): the layouts it is found in,
 * files that hold other than one key or are named for another key, a
 * re-import over a collection the bot has added rows to, a file of the same
 * name with other data, a key that arrives after its row, names no file of
 * the collection can have, and the log entries each case makes. Keys come
 * from real GnuPG.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { auditCollection, type Finding } from '../../src/collection/audit.js';
import { Collection } from '../../src/collection/collection.js';
import { importCollection, type ImportResult } from '../../src/collection/import.js';
import { readKeysAny } from '../../src/pgp/inspect.js';
import { importEntries } from '../../src/ledger/import-entries.js';
import { indexRows } from '../../src/ledger/service.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'zt-srccase-'));
let gpg: GpgHome;
const K: Record<'a' | 'b' | 'c', { fpr: string; id: string; armored: string; file: string }> = {} as never;
after(async () => {
  await gpg?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

before(async () => {
  gpg = await makeGpgHome();
  for (const [n, uid] of [['a', 'Alpha Upstream <alpha@up.example>'], ['b', 'Beta Upstream <beta@up.example>'], ['c', 'Gamma Upstream <gamma@up.example>']] as const) {
    const fpr = await gpg.genKey(uid, { encryptSubkey: false });
    const id = fpr.slice(-16).toLowerCase();
    K[n] = { fpr, id, armored: await gpg.exportPublic(fpr), file: `0x${id}-${uid.match(/<(.*)>/)![1]}-signing.asc` };
  }
});

let seq = 0;
/** A source directory: `base` (e.g. 'ztrust') / pgp / for-source with the given files. */
function sourceDir(files: Record<string, string | Buffer>, opts: { base?: string; wg?: boolean } = {}): string {
  const dir = path.join(root, `src${seq++}`);
  const pgp = path.join(dir, opts.base ?? '', 'pgp');
  mkdirSync(path.join(pgp, 'for-source'), { recursive: true });
  if (opts.wg !== false) mkdirSync(path.join(pgp, 'all'), { recursive: true });
  for (const [n, b] of Object.entries(files)) writeFileSync(path.join(pgp, 'for-source', n), b);
  return dir;
}
const newCollection = async () => Collection.open(mkdtempSync(path.join(root, 'col-')));
const row = (key: string, release: string) => `    ${key}  ${release}`;
const list = (...rows: string[]) => `# Keys\n\n${rows.join('\n')}\n`;
const read = (c: Collection, n: string) => readFileSync(path.join(c.dir, 'pgp', 'for-source', n));
const codes = (fs: Finding[]) => fs.filter((f) => f.code.startsWith('SOURCE_') || f.code.startsWith('IMPORT_')).map((f) => `${f.code} ${f.subject}`).sort();
const entries = (r: ImportResult) => importEntries(r, 'f'.repeat(64), new Date('2026-12-04T10:00:00Z'))
  .filter((e) => e.type.startsWith('source-')).map((e) => [e.type, e.subject, e.name]);
async function head(c: Collection): Promise<string> {
  return (await c.git(['rev-parse', 'HEAD'])).trim();
}

describe('where the folder is found', () => {
  for (const [what, opts] of [['the wg layout under ztrust/', { base: 'ztrust' }], ['the flat layout', { wg: false }]] as const) {
    test(what, async () => {
      const src = sourceDir({ [K.a.file]: K.a.armored, 'key-and-source.md': list(row(K.a.file, 'bash-5.3')) }, opts);
      const c = await newCollection();
      const r = await importCollection(src, c);
      assert.equal(r.layout, 'wg' in opts ? 'flat' : 'wg');
      assert.deepEqual(r.imported.sourceFiles, [K.a.file]);
      assert.equal(read(c, K.a.file).toString(), K.a.armored);
      assert.deepEqual(entries(r), [['source-key-added', K.a.fpr, 'bash-5.3']]);
      assert.deepEqual(codes(r.findings), []);
    });
  }
});

describe('files that are not one well-named key', () => {
  test('a file of two keys, a file named for another key and a second copy of a key are kept as they are and reported; a row naming the misnamed file logs the key in it', async () => {
    const two = `${K.a.armored}${K.b.armored}`;
    const wrong = `0x${K.b.id}-beta@up.example-signing.asc`;
    const src = sourceDir({
      'both.asc': two,
      [wrong]: K.c.armored,
      'copy-of-gamma.asc': K.c.armored,
      'key-and-source.md': list(row('0x0000000000000000-both.asc', 'x-1'), row(wrong, 'gamma-1.0')),
    });
    const c = await newCollection();
    const r = await importCollection(src, c);
    assert.equal(read(c, 'both.asc').toString(), two);
    assert.equal(read(c, wrong).toString(), K.c.armored);
    assert.equal(read(c, 'copy-of-gamma.asc').toString(), K.c.armored);
    assert.deepEqual(codes(r.findings), [
      'SOURCE_FILENAME_INVALID pgp/for-source/copy-of-gamma.asc',
      `SOURCE_FILENAME_MISMATCH pgp/for-source/${wrong}`,
      `SOURCE_KEY_DUPLICATE ${K.c.id}`,
      'SOURCE_KEY_FILE_MULTIPLE pgp/for-source/both.asc',
      'SOURCE_KEY_UNLISTED pgp/for-source/both.asc',
      'SOURCE_KEY_UNLISTED pgp/for-source/copy-of-gamma.asc',
      'SOURCE_ROW_KEY_MISSING pgp/for-source/0x0000000000000000-both.asc',
    ]);
    // The row names the file, and the file holds key c: the log says what the list says, the audit says the name is wrong.
    assert.deepEqual(entries(r), [['source-key-added', K.c.fpr, 'gamma-1.0']]);
  });

  test('a name no file of the collection can have is replaced by the rule\'s name and reported; a non-key with one is left out and reported', async () => {
    const src = sourceDir({ 'odd\\name.asc': K.a.armored, 'odd\\notes': 'nothing\n', 'key-and-source.md': list(row(K.a.file, 'alpha-2.0')) });
    const c = await newCollection();
    const r = await importCollection(src, c);
    assert.deepEqual(readdirSync(path.join(c.dir, 'pgp', 'for-source')).sort(), [K.a.file, 'key-and-source.md']);
    assert.equal(read(c, K.a.file).toString(), K.a.armored);
    assert.deepEqual(codes(r.findings), ['IMPORT_RENAMED pgp/for-source/odd\\name.asc', 'IMPORT_UNREADABLE pgp/for-source/odd\\notes']);
    assert.deepEqual(entries(r), [['source-key-added', K.a.fpr, 'alpha-2.0']]);
  });

  test('a folder with no list: every key is unlisted, nothing is logged, no list is written', async () => {
    const c = await newCollection();
    const r = await importCollection(sourceDir({ [K.a.file]: K.a.armored }), c);
    assert.deepEqual(codes(r.findings), [`SOURCE_KEY_UNLISTED pgp/for-source/${K.a.file}`]);
    assert.equal(r.imported.sourceList, false);
    assert.equal(await c.sourceListBytes(), null);
    assert.deepEqual(entries(r), []);
  });
});

describe('importing into a collection that already has the folder', () => {
  test('rows the bot added since are kept (spliced into the group\'s text); only the group\'s new rows are logged', async () => {
    const c = await newCollection();
    const groupList = list(row(K.a.file, 'alpha-1.0'), row(K.b.file, 'beta-1.0'));
    const r1 = await importCollection(sourceDir({ [K.a.file]: K.a.armored, [K.b.file]: K.b.armored, 'key-and-source.md': groupList }), c);
    assert.deepEqual(entries(r1).map((e) => e[2]).sort(), ['alpha-1.0', 'beta-1.0']);
    // The bot adds a release for a (as an approved ADD SOURCE would).
    await c.apply((x) => x.addSourceRows([{ key: K.a.file, release: 'alpha-1.1' }]), { message: 'add', signer: null });
    const withBotRow = (await c.sourceListBytes())!.toString();
    // The same group folder again: nothing changes, the bot's row stays.
    const before = await head(c);
    const r2 = await importCollection(sourceDir({ [K.a.file]: K.a.armored, [K.b.file]: K.b.armored, 'key-and-source.md': groupList }), c);
    assert.equal(r2.commit, null);
    assert.equal(await head(c), before);
    assert.equal((await c.sourceListBytes())!.toString(), withBotRow);
    assert.deepEqual(entries(r2), []);
    // The group adds a row for b and prose: its text, plus the bot's row; one source-release-added entry for b's new release.
    const group2 = `${list(row(K.a.file, 'alpha-1.0'), row(K.b.file, 'beta-1.0'), row(K.b.file, 'beta-1.1'))}\nAsk on the list.\n`;
    const r3 = await importCollection(sourceDir({ [K.a.file]: K.a.armored, [K.b.file]: K.b.armored, 'key-and-source.md': group2 }), c);
    assert.equal((await c.sourceListBytes())!.toString(), group2.replace(row(K.a.file, 'alpha-1.0'), `${row(K.a.file, 'alpha-1.0')}\n${row(K.a.file, 'alpha-1.1')}`));
    assert.deepEqual(entries(r3), [['source-release-added', K.b.fpr, 'beta-1.1']]);
  });

  test('a key whose row came first: its file arriving later logs source-key-added for that row', async () => {
    const c = await newCollection();
    const bare = `0x${K.c.id}`;
    const r1 = await importCollection(sourceDir({ 'key-and-source.md': list(row(bare, 'gamma-3.0')) }), c);
    assert.deepEqual(codes(r1.findings), [`SOURCE_ROW_KEY_MISSING pgp/for-source/${bare}`]);
    assert.deepEqual(entries(r1), []);
    const r2 = await importCollection(sourceDir({ [K.c.file]: K.c.armored, 'key-and-source.md': list(row(bare, 'gamma-3.0')) }), c);
    assert.deepEqual(codes(r2.findings), []);
    assert.deepEqual(entries(r2), [['source-key-added', K.c.fpr, 'gamma-3.0']]);
    // The store's index reads those entries: voucher '' and ticket 'import'.
    const idx = indexRows(7, importEntries(r2, 'f'.repeat(64), new Date('2026-12-04T10:00:00Z')));
    assert.deepEqual(idx.sourceVouches.map((v) => [v.logIndex, v.release, v.package, v.fingerprint, v.voucher, v.ticket]),
      [[7, 'gamma-3.0', 'gamma', K.c.fpr, '', 'import']]);
  });

  test('another key under a name the collection holds: the collection\'s file is kept, and reported', async () => {
    const c = await newCollection();
    await importCollection(sourceDir({ [K.a.file]: K.a.armored }), c);
    const before = await head(c);
    const r = await importCollection(sourceDir({ [K.a.file]: K.b.armored }), c);
    assert.equal(read(c, K.a.file).toString(), K.a.armored);
    assert.ok(codes(r.findings).includes(`IMPORT_SOURCE_CONFLICT pgp/for-source/${K.a.file}`));
    assert.equal(r.commit, null);
    assert.equal(await head(c), before);
  });

  test('a newer copy of the same key (now revoked) is merged: no signature lost, the revocation kept', async () => {
    const c = await newCollection();
    await importCollection(sourceDir({ [K.b.file]: K.b.armored, 'key-and-source.md': list(row(K.b.file, 'beta-1.0')) }), c);
    const rev = readFileSync(path.join(gpg.home, 'openpgp-revocs.d', `${K.b.fpr}.rev`), 'utf8').replace(/^:-----BEGIN/m, '-----BEGIN');
    await gpg.importKeys(rev);
    const revoked = await gpg.exportPublic(K.b.fpr);
    const r = await importCollection(sourceDir({ [K.b.file]: revoked, 'key-and-source.md': list(row(K.b.file, 'beta-1.0')) }), c);
    assert.ok(r.commit);
    // The group's copy holds everything the collection's did: kept byte for byte.
    assert.equal(read(c, K.b.file).toString(), revoked);
    assert.deepEqual(codes(r.findings), ['IMPORT_MERGED ' + K.b.id, `SOURCE_KEY_REVOKED ${K.b.id}`]);
    assert.equal((await readKeysAny(read(c, K.b.file)))[0].revocationSignatures.length, 1);
    assert.deepEqual(entries(r), [], 'the row was logged by the first import');
  });
});

describe('the list\'s bytes', () => {
  test('rows the bot adds leave every other byte, whatever the encoding (UTF-8 prose, a stray Latin-1 byte, CRLF)', async () => {
    const group = Buffer.concat([
      Buffer.from('# Schlüssel\r\n\r\n', 'utf8'), Buffer.from([0x47, 0x72, 0xf6, 0xdf, 0x65, 0x0d, 0x0a]), // "Größe" in Latin-1
      Buffer.from(`${row(K.a.file, 'alpha-1.0')}\r\n\r\nFragen? \u2014 die Liste.\r\n`, 'utf8'),
    ]);
    const c = await newCollection();
    await importCollection(sourceDir({ [K.a.file]: K.a.armored, 'key-and-source.md': group }), c);
    assert.ok((await c.sourceListBytes())!.equals(group));
    await c.apply((x) => x.addSourceRows([{ key: K.a.file, release: 'alpha-1.1' }]), { message: 'add', signer: null });
    const added = Buffer.from(`${row(K.a.file, 'alpha-1.1')}\r\n`, 'latin1');
    const at = group.indexOf(Buffer.from(`${row(K.a.file, 'alpha-1.0')}\r\n`)) + Buffer.byteLength(`${row(K.a.file, 'alpha-1.0')}\r\n`);
    assert.ok((await c.sourceListBytes())!.equals(Buffer.concat([group.subarray(0, at), added, group.subarray(at)])));
  });
});

describe('log entries', () => {
  test('a key listed for more releases than one request may name gets its releases over several entries', () => {
    const releases = Array.from({ length: 120 }, (_, i) => `pkg-1.${i}`);
    const r = { added: { keys: [], certs: [], sourceKeys: [{ fingerprint: K.a.fpr, releases, added: true }] } } as unknown as ImportResult;
    const e = importEntries(r, 'f'.repeat(64), new Date('2026-12-04T10:00:00Z'));
    assert.deepEqual(e.map((x) => [x.type, x.name!.split(' ').length]), [['source-key-added', 50], ['source-release-added', 50], ['source-release-added', 20]]);
    assert.deepEqual(e.flatMap((x) => x.name!.split(' ')), releases);
  });

  test('the audit of a collection without the folder has no finding about it', async () => {
    const c = await newCollection();
    await c.apply(() => Promise.resolve(), { message: 'empty', signer: null });
    assert.deepEqual(codes(await auditCollection(c)), []);
  });
});
