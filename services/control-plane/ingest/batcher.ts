// Gathers the events of many jobs into few inserts. add() resolves once the
// insert holding the job's events has committed, and rejects when it failed;
// an insert starts when batchSize events wait, or lingerMs after the first
// one arrived, with at most maxInserts in flight.
import type pg from 'pg';
import { UnrecoverableError } from 'bullmq';
import { insertEvents, toColumns, type EventBatch } from './insert.ts';

interface Entry {
  batch: EventBatch;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface MicroBatcherOptions {
  pool: pg.Pool;
  batchSize: number;
  lingerMs: number;
  maxInserts: number;
  onInserted?: (rows: number) => void;
}

/** Immediate retries of an insert that lost a race (deadlock, host deleted meanwhile). */
const RACE_RETRIES = 3;

function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Lost a race with another transaction: the same insert again will do. */
function isRace(err: unknown): boolean {
  const code = pgCode(err);
  // deadlock, serialization failure, foreign key (the host was deleted
  // between the EXISTS and the insert: the EXISTS now skips it).
  return code === '40P01' || code === '40001' || code === '23503';
}

/**
 * Possibly the fault of the data (a job's), not of the database: data
 * exceptions, integrity violations, program limits. Anything else — no
 * connection, PostgreSQL shutting down, out of resources, a timeout — is
 * transient and the jobs are retried as they are.
 */
function isDataError(err: unknown): boolean {
  const code = pgCode(err);
  return code !== undefined && /^(22|23|54)/.test(code);
}

export class MicroBatcher {
  private pending: Entry[] = [];
  private pendingEvents = 0;
  private timer: NodeJS.Timeout | undefined;
  private inflight = 0;
  /** The linger time is up, but every insert slot was busy. */
  private overdue = false;
  private idle: (() => void)[] = [];

  constructor(private readonly o: MicroBatcherOptions) {}

  add(batch: EventBatch): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ batch, resolve, reject });
      this.pendingEvents += batch.events.length;
      this.schedule();
    });
  }

  /** Resolves once nothing waits and no insert is in flight. */
  drain(): Promise<void> {
    if (this.pending.length === 0 && this.inflight === 0) return Promise.resolve();
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.overdue = true;
    this.pump(true);
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.pendingEvents >= this.o.batchSize) this.pump(false);
    else if (!this.timer && this.pending.length > 0)
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.overdue = true;
        this.pump(true);
      }, this.o.lingerMs);
  }

  /** Starts inserts while there is room: full batches, or anything when `partial`. */
  private pump(partial: boolean): void {
    while (
      this.inflight < this.o.maxInserts &&
      this.pending.length > 0 &&
      (partial || this.pendingEvents >= this.o.batchSize)
    ) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      const take: Entry[] = [];
      let n = 0;
      while (this.pending.length > 0 && n < this.o.batchSize) {
        const e = this.pending.shift() as Entry;
        take.push(e);
        n += e.batch.events.length;
      }
      this.pendingEvents -= n;
      if (this.pending.length === 0) this.overdue = false;
      this.inflight++;
      void this.run(take).finally(() => {
        this.inflight--;
        // What arrived meanwhile and waited for room.
        if (this.pending.length > 0) this.pump(this.overdue);
        if (this.pending.length === 0 && this.inflight === 0)
          for (const f of this.idle.splice(0)) f();
      });
    }
    if (this.pending.length > 0 && !this.timer && this.inflight < this.o.maxInserts)
      this.schedule();
  }

  private async insert(entries: Entry[]): Promise<number> {
    const cols = toColumns(entries.map((e) => e.batch));
    for (let attempt = 0; ; attempt++) {
      try {
        return await insertEvents(this.o.pool, cols);
      } catch (err) {
        if (attempt < RACE_RETRIES && isRace(err)) continue;
        throw err;
      }
    }
  }

  private async run(entries: Entry[]): Promise<void> {
    try {
      const n = await this.insert(entries);
      this.o.onInserted?.(n);
      for (const e of entries) e.resolve();
    } catch (err) {
      if (!isDataError(err)) {
        const e = err instanceof Error ? err : new Error(String(err));
        for (const x of entries) x.reject(e);
        return;
      }
      // One job's data, maybe: find which, one insert per job.
      for (const x of entries) {
        try {
          const n = await this.insert([x]);
          this.o.onInserted?.(n);
          x.resolve();
        } catch (err2) {
          const msg = err2 instanceof Error ? err2.message : String(err2);
          x.reject(
            isDataError(err2)
              ? new UnrecoverableError(`PostgreSQL refused the report: ${msg}`)
              : err2 instanceof Error
                ? err2
                : new Error(msg),
          );
        }
      }
    }
  }
}
