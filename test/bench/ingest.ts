// bench:ingest — outcome events per second through the real report path,
// against a floor measured in the same run.
//
// Real path: simulated agents (--hosts, 50 by default), each with its own
// gRPC connection over loopback, authenticate (Bearer <hostId>.<secret>),
// say Hello on the Connect stream, then send ReportBatches of --events
// events (100), --batches per host (40), keeping at most --window (8)
// unacknowledged; the gRPC server (grpc/server.ts) queues each batch in
// BullMQ (ingest/queue.ts) before it sends the ReportAck, and the ingester
// (ingest/ingester.ts) writes the events to outcome_events. Timed from the
// first batch sent until every event is in the table.
//
// Floor: the same events, written into the same (emptied) table with the
// same batched insert statement (ingest/insert.ts), batches of the
// ingester's batch size, as many at once as the ingester may have in flight:
// what PostgreSQL can take with nothing in front of it.
//
// Each is measured --runs times (3), alternating, each from an empty table;
// the medians are reported. Needs PostgreSQL (TEST_DATABASE_URL, else
// 127.0.0.1:5432/test; a fresh schema, dropped afterwards) and Redis
// (TEST_REDIS_URL, else 127.0.0.1:6379; a random key prefix, removed
// afterwards).
//
// Usage: npm run bench:ingest [-- --hosts N --batches N --events N --window N --runs N]
// Progress on stderr; the JSON as the last line on stdout:
// {"eventsPerSec","floorEventsPerSec","ratio",…}
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { Queue } from 'bullmq';
import { hashToken, newToken } from '../../services/control-plane/auth/tokens.ts';
import { createFanout } from '../../services/control-plane/fanout/fanout.ts';
import { startGrpcServer } from '../../services/control-plane/grpc/server.ts';
import { createReportQueue } from '../../services/control-plane/ingest/queue.ts';
import { startReportIngester } from '../../services/control-plane/ingest/ingester.ts';
import { insertEvents, toColumns } from '../../services/control-plane/ingest/insert.ts';
import { checkEvent, type EventRow } from '../../services/control-plane/ingest/events.ts';
import { createMetrics, type Metrics } from '../../services/control-plane/metrics.ts';
import {
  AgentServiceClient,
  type AgentMessage,
  type ControlMessage,
  type OutcomeEvent,
} from '../../services/proto/oomfleet/v1/agent.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { intFlag, log, median, round } from './lib.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const HOSTS = intFlag('hosts', 50);
const BATCHES = intFlag('batches', 40);
const EVENTS = intFlag('events', 100);
const WINDOW = intFlag('window', 8);
const RUNS = intFlag('runs', 3);
/** The ingester's settings, used by the floor too. */
const BATCH_SIZE = intFlag('batch-size', 500);
const MAX_INSERTS = intFlag('max-inserts', 2);
const CONCURRENCY = intFlag('concurrency', 16);
const TOTAL = HOSTS * BATCHES * EVENTS;

interface Host {
  id: string;
  secret: string;
}

const cleanups: (() => Promise<void>)[] = [];
async function cleanup(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch (err) {
      log(`cleanup: ${(err as Error).message}`);
    }
  }
}

/** Every batch of every host, made before anything is timed. run keeps ids apart between runs. */
function makeBatches(hosts: Host[], run: string): OutcomeEvent[][][] {
  const t0 = Date.now();
  return hosts.map((_, h) =>
    Array.from({ length: BATCHES }, (_b, b) =>
      Array.from({ length: EVENTS }, (_e, e) => {
        const n = b * EVENTS + e;
        return {
          id: `01J${run}${String(h).padStart(4, '0')}${String(n).padStart(15, '0')}`.slice(0, 26),
          timeMs: t0 + n,
          kind: n % 10 === 0 ? 'oom' : n % 3 === 0 ? 'pressure' : 'kill',
          policyDigest: 'sha256:4f2a9c0e7b5d3a1f8e6c4b2a0d9f7e5c3b1a9f8e7d6c5b4a3f2e1d0c9b8a7f6e',
          memcg: `/batch/job-${n % 64}`,
          dataJson: JSON.stringify({
            pid: 10_000 + n,
            comm: 'spark-executor',
            rssBytes: 1_073_741_824 + n,
            rule: 'batch-pressure',
            reason: 'usage above 95% of limit',
          }),
        };
      }),
    ),
  );
}

