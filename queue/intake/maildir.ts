/**
 * Maildir intake: every file in new/ and cur/ is a message. The spool key
 * comes from the file's unique name (the part before ':'), which Maildir
 * guarantees stable; after a message is durably queued it is moved from
 * new/ to cur/ (marked seen), as a mail client would.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../src/logger.js';
import { INTAKE_BOUNDS, MAX_HEADER_SECTION_BYTES, messageReadBytes, messageSizeError } from '../../src/limits.js';
import { headerSection } from './header.js';
import type { Intake, IntakeMessage, IntakeSink } from './types.js';

/**
 * A message file, read with bounded memory: whole when it fits `maxBytes`;
 * else only its header section (at most MAX_HEADER_SECTION_BYTES) and its
 * size, so an oversize file is never held in memory.
 */
function readMessage(file: string, maxBytes: number): Pick<IntakeMessage, 'raw' | 'declaredSize'> {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const limits = { maxMessageBytes: maxBytes };
    const oversize = messageSizeError(size, limits) !== null;
    // Never more than one byte over the limit, even if the file grew since fstat.
    const want = oversize ? MAX_HEADER_SECTION_BYTES : Math.min(size + 1, messageReadBytes(limits));
    const buf = Buffer.alloc(want);
    let got = 0;
    for (let n = 1; n > 0 && got < want; got += n) n = readSync(fd, buf, got, want - got, got);
    const raw = buf.subarray(0, got);
    return oversize ? { raw: headerSection(raw), declaredSize: size } : { raw };
  } finally {
    closeSync(fd);
  }
}

export class MaildirIntake implements Intake {
  readonly where: string;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    private readonly dir: string,
    private readonly sink: IntakeSink,
    private readonly logger: Logger,
    private readonly pollMs: number,
    /** The configured message-size limit (limits.maxMessageBytes): required, so no intake reads unbounded. */
    private readonly maxBytes: number,
  ) {
    this.where = `maildir:${dir}`;
    for (const sub of ['new', 'cur', 'tmp']) mkdirSync(path.join(dir, sub), { recursive: true });
  }

  private list(): { file: string; uid: string; sub: 'new' | 'cur' }[] {
    const out: { file: string; uid: string; sub: 'new' | 'cur' }[] = [];
    for (const sub of ['new', 'cur'] as const) {
      const d = path.join(this.dir, sub);
      if (!existsSync(d)) continue;
      for (const name of readdirSync(d).sort()) {
        if (name.startsWith('.')) continue;
        out.push({ file: path.join(d, name), uid: name.split(':')[0], sub });
      }
    }
    return out;
  }

  async drainOnce(): Promise<number> {
    if (this.running) return this.running;
    this.running = this.drain().finally(() => { this.running = null; });
    return this.running;
  }

  private async drain(): Promise<number> {
    let n = 0;
    const all = this.list();
    // In batches, as the IMAP intake fetches them (INTAKE_BOUNDS): one queue
    // write per batch, and a batch's bytes bounded in memory.
    for (let i = 0; i < all.length;) {
      const batch: { file: string; sub: 'new' | 'cur'; msg: IntakeMessage }[] = [];
      let bytes = 0;
      for (; i < all.length && batch.length < INTAKE_BOUNDS.fetchBatchMessages && bytes < INTAKE_BOUNDS.fetchBatchBytes; i++) {
        const m = all[i];
        try {
          const msg = readMessage(m.file, this.maxBytes);
          batch.push({ file: m.file, sub: m.sub, msg: { mailbox: this.where, uidValidity: 0, uid: m.uid, ...msg } });
          bytes += msg.raw.length;
        } catch (err) {
          this.logger.warn({ file: m.file, err: (err as Error).message }, 'cannot read maildir file; skipping for now');
        }
      }
      await this.sink.accept(batch.map((b) => b.msg));
      n += batch.length;
      for (const m of batch) {
        if (m.sub !== 'new') continue;
        try {
          renameSync(m.file, path.join(this.dir, 'cur', `${path.basename(m.file).split(':')[0]}:2,S`));
        } catch (err) {
          this.logger.warn({ file: m.file, err: (err as Error).message }, 'cannot move message to cur/');
        }
      }
    }
    return n;
  }

  start(): void {
    const tick = (): void => {
      this.drainOnce().catch((err) => this.logger.error({ err: (err as Error).message }, 'maildir poll failed'))
        .finally(() => { if (this.timer) this.timer = setTimeout(tick, this.pollMs); });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.running) await this.running.catch(() => undefined);
  }
}
