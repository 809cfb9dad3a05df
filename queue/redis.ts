/**
 * The queue's Redis: the configured URL, or an embedded `redis-server` child
 * that the bot starts and supervises, with an append-only file in the data
 * directory. Embedded Redis listens on loopback only, on a port chosen at
 * start, with a random password kept in the data directory (mode 0600), so
 * other local users cannot reach the queue.
 *
 * If the bot is killed (SIGKILL), its Redis child survives as an orphan; the
 * next start finds it through the pid/port files, checks it answers with our
 * password, and adopts it instead of starting a second server on the same
 * append-only file.
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { QueueError } from '../src/errors.js';
import { logRateLimited, type Logger } from '../src/logger.js';
import { dataLayout } from '../src/datadir.js';
import { pidAlive } from '../src/fsync/pid.js';

export interface RedisEndpoint {
  /** ioredis options for BullMQ (maxRetriesPerRequest null, as BullMQ workers require). */
  options: RedisOptions;
  /** Human-readable location, without the password. */
  where: string;
  embedded: boolean;
  stop(): Promise<void>;
}

export function redisOptionsFromUrl(url: string): RedisOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Whether Redis answers PING within `timeoutMs`, on a connection of its own (never retried). */
export async function pingRedis(options: RedisOptions, timeoutMs = 1000): Promise<boolean> {
  // commandTimeout too: a Redis that accepts the connection and then never answers (stopped, swapping) is not there either.
  const r = new Redis({ ...options, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs, commandTimeout: timeoutMs });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

function whichRedis(binary: string): string {
  if (binary.includes('/')) return binary;
  try {
    return execFileSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' }).trim();
  } catch {
    throw new QueueError('QUEUE_REDIS_MISSING',
      `${binary} is not installed and queue.redisUrl is not set. Install it (Debian: apt-get install redis-server) or configure a Redis URL.`);
  }
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

export async function startEmbeddedRedis(dataDir: string, binary: string, logger: Logger): Promise<RedisEndpoint> {
  const dir = dataLayout(dataDir).redis;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const passFile = path.join(dir, 'redis.pass');
  const portFile = path.join(dir, 'redis.port');
  const pidFile = path.join(dir, 'redis.pid');
  let password: string;
  if (existsSync(passFile)) password = readFileSync(passFile, 'utf8').trim();
  else {
    password = randomBytes(24).toString('hex');
    writeFileSync(passFile, password, { mode: 0o600 });
    chmodSync(passFile, 0o600);
  }

  // Adopt a surviving child of a previous run.
  if (existsSync(portFile) && existsSync(pidFile)) {
    const port = Number(readFileSync(portFile, 'utf8'));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const options: RedisOptions = { host: '127.0.0.1', port, password, maxRetriesPerRequest: null };
    if (pid > 0 && pidAlive(pid) && await pingRedis(options)) {
      logger.info({ port, pid }, 'adopting the embedded redis-server left by a previous run');
      return endpoint(options, port, pid, null, logger);
    }
  }

  const bin = whichRedis(binary);
  const port = await freePort();
  const stopping = { value: false };
  const args = [
    '--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--requirepass', password,
    '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no',
    '--pidfile', pidFile, '--logfile', path.join(dir, 'redis.log'), '--protected-mode', 'yes',
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
  // redis-server writes its log to redis.log; what still reaches stderr
  // (a bad option, a crash) goes into the error at start, or through pino
  // after it, never raw onto the bot's own stderr. Bounded: it is a child's output.
  let stderr = '';
  let started = false;
  child.stderr?.on('data', (d: Buffer) => {
    if (!started) stderr = (stderr + d.toString()).slice(-4096);
    else for (const line of d.toString().split('\n').filter((l) => l.trim())) logRateLimited(logger, 'redis-server', line.slice(0, 500), 'embedded redis-server output');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.on('error', (err) => {
    if (!started) stderr += String(err);
    else logRateLimited(logger, 'redis-server', err, 'embedded redis-server error');
  });
  const options: RedisOptions = { host: '127.0.0.1', port, password, maxRetriesPerRequest: null };
  const ok = await Promise.race([waitFor(() => pingRedis(options, 300), 15000), exited.then(() => false)]);
  if (!ok) {
    child.kill('SIGKILL');
    throw new QueueError('QUEUE_REDIS_START', `embedded redis-server did not start: ${stderr.trim() || 'see ' + path.join(dir, 'redis.log')}`);
  }
  started = true;
  child.once('exit', (code, signal) => {
    // Expected at stop (SHUTDOWN); anything else is worth one line: the queue is down until restarted.
    if (!stopping.value) logger.error({ source: 'redis-server', code, signal }, 'embedded redis-server exited');
  });
  writeFileSync(portFile, String(port));
  writeFileSync(pidFile, String(child.pid));
  logger.info({ port, pid: child.pid, dir }, 'embedded redis-server started');
  return endpoint(options, port, child.pid ?? 0, child, logger, stopping);
}

function endpoint(options: RedisOptions, port: number, pid: number, child: ChildProcess | null, logger: Logger,
  stopping = { value: false }): RedisEndpoint {
  return {
    options,
    where: `embedded redis-server on 127.0.0.1:${port}`,
    embedded: true,
    async stop() {
      stopping.value = true;
      // SHUTDOWN makes Redis flush the append-only file before exiting.
      const r = new Redis({ ...options, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
      r.on('error', () => undefined);
      try {
        await r.connect();
        await r.call('SHUTDOWN').catch(() => undefined);
      } catch {
        /* already gone */
      } finally {
        r.disconnect();
      }
      const gone = await waitFor(() => Promise.resolve(!pidAlive(pid)), 5000);
      if (!gone) {
        logger.warn({ pid }, 'embedded redis-server did not stop; killing it');
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      if (child && child.exitCode === null) await new Promise((r2) => child.once('exit', r2));
    },
  };
}

/**
 * The queue's Redis. An external one that does not answer is asked again
 * for up to `waitMs` (a worker restarted while Redis itself restarts, as a
 * host reboot or a supervisor restarting both does, finds it gone for a
 * second or two), with one warning per try; then QUEUE_CONNECT, so a wrong
 * URL still ends the start with a clear error.
 */
export async function connectRedis(url: string | null, dataDir: string, binary: string, logger: Logger, waitMs = 0): Promise<RedisEndpoint> {
  if (!url) return startEmbeddedRedis(dataDir, binary, logger);
  const options = redisOptionsFromUrl(url);
  const where = `${options.host}:${options.port}`;
  await retryForAWhile(async () => {
    if (!(await pingRedis(options, 3000))) throw new QueueError('QUEUE_CONNECT', `cannot reach Redis at ${where} (queue.redisUrl)`);
  }, waitMs, 2000, (_err, delay) => logger.warn({ queue: where, retryInMs: delay }, 'start: Redis does not answer (restarting?); trying again'));
  return { options, where, embedded: false, async stop() { /* not ours */ } };
}

/**
 * `attempt` until it succeeds, for start-up steps that meet a Redis that
 * is restarting: after a failure, `onRetry` and a wait of 250 ms, doubling
 * up to `capMs`; when the next wait would pass `waitMs`, the last error.
 */
export async function retryForAWhile<T>(attempt: () => Promise<T>, waitMs: number, capMs: number,
  onRetry: (err: unknown, delayMs: number) => void): Promise<T> {
  const until = Date.now() + waitMs;
  for (let delay = 250; ; delay = Math.min(delay * 2, capMs)) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() + delay > until) throw err;
      onRetry(err, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * BullMQ 6 bundles its own copy of the ioredis option types, which differ in
 * detail from ioredis 6's; the runtime object is the same plain options bag.
 */
export function bullConnection(ep: RedisEndpoint): import('bullmq').ConnectionOptions {
  return ep.options as unknown as import('bullmq').ConnectionOptions;
}
