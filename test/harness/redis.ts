// A private redis-server on a free loopback port, in its own temp dir.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDir, trackDir } from './cleanup.js';
import { freePort } from './ports.js';
import { findBinary, spawnService, stopService, waitForGreeting, type Service } from './procs.js';

export interface RedisHandle {
  url: string;
  port: number;
  dir: string;
  /** Process id of redis-server (also its process group id); changes on restart. */
  pid: number;
  /**
   * Stop redis-server (SIGTERM), wait `downMs`, start it again on the same
   * port, as an operator's restart or a package upgrade would. Nothing is
   * persisted (see args): clients reconnect to an empty server.
   */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

// Everything on the command line, no config file: loopback only, no
// persistence (tests start from empty), no daemonizing (we own the process).
function args(port: number, dir: string): string[] {
  return [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--protected-mode', 'yes',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--supervised', 'no',
    '--unixsocket', '',
    '--logfile', '',
    '--databases', '16',
  ];
}

export async function startRedis(): Promise<RedisHandle> {
  const bin = findBinary('redis-server', 'redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'ztr-'));
  trackDir(dir);
  let port: number;
  let svc: Service;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    svc = spawnService(bin, args(port, dir), { cwd: dir });
    try {
      await waitForGreeting(port, /^\+PONG/, svc, 'redis-server', { send: 'PING\r\n' });
      break;
    } catch (e) {
      await stopService(svc, { timeoutMs: 1000 });
      // Another process may have taken the port between freePort() and bind().
      if (attempt < 3 && /Address already in use/.test((e as Error).message)) continue;
      removeDir(dir);
      throw e;
    }
  }

  let stopped: Promise<void> | null = null;
  const handle: RedisHandle = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    pid: svc.pid,
    async restart(downMs = 3000) {
      await stopService(svc, { signal: 'SIGTERM', timeoutMs: 5000 });
      await new Promise((r) => setTimeout(r, downMs));
      svc = spawnService(bin, args(port, dir), { cwd: dir });
      handle.pid = svc.pid;
      await waitForGreeting(port, /^\+PONG/, svc, 'redis-server (restarted)', { send: 'PING\r\n' });
    },
    stop() {
      // Idempotent: a test's finally and an after() hook may both call it.
      stopped ??= (async () => {
        await stopService(svc, { signal: 'SIGTERM', timeoutMs: 5000 });
        removeDir(dir);
      })();
      return stopped;
    },
  };
  return handle;
}
