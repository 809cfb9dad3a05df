/**
 * `ztrust-bot verify-source ARTIFACT [SIGNATURE] --collection DIR`, the
 * domain part: does this downloaded release file check out against the
 * published collection and log, with nothing from the bot but what it
 * publishes? (Issue 11 item 4, DESIGN.md "Source-signing keys".)
 *
 * Every one of these must hold:
 *
 *   1. signature: the detached signature verifies over the artifact's bytes
 *      (openpgp.js, with the policy's strict configuration and its judgement
 *      of the signature's algorithms) with a key of the collection: an
 *      upstream key of pgp/for-source/ first, else a member key of pgp/all/
 *      (the result says which kind). A .sig file may hold several packets
 *      (two keys, or one key with two hashes): each is checked on its own,
 *      packets by upstream keys first, and the result is the first packet
 *      that passes all four checks (it names that packet); when none does,
 *      the one that got furthest, the others' reasons in its notes;
 *   2. key: that key is not revoked, was not expired when it made the
 *      signature, and its algorithm passes the policy (inspectKey);
 *   3. release: pgp/for-source/key-and-source.md has a row for that key and
 *      the artifact's release (the file name less its archive suffix, or
 *      --release);
 *   4. log: the published log holds an entry vouching for that key and
 *      release (found by scanning its entries: offline there is no index),
 *      and that entry's inclusion proof verifies against the checkpoint
 *      signed by the log key the caller trusts. The collection carries no
 *      log: the log directory is published beside it (tlog-tiles files:
 *      checkpoint, tile/, as the bot writes them), and the verifier key must
 *      come from the caller, not from that directory. Without a log the
 *      vouch is unchecked and the result is not ok, unless the caller says
 *      so (`noLog`): then the check is reported as skipped.
 *
 * What a pass does not prove: the release is read from the file name (or
 * --release), which the signature does not cover, so a file renamed to
 * another release the same key is vouched for passes. The result says so in
 * its notes and gives the file's SHA-256 to compare with the announcement.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type * as openpgp from 'openpgp';
import { releaseOfArtifact } from '../collection/artifact-name.js';
import { Collection } from '../collection/collection.js';
import { parseRelease } from '../collection/naming.js';
import { sourceRows, type SourceRow } from '../collection/source-list.js';
import { describeError } from '../errors.js';
import { checkDetached, findIssuer, readDetachedSignature, type DetachedSignature, type SignatureIssuer } from '../pgp/detached.js';
import { fingerprintOf, inspectKey, keyIdOf } from '../pgp/inspect.js';
import { Keyring } from '../pgp/keyring.js';
import { judgeKeyAlgorithm, type CryptoPolicy } from '../policy/index.js';
import { LogReader } from './reader.js';
import { proveVouch, scanVouches, type ProvenVouch } from './source-vouch.js';
import { identityOfKey } from './standing.js';

export type CheckName = 'signature' | 'key' | 'release' | 'log';

export interface SourceCheck {
  name: CheckName;
  /** 'skipped': not checked (the log, with noLog); counts as neither. */
  state: 'ok' | 'failed' | 'skipped';
  detail: string;
}

export interface VerifySourceInput {
  /** The file to check, read as a stream. */
  artifactPath: string;
  signature: Uint8Array;
  signatureName: string;
  /** The published collection: a directory holding pgp/ (or ztrust/pgp/). */
  collectionDir: string;
  /** The release to check against; default: the artifact's file name less its archive suffix. */
  release?: string | null;
  /** The published log and the verifier key the caller trusts; null: no log (see noLog). */
  log: { dir: string; vkey: string } | null;
  /** Without a log, report the vouch as unchecked instead of failing. */
  noLog?: boolean;
  policy: CryptoPolicy;
  now: Date;
}

export interface VerifySourceResult {
  ok: boolean;
  artifact: string;
  signature: string;
  release: string | null;
  key: { fingerprint: string; keyId: string; kind: 'source' | 'member'; file: string | null; identity: string | null } | null;
  /** Which signature packet of the file the result is about (1 for the first), and how many the file holds; null before one is read. */
  packet: { number: number; of: number } | null;
  row: { key: string; release: string } | null;
  entry: { index: number; type: string; time: string; voucher: string | null; ticket: string | null; origin: string; treeSize: number } | null;
  /** The artifact's SHA-256 (hex), when every check holds: to compare with what the project announces. */
  sha256: string | null;
  checks: SourceCheck[];
  /** What a passing result does not prove, and warnings (printed as "note:" lines). */
  notes: string[];
}