async function ingested(metrics: Metrics): Promise<number> {
  return (await metrics.reportEventsIngested.get()).values[0]?.value ?? 0;
}

async function tableCount(db: TestDatabase): Promise<number> {
  const r = await db.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM outcome_events');
  return Number(r.rows[0]?.n ?? 0);
}

/** One agent: its own connection, Hello, then batches with at most WINDOW unacknowledged. */
async function runAgent(
  port: number,
  i: number,
  host: Host,
  batches: OutcomeEvent[][],
): Promise<void> {
  const client = new AgentServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    // A channel (TCP connection) of its own, as separate machines would have.
    'grpc.primary_user_agent': `bench-agent-${i}`,
  });
  try {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${host.id}.${host.secret}`);
    const stream = client.connect(md);
    await new Promise<void>((resolve, reject) => {
      let next = 0;
      let acked = 0;
      let done = false;
      const send = (): void => {
        while (next < batches.length && next - acked < WINDOW) {
          const events = batches[next] ?? [];
          next++;
          const m: AgentMessage = { msg: { $case: 'reports', value: { seq: next, events } } };
          stream.write(m);
        }
      };
      stream.on('data', (m: ControlMessage) => {
        if (m.msg?.$case !== 'reportAck') return;
        acked = Math.max(acked, m.msg.value.seq);
        if (acked >= batches.length) {
          done = true;
          stream.end();
          resolve();
        } else send();
      });
      stream.on('error', (err: Error) => {
        if (!done) reject(new Error(`agent ${i}: ${err.message}`));
      });
      stream.on('end', () => {
        if (!done) reject(new Error(`agent ${i}: stream ended after ${acked} acks`));
      });
      stream.write({
        msg: {
          $case: 'hello',
          value: {
            hostname: `bench-${i}`,
            labels: {},
            agentVersion: 'bench',
            kernel: '6.1.0',
            cgroupMode: 'v2',
            appliedVersionId: '',
            appliedDigest: '',
          },
        },
      } satisfies AgentMessage);
      send();
    });
  } finally {
    client.close();
  }
}

/**
 * The simulated agents run in a child process of their own (this file with
 * --agents-child): they stand for other machines, and must not take the
 * control plane's event loop.
 */
interface Agents {
  /** Makes the batches and connects nothing yet; resolves when ready to go. */
  prepare(port: number, run: string): Promise<void>;
  /** Sends everything; resolves once every batch is acknowledged. */
  go(): Promise<void>;
  stop(): void;
}

type ToChild = { type: 'prepare'; port: number; run: string; hosts: Host[] } | { type: 'go' };
type FromChild = { type: 'ready' } | { type: 'acked' } | { type: 'error'; message: string };

function startAgents(hosts: Host[]): Agents {
  const child: ChildProcess = fork(
    import.meta.filename,
    [...process.argv.slice(2), '--agents-child'],
    {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  let waiting:
    { want: FromChild['type']; resolve: () => void; reject: (e: Error) => void } | undefined;
  child.on('message', (m: FromChild) => {
    const w = waiting;
    waiting = undefined;
    if (!w) return;
    if (m.type === 'error') w.reject(new Error(`agents: ${m.message}`));
    else if (m.type === w.want) w.resolve();
    else w.reject(new Error(`agents: ${m.type}, expected ${w.want}`));
  });
  child.on('exit', (code) => {
    waiting?.reject(new Error(`agents: exited (${code})`));
    waiting = undefined;
  });
  const ask = (msg: ToChild, want: FromChild['type']): Promise<void> =>
    new Promise((resolve, reject) => {
      waiting = { want, resolve, reject };
      child.send(msg);
    });
  return {
    prepare: (port, run) => ask({ type: 'prepare', port, run, hosts }, 'ready'),
    go: () => ask({ type: 'go' }, 'acked'),
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}

/** The child: waits for prepare/go from the parent, runs the agents. */
function agentsChild(): void {
  let prepared: { port: number; hosts: Host[]; batches: OutcomeEvent[][][] } | undefined;
  const reply = (m: FromChild): void => {
    process.send?.(m);
  };
  process.on('message', (m: ToChild) => {
    if (m.type === 'prepare') {
      prepared = { port: m.port, hosts: m.hosts, batches: makeBatches(m.hosts, m.run) };
      reply({ type: 'ready' });
      return;
    }
    const p = prepared;
    if (!p) {
      reply({ type: 'error', message: 'go before prepare' });
      return;
    }
    Promise.all(p.hosts.map((h, i) => runAgent(p.port, i, h, p.batches[i] ?? []))).then(
      () => {
        reply({ type: 'acked' });
      },
      (err: unknown) => {
        reply({ type: 'error', message: (err as Error).message });
      },
    );
  });
  process.on('disconnect', () => {
    process.exit(0);
  });
}

async function realPath(
  db: TestDatabase,
  agents: Agents,
  run: number,
): Promise<{ seconds: number; ackSeconds: number }> {
  const prefix = `oomfleet-bench-${randomBytes(5).toString('hex')}`;
  const queueName = 'reports';
  const redis = { url: REDIS_URL };
  const metrics = createMetrics({ defaults: false });
  const fanout = await createFanout({ redisUrl: REDIS_URL, channel: `${prefix}:desired` });
  const reports = createReportQueue({ redis, queueName, prefix, metrics });
  const ingester = startReportIngester({
    db,
    redis,
    queueName,
    prefix,
    metrics,
    batchSize: BATCH_SIZE,
    maxInserts: MAX_INSERTS,
    concurrency: CONCURRENCY,
  });
  const server = await startGrpcServer({ db, metrics, reports, fanout, replicaId: `bench-${run}` });
  const stop = async (): Promise<void> => {
    await server.close({ graceMs: 0 });
    await ingester.close();
    await reports.close();
    await fanout.close();
    const q = new Queue(queueName, { connection: redis, prefix });
    await q.obliterate({ force: true });
    await q.close();
  };
  cleanups.push(stop);
  try {
    await agents.prepare(server.port, `${run}R`);
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    await agents.go();
    const ackSeconds = (performance.now() - start) / 1000;
    const atAck = await ingested(metrics);
    const deadline = Date.now() + 300_000;
    while ((await ingested(metrics)) < TOTAL) {
      if (Date.now() > deadline)
        throw new Error(`only ${await ingested(metrics)} of ${TOTAL} ingested`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    log(
      `    ${atAck} events in when all were acknowledged; then ${round((TOTAL - atAck) / (seconds - ackSeconds), 0)} events/s`,
    );
    log(`    control plane CPU: ${round((cpu.user + cpu.system) / 1e4 / seconds, 0)}% of one core`);
    const n = await tableCount(db);
    if (n !== TOTAL) throw new Error(`${n} events in the table, ${TOTAL} sent`);
    return { seconds, ackSeconds };
  } finally {
    cleanups.splice(cleanups.indexOf(stop), 1);
    await stop();
  }
}

async function floor(
  db: TestDatabase,
  hosts: Host[],
  batches: OutcomeEvent[][][],
): Promise<number> {
  // The rows as the queue would hold them (checked once, before the clock).
  const receivedMs = Date.now();
  const all: { hostId: string; seq: number; receivedMs: number; events: EventRow[] }[] = [];
  hosts.forEach((h, i) => {
    (batches[i] ?? []).forEach((events, b) => {
      all.push({
        hostId: h.id,
        seq: b + 1,
        receivedMs,
        events: events.map((e) => {
          const c = checkEvent(e, receivedMs);
          if (!('row' in c)) throw new Error('bench event dropped');
          return c.row;
        }),
      });
    });
  });
  // Groups of about BATCH_SIZE events, as the ingester's batcher makes them.
  const groups: (typeof all)[] = [];
  let cur: typeof all = [];
  let n = 0;
  for (const b of all) {
    cur.push(b);
    n += b.events.length;
    if (n >= BATCH_SIZE) {
      groups.push(cur);
      cur = [];
      n = 0;
    }
  }
  if (cur.length > 0) groups.push(cur);
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: MAX_INSERTS }, async () => {
      while (next < groups.length) {
        const g = groups[next++] ?? [];
        await insertEvents(db.pool, toColumns(g));
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const count = await tableCount(db);
  if (count !== TOTAL) throw new Error(`floor: ${count} events in the table, ${TOTAL} inserted`);
  return seconds;
}

async function main(): Promise<void> {
  log(
    `bench:ingest: ${HOSTS} hosts × ${BATCHES} batches × ${EVENTS} events = ${TOTAL} events, window ${WINDOW}, ` +
      `ingester batch ${BATCH_SIZE}, ${MAX_INSERTS} inserts in flight, concurrency ${CONCURRENCY}`,
  );
  const db = await freshDatabase('bench_ingest');
  cleanups.push(() => db.drop());
  const hosts: Host[] = [];
  for (let i = 0; i < HOSTS; i++) {
    const secret = newToken('host');
    const id = randomUUID();
    await db.pool.query('INSERT INTO hosts (id, name, secret_hash) VALUES ($1, $2, $3)', [
      id,
      `bench-${i}-${id.slice(0, 8)}`,
      hashToken(secret),
    ]);
    hosts.push({ id, secret });
  }

  const agents = startAgents(hosts);
  cleanups.push(() => {
    agents.stop();
    return Promise.resolve();
  });

  const real: number[] = [];
  const acks: number[] = [];
  const floors: number[] = [];
  // A warm-up of each (JIT, connections, prepared statements), not counted.
  for (let run = 0; run <= RUNS; run++) {
    const warm = run === 0;
    for (const phase of run % 2 === 0 ? ['real', 'floor'] : ['floor', 'real']) {
      await db.pool.query('TRUNCATE outcome_events');
      await db.pool.query('VACUUM ANALYZE outcome_events').catch(() => undefined);
      if (phase === 'real') {
        const r = await realPath(db, agents, run);
        log(
          `  ${warm ? 'warm-up' : `run ${run}`} real:  ${round(TOTAL / r.seconds, 0)} events/s ` +
            `(${round(r.seconds, 2)} s; all acknowledged after ${round(r.ackSeconds, 2)} s)`,
        );
        if (!warm) {
          real.push(TOTAL / r.seconds);
          acks.push(TOTAL / r.ackSeconds);
        }
      } else {
        const s = await floor(db, hosts, makeBatches(hosts, `${run}F`));
        log(
          `  ${warm ? 'warm-up' : `run ${run}`} floor: ${round(TOTAL / s, 0)} events/s (${round(s, 2)} s)`,
        );
        if (!warm) floors.push(TOTAL / s);
      }
    }
  }
  const eventsPerSec = median(real);
  const floorEventsPerSec = median(floors);
  const result = {
    eventsPerSec: round(eventsPerSec, 0),
    floorEventsPerSec: round(floorEventsPerSec, 0),
    ratio: round(eventsPerSec / floorEventsPerSec, 3),
    path: 'grpc',
    events: TOTAL,
    hosts: HOSTS,
    eventsPerBatch: EVENTS,
    window: WINDOW,
    batchSize: BATCH_SIZE,
    maxInserts: MAX_INSERTS,
    concurrency: CONCURRENCY,
    runs: RUNS,
    ackedEventsPerSec: round(median(acks), 0),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv.includes('--agents-child')) {
  agentsChild();
} else {
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      log(`bench: ${sig}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  try {
    await main();
  } catch (err) {
    log(`bench: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
  process.exit();
}
