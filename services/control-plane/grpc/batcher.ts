// Coalesces many small database writes (acks, hellos, heartbeats) into one
// statement every few milliseconds: with 10,000 agents acknowledging at once,
// one UPDATE … FROM unnest(…) per flush instead of one per agent. One timer
// per batcher, none per stream.
/** PostgreSQL's deadlock_detected and serialization_failure: the statement may simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 4;

export class Batcher<T, R = void> {
  private items: T[] = [];
  private waiters: { resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = 0;
  private idle: (() => void)[] = [];

  constructor(
    private readonly flushFn: (items: T[]) => Promise<R[]>,
    private readonly delayMs = 5,
    private readonly maxItems = 2000,
    /**
     * Writes in flight at once. More than one batch of the same kind at a
     * time only queue on each other's row locks (and deadlock), and each
     * holds a pooled connection while it waits: under a thousand agents'
     * reports that took every connection of the pool. What arrives
     * meanwhile goes in the next batch.
     */
    private readonly maxInFlight = 1,
  ) {}

  /** Queues one item; resolves with its result once its batch is written. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.items.push(item);
      this.waiters.push({ resolve, reject });
      if (this.items.length >= this.maxItems) this.flushNow();
      else
        this.timer ??= setTimeout(() => {
          this.flushNow();
        }, this.delayMs);
    });
  }

  /** Writes what is queued and waits for every write in flight. */
  async drain(): Promise<void> {
    this.flushNow();
    if (this.running === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /**
   * A deadlock (or serialization failure) aborts one of the transactions
   * involved, and the batch is simply written again: a rollout updating a
   * thousand hosts at once, while their acks arrive, must not cost those
   * agents their streams.
   */
  private async flushWithRetry(items: T[]): Promise<R[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.flushFn(items);
      } catch (err) {
        const code = (err as { code?: unknown } | undefined)?.code;
        if (attempt >= MAX_ATTEMPTS || typeof code !== 'string' || !RETRYABLE.has(code)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
      }
    }
  }

  private flushNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.items.length === 0) return;
    // Flushed again when the write in flight ends (below).
    if (this.running >= this.maxInFlight) return;
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    this.running++;
    this.flushWithRetry(items)
      .then(
        (results) => {
          waiters.forEach((w, i) => {
            w.resolve(results[i] as R);
          });
        },
        (err: unknown) => {
          for (const w of waiters) w.reject(err);
        },
      )
      .finally(() => {
        this.running--;
        if (this.items.length > 0) this.flushNow();
        if (this.running === 0 && this.items.length === 0) {
          const idle = this.idle;
          this.idle = [];
          for (const f of idle) f();
        }
      });
  }
}
