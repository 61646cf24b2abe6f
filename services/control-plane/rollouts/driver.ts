// What drives rollouts in time: BullMQ jobs, one per rollout revision
// (job id "<rollout id>.<revision>"), delayed until the rollout should be
// looked at again (the next ack poll, the end of a bake). Every replica runs
// a worker on the same queue; BullMQ hands each job to one of them, the
// revision check in machine.ts makes a duplicate harmless, and a job that
// fails is retried with backoff.
//
// Jobs can be lost (Redis restarted without persistence, a crash between
// commit and enqueue), so every replica also sweeps: at start and every
// SWEEP_MS it enqueues the current revision's job of every rollout that
// timers drive. Adding a job id BullMQ holds already is a no-op, so the
// sweep costs one round trip per active rollout.
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Actor } from '../audit/audit.ts';
import { act, advance, type Action, type MachineDeps, type Next } from './machine.ts';
import { DRIVEN_STATES, SETTLE_MS } from './model.ts';

export const ROLLOUT_QUEUE = 'rollouts';
export const SWEEP_MS = 5000;

interface JobData {
  id: string;
  revision: number;
}

export interface RolloutDriverOptions extends MachineDeps {
  redis: ConnectionOptions;
  /** Redis key prefix (OOMFLEET_REDIS_PREFIX). */
  prefix: string;
  log?: (line: string) => void;
}

export interface RolloutDriver {
  /** Schedules the job that looks at the rollout for `next.revision`. */
  schedule(id: string, next: Next | undefined): Promise<void>;
  /** A person's decision, then its follow-up scheduled. */
  act(id: string, action: Action, actor: Actor, reason?: string): Promise<void>;
  /** Enqueues the current job of every rollout timers drive (at start, then every SWEEP_MS). */
  sweep(): Promise<void>;
  close(): Promise<void>;
}

export function startRolloutDriver(o: RolloutDriverOptions): RolloutDriver {
  const log = o.log ?? (() => undefined);
  const queue = new Queue<JobData>(ROLLOUT_QUEUE, { connection: o.redis, prefix: o.prefix });
  queue.on('error', () => {
    // ioredis retries by itself; the sweep re-enqueues what a failure lost.
  });

  async function schedule(id: string, next: Next | undefined): Promise<void> {
    if (!next) return;
    await queue.add(
      'advance',
      { id, revision: next.revision },
      {
        jobId: `${id}.${next.revision}`,
        delay: Math.max(0, Math.round(next.delayMs)),
        attempts: 5,
        backoff: { type: 'exponential', delay: 200 },
        removeOnComplete: true,
        removeOnFail: 1000,
      },
    );
  }

  const worker = new Worker<JobData>(
    ROLLOUT_QUEUE,
    async (job) => {
      const next = await advance(o, job.data.id, job.data.revision);
      await schedule(job.data.id, next);
    },
    { connection: o.redis, prefix: o.prefix, concurrency: 8 },
  );
  worker.on('error', () => {
    // As for the queue: reconnects on its own.
  });
  worker.on('failed', (job, err) => {
    log(`rollouts: job ${job?.id ?? '?'} failed: ${err.message}`);
  });

  async function sweep(): Promise<void> {
    const active = await o.db.prisma.rollout.findMany({
      where: { state: { in: [...DRIVEN_STATES] } },
      select: { id: true, revision: true, phase: true, phaseDeadline: true },
    });
    const now = Date.now();
    // A bake is looked at when it ends; acks (and rollbacks) are polled.
    for (const r of active)
      await schedule(r.id, {
        revision: r.revision,
        delayMs:
          r.phase === 'baking' && r.phaseDeadline ? r.phaseDeadline.getTime() + SETTLE_MS - now : 0,
      });
  }

  let closed = false;
  const sweeping = (): void => {
    sweep().catch((err: unknown) => {
      if (!closed) log(`rollouts: sweep failed: ${(err as Error).message}`);
    });
  };
  sweeping();
  const timer = setInterval(sweeping, SWEEP_MS);
  timer.unref();

  return {
    schedule,
    async act(id, action, actor, reason) {
      await schedule(id, await act(o, id, action, actor, reason));
    },
    sweep,
    async close() {
      closed = true;
      clearInterval(timer);
      await worker.close();
      await queue.close();
    },
  };
}
