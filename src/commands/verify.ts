/**
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
import type { LoadedConfig } from '../config/load.js';
import { describeError } from '../errors.js';
import { digestKey } from '../ledger/attest.js';
import { LogReader } from '../ledger/reader.js';
import { chunked, FRAME_ENTRY, FRAME_PROOF, framed, hanging, isoDay, shown } from '../ledger/replies.js';
import { keyStanding, type KeyStanding } from '../ledger/standing.js';
import { parseEntry } from '../tlog/index.js';
import { render } from '../templates.js';
import type { CommandResult, Handler } from './types.js';
import { REPLY_BOUNDS } from '../limits.js';
import { dataLayout } from '../datadir.js';

export function logDir(cfg: LoadedConfig): string {
  return dataLayout(cfg.dataDir).log;
}

export function unavailable(command: string, err: unknown): CommandResult {
  return { status: 'error', body: render('log-unavailable', { command, reason: describeError(err) }), outcome: `${command}:log-unavailable` };
}

/** `sha256:` and the hex on the next lines, 64 digits a line. */
export function digestLines(key: string): string {
  const [alg, hex] = key.split(':') as [string, string];
  return [`  ${alg}:`, ...chunked(hex, '    ')].join('\n');
}

function statusText(s: KeyStanding): string {
  switch (s.status) {
    case 'valid': return `valid${s.expires ? `, expires ${isoDay(s.expires)}` : ', no expiry date'}`;
    case 'expired': return `expired since ${isoDay(s.since)}`;
    case 'revoked': return `REVOKED since ${isoDay(s.since)}${s.revocationReason ? ` (${shown(s.revocationReason, 80)})` : ''}`;
    case 'absent': return 'no longer in the collection';
  }
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

export const verifyHandler: Handler = async (req, ctx) => {
  const cfg = ctx.config;
  const key = digestKey(req.command.args[0]);
  if (!key || req.command.args.length > 1) {
    return {
      status: 'error',
      body: render('verify-usage', {
        example: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        got: req.command.rest ? shown(req.command.rest, 60) : null,
      }),
      outcome: 'VERIFY:usage',
    };
  }

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
};
