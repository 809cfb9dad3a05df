/**
 * `ztrust-bot root verify DIR [--root FILE] [--json]`: walk the published
 * trust root of a collection checkout (DIR/root/, src/root/) from a root the
 * user saved (--root) or from version 1 (trusted on first use), with the
 * collection's keys, and print who approved each version and what the
 * current root says.
 *
 * Also the `--root FILE --collection DIR` pin the verifying tools share
 * (verify-digest, verify-proof): the bot key fingerprint and the log key
 * they check against are the current root's, reached from the pinned one.
 *
 * Exit status: 0 the chain holds (and the current root has not expired);
 * 1 it does not (the reason on stderr); 2 usage (unreadable files).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { describeError } from '../src/errors.js';
import { DEFAULT_CRYPTO_POLICY } from '../src/policy/index.js';
import { isoSeconds } from '../src/root/document.js';
import { RootError } from '../src/root/errors.js';
import { verifyPublishedRoot } from '../src/root/verify.js';
import type { ChainResult } from '../src/root/chain.js';

export interface RootPinOptions {
  /** A root file the user saved earlier. */
  root?: string;
  /** The collection checkout whose root/ is walked. */
  collection?: string;
}

export interface RootPin {
  version: number;
  botKey: string;
  logKey: string;
  maintainers: string[];
}

/**
 * The current root reached from the pinned one, or null without --root.
 * Throws Error (usage: exit 2) for unreadable input, RootError (exit 1)
 * when the chain does not hold.
 */
export async function resolveRootPin(o: RootPinOptions, now = new Date()): Promise<RootPin | null> {
  if (o.root === undefined) return null;
  if (o.collection === undefined) throw new Error('--root needs --collection DIR (the collection checkout whose root/ leads from it to the current root)');
  let trusted: string;
  try {
    trusted = (await readFile(o.root)).toString('latin1');
  } catch (err) {
    throw new Error(`--root ${o.root}: ${describeError(err)}`, { cause: err });
  }
  const r = await verifyPublishedRoot(o.collection, { trusted, policy: DEFAULT_CRYPTO_POLICY, now });
  return { version: r.current.version, botKey: r.current.botKey, logKey: r.current.logKey, maintainers: r.current.maintainers };
}

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
