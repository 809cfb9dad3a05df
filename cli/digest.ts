/**
 * `ztrust-bot digest --now [--allow-empty] [--config FILE]`: make and send a
 * digest at once (the scheduler in `run` does the same on its schedule).
 * `ztrust-bot digest` without --now prints where the digests stand.
 *
 * Sending: the cycle records one outbox row per mail (deterministic ids, so
 * nothing is ever sent twice), then this command hands the rows that are
 * still pending straight to the configured transport, once each, the way
 * the outbound worker does, without needing Redis. A row that fails (SMTP
 * down) stays pending in the store; the next `ztrust-bot run` (or
 * `run --once`) re-enqueues it with the usual retries and backoff. A 5xx
 * answer marks it dead, like the worker does.
 *
 * Exit status: 0 done (also when no digest was due); 1 a cycle or a send
 * failed; 2 usage or configuration.
 */
import type { Command } from 'commander';
import { defaultConfigPath, loadConfig } from '../src/config/load.js';
import { openApp, type App } from '../src/app/app.js';
import { createLogger } from '../src/logger.js';
import { describeError } from '../src/errors.js';
import { digestStatus, runDigestCycle } from '../src/digest/run.js';
import { createTransport } from '../queue/transport.js';
import { deliverRow } from '../queue/deliver.js';

const FAILED = 'ztrust.digest.failed';

interface Options { now?: boolean; allowEmpty?: boolean; config?: string }

/** Send outbox rows directly (see the module comment); returns [sent, failed]. */
export async function sendOutboxNow(app: App, ids: readonly string[]): Promise<{ sent: number; held: number; failed: string[]; refused: string[] }> {
  const transport = createTransport(app.config);
  let sent = 0;
  // Claimed by a running worker (its retry round found the rows first): it sends them.
  let held = 0;
  const failed: string[] = [];
  // Recipients the server refused in a mail it took for the others: the row is sent.
  const refused: string[] = [];
  try {
    for (const id of ids) {
      const d = await deliverRow(app.store, transport, id);
      if (d.outcome === 'failed') failed.push(`${d.recipients.join(', ')}: ${describeError(d.error)}`);
      if (d.outcome === 'sent') sent++;
      if (d.outcome === 'sent' && d.refused) refused.push(...d.refused);
      if (d.outcome === 'held') held++;
    }
  } finally {
    transport.close();
  }
  return { sent, held, failed, refused };
}

/** The action of `digest` (its options are defined in cli/main.ts). */
export async function digest(o: Options, cmd: Command): Promise<void> {
  const out = cmd.configureOutput();
  const write = (s: string) => (out.writeOut ? out.writeOut(s) : process.stdout.write(s));
  const cfg = loadConfig(o.config ?? defaultConfigPath());
  const logger = createLogger(process.env.ZTRUST_LOG_LEVEL ?? cfg.logging.level);
  const app = await openApp(cfg, logger);
  try {
    if (!o.now) {
      const s = await digestStatus(app);
      write([
        `latest digest:  ${s.latest ?? 'none yet'}${s.latest !== null && s.distributed < s.latest ? ' (distribution unfinished: the next cycle completes it)' : ''}`,
        `log size:       ${s.logSize ?? 'no checkpoint yet'}`,
        `subscribers:    ${s.subscribers}`,
        `lists:          ${cfg.lists.filter((l) => l.postDigests && l.address).map((l) => l.address).join(', ') || 'none'}`,
        `schedule:       ${cfg.digest.schedule} (UTC)${cfg.digest.sendEmpty ? ', also when nothing changed' : ''}`,
        'Run "ztrust-bot digest --now" to make and send one now.',
        '',
      ].join('\n'));
      return;
    }
    let r;
    try {
      r = await runDigestCycle(app, { allowEmpty: o.allowEmpty });
    } catch (err) {
      return cmd.error(`digest: ${describeError(err)}`, { exitCode: 1, code: FAILED });
    }
    if (r.resumed !== null) write(`digest ${r.resumed}: finished its interrupted distribution\n`);
    if (r.digest) {
      const d = r.digest;
      write(`digest ${d.number}: ${d.changes} change(s), ${d.revocations} revocation(s), ${d.attestations} attestation(s); `
        + `${d.recipients} recipient(s); stored in ${d.file} and committed to the collection\n`);
    } else {
      write(`no digest: ${r.skipped}${r.skipped?.startsWith('nothing changed') ? ' (--allow-empty sends one anyway)' : ''}\n`);
    }
    if (r.reminders) write(`expiry reminders: ${r.reminders} queued\n`);
    const s = await sendOutboxNow(app, r.outboxIds);
    write(`mail: ${s.sent} sent${s.held ? `, ${s.held} being sent by a running worker` : ''}${s.failed.length ? `, ${s.failed.length} failed (kept queued for "ztrust-bot run")` : ''}\n`);
    if (s.refused.length) write(`refused by the mail server (not sent again): ${s.refused.join(', ')}\n`);
    if (s.failed.length) {
      return cmd.error(`digest: could not send: ${s.failed.slice(0, 5).join('; ')}`, { exitCode: 1, code: FAILED });
    }
  } finally {
    await app.close();
  }
}
