/**
 * The `--root FILE --collection DIR` pin the verifying tools share
 * (verify-digest, verify-proof): the bot key fingerprint and the log key
 * they check against are the current root's, reached from the pinned one by
 * the chain walk (src/root/). Kept apart from cli/root.ts so that those
 * tools do not load the worker's modules.
 */
import { readFile } from 'node:fs/promises';
import { describeError } from '../src/errors.js';
import { DEFAULT_CRYPTO_POLICY } from '../src/policy/index.js';
import { verifyPublishedRoot } from '../src/root/verify.js';

export interface RootPinOptions {
  /** A root file the user saved earlier. */
  root?: string;
  /** The collection checkout whose root/ is walked. */
  collection?: string;
}

export interface RootPin {
  version: number;
  botKey: string;
  /** Every bot key the chain named, oldest first (the current root's last). */
  botKeys: string[];
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
  return { version: r.current.version, botKey: r.current.botKey, botKeys: r.botKeys, logKey: r.current.logKey, maintainers: r.current.maintainers };
}

