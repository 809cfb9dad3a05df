/**
 * Structured logs (pino) to stderr. Every message processed gets a child
 * logger with a correlation id (`cid`) that also appears in the queue jobs
 * and the store, so one mail can be followed end to end. Secrets never reach
 * a log call: the config object holds only the names of secrets.
 */
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string = process.env.ZTRUST_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { app: 'ztrust-bot' },
      redact: { paths: ['password', 'pass', 'passphrase', '*.password', '*.pass', 'auth.pass'], censor: '[secret]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination(2),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });

/** Anything that reports failures as 'error' events (BullMQ queues and workers, ioredis clients, child processes). */
export interface ErrorEmitter {
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** One line per distinct error per window: a Redis restart makes every connection fail once per reconnect attempt. */
export const ERROR_LOG_WINDOW_MS = 10_000;

interface Seen { at: number; suppressed: number }
const seenBy = new WeakMap<Logger, Map<string, Seen>>();

/**
 * Log an error at most once per window per distinct error text, across every
 * source logging through this logger; the next line that gets through says
 * how many were folded into it (`suppressed`). Keyed by the error text alone,
 * so the eight connections one stopped Redis refuses give one line, not eight.
 */
export function logRateLimited(logger: Logger, source: string, err: unknown, msg: string, fields: Record<string, unknown> = {}): void {
  let seen = seenBy.get(logger);
  if (!seen) seenBy.set(logger, (seen = new Map<string, Seen>()));
  const text = err instanceof Error ? err.message : String(err);
  const key = text;
  const now = Date.now();
  const s = seen.get(key);
  if (s && now - s.at < ERROR_LOG_WINDOW_MS) {
    s.suppressed++;
    return;
  }
  if (seen.size > 1000) seen.clear();
  seen.set(key, { at: now, suppressed: 0 });
  logger.error({ ...fields, source, err: text, code: (err as { code?: unknown } | null)?.code, ...(s?.suppressed ? { suppressed: s.suppressed } : {}) }, msg);
}

/**
 * Attach an 'error' listener that logs through pino. Without one, BullMQ
 * prints the raw error with console.error and ioredis prints
 * "[ioredis] Unhandled error event: <stack>": lines a log collector cannot
 * parse. Every emitter the worker creates goes through here.
 */
export function logErrors(emitter: ErrorEmitter, logger: Logger, source: string, fields: Record<string, unknown> = {}): void {
  emitter.on('error', (err) => logRateLimited(logger, source, err, `${source} error`, fields));
}

/**
 * For the long-running worker: what Node itself would print raw on stderr
 * goes through pino instead. Process warnings (Node's default listener is
 * replaced), and promise rejections nobody handled (a library's background
 * reconnect, say: logged, rate-limited, and the worker goes on; its jobs are
 * retried from the store). An uncaught exception leaves the process in an
 * unknown state: logged as fatal, then exit 1 so a supervisor restarts it.
 */
export function routeProcessDiagnostics(logger: Logger): void {
  process.removeAllListeners('warning');
  process.on('warning', (w) => logRateLimited(logger, 'node', w, 'node warning', { warning: w.name }));
  process.on('unhandledRejection', (reason) => logRateLimited(logger, 'node', reason, 'unhandled promise rejection'));
  process.on('uncaughtException', (err) => {
    logger.fatal({ source: 'node', err: err.message, stack: err.stack }, 'uncaught exception; exiting');
    process.exit(1);
  });
}
