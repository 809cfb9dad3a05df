/**
 * VERIFY about source-signing keys (DESIGN.md, "Source-signing keys"):
 *
 *   VERIFY <package-release>          which keys sign that release
 *   VERIFY [<file name>] [<sha256>]   with a detached .sig/.asc attached:
 *                                     which key made it, and what the
 *                                     collection says about that key
 *
 * These keys are not community members and nobody in the community
 * certified them: they are in pgp/for-source/ because a member vouched that
 * the key signs the release and maintainers approved. So each answer names
 * the vouch (who, when, which ticket) and mails the vouching log entry byte
 * for byte with its inclusion proof, checked against the signed checkpoint
 * before it is mailed, and after re-reading that the entry at that index is
 * a vouch for that key and release (the store's index only points there).
 * The index itself is the bot's and not verifiable: "not found" says so.
 *
 * A reply to a detached signature says plainly that the bot did not check
 * the signature against the file: it never saw the file, and a detached
 * signature cannot be checked against a name or a hash. It gives the key
 * and the exact GnuPG commands to check the file, and the offline
 * `ztrust-bot verify-source` line. The key goes into the body as armour
 * (the outbound module mails one signed text part; the armour is kept byte
 * for byte by the reply shaper and covered by the bot's signature).
 */
import type * as openpgp from 'openpgp';
import { artifactMatchesRelease, baseName, signedFileName } from '../collection/artifact-name.js';
import type { SourceKey, StoredKey } from '../collection/collection.js';
import type { ReleaseName } from '../collection/naming.js';
import { sourceRows } from '../collection/source-list.js';
import { describeError } from '../errors.js';
import { LogReader } from '../ledger/reader.js';
import { chunked, FRAME_ENTRY, FRAME_PROOF, framed, isoDay, shown } from '../ledger/replies.js';
import { proveVouch, type ProvenVouch } from '../ledger/source-vouch.js';
import { keyStanding, type KeyStanding } from '../ledger/standing.js';
import { MESSAGE_BOUNDS, REPLY_BOUNDS } from '../limits.js';
import { findIssuer, readDetachedSignature, type SignatureIssuer } from '../pgp/detached.js';
import { fingerprintOf, keyIdOf } from '../pgp/inspect.js';
import { Keyring } from '../pgp/keyring.js';
import type { SourceVouchRecord } from '../store/types.js';
import { line, render } from '../templates.js';
import { isoSeconds } from '../tickets/ticket.js';
import { ARMOR_CONFIG, readCollection, refused } from './common.js';
import type { SignatureFile } from './verify-attachments.js';
import { logDir, statusText, unavailable } from './verify-common.js';
import type { CommandRequest, CommandResult, HandlerContext } from './types.js';
import type { MailAttachment } from '../mail/compose.js';

const CMD = 'VERIFY';

/** What the collection holds now: the source keys, their list, and the member keys' files. */
interface Held {
  sourceKeys: SourceKey[];
  sourceRing: Keyring;
  /** (key id, release) pairs of key-and-source.md, lower-case. */
  listed: Set<string>;
  memberFiles: StoredKey[];
}

/** `members`: read pgp/all's files too (only a signature reply hands out a member key). */
async function held(ctx: HandlerContext, members: boolean): Promise<Held> {
  const col = await readCollection(ctx.config);
  const sourceKeys = col ? await col.sourceKeys() : [];
  const rows = col ? sourceRows(await col.sourceList()) : [];
  return {
    sourceKeys,
    sourceRing: Keyring.fromKeys(sourceKeys.map((k) => k.key)),
    listed: new Set(rows.map((r) => `${r.keyId} ${r.release.toLowerCase()}`)),
    memberFiles: col && members ? await col.keys() : [],
  };
}

/** The 16-hex key id of a primary key from its fingerprint (v4: the last 16 digits; v6: the first). */
function keyIdOfFingerprint(fpr: string): string {
  return (fpr.length === 64 ? fpr.slice(0, 16) : fpr.slice(-16)).toLowerCase();
}

interface Voucher {
  fingerprint: string | null;
  identity: string;
  /** The voucher's key today (null for a key imported with the collection, which no member vouched for). */
  status: string | null;
  /**
   * The key was revoked after (or before) the vouch: a compromised key could
   * have vouched for an attacker's key, so the reply says to ask whether
   * the vouch still holds instead of showing it as good as any other.
   */
  revoked: boolean;
}

