/**
 * Shared by the fuzz tests (fuzz-mime, fuzz-armour, fuzz-tlog-entry,
 * fuzz-note): every generated input must return or throw one of the bot's
 * typed errors (ZtrustError: a code the caller switches on), never another
 * exception, and no single input may hold the thread for long.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ZtrustError } from '../../src/errors.js';

/** Inputs per property: thousands per run. */
export const RUNS = 2000;
/** The longest one call may take (a hang or a quadratic scan shows up here). */
export const MAX_MS = 200;

/** True when `err` is a typed error the caller can act on. */
export const typed = (err: unknown): boolean => err instanceof ZtrustError;

/**
 * Runs `fn` on RUNS inputs from `arb`; each must return or throw an error
 * accepted by `ok` (typed errors by default). Fails with the slowest input
 * when one took MAX_MS or more. Returns how many calls threw.
 */
export async function fuzz<T>(arb: fc.Arbitrary<T>, fn: (x: T) => unknown, ok: (err: unknown) => boolean = typed, runs = RUNS): Promise<number> {
  let slowest = { ms: 0, input: undefined as T | undefined };
  let threw = 0;
  await fc.assert(fc.asyncProperty(arb, async (x) => {
    const t0 = process.hrtime.bigint();
    try {
      await fn(x);
    } catch (err) {
      threw++;
      if (!ok(err)) throw new Error(`untyped exception ${(err as Error)?.name}: ${(err as Error)?.message}`, { cause: err });
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms > slowest.ms) slowest = { ms, input: x };
  }), { numRuns: runs });
  if (slowest.ms >= MAX_MS) {
    // Timed again, best of three: a quadratic scan or a hang is slow every
    // time, a garbage collection or a busy machine's scheduler only once.
    let best = Infinity;
    for (let i = 0; i < 3; i++) best = Math.min(best, await timed(fn, slowest.input as T));
    assert.ok(best < MAX_MS, `slowest input took ${slowest.ms.toFixed(1)} ms, then at best ${best.toFixed(1)} ms of 3 more: ${JSON.stringify(slowest.input)?.slice(0, 200)}`);
  }
  return threw;
}

async function timed<T>(fn: (x: T) => unknown, x: T): Promise<number> {
  const t0 = process.hrtime.bigint();
  try {
    await fn(x);
  } catch {
    /* judged on the first run */
  }
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Bytes biased towards the structure under test: fragments glued together with random bytes. */
export function fragments(parts: readonly string[], maxLength = 60): fc.Arbitrary<string> {
  return fc.array(fc.oneof(fc.constantFrom(...parts), fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 4 })), { maxLength }).map((a) => a.join(''));
}
