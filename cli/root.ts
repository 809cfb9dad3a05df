/**
 * `ztrust-bot root verify DIR [--root FILE] [--json]`: walk the published
 * trust root of a collection checkout (DIR/root/, src/root/) from a root the
 * user saved (--root) or from version 1 (trusted on first use), with the
 * collection's keys, and print who approved each version and what the
 * current root says.
 *
 * (The `--root FILE` pin of verify-digest and verify-proof is cli/root-pin.ts.)
 *
 * `root init`, `root propose`, `root status`: the operator's side of the
 * ceremony (drafts are mailed to the maintainers, who approve by signed
 * mail: src/commands/root-approve.ts).
 *
 * Exit status: 0 the chain holds (and the current root has not expired);
 * 1 it does not (the reason on stderr); 2 usage (unreadable files).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { describeError } from '../src/errors.js';
import { DEFAULT_CRYPTO_POLICY } from '../src/policy/index.js';
import { RootError } from '../src/root/errors.js';
import { verifyPublishedRoot } from '../src/root/verify.js';
import type { ChainResult } from '../src/root/chain.js';
import { defaultConfigPath, loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/logger.js';
import { botPassphrase, openApp, type App } from '../src/app/app.js';
import { keyFileFingerprint, nextBotKey } from '../src/root/rotation.js';
import { collectionOf } from '../src/changes/commits.js';
import { dataLayout } from '../src/datadir.js';
import { Keyring } from '../src/pgp/keyring.js';
import { openRootDraft } from '../src/root/ceremony.js';
import { formatRoot, isoSeconds, type RootDocument } from '../src/root/document.js';
import { currentRootOf, firstRoot, nextRoot } from '../src/root/draft.js';
import { ownKeys, rootStanding } from '../src/root/start.js';
import { sendOutboxNow } from './digest.js';
import { composeNotice } from '../src/outbound/notice.js';

function report(r: ChainResult): string[] {
  const out: string[] = [];
  for (const s of r.steps) {
    out.push(`ok: root version ${s.version} (sha256 ${s.digest}) approved by ${s.approvedBy.join(', ')}`);
    for (const n of s.notCounted) out.push(`note: not counted: ${n}`);
  }
  const c = r.current;
  out.push(
    `current root: version ${c.version}, issued ${isoSeconds(c.issued)}, expires ${isoSeconds(c.expires)}${r.expired ? ' (EXPIRED)' : ''}`,
    `  threshold ${c.threshold} of ${c.maintainers.length} maintainers: ${c.maintainers.join(', ')}`,
    `  bot key ${c.botKey}`,
    `  log ${c.logOrigin}, key ${c.logKey}`,
  );
  return out;
}

/** The action of `root verify` (its options are defined in cli/main.ts). */
export async function rootVerify(dir: string, o: { root?: string; json?: boolean }, cmd: Command): Promise<void> {
  const out = cmd.configureOutput();
  const write = (s: string) => (out.writeOut ? out.writeOut(s) : process.stdout.write(s));
  let trusted: string | null = null;
  try {
    if (o.root !== undefined) trusted = (await readFile(o.root)).toString('latin1');
  } catch (err) {
    return cmd.error(`root verify: --root ${o.root}: ${describeError(err)}`, { exitCode: 2, code: 'ztrust.root.usage' });
  }
  let r: ChainResult;
  try {
    r = await verifyPublishedRoot(dir, { trusted, policy: DEFAULT_CRYPTO_POLICY, now: new Date(), allowExpired: true });
  } catch (err) {
    if (o.json) write(`${JSON.stringify({ ok: false, code: err instanceof RootError ? err.code : null, reason: describeError(err) })}\n`);
    return cmd.error(`root verify: ${dir}: ${describeError(err)}`, { exitCode: 1, code: 'ztrust.root.failed' });
  }
  if (o.json) {
    write(`${JSON.stringify({
      ok: !r.expired, expired: r.expired, version: r.current.version, digest: r.currentDigest, maintainers: r.current.maintainers,
      threshold: r.current.threshold, botKey: r.current.botKey, logOrigin: r.current.logOrigin, logKey: r.current.logKey,
      expires: isoSeconds(r.current.expires), steps: r.steps,
    })}\n`);
  } else {
    for (const l of report(r)) write(`${l}\n`);
  }
  if (r.expired) return cmd.error(`root verify: ${dir}: the current root (version ${r.current.version}) has expired`, { exitCode: 1, code: 'ztrust.root.failed' });
  if (!o.json) write(`${dir}: root version ${r.current.version} verified${trusted === null ? ' (from version 1, trusted on first use: pin a root with --root FILE)' : ''}\n`);
}