/** The member who vouched, as people recognise them, and what their key is today. */
async function voucherText(voucher: string, req: CommandRequest, ctx: HandlerContext): Promise<Voucher> {
  if (!voucher) return { fingerprint: null, identity: line('verify-source-imported', {}), status: null, revoked: false };
  const s = await keyStanding(voucher, ctx.keyring, { policy: ctx.policy, now: req.now });
  return {
    fingerprint: voucher, identity: s.identity ?? line('verify-source-voucher-gone', {}), status: statusText(s), revoked: s.status === 'revoked',
  };
}

/** One vouching entry shown: who, when, which ticket, the entry and its proof. */
async function vouchView(v: ProvenVouch, req: CommandRequest, ctx: HandlerContext): Promise<Record<string, unknown>> {
  const by = await voucherText(v.entry.signers[0] ?? '', req, ctx);
  return {
    index: v.index, type: v.entry.type, releases: shown(v.entry.name ?? ''), time: v.entry.time, ticket: v.entry.ticket ?? null,
    voucher: by.fingerprint, voucherIdentity: by.identity, voucherStatus: by.status, voucherRevoked: by.revoked,
    entry: framed(FRAME_ENTRY, v.bytes.toString('utf8')).trimEnd(), proof: framed(FRAME_PROOF, v.block).trimEnd(),
  };
}

/** Proves each indexed vouch; an entry the log does not hold as indexed is left out (and logged). */
async function proveAll(reader: LogReader, rows: readonly SourceVouchRecord[], ctx: HandlerContext): Promise<ProvenVouch[]> {
  const out: ProvenVouch[] = [];
  for (const row of rows) {
    const v = await proveVouch(reader.client, reader.vkey, row.logIndex, row.fingerprint, row.release);
    if (v) out.push(v);
    else ctx.logger.error({ index: row.logIndex, release: row.release }, 'VERIFY: the source vouch index disagrees with the log');
  }
  return out;
}

async function openLog(ctx: HandlerContext): Promise<LogReader | CommandResult> {
  try {
    return await LogReader.open(logDir(ctx.config));
  } catch (err) {
    ctx.logger.error({ err: describeError(err) }, 'VERIFY: cannot read the log');
    return unavailable(CMD, err);
  }
}

/** VERIFY <package-release>: the keys vouched for it, each with its vouch, status today and proof. */
export async function verifyRelease(req: CommandRequest, ctx: HandlerContext, release: ReleaseName, asked: string): Promise<CommandResult> {
  const reader = await openLog(ctx);
  if (!(reader instanceof LogReader)) return reader;
  // One row a key: its oldest vouch for this release (a second vouch for the same pair adds no key).
  const rows: SourceVouchRecord[] = [];
  for (const r of await ctx.store.findSourceVouches({ release: release.release })) {
    if (r.logIndex < reader.size && !rows.some((x) => x.fingerprint === r.fingerprint)) rows.push(r);
  }
  const via = asked.toLowerCase() === release.release.toLowerCase() ? null : shown(asked, 80);
  if (rows.length === 0) {
    const pkg = release.package.toLowerCase();
    const others = [...new Set((await ctx.store.findSourceVouches({}))
      .filter((r) => r.package.toLowerCase() === pkg && r.logIndex < reader.size).map((r) => r.release))];
    const listed = others.slice(0, REPLY_BOUNDS.otherReleasesShown);
    return {
      status: 'not-found',
      fields: { Release: release.release },
      body: render('verify-release-not-found', {
        release: release.release, via, package: release.package, origin: reader.checkpoint.origin, size: reader.size,
        others: listed.length ? listed.map((r) => `  ${r}`).join('\n') : null, more: others.length - listed.length || null,
      }),
      outcome: 'VERIFY:release-not-found',
    };
  }
  const h = await held(ctx, false);
  const shownRows = rows.slice(0, REPLY_BOUNDS.sourceVouchesShown);
  let proven: ProvenVouch[];
  try {
    proven = await proveAll(reader, shownRows, ctx);
  } catch (err) {
    ctx.logger.error({ err: describeError(err) }, 'VERIFY: no proof for an indexed source vouch');
    return unavailable(CMD, err);
  }
  if (proven.length === 0) return unavailable(CMD, new Error('the source vouch index disagrees with the log'));
  const keys: string[] = [];
  for (const [i, v] of proven.entries()) {
    const fpr = v.entry.subject.toUpperCase();
    const stored = h.sourceKeys.find((k) => k.fingerprint === fpr);
    const s = await keyStanding(fpr, h.sourceRing, { policy: ctx.policy, now: req.now });
    const listed = h.listed.has(`${stored?.keyId ?? keyIdOfFingerprint(fpr)} ${release.release.toLowerCase()}`);
    keys.push(render('verify-release-key', {
      n: i + 1, count: proven.length, fingerprint: fpr, file: stored?.file ?? null, identity: s.identity, status: statusText(s),
      listed, list: 'pgp/for-source/key-and-source.md', ...(await vouchView(v, req, ctx)),
    }).trimEnd());
  }
  return {
    status: 'found',
    fields: { Release: release.release, 'Log-Index': proven.map((v) => v.index).join(' ') },
    body: render('verify-release-found', {
      release: release.release, via, count: rows.length, one: rows.length === 1, more: rows.length > shownRows.length, shown: shownRows.length,
      origin: reader.checkpoint.origin, vkey: reader.vkey, keys: keys.join('\n\n'),
    }),
    outcome: `VERIFY:release-found:${proven.length}`,
  };
}

