/**
 * A verification thread (queue/verify-pool.ts starts it): verifyMail on the
 * raw bytes it is sent, with the collection's keys as this thread reads
 * them from the committed collection (src/pgp/known.ts) and the policy and
 * limits the worker's dispatcher uses. Each answer names the commit its keys came
 * from; the pool uses it only when that is the commit of the keys the
 * worker's own dispatcher holds, so a thread never judges a message with
 * other keys than the worker would (an apply between the two reads).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { describeError } from '../src/errors.js';
import { verifyMail } from '../src/mail/verify-mail.js';
import { KnownKeys } from '../src/pgp/known.js';
import type { VerifySettings, VerifyReply, VerifyRequest } from './verify-pool.js';

// The settings as data, not the config: the config's reader (zod, yaml) is
// a megabyte of code this thread would load for nothing.
const { dataDir, policy, limits } = workerData as VerifySettings;
const known = new KnownKeys(dataDir);
const port = parentPort!;

async function answer(m: VerifyRequest): Promise<VerifyReply> {
  const { keyring, head } = await known.getWithHead();
  if (head !== m.head) return { id: m.id, head };
  const raw = Buffer.from(m.raw.buffer, m.raw.byteOffset, m.raw.byteLength);
  return { id: m.id, head, result: await verifyMail(raw, keyring, { policy, limits, now: new Date(m.now) }) };
}

function post(reply: VerifyReply, transfer: ArrayBuffer[] = []): void {
  try {
    port.postMessage(reply, transfer);
  } catch (err) {
    // A result that cannot be sent (it never should): the worker checks the message itself.
    if ('id' in reply) port.postMessage({ id: reply.id, error: `the result could not be sent: ${describeError(err)}` } satisfies VerifyReply);
  }
}

port.on('message', (m: VerifyRequest) => {
  // verifyMail itself never throws for bad input; what can fail here is
  // reading the keys (git): the worker then verifies the message itself.
  // The message's bytes go back with the answer, not copied: the evidence
  // in a result is a view of them.
  answer(m).then((reply) => post(reply, [m.raw.buffer as ArrayBuffer]), (err: unknown) => post({ id: m.id, error: describeError(err) }));
});

// The keys read before this thread says it is ready, so that its first
// message does not wait for git (a failure is met again, per message).
await known.getWithHead().catch(() => undefined);
port.postMessage({ ready: true } satisfies VerifyReply);