/** The directory holding pgp/: DIR itself or DIR/ztrust (the group's repository layout). Null when neither. */
export function collectionRoot(dir: string): string | null {
  for (const root of [dir, path.join(dir, 'ztrust')]) if (existsSync(path.join(root, 'pgp'))) return root;
  return null;
}

interface Candidate { issuer: SignatureIssuer; key: openpgp.PublicKey; kind: 'source' | 'member'; file: string | null }

/** What every candidate packet is checked against, read once. */
interface Context {
  input: VerifySourceInput;
  artifact: string;
  release: string | null;
  sig: DetachedSignature & { ok: true };
  packets: number;
  col: Collection;
  sourceKeys: readonly { file: string; fingerprint: string }[];
  /** The log, opened on first use and shared by the candidates (null: it could not be read, `logError` says why). */
  log?: { reader: LogReader | null; error: string | null };
}

export async function verifySource(input: VerifySourceInput): Promise<VerifySourceResult> {
  const artifact = path.basename(input.artifactPath);
  const empty = (): VerifySourceResult => ({
    ok: false, artifact, signature: input.signatureName, release: null, key: null, packet: null, row: null, entry: null, sha256: null, checks: [], notes: [],
  });
  const failed = (name: CheckName, detail: string): VerifySourceResult => {
    const r = empty();
    r.checks.push({ name, state: 'failed', detail });
    return r;
  };

  const root = collectionRoot(input.collectionDir);
  if (!root) return failed('key', `${input.collectionDir} holds no pgp/ folder (nor ztrust/pgp/): not a published collection`);
  // The release is named before any key is tried: --release must be a release name, not a path.
  const named = input.release ?? null;
  const release = named !== null ? parseRelease(named)?.release ?? null : releaseOfArtifact(artifact)?.release ?? null;
  if (named !== null && !release) return failed('release', `--release ${JSON.stringify(named)} is not a release name (like bash-5.3)`);
  const col = await Collection.open(root, { readOnly: true });
  const sourceKeys = await col.sourceKeys();
  const memberKeys = await col.keys();
  const sourceRing = Keyring.fromKeys(sourceKeys.map((k) => k.key));
  const memberRing = Keyring.fromKeys(memberKeys.map((k) => k.key));

  // 1. The signature, over the artifact's bytes, by a collection key.
  const sig = await readDetachedSignature(input.signature, input.policy);
  if (!sig.ok) return failed('signature', `${input.signatureName}: ${sig.reason}`);
  const candidates: Candidate[] = [];
  const strangers: string[] = [];
  for (const issuer of sig.issuers) {
    const source = findIssuer(issuer, sourceRing);
    const member = source ? null : findIssuer(issuer, memberRing);
    const key = source ?? member;
    if (!key) {
      strangers.push(issuer.fingerprint ?? `key id ${issuer.keyId}`);
      continue;
    }
    const fpr = fingerprintOf(key);
    const file = source ? sourceKeys.find((k) => k.fingerprint === fpr)?.file ?? null : memberKeys.find((k) => k.fingerprint === fpr)?.file ?? null;
    candidates.push({ issuer, key, kind: source ? 'source' : 'member', file });
  }
  if (candidates.length === 0) {
    return failed('signature', `${input.signatureName} was made by ${[...new Set(strangers)].join(', ')}, which is not in the collection (neither pgp/for-source/ nor pgp/all/)`);
  }
  // Upstream source-signing keys first (the sort is stable: packet order within a kind).
  candidates.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'source' ? -1 : 1));

  // Each packet on its own through all four checks; the first that passes them all is the answer.
  const ctx: Context = { input, artifact, release, sig, packets: sig.issuers.length, col, sourceKeys };
  const attempts: VerifySourceResult[] = [];
  for (const c of candidates) {
    const r = empty();
    await checkCandidate(ctx, c, r);
    if (r.ok) {
      r.sha256 = await sha256Of(input.artifactPath);
      r.notes.push(`the release (${r.release}) is ${input.release ? 'the one --release names' : 'taken from the file name'}, which the signature does not cover: a file renamed to another release this key signed is not detected (compare the SHA-256 ${r.sha256} with the project's announcement, or ATTEST/VERIFY it by hash)`);
      return r;
    }
    attempts.push(r);
  }
  return bestFailure(attempts, input.signatureName, artifact);
}

