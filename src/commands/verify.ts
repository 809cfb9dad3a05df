/**
 * VERIFY has three forms, told apart in this order:
 *   - a detached signature attached (.sig/.asc): which key made it and what
 *     the collection says about it (src/commands/verify-source.ts); the
 *     words after VERIFY may name the artifact and give its SHA-256;
 *   - VERIFY <sha256 or sha512 hex>: attestations of that digest (below);
 *   - VERIFY <package-release> (or an artifact's file name, `bash-5.3.tar.gz`):
 *     the keys vouched for that release (src/commands/verify-source.ts).
 *
 * VERIFY <sha256 or sha512 hex>: every attestation of that digest, each
 * with what the collection says about its signer today and everything
 * needed to check it offline with only the log's verifier key: the entry's
 * exact bytes and a C2SP tlog-proof block (index, inclusion proof, signed
 * checkpoint). Unsigned requests are fine; the dispatcher checks the
 * sender's reply budget before any read-only handler runs (outbound/
 * budget.ts), so a sender over the limit costs no proof computation.
 *
 * The log is read from its files (src/ledger/reader.ts), without the writer's
 * lock, and every proof is verified against the signed root before it is
 * mailed. The lookup itself (digest -> log index) is the bot's index and is
 * not verifiable: "not found" says so plainly.
 */
import { releaseOfArtifact } from '../collection/artifact-name.js';
import { parseRelease } from '../collection/naming.js';
import { describeError } from '../errors.js';
import { digestKey } from '../ledger/attest.js';
import { LogReader } from '../ledger/reader.js';
import { chunked, FRAME_ENTRY, FRAME_PROOF, framed, hanging, shown } from '../ledger/replies.js';
import { keyStanding, type KeyStanding } from '../ledger/standing.js';
import { parseEntry } from '../tlog/index.js';
import { render } from '../templates.js';
import type { CommandRequest, CommandResult, Handler, HandlerContext } from './types.js';
import { COMMAND_BOUNDS, REPLY_BOUNDS } from '../limits.js';
import { signatureFiles } from './verify-attachments.js';
import { logDir, statusText, unavailable } from './verify-common.js';
import { verifyRelease, verifySignature } from './verify-source.js';

// CHECKPOINT reads the log the same way.
export { logDir, unavailable };

/** `sha256:` and the hex on the next lines, 64 digits a line. */
export function digestLines(key: string): string {
  const [alg, hex] = key.split(':') as [string, string];
  return [`  ${alg}:`, ...chunked(hex, '    ')].join('\n');
}

function pathText(s: KeyStanding, maintainersKnown: boolean): string {
  const out: string[] = [];
  const ref = (r: { fingerprint: string; identity: string | null }, indent: string): void => {
    out.push(`${indent}${r.fingerprint}`);
    if (r.identity) out.push(`${indent}  ${r.identity}`);
  };
  if (!s.inCollection) {
    out.push(...hanging('  Certified:   ', 'unknown: the key is no longer in the collection, so its certifications cannot be shown', '               '));
    return out.join('\n');
  }
  if (s.certifiers.length === 0) {
    out.push(...hanging('  Certified:   ', 'no collection key has a valid certification on this key', '               '));
  } else {
    out.push(`  Certified by ${s.certifiers.length} collection key${s.certifiers.length === 1 ? '' : 's'}:`);
    for (const c of s.certifiers) ref(c, '    ');
  }
  if (s.isMaintainer) out.push('  The signer is a maintainer key.');
  else if (s.pathFromMaintainer && s.pathFromMaintainer.length > 0) {
    out.push('  Path from a maintainer key, each certifying the next:');
    for (const c of s.pathFromMaintainer) ref(c, '    ');
    out.push('    (the signer)');
  } else if (maintainersKnown) {
    out.push(...hanging('  Maintainers: ', 'no chain of valid certifications leads from a maintainer key to this key', '               '));
  }
  return out.join('\n');
}

function usage(req: CommandRequest): CommandResult {
  return {
    status: 'error',
    body: render('verify-usage', {
      example: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      got: req.command.rest ? shown(req.command.rest, 60) : null,
    }),
    outcome: 'VERIFY:usage',
  };
}

