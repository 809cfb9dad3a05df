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