/** A name that can stand in a shell command as it is; anything else is replaced by `fallback`. */
function shellWord(name: string | null, fallback: string): string {
  return name && /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/.test(name) ? name : fallback;
}

interface IssuerKey {
  kind: 'source' | 'member' | 'none';
  key: openpgp.PublicKey | null;
  fingerprint: string | null;
  file: string | null;
  bytes: Buffer | null;
}

/** The collection key that made a signature packet: a source key first, then a member key. */
function issuerKey(issuer: SignatureIssuer, h: Held, ctx: HandlerContext): IssuerKey {
  const source = findIssuer(issuer, h.sourceRing);
  if (source) {
    const s = h.sourceKeys.find((k) => k.fingerprint === fingerprintOf(source))!;
    return { kind: 'source', key: source, fingerprint: s.fingerprint, file: s.file, bytes: s.bytes };
  }
  const member = findIssuer(issuer, ctx.keyring);
  if (member) {
    const fpr = fingerprintOf(member);
    const m = h.memberFiles.find((k) => k.fingerprint === fpr);
    return { kind: 'member', key: member, fingerprint: fpr, file: m?.file ?? null, bytes: m?.bytes ?? null };
  }
  return { kind: 'none', key: null, fingerprint: null, file: null, bytes: null };
}

export interface SignatureQuestion {
  file: SignatureFile;
  /** More signature files the mail carried, not answered about. */
  others: number;
  /** The artifact's name from the command line, or null. */
  artifact: string | null;
  /** The SHA-256 from the command line (lower-case hex), or null. */
  sha256: string | null;
}

