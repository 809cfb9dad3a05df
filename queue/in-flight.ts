/**
 * Work under way in this process, by key: a second request for a key
 * already under way gets the first one's promise instead of doing the work
 * again (queue/deliver.ts for outbox rows, queue/inbound.ts for messages).
 */
export class InFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  run(key: string, work: () => Promise<T>): Promise<T> {
    const under = this.running.get(key);
    if (under) return under;
    const p = work();
    this.running.set(key, p);
    const done = (): void => { this.running.delete(key); };
    p.then(done, done);
    return p;
  }

  get size(): number {
    return this.running.size;
  }

  /** Resolves once everything under way now has finished. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }
}
