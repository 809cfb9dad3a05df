// Starting, watching and stopping the service processes of the harness.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { trackGroup, untrackGroup } from './cleanup.js';

// Daemons live in sbin, which is not on a non-root user's PATH on Debian.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of a program, searching PATH and the sbin directories; throws naming the Debian package. */
export function findBinary(name: string, debianPackage?: string): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  const hint = debianPackage ? ` (apt-get install ${debianPackage})` : '';
  throw new Error(`harness: ${name} not found on PATH or in sbin${hint}`);
}

export interface Service {
  child: ChildProcess;
  /** Process id of the leader, which is also the process group id. */
  pid: number;
  /** The last 64 KiB of stdout+stderr, for error messages. */
  output(): string;
  /** Settles when the leader exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
}

/**
 * Spawn a long-running service as the leader of a new process group, so that
 * stopping (or the exit hook) can take down every worker it forks.
 */
export function spawnService(bin: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Service {
  const child = spawn(bin, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    throw new Error(`harness: could not spawn ${bin}`);
  }
  const pid = child.pid;
  trackGroup(pid);
  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString('utf8')).slice(-65536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once('error', () => {
      done = true;
      resolve({ code: null, signal: null });
    });
  });
  // The harness must not keep the test process alive by itself.
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  return { child, pid, output: () => out, exited, hasExited: () => done };
}

/** Live (non-zombie) processes whose process group is pgid. Linux /proc. */
export function processesInGroup(pgid: number): number[] {
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    // No /proc: fall back to a signal probe, which cannot tell zombies apart.
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = rest[0];
    const pgrp = Number(rest[2]);
    if (pgrp === pgid && state !== 'Z' && state !== 'X') found.push(Number(name));
  }
  return found;
}

/** Live processes whose command line contains the given text (e.g. a temp dir path). */
export function processesWithArg(text: string): number[] {
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (!cmdline.includes(text)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      if (state !== 'Z' && state !== 'X') found.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Stop a service: `signal` to the leader, wait for it, then wait for the rest
 * of its process group; SIGKILL the whole group after timeoutMs.
 */
export async function stopService(svc: Service, opts: { signal?: NodeJS.Signals; timeoutMs?: number } = {}): Promise<void> {
  const { signal = 'SIGTERM', timeoutMs = 5000 } = opts;
  const deadline = Date.now() + timeoutMs;
  if (!svc.hasExited()) {
    try {
      process.kill(svc.pid, signal);
    } catch {
      // already gone
    }
    await Promise.race([svc.exited, sleep(timeoutMs)]);
  }
  while (processesInGroup(svc.pid).length > 0 && Date.now() < deadline) await sleep(20);
  if (processesInGroup(svc.pid).length > 0 || !svc.hasExited()) {
    try {
      process.kill(-svc.pid, 'SIGKILL');
    } catch {
      // gone
    }
    await Promise.race([svc.exited, sleep(2000)]);
    const end = Date.now() + 2000;
    while (processesInGroup(svc.pid).length > 0 && Date.now() < end) await sleep(20);
  }
  untrackGroup(svc.pid);
}

/**
 * Wait until a TCP server on 127.0.0.1:port greets with a line matching
 * `greeting`. Fails early, with the service's output, if the service exits.
 */
export async function waitForGreeting(
  port: number,
  greeting: RegExp,
  svc: Service,
  what: string,
  opts: { timeoutMs?: number; send?: string } = {},
): Promise<void> {
  const { timeoutMs = 15000, send } = opts;
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (svc.hasExited()) {
      const { code, signal } = await svc.exited;
      throw new Error(`harness: ${what} exited (code ${code}, signal ${signal}) before it answered on port ${port}:\n${svc.output()}`);
    }
    const line = await readGreeting(port, send).catch((e: Error) => {
      lastError = e.message;
      return null;
    });
    if (line !== null) {
      if (greeting.test(line)) return;
      lastError = `unexpected greeting ${JSON.stringify(line)}`;
    }
    await sleep(25);
  }
  throw new Error(`harness: ${what} did not answer on port ${port} within ${timeoutMs} ms (${lastError}):\n${svc.output()}`);
}

// First line the server sends, after writing `send` (for servers such as Redis that do not greet).
function readGreeting(port: number, send?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port }, () => {
      if (send) sock.write(send);
    });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no greeting within 2 s'));
    }, 2000);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        sock.destroy();
        resolve(buf.slice(0, nl).replace(/\r$/, ''));
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      reject(new Error('closed before greeting'));
    });
  });
}