/** VERIFY with a detached signature attached: the key that made it and what the collection says about that key. */
export async function verifySignature(req: CommandRequest, ctx: HandlerContext, q: SignatureQuestion): Promise<CommandResult> {
  const filename = shown(baseName(q.file.filename), 100);
  const read = await readDetachedSignature(q.file.content, ctx.policy);
  if (!read.ok) {
    return refused(CMD, `signature-file-${read.rule}`, line('reason-verify-signature-file', { filename, reason: read.reason }),
      line('fix-verify-signature-file', {}));
  }
  const reader = await openLog(ctx);
  if (!(reader instanceof LogReader)) return reader;
  const h = await held(ctx, true);
  // The artifact the signature is for: as the command names it, else the signature file's own name less .sig/.asc.
  const artifact = q.artifact !== null ? baseName(q.artifact) : signedFileName(q.file.filename);
  const artifactFrom = q.artifact !== null ? 'command' : 'signature';
  const sigWord = shellWord(baseName(q.file.filename), 'FILE.sig');
  const artifactWord = shellWord(artifact, 'FILE');

  const parts: string[] = [];
  const indexes: number[] = [];
  const fingerprints: string[] = [];
  let matched: string | null = null;
  let inCollection = false;
  const attachments: MailAttachment[] = [];
  // A file that repeats one issuer's packet is answered about once per key.
  const issuers = read.issuers.filter((x, i) => read.issuers.findIndex((y) => y.keyId === x.keyId && y.fingerprint === x.fingerprint) === i);
  for (const [i, issuer] of issuers.entries()) {
    const k = issuerKey(issuer, h, ctx);
    let s: KeyStanding | null = null;
    let vouches: SourceVouchRecord[] = [];
    let matching: SourceVouchRecord[] = [];
    let proven: ProvenVouch[] = [];
    if (k.fingerprint) {
      inCollection = true;
      fingerprints.push(k.fingerprint);
      s = await keyStanding(k.fingerprint, k.kind === 'source' ? h.sourceRing : ctx.keyring,
        { policy: ctx.policy, now: req.now, maintainers: ctx.config.maintainers });
      vouches = (await ctx.store.findSourceVouches({ fingerprint: k.fingerprint })).filter((r) => r.logIndex < reader.size);
      matching = artifact ? vouches.filter((v) => artifactMatchesRelease(artifact, v.release)) : [];
      matched ??= matching[0]?.release ?? null;
      try {
        proven = await proveAll(reader, (matching.length ? matching : vouches).slice(0, REPLY_BOUNDS.signatureVouchesShown), ctx);
      } catch (err) {
        ctx.logger.error({ err: describeError(err) }, 'VERIFY: no proof for an indexed source vouch');
        return unavailable(CMD, err);
      }
      indexes.push(...proven.map((v) => v.index));
    }
    const releases = [...new Set(vouches.map((v) => v.release))];
    const keyId = k.key ? keyIdOf(k.key) : issuer.keyId.toLowerCase();
    const vouchViews = [];
    for (const v of proven) vouchViews.push(await vouchView(v, req, ctx));
    // The key as the collection holds it; a binary file is armoured for mail.
    const keyText = k.bytes ? k.bytes.toString('latin1') : null;
    const armored = keyText === null ? null
      : (/^-----BEGIN PGP PUBLIC KEY BLOCK-----/m.test(keyText) && !/[^\t\n\r\x20-\x7e]/.test(keyText) ? keyText : k.key ? k.key.armor(ARMOR_CONFIG) : null)?.replace(/\r\n?/g, '\n').trimEnd() ?? null;
    if (armored) attachments.push({ filename: `0x${keyId}.asc`, contentType: 'application/pgp-keys', content: `${armored}\n` });
    parts.push(render('verify-signature-issuer', {
      n: i + 1, count: issuers.length,
      issuerFingerprint: issuer.fingerprint, issuerKeyId: issuer.keyId ? `0x${issuer.keyId.toLowerCase()}` : '?',
      created: issuer.created ? isoSeconds(issuer.created) : null,
      algorithms: `${issuer.publicKeyAlgorithm}, ${issuer.hash}`, refused: issuer.refused,
      source: k.kind === 'source', member: k.kind === 'member', none: k.kind === 'none',
      fingerprint: k.fingerprint, file: k.file, identity: s?.identity ?? null, status: s ? statusText(s) : null,
      releases: releases.length ? releases.join(', ') : null,
      artifact: artifact ? shown(artifact, 100) : null, fromCommand: artifactFrom === 'command',
      matches: matching.length ? matching[0].release : null, mismatch: artifact !== null && k.fingerprint !== null && matching.length === 0,
      keyId, sigWord, artifactWord, gpg: k.bytes !== null,
      vouches: vouchViews.length ? vouchViews : null,
      armored,
    }).trimEnd());
  }
  const fields: Record<string, string> = {};
  if (fingerprints.length) fields.Issuer = fingerprints.join(' ');
  if (matched) fields.Release = matched;
  if (indexes.length) fields['Log-Index'] = indexes.join(' ');
  return {
    status: inCollection ? 'found' : 'not-found',
    fields,
    body: render('verify-signature-found', {
      filename, format: read.armoured ? 'armoured' : 'binary', count: issuers.length, one: issuers.length === 1,
      morePackets: read.more || null, signedPart: q.file.signed, mailSigned: req.signer !== null && !q.file.signed,
      // Only MESSAGE_BOUNDS.signatureAttachments files are read: at the cap there may be more than were counted.
      others: q.others || null, orMore: q.others + 1 >= MESSAGE_BOUNDS.signatureAttachments, sha256: q.sha256 ? chunked(q.sha256, '  ').join('\n') : null,
      proofs: indexes.length > 0, inCollection, origin: reader.checkpoint.origin, vkey: reader.vkey, issuers: parts.join('\n\n'),
      today: isoDay(req.now),
    }),
    ...(attachments.length ? { attachments } : {}),
    outcome: `VERIFY:signature-${inCollection ? 'found' : 'not-found'}`,
  };
}
