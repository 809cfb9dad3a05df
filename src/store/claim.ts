/**
 * Who is sending an outbox row. A row is handed to the transport only by the
 * sender that claimed it in the store (StateStore.claimSending), so two
 * senders, in one process or several (`run` and `digest --now`, two workers
 * on one data directory), never send the same reply twice. Within a process
 * the delivery step keeps its own map (queue/deliver.ts); this decides
 * between processes.
 *
 * A claim names its process: host (with its pid namespace), pid and a
 * nonce drawn at start. It holds while that process runs (a pid of this
 * host that answers signal 0 and is not this process under an older nonce)
 * and for at most OUTBOX_BOUNDS.claimHoldsMs: a crashed sender's row is
 * taken up at once by the next start on the same host; one of a host this
 * process cannot see, or whose pid was reused, after the bound.
 */
import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { pidAlive } from '../fsync/pid.js';
import { OUTBOX_BOUNDS } from '../limits.js';

/**
 * Where a pid means one process: the host name and, on Linux, the pid
 * namespace (two containers with one host name and one data volume each
 * have their own pid 1; to each other they are on different hosts).
 */
function pidSpace(): string {
  try {
    return `${hostname()}~${readlinkSync('/proc/self/ns/pid').replace(/\D/g, '')}`;
  } catch {
    return hostname();
  }
}

/** This process as a sender: `host~pidns/pid/nonce`. */
export const THIS_SENDER = `${pidSpace()}/${process.pid}/${randomBytes(6).toString('hex')}`;

/**
 * Whether a row in state 'sending', claimed by `owner` at `claimedAt`, is
 * still someone else's to finish. A claim by `me` is not (the caller keeps
 * its own sends apart); one without an owner (a row from before claims) or
 * an unreadable time is not either.
 */
export function claimHeldByOther(owner: string | null, claimedAt: string | null, me: string, nowMs: number): boolean {
  if (!owner || owner === me) return false;
  const at = claimedAt ? Date.parse(claimedAt) : NaN;
  if (!Number.isFinite(at) || nowMs - at >= OUTBOX_BOUNDS.claimHoldsMs) return false;
  const [host, pidText] = owner.split('/');
  const [myHost, myPid] = me.split('/');
  if (host !== myHost) return true; // cannot be seen from here: held until the bound
  // This pid under another nonce: an earlier process this one replaced.
  if (pidText === myPid) return false;
  return pidAlive(Number(pidText));
}
