/**
 * For the user-ID claim tests: the unit-test community (Alice, Bob, Carol,
 * maintainers, threshold 2) plus Mallory, a member whose key is made by real
 * GnuPG and certified by Alice and Bob, who mails the bot with gpg-signed
 * PGP/MIME. Snapshots of what must not change: every collection file's
 * bytes, the git head, the tickets, the queued changes, the log entries.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportWkd } from '../../src/collection/wkd.js';
import { readKeysAny } from '../../src/pgp/inspect.js';
import type { LogEntry } from '../../src/tlog/entry.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { TO_BOT, certify, community, type Reply, type World } from '../unit/commands-world.js';

export type Community = Awaited<ReturnType<typeof community>>;

export interface Mallory {
  gpg: GpgHome;
  fpr: string;
  /** gpg --quick-add-uid on her key. */
  addUid(uid: string): Promise<void>;
  /** Her key as gpg exports it now, in an UPDATE KEY mail signed by her (gpg, PGP/MIME). */
  updateKeyMail(): Promise<Buffer>;
}

export async function withMallory(opts: Parameters<typeof community>[0] = {}): Promise<Community & { mallory: Mallory; logged: LogEntry[] }> {
  const c = await community(opts);
  const gpg = await makeGpgHome();
  const fpr = await gpg.genKey('Mallory Member <mallory@people.test>');
  const [pub] = await readKeysAny(await gpg.exportPublic(fpr));
  await c.w.seed([await certify(pub, [c.alice, c.bob])]);
  // A log that records what it is asked to append: "no log entry" is checked against it.
  const logged: LogEntry[] = [];
  c.w.logAppend = async (entry) => {
    logged.push(entry);
    return logged.length - 1;
  };
  const mallory: Mallory = {
    gpg,
    fpr,
    async addUid(uid) {
      const r = await gpg.run(['--quick-add-uid', fpr, uid]);
      assert.equal(r.code, 0, r.stderr);
    },
    async updateKeyMail() {
      return gpg.pgpMimeMessage(fpr, { from: 'Mallory Member <mallory@people.test>', to: 'bot@ztrust.test', subject: 'my key' },
        `UPDATE KEY\n${TO_BOT}\n\n${await gpg.exportPublic(fpr)}`);
    },
  };
  return { ...c, mallory, logged };
}

export interface Snapshot {
  files: Map<string, Buffer>;
  head: string;
  tickets: number;
  pending: string[];
  wkd: Map<string, Buffer>;
}

/** Every file under `dir` (relative path -> bytes). */
async function tree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (rel: string): Promise<void> => {
    for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) await walk(r);
      else out.set(r, await fs.readFile(path.join(dir, r)));
    }
  };
  await walk('');
  return out;
}

export async function snapshot(w: World): Promise<Snapshot> {
  const col = await w.collection();
  const files = new Map<string, Buffer>();
  for (const f of await col.files()) files.set(f, await fs.readFile(path.join(col.dir, ...f.split('/'))));
  const wkdDir = mkdtempSync(path.join(tmpdir(), 'zt-uid-wkd-'));
  await exportWkd(col, wkdDir);
  return {
    files,
    head: (await col.git(['rev-parse', 'HEAD'])).trim(),
    tickets: (await w.store.listTickets()).length,
    pending: await w.store.pendingChanges(),
    wkd: await tree(wkdDir),
  };
}

/** Nothing changed: collection bytes and commit, tickets, queued changes, the WKD tree. */
export function assertUnchanged(before: Snapshot, after: Snapshot): void {
  assert.deepEqual([...after.files.keys()], [...before.files.keys()], 'the same collection files');
  for (const [f, b] of before.files) assert.ok(after.files.get(f)!.equals(b), `${f} unchanged`);
  assert.equal(after.head, before.head, 'no new commit');
  assert.equal(after.tickets, before.tickets, 'no ticket');
  assert.deepEqual(after.pending, before.pending, 'no queued change');
  assert.deepEqual([...after.wkd.keys()].sort(), [...before.wkd.keys()].sort(), 'the same WKD files');
  for (const [f, b] of before.wkd) assert.ok(after.wkd.get(f)!.equals(b), `WKD ${f} unchanged`);
}

/** The reply is a well-formed signed mail (Python's email package, gpg --verify). */
export async function assertWellFormed(w: World, r: Reply): Promise<void> {
  await assertBotMail(r.row.raw, w.bot.publicArmored, { status: r.status });
}

/** GET KEY <address>, unsigned: the fingerprints the reply carries. */
export async function getKeyFingerprints(w: World, address: string): Promise<{ status: string; fprs: string[]; text: string }> {
  const s = await w.send(await w.mail(null, `GET KEY ${address}`));
  const r = s.replies[0];
  await assertWellFormed(w, r);
  const fprs = [...r.text.matchAll(/^Fingerprint: ([0-9A-F]{40})$/gm)].map((m) => m[1]);
  return { status: r.status, fprs, text: r.text };
}
