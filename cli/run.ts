/**
 * `ztrust-bot run [--once]`: the worker. Its options are defined in
 * cli/main.ts, which imports this module (and with it BullMQ, ioredis,
 * imapflow, SQLite and openpgp) only when `run` runs.
 */
import { CommanderError } from 'commander';
import { ConfigError, describeError } from '../src/errors.js';
import { defaultConfigPath, loadConfig } from '../src/config/load.js';
import { createLogger, routeProcessDiagnostics } from '../src/logger.js';
import { openApp, type App } from '../src/app/app.js';
import { rootStanding } from '../src/root/start.js';
import { startCheck } from '../src/state/consistency.js';
import { runForever, runOnce } from '../queue/runner.js';
import { describeStuck } from '../queue/settle.js';
import { boundWorkerHeap } from '../src/heap.js';

/**
 * The trust root decides who may act (src/root/start.ts): on a mismatch the
 * worker does not start and says which way to fix it; unrooted and expired
 * are logged at start (the replies say so too).
 */
function checkRoot(app: App): void {
  const standing = rootStanding(app.config, app.signer.fingerprint, new Date());
  if (standing.state === 'mismatch') {
    for (const p of standing.problems) process.stderr.write(`ztrust-bot: ${p}\n`);
    throw new CommanderError(2, 'ztrust.root', 'the config does not match the trust root');
  }
  if (standing.state === 'unrooted') app.logger.warn({ root: 'unrooted' }, 'unrooted: no trust root yet, the config alone names the maintainers (ztrust-bot root init)');
  else app.logger.info({ root: standing.state, version: standing.current.doc.version, expires: standing.current.doc.expires.toISOString() }, `trust root version ${standing.current.doc.version}${standing.state === 'expired' ? ' has EXPIRED' : ''}`);
}

export async function run(o: { config?: string; once?: boolean }): Promise<void> {
  // The worker's peak memory must not grow with the backlog (src/heap.ts).
  boundWorkerHeap();
  const cfg = loadConfig(o.config ?? defaultConfigPath());
  const logger = createLogger(process.env.ZTRUST_LOG_LEVEL ?? cfg.logging.level);
  // Before state.db is opened (which would create a deleted one afresh): store, collection and log must agree.
  if ((await startCheck(cfg.dataDir, logger)).length) throw new CommanderError(2, 'ztrust.state', 'state check failed');
  if (!o.once) {
    // The worker's stderr goes to a log collector: JSON lines only, the last one too.
    routeProcessDiagnostics(logger);
    try {
      const app = await openApp(cfg, logger);
      try {
        checkRoot(app);
        await runForever(app);
      } finally { await app.close(); }
    } catch (err) {
      // A configuration error (exit 2) is reported like one found while
      // loading the file, before any logger exists: plain, for the
      // operator who started it. Everything else ends as one JSON line.
      if (err instanceof ConfigError || err instanceof CommanderError) throw err;
      logger.fatal({ err: describeError(err), code: (err as { code?: unknown }).code }, 'ztrust-bot stopped on an error');
      throw new CommanderError(1, 'ztrust.run', describeError(err));
    }
    return;
  }
  const app = await openApp(cfg, logger);
  let stuck: number;
  try {
    checkRoot(app);
    const report = await runOnce(app);
    stuck = report.stuck.length;
    // The JSON line is logged by runOnce; this is for the operator at the terminal.
    if (stuck) process.stderr.write(`ztrust-bot: ${describeStuck(report.stuck)}\n`);
  } finally {
    await app.close();
  }
  if (stuck) throw new CommanderError(1, 'ztrust.stuck', `${stuck} item(s) stuck`);
}