/** The words after VERIFY beside an attached signature: the artifact's name and/or its digest, each at most once. */
function signatureArgs(args: readonly string[]): { artifact: string | null; digest: string | null } | null {
  let artifact: string | null = null;
  let digest: string | null = null;
  if (args.length > 2) return null;
  for (const a of args) {
    const d = digestKey(a);
    if (d) {
      if (digest !== null) return null;
      digest = d.split(':')[1];
    } else {
      if (artifact !== null || a.length > COMMAND_BOUNDS.artifactNameChars) return null;
      artifact = a;
    }
  }
  return { artifact, digest };
}

export const verifyHandler: Handler = async (req, ctx) => {
  const files = signatureFiles(req, ctx.config.limits);
  if (files.length > 0) {
    const q = signatureArgs(req.command.args);
    if (!q) return usage(req);
    return verifySignature(req, ctx, { file: files[0], others: files.length - 1, artifact: q.artifact, sha256: q.digest });
  }
  const arg = req.command.args[0];
  const key = digestKey(arg);
  if (req.command.args.length !== 1 || arg === undefined) return usage(req);
  if (key) return verifyDigest(req, ctx, key);
  // A long run of hex is a digest of the wrong length (a SHA-1, a cut digest), never a release name.
  if (/^(sha\d+:)?[0-9a-f]{32,}$/i.test(arg)) return usage(req);
  // An artifact's file name asks about the release it is; a bare release name is itself.
  const release = releaseOfArtifact(arg) ?? parseRelease(arg);
  return release ? verifyRelease(req, ctx, release, arg) : usage(req);
};

async function verifyDigest(req: CommandRequest, ctx: HandlerContext, key: string): Promise<CommandResult> {
  const cfg = ctx.config;
  let reader: LogReader;
  try {
    reader = await LogReader.open(logDir(cfg));
  } catch (err) {
    ctx.logger.error({ err: describeError(err) }, 'VERIFY: cannot read the log');
    return unavailable('VERIFY', err);
  }
  const rows = (await ctx.store.findAttestations(key)).filter((r) => r.logIndex < reader.size);
  if (rows.length === 0) {
    return {
      status: 'not-found',
      fields: { Digest: key.split(':')[1] },
      body: render('verify-not-found', { digestLines: digestLines(key), origin: reader.checkpoint.origin, size: reader.size }),
      outcome: 'VERIFY:not-found',
    };
  }

  const shownRows = rows.slice(0, REPLY_BOUNDS.verifyShown);
  const standings = new Map<string, Promise<KeyStanding>>();
  const parts: string[] = [];
  const indexes: number[] = [];
  for (const [i, row] of shownRows.entries()) {
    let block: string;
    let bytes: Buffer;
    try {
      ({ block, entry: bytes } = await reader.client.proveEntry(row.logIndex, reader.vkey));
    } catch (err) {
      ctx.logger.error({ err: describeError(err), index: row.logIndex }, 'VERIFY: no proof for an indexed entry');
      return unavailable('VERIFY', err);
    }
    const entry = parseEntry(bytes);
    // The index is only a pointer: what is mailed is what the log holds.
    if (entry.type !== 'attestation' || entry.subject !== key) {
      ctx.logger.error({ index: row.logIndex, subject: entry.subject }, 'VERIFY: the attestation index disagrees with the log');
      continue;
    }
    const signer = entry.signers[0] ?? '';
    if (!standings.has(signer)) {
      standings.set(signer, keyStanding(signer, ctx.keyring, { policy: ctx.policy, now: req.now, maintainers: cfg.maintainers }));
    }
    const s = await standings.get(signer)!;
    indexes.push(row.logIndex);
    parts.push(render('verify-attestation', {
      n: i + 1, count: shownRows.length, name: shown(entry.name ?? '(no name)'), index: row.logIndex, time: entry.time,
      signer, identity: s.identity, status: statusText(s), path: pathText(s, cfg.maintainers.length > 0),
      entry: framed(FRAME_ENTRY, bytes.toString('utf8')).trimEnd(), proof: framed(FRAME_PROOF, block).trimEnd(),
    }).trimEnd());
  }
  if (parts.length === 0) return unavailable('VERIFY', new Error('the attestation index disagrees with the log'));
  return {
    status: 'found',
    fields: { Digest: key.split(':')[1], 'Log-Index': indexes.join(' ') },
    body: render('verify-found', {
      digestLines: digestLines(key), count: rows.length, one: rows.length === 1, origin: reader.checkpoint.origin,
      more: rows.length > shownRows.length, shown: shownRows.length, vkey: reader.vkey, attestations: parts.join('\n\n'),
    }),
    outcome: `VERIFY:found:${indexes.length}`,
  };
}