// ----------------------------------------------------------------- the operator's side of the ceremony

interface OperatorOptions { config?: string; json?: boolean }

async function withApp<T>(o: OperatorOptions, fn: (app: App) => Promise<T>): Promise<T> {
  const cfg = loadConfig(o.config ?? defaultConfigPath());
  const app = await openApp(cfg, createLogger(process.env.ZTRUST_LOG_LEVEL ?? cfg.logging.level));
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

/** Record a draft and its notices in one transaction, send the notices now, and say what happened. */
async function openAndSend(app: App, prev: RootDocument | null, doc: RootDocument, write: (s: string) => void): Promise<string[]> {
  const keyring = Keyring.fromKeys((await (await collectionOf(app.config)).keyring()).all());
  const d = await openRootDraft({ config: app.config, keyring, policy: app.policy, now: new Date() }, prev, doc, 'operator');
  const rows = [];
  for (const n of d.notices) {
    rows.push(...(await composeNotice(app.config, app.signer, { id: n.tag, to: n.to, subject: n.subject, status: n.status, fields: n.fields, prose: n.body }, app.logger)).rows);
  }
  await app.store.commitEffects([d.effect], rows);
  const s = await sendOutboxNow(app, rows.map((n) => n.id));
  write(`root version ${d.version} drafted, SHA-256 ${d.digest}\n`);
  write(d.text.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n'));
  write(`approval requests: ${s.sent} sent${s.failed.length ? `, ${s.failed.length} failed (kept queued for "ztrust-bot run")` : ''}\n`);
  for (const n of d.notTold) write(`not told: ${n}\n`);
  write(`each maintainer approves with a signed mail: APPROVE ROOT-${d.version} ${d.digest}\n`);
  return d.notTold;
}

/** `root init`: draft version 1 from the config and ask its maintainers to approve it. */
export async function rootInit(o: OperatorOptions, cmd: Command): Promise<void> {
  const out = cmd.configureOutput();
  const write = (s: string) => (out.writeOut ? out.writeOut(s) : process.stdout.write(s));
  await withApp(o, async (app) => {
    const cfg = app.config;
    if (currentRootOf(dataLayout(cfg.dataDir).collection)) {
      return cmd.error('root init: the collection already has a root; change it with ztrust-bot root propose', { exitCode: 2, code: 'ztrust.root.usage' });
    }
    if (cfg.maintainers.length === 0 || cfg.threshold > cfg.maintainers.length) {
      return cmd.error(`root init: the config names ${cfg.maintainers.length} maintainer(s) and threshold ${cfg.threshold}: a root needs at least as many maintainers as its threshold`,
        { exitCode: 2, code: 'ztrust.root.usage' });
    }
    const own = ownKeys(cfg, app.signer.fingerprint);
    await openAndSend(app, null, firstRoot(cfg, own.botFingerprint, own.logKey, new Date()), write);
    write('until then the bot runs unrooted: the config alone says who the maintainers are\n');
  });
}

interface ProposeOptions extends OperatorOptions {
  addMaintainer: string[];
  removeMaintainer: string[];
  threshold?: string;
  botKey?: string;
  newBotKey?: boolean;
  logKey?: string;
  renew?: boolean;
}

/** `root propose`: draft the next version (the current root with the changes given) and ask for approvals. */
export async function rootPropose(o: ProposeOptions, cmd: Command): Promise<void> {
  const out = cmd.configureOutput();
  const write = (s: string) => (out.writeOut ? out.writeOut(s) : process.stdout.write(s));
  await withApp(o, async (app) => {
    const current = currentRootOf(dataLayout(app.config.dataDir).collection);
    if (!current) return cmd.error('root propose: the collection has no root yet; start with ztrust-bot root init', { exitCode: 2, code: 'ztrust.root.usage' });
    if (o.newBotKey && o.botKey !== undefined) return cmd.error('root propose: give --new-bot-key or --bot-key, not both', { exitCode: 2, code: 'ztrust.root.usage' });
    // The new key waits in keys/bot-next.key; the bot switches to it once a root names it (src/root/rotation.ts).
    let botKey = o.botKey;
    if (o.newBotKey) {
      const next = await nextBotKey(app.config, botPassphrase(app.config));
      botKey = next.fingerprint;
      write(`${next.made ? 'made a new bot key' : 'the bot key waiting'} in ${dataLayout(app.config.dataDir).botKeyNext}: ${next.fingerprint}\n`);
    } else if (botKey !== undefined && (await keyFileFingerprint(dataLayout(app.config.dataDir).botKeyNext)) !== botKey.replace(/\s+/g, '').toUpperCase()) {
      write(`note: ${dataLayout(app.config.dataDir).botKeyNext} does not hold ${botKey}: put its private key there before the root is approved, or the bot will refuse to start\n`);
    }
    const change = {
      addMaintainers: o.addMaintainer, removeMaintainers: o.removeMaintainer,
      ...(o.threshold !== undefined ? { threshold: Number(o.threshold) } : {}),
      ...(botKey !== undefined ? { botKey } : {}),
      ...(o.logKey !== undefined ? { logKey: o.logKey.trim() } : {}),
    };
    const nothing = !o.addMaintainer.length && !o.removeMaintainer.length && o.threshold === undefined && botKey === undefined && o.logKey === undefined && !o.renew;
    if (nothing) return cmd.error('root propose: say what changes (--add-maintainer, --remove-maintainer, --threshold, --new-bot-key, --bot-key, --log-key, or --renew)', { exitCode: 2, code: 'ztrust.root.usage' });
    let doc: RootDocument;
    try {
      doc = nextRoot(current.doc, current.text, change, app.config.root.validityDays, new Date());
      formatRoot(doc);
    } catch (err) {
      return cmd.error(`root propose: ${describeError(err)}`, { exitCode: 2, code: 'ztrust.root.usage' });
    }
    await openAndSend(app, current.doc, doc, write);
  });
}

/** `root status`: unrooted, or the current root; drafts waiting and their approvals; what the config disagrees with. */
export async function rootStatus(o: OperatorOptions, cmd: Command): Promise<void> {
  const out = cmd.configureOutput();
  const write = (s: string) => (out.writeOut ? out.writeOut(s) : process.stdout.write(s));
  await withApp(o, async (app) => {
    const standing = rootStanding(app.config, app.signer.fingerprint, new Date());
    const drafts = await app.store.listRootDrafts(['pending', 'approved']);
    const draftInfo = await Promise.all(drafts.map(async (d) => ({ ...d, approvals: (await app.store.getRootApprovals(d.version, d.digest)).map((a) => a.fingerprint) })));
    if (o.json) {
      write(`${JSON.stringify({
        state: standing.state,
        current: standing.state === 'unrooted' ? null : { version: standing.current.doc.version, digest: standing.current.digest, expires: isoSeconds(standing.current.doc.expires) },
        problems: standing.state === 'mismatch' ? standing.problems : [],
        drafts: draftInfo.map((d) => ({ version: d.version, digest: d.digest, state: d.state, proposer: d.proposer, approvals: d.approvals })),
      })}\n`);
    } else {
      if (standing.state === 'unrooted') write('unrooted: no trust root yet; the config alone says who the maintainers are (ztrust-bot root init)\n');
      else {
        const c = standing.current;
        write(`root version ${c.doc.version} (SHA-256 ${c.digest}), expires ${isoSeconds(c.doc.expires)}${standing.state === 'expired' ? ' (EXPIRED: state-changing commands are refused until it is renewed)' : ''}\n`);
        if (standing.state === 'mismatch') for (const p of standing.problems) write(`MISMATCH: ${p}\n`);
      }
      for (const d of draftInfo) write(`draft version ${d.version} (${d.state}, by ${d.proposer}), SHA-256 ${d.digest}: approved by ${d.approvals.join(', ') || 'nobody yet'}\n`);
    }
    if (standing.state === 'mismatch' || standing.state === 'expired') cmd.error(`root status: ${standing.state}`, { exitCode: 1, code: 'ztrust.root.failed' });
  });
}
