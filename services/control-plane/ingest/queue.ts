// The producer side of report ingestion: the gRPC server hands each
// ReportBatch to enqueue(), and acknowledges it to the agent only once the
// promise resolves, that is once BullMQ has stored the job in Redis. From
// then on the batch survives a crash of the control plane: the ingester
// (ingester.ts), in this replica or another, writes it to PostgreSQL.
import type { Redis } from 'ioredis';
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { OutcomeEvent } from '../../proto/oomfleet/v1/agent.ts';
import type { Metrics } from '../metrics.ts';
import { checkEvent, isUuid, MAX_JOB_EVENTS, type EventRow, type ReportJobData } from './events.ts';
import { invalidEvents } from './ingest-metrics.ts';
import { InvalidReportError } from './invalid-report-error.ts';

export const REPORT_QUEUE = 'oomfleet-reports';
export const REPORT_JOB = 'report-batch';
/** The backoff strategy of report jobs, implemented by the ingester's Worker. */
export const REPORT_BACKOFF = 'oomfleet-report';

/**
 * Jobs are retried for as long as it takes (PostgreSQL down for hours loses
 * nothing); a malformed job fails at once (UnrecoverableError) and is kept
 * among the failed for a look.
 */
export const REPORT_JOB_OPTIONS: JobsOptions = {
  attempts: 1_000_000,
  backoff: { type: REPORT_BACKOFF },
  removeOnComplete: true,
  removeOnFail: { count: 10_000 },
};

export interface ReportBatchIn {
  seq: number;
  events: OutcomeEvent[];
}

export interface ReportSink {
  /**
   * Queues one batch of a host's events; resolves once the job is in Redis.
   * Faulty events are queued as kind 'invalid' or dropped (events.ts); a
   * batch of more than MAX_JOB_EVENTS events becomes several jobs. Throws
   * InvalidReportError only for a host id that is not a UUID or a bad seq.
   */
  enqueue(hostId: string, batch: ReportBatchIn): Promise<void>;
  /**
   * When the oldest batch not yet stored was queued (ms), or undefined when
   * every queued batch is in PostgreSQL: a rollout's gates wait for the
   * reports of a bake before they count them.
   */
  oldestPending(): Promise<number | undefined>;
  close(): Promise<void>;
}

export interface ReportQueueOptions {
  /** Connection options (BullMQ opens its own connection) or a shared ioredis client. */
  redis: ConnectionOptions | Redis;
  queueName?: string;
  /** BullMQ key prefix ("bull" unless given). */
  prefix?: string;
  metrics?: Metrics;
}

export function createReportQueue(o: ReportQueueOptions): ReportSink {
  const queue = new Queue<ReportJobData, void, string>(o.queueName ?? REPORT_QUEUE, {
    connection: o.redis,
    ...(o.prefix !== undefined ? { prefix: o.prefix } : {}),
    defaultJobOptions: REPORT_JOB_OPTIONS,
  });
  // An error with no listener would crash the process; Queue.add rejects on
  // its own when the connection is gone.
  queue.on('error', () => {});
  const invalid = o.metrics ? invalidEvents(o.metrics) : undefined;
  let closing: Promise<void> | undefined;

  return {
    async enqueue(hostId, batch) {
      if (closing) throw new Error('report queue closed');
      if (!isUuid(hostId)) throw new InvalidReportError('host id is not a UUID');
      if (!Number.isSafeInteger(batch.seq) || batch.seq < 0)
        throw new InvalidReportError('seq is not a non-negative integer');
      const receivedMs = Date.now();
      const events: EventRow[] = [];
      let stored = 0;
      let dropped = 0;
      for (const e of batch.events) {
        const c = checkEvent(e, receivedMs);
        if ('dropped' in c) dropped++;
        else {
          if (c.invalid !== undefined) stored++;
          events.push(c.row);
        }
      }
      if (events.length <= MAX_JOB_EVENTS) {
        if (events.length > 0)
          await queue.add(REPORT_JOB, { v: 1, hostId, seq: batch.seq, receivedMs, events });
      } else {
        // A very large batch goes as several jobs, added in one MULTI.
        const jobs = [];
        for (let i = 0; i < events.length; i += MAX_JOB_EVENTS)
          jobs.push({
            name: REPORT_JOB,
            data: {
              v: 1 as const,
              hostId,
              seq: batch.seq,
              receivedMs,
              events: events.slice(i, i + MAX_JOB_EVENTS),
            },
          });
        await queue.addBulk(jobs);
      }
      // reportEventsReceived is the gRPC server's to count (once acknowledged).
      if (stored > 0) invalid?.inc({ action: 'stored' }, stored);
      if (dropped > 0) invalid?.inc({ action: 'dropped' }, dropped);
    },
    async oldestPending() {
      // The oldest of each state a job waits in (retries wait as delayed).
      const jobs = await queue.getJobs(['active', 'waiting', 'prioritized', 'delayed'], 0, 0, true);
      let oldest: number | undefined;
      for (const j of jobs as ({ timestamp: number } | undefined)[])
        if (j && (oldest === undefined || j.timestamp < oldest)) oldest = j.timestamp;
      return oldest;
    },
    close() {
      closing ??= queue.close();
      return closing;
    },
  };
}
