/**
 * ROOT PROPOSE: a maintainer of the current trust root drafts its next
 * version by signed mail, with one change a line under the To: line:
 *
 *   ROOT PROPOSE
 *   To: ztrust-bot@example.org
 *   add-maintainer 0123...CDEF
 *   threshold 3
 *
 * (`add-maintainer FPR`, `remove-maintainer FPR`, `threshold N`, `bot-key
 * FPR`, `log-key VKEY`, `renew`). The draft is the current root with the
 * changes applied, issued now for root.validityDays; it is mailed to every
 * maintainer who may approve it and takes effect only as any other draft
 * does (src/commands/root-approve.ts). Proposing changes nothing by itself.
 */
import { COMMAND_BOUNDS } from '../limits.js';
import { line } from '../outbound/wording.js';
import { openRootDraft } from '../root/ceremony.js';
import { formatRoot, type RootDocument } from '../root/document.js';
import { currentRootOf, nextRoot, type RootChange } from '../root/draft.js';
import { dataLayout } from '../datadir.js';
import { describeError } from '../errors.js';
import { render } from '../templates.js';
import { refused } from './common.js';
import type { Handler } from './types.js';

const CMD = 'ROOT PROPOSE';

/** The change lines under the command, up to the first blank line; null and the offending line when one is not a change. */
export function readRootChange(following: string): { change: RootChange; lines: number } | { bad: string } {
  const change: RootChange = {};
  let n = 0;
  const lines = following.split('\n').map((l) => l.trim());
  let i = lines.findIndex((l) => l !== '');
  for (; i >= 0 && i < lines.length && lines[i] !== ''; i++) {
    const l = lines[i];
    if (++n > COMMAND_BOUNDS.rootChangeLines) return { bad: l.slice(0, 80) };
    const [word, value, extra] = l.split(/\s+/);
    if (extra !== undefined) return { bad: l.slice(0, 80) };
    switch (word.toLowerCase()) {
      case 'add-maintainer': if (!value) return { bad: l }; (change.addMaintainers ??= []).push(value); break;
      case 'remove-maintainer': if (!value) return { bad: l }; (change.removeMaintainers ??= []).push(value); break;
      case 'threshold': if (!/^[1-9][0-9]?$/.test(value ?? '')) return { bad: l }; change.threshold = Number(value); break;
      case 'bot-key': if (!value) return { bad: l }; change.botKey = value; break;
      case 'log-key': if (!value) return { bad: l }; change.logKey = value; break;
      case 'renew': if (value !== undefined) return { bad: l }; change.renew = true; break;
      default: return { bad: l.slice(0, 80) };
    }
  }
  return { change, lines: n };
}

export const rootProposeHandler: Handler = async (req, ctx) => {
  const cfg = ctx.config;
  const usage = line('fix-usage-root-propose', { bot: cfg.bot.address });
  const current = currentRootOf(dataLayout(cfg.dataDir).collection);
  if (!current) return refused(CMD, 'unrooted', line('reason-root-propose-unrooted', {}), line('fix-root-propose-unrooted', {}));
  // Only the maintainers of the current root may draft the next (identity is the key that signed).
  const signer = req.signer?.toUpperCase() ?? '';
  if (!current.doc.maintainers.includes(signer)) {
    return refused(CMD, 'not-a-maintainer', line('reason-root-propose-not-maintainer', { signer: req.signer, version: current.doc.version }), line('fix-not-a-maintainer', {}));
  }
  const read = readRootChange(req.command.following);
  if ('bad' in read) return refused(CMD, 'usage', line('reason-root-propose-bad-line', { line: read.bad }), usage);
  if (read.lines === 0) return refused(CMD, 'usage', line('reason-root-propose-no-change', {}), usage);
  let doc: RootDocument;
  try {
    doc = nextRoot(current.doc, current.text, read.change, cfg.root.validityDays, req.now);
    formatRoot(doc);
  } catch (err) {
    return refused(CMD, 'root-invalid', line('reason-root-propose-invalid', { reason: describeError(err) }), usage);
  }
  const d = await openRootDraft({ config: cfg, keyring: ctx.keyring, policy: ctx.policy, now: req.now }, current.doc, doc, signer);
  return {
    status: 'pending',
    fields: { Root: `ROOT-${d.version}`, 'Root-Digest': d.digest },
    body: render('root-proposed', { version: d.version, digest: d.digest, notTold: d.notTold, told: d.notices.length }),
    effects: [d.effect],
    extra: d.notices,
    outcome: `${CMD}:pending:${d.version}`,
  };
};
