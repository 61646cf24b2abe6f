// Coalesces many small database writes (acks, hellos, heartbeats) into one
// statement every few milliseconds: with 10,000 agents acknowledging at once,
// one UPDATE … FROM unnest(…) per flush instead of one per agent. One timer
// per batcher, none per stream.
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

  private flushNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.items.length === 0) return;
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    this.running++;
    this.flushFn(items)
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
        if (this.running === 0 && this.items.length === 0) {
          const idle = this.idle;
          this.idle = [];
          for (const f of idle) f();
        }
      });
  }
}
