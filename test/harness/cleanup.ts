// Last-resort cleanup of what the harness started: child process groups,
// temporary directories and synchronous hooks (gpg-agent). Each handle's own
// stop() is the normal path; this runs on process exit (a failed assertion, an
// uncaught error, the test runner ending the file) and on SIGINT/SIGTERM/SIGHUP,
// so no Dovecot, Redis or gpg-agent outlives the test process.
import { rmSync } from 'node:fs';

const groups = new Set<number>();
const dirs = new Set<string>();
const hooks = new Set<() => void>();
let installed = false;

/** Keep temporary directories (for debugging a failed run) when ZTRUST_HARNESS_KEEP=1. */
export const keepDirs = process.env.ZTRUST_HARNESS_KEEP === '1';

function runAll(): void {
  for (const hook of [...hooks]) {
    try {
      hook();
    } catch {
      // Best effort: one failing hook must not stop the others.
    }
  }
  hooks.clear();
  for (const pgid of [...groups]) {
    try {
      // Children are spawned detached, so each is the leader of its own process
      // group: killing the group also takes the workers they forked.
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  groups.clear();
  if (!keepDirs) {
    for (const dir of [...dirs]) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // Best effort.
      }
    }
  }
  dirs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  runAll();
  // Re-raise with the default action when nobody else handles the signal, so
  // the process still dies of it; other handlers (the test runner's) decide otherwise.
  process.removeListener(signal, onSignal);
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
}

/** Kill this process group (SIGKILL) if the process exits before the handle is stopped. */
export function trackGroup(pgid: number): void {
  install();
  groups.add(pgid);
}
export function untrackGroup(pgid: number): void {
  groups.delete(pgid);
}

/** Remove this directory if the process exits before the handle is stopped. */
export function trackDir(dir: string): void {
  install();
  dirs.add(dir);
}
export function untrackDir(dir: string): void {
  dirs.delete(dir);
}

/** Run a synchronous hook at exit; returns a function that unregisters it. */
export function atExit(hook: () => void): () => void {
  install();
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
  };
}

/** Remove a directory now (unless ZTRUST_HARNESS_KEEP=1) and stop tracking it. */
export function removeDir(dir: string): void {
  untrackDir(dir);
  if (keepDirs) {
    process.stderr.write(`harness: kept ${dir} (ZTRUST_HARNESS_KEEP=1)\n`);
    return;
  }
  rmSync(dir, { recursive: true, force: true });
}
