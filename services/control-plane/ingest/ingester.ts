// The consumer side of report ingestion: a BullMQ Worker takes report jobs
// (queue.ts) and writes their events to outcome_events. Jobs are
// gathered across the Worker's concurrent slots by a micro-batcher
// (batcher.ts) into multi-row inserts of about batchSize events; a job
// completes only once the insert holding its events has committed.
//
// Failures:
// - a malformed job throws UnrecoverableError: failed at once, never retried;
// - PostgreSQL unreachable (or any error that is not the job's own fault):
//   the jobs of that insert fail and BullMQ retries them with a capped
//   exponential backoff, for as long as it takes; the pool reconnects by
//   itself once PostgreSQL is back;
// - an error that may be one job's fault (bad data PostgreSQL refuses) in an
//   insert of several jobs: each job is inserted on its own, and only the
//   guilty one fails (unrecoverably).
import type { Redis } from 'ioredis';
import { UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Database } from '../store/db.ts';
import type { Metrics } from '../metrics.ts';
import { jobDataProblem, type ReportJobData } from './events.ts';
import { MicroBatcher } from './batcher.ts';
import { REPORT_QUEUE } from './queue.ts';

export interface ReportIngesterOptions {
  db: Database;
  /** Connection options (BullMQ opens its connections) or an ioredis client to duplicate. */
  redis: ConnectionOptions | Redis;
  queueName?: string;
  prefix?: string;
  /** Events per insert (a flush starts once this many are waiting). Default 500. */
  batchSize?: number;
  /**
   * Jobs processed at once by the Worker: enough for maxInserts inserts and
   * the next batch. A drained BullMQ Worker fetches jobs one round trip at a
   * time until every slot is full before it starts any; with the event loop
   * busy (a gRPC server in the same process under load) each round trip is
   * slow, so many more slots only delay the start. Default 16.
   */
  concurrency?: number;
  /** Longest wait for more events before a partial batch is inserted, ms. Default 5. */
  lingerMs?: number;
  /** Inserts in flight at once (each holds a pool connection). Default 2. */
  maxInserts?: number;
  /** First retry delay of a failed job, ms; doubled per attempt up to maxBackoffMs. Default 250. */
  backoffMs?: number;
  /** Default 30 000. */
  maxBackoffMs?: number;
  metrics?: Metrics;
  /** Connection errors of the Worker (Redis), and jobs that fail. Default: stderr. */
  onError?: (err: Error, job?: Job) => void;
}

export interface ReportIngester {
  /** Stops taking jobs; waits for those in hand to be written (or to fail). */
  close(): Promise<void>;
}

const defaultOnError = (err: Error, job?: Job): void => {
  process.stderr.write(`ingest: ${job ? `job ${job.id}: ` : ''}${err.message}\n`);
};

export function startReportIngester(o: ReportIngesterOptions): ReportIngester {
  const backoffMs = o.backoffMs ?? 250;
  const maxBackoffMs = o.maxBackoffMs ?? 30_000;
  const onError = o.onError ?? defaultOnError;
  const batcher = new MicroBatcher({
    pool: o.db.pool,
    batchSize: o.batchSize ?? 500,
    lingerMs: o.lingerMs ?? 5,
    maxInserts: o.maxInserts ?? 2,
    onInserted: (n) => o.metrics?.reportEventsIngested.inc(n),
  });

  const worker = new Worker<ReportJobData, void, string>(
    o.queueName ?? REPORT_QUEUE,
    async (job) => {
      const problem = jobDataProblem(job.data);
      if (problem) throw new UnrecoverableError(`malformed report job: ${problem}`);
      if (job.data.events.length === 0) return;
      await batcher.add(job.data);
    },
    {
      connection: o.redis,
      ...(o.prefix !== undefined ? { prefix: o.prefix } : {}),
      concurrency: o.concurrency ?? 16,
      settings: {
        // Report jobs name REPORT_BACKOFF; this Worker takes no other jobs.
        backoffStrategy: (attemptsMade: number) => {
          const max = Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(attemptsMade - 1, 30));
          // Jitter: replicas retrying together do not hit PostgreSQL in step.
          return Math.round(max / 2 + (Math.random() * max) / 2);
        },
      },
    },
  );
  worker.on('error', (err) => {
    onError(err);
  });
  worker.on('failed', (job, err) => {
    onError(err, job);
  });

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        await worker.close();
        await batcher.drain();
      })();
      return closing;
    },
  };
}
