/**
 * A second writer in its own process, for the store contract's concurrency
 * cases (store-contract.ts). argv[2] is JSON: how to open the store (a
 * module, the function it exports, its JSON arguments), the file whose
 * appearance is the start signal, and the operation. Prints "ready", waits
 * for the signal, runs the operation, prints its outcome as one JSON line.
 */
import { existsSync } from 'node:fs';
import { THIS_SENDER } from '../../src/store/claim.js';
import type { Completion, StateStore } from '../../src/store/types.js';

export interface ChildOpener { module: string; fn: string; args: unknown[] }
export type ChildOp =
  | { kind: 'spool'; rec: Record<string, unknown> }
  | { kind: 'complete'; completion: Completion }
  | { kind: 'completeAll'; completions: Completion[] }
  /** Claim the row as `sender` (this process by default), then settle it. */
  | { kind: 'settle'; id: string; how: 'sent' | 'dead'; sender?: string };
export interface ChildSpec { opener: ChildOpener; go: string; op: ChildOp }

/** Buffers survive JSON as { $b64 }. */
export function toWire(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && (x as { type?: string }).type === 'Buffer'
    ? { $b64: Buffer.from((x as { data: number[] }).data).toString('base64') } : x));
}
function fromWire<T>(s: string): T {
  return JSON.parse(s, (_k, x: unknown) => (x && typeof x === 'object' && '$b64' in x ? Buffer.from((x as { $b64: string }).$b64, 'base64') : x)) as T;
}

export async function runOp(store: StateStore, op: ChildOp): Promise<unknown> {
  try {
    switch (op.kind) {
      case 'spool':
        return { spooled: await store.spool(op.rec as never) };
      case 'complete': {
        const r = await store.complete(op.completion);
        return { applied: r.applied, reason: r.reason ?? null };
      }
      case 'completeAll': {
        // One after another: many races in one run, so a race that wins rarely still shows.
        const out: unknown[] = [];
        for (const c of op.completions) out.push(await runOp(store, { kind: 'complete', completion: c }));
        return out;
      }
      case 'settle': {
        const claim = await store.claimSending(op.id, op.sender ?? THIS_SENDER);
        if ('refused' in claim) return { refused: claim.refused };
        if (op.how === 'sent') await store.markSent(op.id);
        else await store.markFailed(op.id, '550 no such user', true);
        return { settled: op.how };
      }
    }
  } catch (err) {
    return { error: (err as { code?: string }).code ?? (err as Error).message };
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const spec = fromWire<ChildSpec>(process.argv[2]);
  const mod = (await import(spec.opener.module)) as Record<string, (...a: unknown[]) => StateStore | Promise<StateStore>>;
  const store = await mod[spec.opener.fn](...spec.opener.args);
  process.stdout.write('ready\n');
  while (!existsSync(spec.go)) await new Promise((r) => setTimeout(r, 1));
  const out = await runOp(store, spec.op);
  await store.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
