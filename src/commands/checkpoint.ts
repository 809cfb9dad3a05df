/**
 * CHECKPOINT [<old tree size>]: the log's latest signed checkpoint (a C2SP
 * signed note) and its verifier key. With a tree size the log signed
 * before, also a consistency proof from that checkpoint to the latest one,
 * so a reader who kept an old checkpoint can see that the log only grew.
 * Unsigned requests are fine; read from the log's files, no lock taken.
 */
import { describeError } from '../errors.js';
import { LogReader } from '../ledger/reader.js';
import { FRAME_CHECKPOINT, FRAME_CONSISTENCY, framed } from '../ledger/replies.js';
import { render } from '../templates.js';
import type { Handler } from './types.js';
import { logDir, unavailable } from './verify.js';

export const checkpointHandler: Handler = async (req, ctx) => {
  let reader: LogReader;
  try {
    reader = await LogReader.open(logDir(ctx.config));
  } catch (err) {
    ctx.logger.error({ err: describeError(err) }, 'CHECKPOINT: cannot read the log');
    return unavailable('CHECKPOINT', err);
  }
  let consistency: string | null = null;
  let oldSize: number | null = null;
  let noOld: number | null = null;
  const arg = req.command.args[0];
  if (arg !== undefined && /^\d{1,15}$/.test(arg)) {
    oldSize = Number(arg);
    const old = oldSize === 0 ? null : oldSize <= reader.size ? await ctx.store.getCheckpoint(oldSize) : undefined;
    if (old === undefined) noOld = oldSize;
    else {
      try {
        consistency = framed(FRAME_CONSISTENCY, await reader.consistency(old, reader.note));
      } catch (err) {
        ctx.logger.error({ err: describeError(err), oldSize }, 'CHECKPOINT: no consistency proof');
        noOld = oldSize;
      }
    }
  }
  return {
    status: 'found',
    fields: { 'Tree-Size': String(reader.size) },
    body: render('checkpoint', {
      origin: reader.checkpoint.origin, size: reader.size, one: reader.size === 1,
      checkpoint: framed(FRAME_CHECKPOINT, reader.note), vkey: reader.vkey,
      consistency, oldSize, noOld: noOld === null ? null : String(noOld),
    }),
    outcome: 'CHECKPOINT:found',
  };
};
