/**
 * The one key a key-carrying command submits (SUBMIT KEY, UPDATE KEY,
 * SUBMIT SOURCE KEY), read from the signed content only, and the lines a
 * ticket shows about an admitted key. One place, so the three commands
 * refuse "no key", "unreadable", "too large" and "more than one key" the
 * same way and describe a key to maintainers the same way.
 */
import type * as openpgp from 'openpgp';
import { describeCert, type Admitted } from '../pgp/admission.js';
import { keyIdOf } from '../pgp/inspect.js';
import { line } from '../outbound/wording.js';
import { clause } from '../templates.js';
import { contentValue } from '../text/value.js';
import { isoSeconds } from '../tickets/ticket.js';
import { readSubmittedKeys, signedKeyData } from './carried.js';
import { refused } from './common.js';
import type { CommandRequest, CommandResult, HandlerContext } from './types.js';

/** Template names of the fixes: how to export the key, and "one key per mail" for this command. */
export interface KeyFixes {
  exportFix: string;
  oneKeyFix: string;
}

export async function oneSubmittedKey(cmd: string, req: CommandRequest, ctx: HandlerContext, fixes: KeyFixes):
  Promise<{ ok: true; key: openpgp.Key } | { ok: false; result: CommandResult }> {
  const read = await readSubmittedKeys(signedKeyData(req), ctx.config.limits);
  if (!read.ok) return { ok: false, result: refused(cmd, read.rule, read.reason, line(fixes.exportFix, {})) };
  if (read.keys.length !== 1) {
    return {
      ok: false,
      result: refused(cmd, 'one-key', line('reason-one-key', { count: read.keys.length, keyIds: read.keys.map((k) => `0x${keyIdOf(k)}`).join(', ') }),
        line(fixes.oneKeyFix, {})),
    };
  }
  return { ok: true, key: read.keys[0] };
}

/** User-ID (each self-signed one kept), Algorithm and Key-Expires lines of a ticket's summary. */
export function admittedKeySummary(adm: Admitted): [string, string][] {
  const summary: [string, string][] = [];
  for (const u of adm.report.userIds.filter((x) => x.selfSigned && !x.attribute && !adm.strippedUserIds.includes(x.userId))) {
    summary.push(['User-ID', u.userId]);
  }
  summary.push(['Algorithm', `${adm.report.algorithm}${adm.report.bits ? ` ${adm.report.bits}` : ''}${adm.report.curve ? ` ${adm.report.curve}` : ''}`]);
  summary.push(['Key-Expires', adm.report.expires ? isoSeconds(adm.report.expires) : 'never']);
  return summary;
}

/** What admission removed before storage (outside certifications, unbound user IDs), one line each for the reply. */
export function strippedLines(adm: Admitted): string[] {
  const stripped = adm.stripped.map((s) => contentValue(`${describeCert(s)}: ${s.why}`, 300));
  stripped.push(...adm.strippedUserIds.map((u) => clause('stripped-user-id', { userId: contentValue(u) })));
  return stripped;
}