/** How far a failed attempt got: checks passed, and a failure past the signature (a revoked key) counts a little. */
function progress(r: VerifySourceResult): number {
  const last = r.checks.at(-1);
  return r.checks.filter((c) => c.state === 'ok').length + (last?.state === 'failed' && last.name !== 'signature' ? 0.5 : 0);
}

/**
 * No packet passed: report the one that got furthest (the first such, source
 * keys first), naming the other packets' reasons; when none made a good
 * signature, one signature failure lists them all.
 */
function bestFailure(attempts: VerifySourceResult[], signatureName: string, artifact: string): VerifySourceResult {
  const best = attempts.reduce((a, b) => (progress(b) > progress(a) ? b : a));
  if (progress(best) === 0) {
    const reasons = attempts.map((r) => r.checks.at(-1)!.detail);
    best.checks = [{ name: 'signature', state: 'failed', detail: `${signatureName} is not a good signature over ${artifact} (${reasons.join('; ')})` }];
    best.key = null;
    return best;
  }
  for (const r of attempts) {
    const last = r.checks.at(-1);
    if (r !== best && r.packet && last) best.notes.push(`signature packet ${r.packet.number} fails too: ${last.name}: ${last.detail}`);
  }
  return best;
}

/** The four checks for one candidate packet, written into `result` (ok only when all hold). */
async function checkCandidate(ctx: Context, c: Candidate, result: VerifySourceResult): Promise<void> {
  const { input, artifact } = ctx;
  const fail = (name: CheckName, detail: string): void => {
    result.checks.push({ name, state: 'failed', detail });
  };
  const pass = (name: CheckName, detail: string): void => {
    result.checks.push({ name, state: 'ok', detail });
  };
  const fpr = fingerprintOf(c.key);
  result.packet = { number: c.issuer.index + 1, of: ctx.packets };
  const which = ctx.packets > 1 ? `signature packet ${c.issuer.index + 1} of ${ctx.packets}` : null;

  // The file is read once per candidate packet, as a stream: a release tarball is not held in memory.
  const data = Readable.toWeb(createReadStream(input.artifactPath)) as ReadableStream<Uint8Array>;
  const r = await checkDetached(data, ctx.sig, c.issuer, c.key, input.policy, input.now);
  if (!r.ok) {
    // openpgp.js refuses a signature by a revoked key outright: say it is the key, not the file.
    const rep = await inspectKey(c.key, { collection: [], policy: input.policy, now: input.now });
    if (rep.revoked) return fail('key', revokedText(fpr, rep.revocationReason));
    return fail('signature', `${which ? `${which}, ` : ''}by 0x${keyIdOf(c.key)}: ${r.reason}`);
  }
  const identity = await identityOfKey(c.key, input.policy, input.now);
  result.key = { fingerprint: fpr, keyId: keyIdOf(c.key), kind: c.kind, file: c.file, identity };
  const kindText = c.kind === 'source' ? 'upstream source-signing key' : 'community member key (not a source-signing key)';
  const made = c.issuer.created ? `, made ${c.issuer.created.toISOString()}` : '';
  pass('signature', `${input.signatureName}${which ? ` (${which})` : ''} is a good signature over ${artifact} by ${fpr}${identity ? ` (${identity})` : ''}, ${kindText} ${c.file ?? ''}${made}`.replace(/ ,/, ','));

  // 2. The key: not revoked, not expired when it signed, an algorithm the policy accepts.
  const report = await inspectKey(c.key, { collection: [], policy: input.policy, now: input.now });
  const strength = judgeKeyAlgorithm(input.policy, report);
  if (report.revoked) return fail('key', revokedText(fpr, report.revocationReason));
  const signedAt = c.issuer.created ?? input.now;
  if (report.expires && report.expires.getTime() < signedAt.getTime()) {
    return fail('key', `the key ${fpr} had expired (${report.expires.toISOString()}) when it made this signature (${signedAt.toISOString()})`);
  }
  if (!strength.ok) return fail('key', `the key ${fpr} is refused by the policy: ${strength.reason}`);
  pass('key', `not revoked; ${report.expires ? `${report.expired ? 'expired' : 'expires'} ${report.expires.toISOString().slice(0, 10)}${report.expired ? ', after it made this signature' : ''}` : 'no expiry date'}`);

  // 3. The release row of key-and-source.md.
  const release = ctx.release;
  result.release = release;
  if (!release) return fail('release', `no release name can be read from the file name ${artifact}: name it with --release NAME`);
  const rows = sourceRows(await ctx.col.sourceList());
  const forKey = rows.filter((row) => row.keyId === result.key!.keyId && rowHoldsKey(row, ctx.sourceKeys, fpr));
  const row = forKey.find((x) => x.release.toLowerCase() === release.toLowerCase());
  if (!row) {
    const listed = [...new Set(forKey.map((x) => x.release))];
    // From the file name the sentence is about the file; with --release, about the release it names (the file may be vouched for its own).
    const named = input.release ? `release ${release} (named by --release; the file is ${artifact})` : artifact;
    return fail('release', `pgp/for-source/key-and-source.md has no row for this key and ${release}: ${listed.length
      ? `the key is listed for ${listed.join(', ')} only, so it is NOT vouched to sign ${named}`
      : 'the key is listed for no release at all'}`);
  }
  result.row = { key: row.key, release: row.release };
  pass('release', `pgp/for-source/key-and-source.md: ${row.key} ${row.release}`);

  // 4. The vouching entry in the log, with its inclusion proof.
  if (!input.log) {
    if (input.noLog) {
      result.checks.push({ name: 'log', state: 'skipped', detail: 'no log given (--no-log): the vouch for this row is UNCHECKED; the list alone says nothing of who vouched or when' });
      result.ok = true;
      return;
    }
    return fail('log', 'no log given: the vouch behind the row cannot be checked (give --log DIR with the published log, or --no-log to leave it unchecked)');
  }
  if (!ctx.log) {
    try {
      ctx.log = { reader: await LogReader.open(input.log.dir, input.log.vkey), error: null };
    } catch (err) {
      ctx.log = { reader: null, error: `the log in ${input.log.dir} cannot be read with this log key: ${describeError(err)}` };
    }
  }
  const reader = ctx.log.reader;
  if (!reader) return fail('log', ctx.log.error ?? '');
  let proven: ProvenVouch | null;
  try {
    const found = await scanVouches(reader.client, reader.size, fpr, row.release);
    if (found.length === 0) {
      return fail('log', `the log ${reader.checkpoint.origin} (tree size ${reader.size}) holds no entry vouching for ${fpr} and ${row.release}: the row is not backed by a logged vouch`);
    }
    proven = await proveVouch(reader.client, reader.vkey, found[0], fpr, row.release);
  } catch (err) {
    return fail('log', `the log ${reader.checkpoint.origin} cannot prove the vouching entry: ${describeError(err)}`);
  }
  if (!proven) return fail('log', 'the vouching entry changed while it was read');
  const e = proven.entry;
  result.entry = {
    index: proven.index, type: e.type, time: e.time, voucher: e.signers[0] ?? null, ticket: e.ticket ?? null, origin: reader.checkpoint.origin, treeSize: proven.size,
  };
  pass('log', `entry ${proven.index} (${e.type} ${e.name ?? ''}, ${e.time}, ${e.signers[0] ? `vouched by ${e.signers[0]}` : 'imported with the collection'}${e.ticket ? `, ticket ${e.ticket}` : ''}) is included in log ${reader.checkpoint.origin} at tree size ${proven.size}`);
  result.ok = true;
}

/** A row names this key: by its file in pgp/for-source/ when that file exists, else by a bare key id. */
function rowHoldsKey(row: SourceRow, sourceKeys: readonly { file: string; fingerprint: string }[], fpr: string): boolean {
  const file = sourceKeys.find((k) => k.file === `pgp/for-source/${row.key}`);
  return !file || file.fingerprint === fpr;
}

function revokedText(fpr: string, reason: string | null): string {
  return `the key ${fpr} is REVOKED${reason ? ` (${reason})` : ''}: do not trust what it signed`;
}

/** The file's SHA-256, read as a stream. */
async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}
