// Report ingestion against real Redis and PostgreSQL: each test has its own
// BullMQ queue name and prefix (obliterated afterwards) and the file its own
// PostgreSQL schema.
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { freshDatabase, TEST_DATABASE_URL, type TestDatabase } from '../../../test/helpers/db.ts';
import { connectDatabase, type Database } from '../store/db.ts';
import { createMetrics, type Metrics } from '../metrics.ts';
import type { OutcomeEvent } from '../../proto/oomfleet/v1/agent.ts';
import { createReportQueue, REPORT_JOB, REPORT_JOB_OPTIONS, type ReportSink } from './queue.ts';
import { startReportIngester, type ReportIngester } from './ingester.ts';
import { MAX_JOB_EVENTS } from './events.ts';
import { eventually } from '../../../test/helpers/wait.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = { url: REDIS_URL };

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase('ingest');
});
afterAll(async () => {
  await db.drop();
});

// ---- per-test queue, and everything to close after the test ----

let queueName = '';
let prefix = '';
const closers: (() => Promise<void>)[] = [];

function newQueue(): void {
  queueName = `reports-${randomBytes(5).toString('hex')}`;
  prefix = `oomfleet-test-${randomBytes(5).toString('hex')}`;
}

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  const q = new Queue(queueName, { connection: redis, prefix });
  await q.obliterate({ force: true });
  await q.close();
});

function sink(metrics?: Metrics): ReportSink {
  newQueueIfNone();
  const s = createReportQueue({ redis, queueName, prefix, ...(metrics ? { metrics } : {}) });
  closers.push(() => s.close());
  return s;
}

function ingester(o: { db?: Database; metrics?: Metrics; errors?: Error[] } = {}): ReportIngester {
  newQueueIfNone();
  const i = startReportIngester({
    db: o.db ?? db,
    redis,
    queueName,
    prefix,
    backoffMs: 50,
    maxBackoffMs: 200,
    onError: (err) => o.errors?.push(err),
    ...(o.metrics ? { metrics: o.metrics } : {}),
  });
  closers.push(() => i.close());
  return i;
}

let lastTest = '';
function newQueueIfNone(): void {
  const name = expect.getState().currentTestName ?? '';
  if (name !== lastTest) {
    lastTest = name;
    newQueue();
  }
}

// ---- data ----

async function makeHost(): Promise<string> {
  const id = randomUUID();
  await db.pool.query(`INSERT INTO hosts (id, name, secret_hash) VALUES ($1, $2, 'x')`, [
    id,
    `h-${id}`,
  ]);
  return id;
}

let ulidCounter = 0;
function event(over: Partial<OutcomeEvent> = {}): OutcomeEvent {
  ulidCounter++;
  return {
    id: `01JEV${String(ulidCounter).padStart(21, '0')}`,
    timeMs: 1_764_300_000_123 + ulidCounter,
    kind: 'kill',
    policyDigest: 'sha256:abc',
    memcg: '/batch/job-a',
    dataJson: JSON.stringify({ pid: ulidCounter, rss: 1024 }),
    ...over,
  };
}

interface Row {
  id: string;
  event_id: string;
  kind: string;
  time: Date;
  policy_digest: string | null;
  memcg: string | null;
  data: Record<string, unknown>;
  received_at: Date;
}

/**
 * A host's rows, in the agent's order: by time, then id within a batch (the
 * ids follow the order within a batch; batches are inserted concurrently,
 * and a retried one after later ones, so across batches only time orders).
 */
async function rows(hostId: string, order: 'time, id' | 'id' = 'time, id'): Promise<Row[]> {
  const r = await db.pool.query<Row>(
    `SELECT id::text, event_id, kind, time, policy_digest, memcg, data, received_at FROM outcome_events WHERE host_id = $1 ORDER BY ${order}`,
    [hostId],
  );
  return r.rows;
}

const until = <T>(check: () => Promise<T | undefined | false>): Promise<T> =>
  eventually('a condition', check, 15_000);

const countOf = async (hostId: string, n: number): Promise<Row[] | undefined> => {
  const r = await rows(hostId);
  return r.length >= n ? r : undefined;
};

async function metricValue(m: Metrics, name: string, labels?: string): Promise<number> {
  const text = await m.registry.metrics();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(labels ? `${name}{${labels}} ` : `${name} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

// ---- tests ----

describe('report ingestion', () => {
  it('inserts queued events with their fields, in the agent order, and counts them', async () => {
    const metrics = createMetrics({ defaults: false });
    const host = await makeHost();
    const s = sink(metrics);
    ingester({ metrics });
    const b1 = [event(), event({ policyDigest: '', memcg: '' }), event({ dataJson: '' })];
    // Same time, ids not in sorted order: the agent's order is what counts.
    const b2 = [
      event({ id: 'zzz-first', timeMs: 1_764_400_000_000 }),
      event({ id: 'aaa-second', kind: 'oom', timeMs: 1_764_400_000_000 }),
    ];
    const before = Date.now();
    await s.enqueue(host, { seq: 1, events: b1 });
    await s.enqueue(host, { seq: 2, events: b2 });
    const got = await until(() => countOf(host, 5));
    expect(got.map((r) => r.event_id)).toEqual([...b1, ...b2].map((e) => e.id));
    const [first, second, third] = got;
    expect(first?.kind).toBe('kill');
    expect(first?.time.getTime()).toBe(b1[0]?.timeMs);
    expect(first?.policy_digest).toBe('sha256:abc');
    expect(first?.memcg).toBe('/batch/job-a');
    expect(first?.data).toEqual(JSON.parse(b1[0]?.dataJson ?? ''));
    expect(first?.received_at.getTime()).toBeGreaterThanOrEqual(before - 5);
    expect(first?.received_at.getTime()).toBeLessThanOrEqual(Date.now());
    expect(second?.policy_digest).toBeNull();
    expect(second?.memcg).toBeNull();
    expect(third?.data).toEqual({});
    expect(got[4]?.kind).toBe('oom');
    await until(
      async () => (await metricValue(metrics, 'oomfleet_report_events_ingested_total')) === 5,
    );
  });

  it('stores a batch sent twice once', async () => {
    const metrics = createMetrics({ defaults: false });
    const host = await makeHost();
    const s = sink();
    const batch = { seq: 7, events: [event(), event(), event()] };
    await s.enqueue(host, batch);
    await s.enqueue(host, batch);
    ingester({ metrics });
    await until(() => countOf(host, 3));
    // Both jobs done, and nothing more arrived.
    const q = new Queue(queueName, { connection: redis, prefix });
    closers.push(() => q.close());
    await until(async () => {
      const c = await q.getJobCounts('wait', 'active', 'delayed', 'failed');
      return Object.values(c).every((n) => n === 0);
    });
    expect(await rows(host)).toHaveLength(3);
    expect(await metricValue(metrics, 'oomfleet_report_events_ingested_total')).toBe(3);
  });

  it('loses nothing queued before a crash: a new ingester inserts it', async () => {
    const host = await makeHost();
    newQueueIfNone();
    // "Receipt": queued with no ingester running; then everything goes away.
    const q1 = createReportQueue({ redis, queueName, prefix });
    const sent: OutcomeEvent[] = [];
    for (let seq = 1; seq <= 20; seq++) {
      const events = Array.from({ length: 25 }, () => event());
      sent.push(...events);
      await q1.enqueue(host, { seq, events });
    }
    await q1.close();
    expect(await rows(host)).toHaveLength(0);
    // The "restart": a new process would open a new ingester.
    ingester();
    const got = await until(() => countOf(host, sent.length));
    expect(got.map((r) => r.event_id)).toEqual(sent.map((e) => e.id));
  });

  it('retries while PostgreSQL is unreachable, and inserts once it is back', async () => {
    // A TCP proxy in front of PostgreSQL that refuses connections until opened.
    const target = new URL(TEST_DATABASE_URL);
    let open = false;
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      if (!open) {
        client.destroy();
        return;
      }
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((r) => {
      proxy.listen(0, '127.0.0.1', r);
    });
    closers.push(async () => {
      for (const so of sockets) so.destroy();
      await new Promise<void>((r) => {
        proxy.close(() => {
          r();
        });
      });
    });
    const port = (proxy.address() as net.AddressInfo).port;
    const url = new URL(TEST_DATABASE_URL);
    url.port = String(port);
    const proxied = await connectDatabase(url.toString(), { schema: db.schema, max: 2 });
    closers.push(() => proxied.close());

    const host = await makeHost();
    const s = sink();
    const errors: Error[] = [];
    ingester({ db: proxied, errors });
    const events = [event(), event()];
    await s.enqueue(host, { seq: 1, events });
    // Failed (and so retried) at least twice while PostgreSQL is away.
    await until(() => Promise.resolve(errors.length >= 2));
    expect(await rows(host)).toHaveLength(0);
    open = true;
    const got = await until(() => countOf(host, 2));
    expect(got.map((r) => r.event_id)).toEqual(events.map((e) => e.id));
  });

  it('fails a malformed job at once, without retries', async () => {
    const host = await makeHost();
    newQueueIfNone();
    const q = new Queue(queueName, { connection: redis, prefix });
    closers.push(() => q.close());
    const bad = await q.add(REPORT_JOB, { v: 1, hostId: host, events: 'nope' }, REPORT_JOB_OPTIONS);
    const errors: Error[] = [];
    ingester({ errors });
    await until(async () => (await q.getJobState(bad.id ?? '')) === 'failed');
    const job = await q.getJob(bad.id ?? '');
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toMatch(/malformed report job/);
    expect(errors[0]?.name).toBe('UnrecoverableError');
  });

  it('fails alone a job PostgreSQL refuses; the others in its insert are stored', async () => {
    const host = await makeHost();
    newQueueIfNone();
    const q = new Queue(queueName, { connection: redis, prefix });
    closers.push(() => q.close());
    const s = sink();
    const good1 = [event()];
    const good2 = [event()];
    await s.enqueue(host, { seq: 1, events: good1 });
    // Well-formed as a job, but not JSON: only PostgreSQL notices.
    const bad = await q.add(
      REPORT_JOB,
      {
        v: 1,
        hostId: host,
        seq: 2,
        receivedMs: Date.now(),
        events: [['bad-1', 1, 'kill', '', '', '{nope']],
      },
      REPORT_JOB_OPTIONS,
    );
    await s.enqueue(host, { seq: 3, events: good2 });
    ingester();
    await until(async () => (await q.getJobState(bad.id ?? '')) === 'failed');
    expect((await q.getJob(bad.id ?? ''))?.attemptsMade).toBe(1);
    const got = await until(() => countOf(host, 2));
    expect(got.map((r) => r.event_id)).toEqual([...good1, ...good2].map((e) => e.id));
  });

  it('skips events of a host that no longer exists, and stores the rest', async () => {
    const host = await makeHost();
    const gone = randomUUID(); // never enrolled, or deleted since
    const s = sink();
    await s.enqueue(gone, { seq: 1, events: [event(), event()] });
    await s.enqueue(host, { seq: 1, events: [event()] });
    ingester();
    await until(() => countOf(host, 1));
    const q = new Queue(queueName, { connection: redis, prefix });
    closers.push(() => q.close());
    await until(async () => {
      const c = await q.getJobCounts('wait', 'active', 'delayed', 'failed', 'completed');
      return c.wait === 0 && c.active === 0 && c.delayed === 0 && c.failed === 0;
    });
    expect(await rows(gone)).toHaveLength(0);
  });

  it("stores faulty events as kind 'invalid', drops those without an id, and counts both", async () => {
    const metrics = createMetrics({ defaults: false });
    const host = await makeHost();
    const s = sink(metrics);
    ingester();
    const events = [
      event({ kind: '' }),
      event({ timeMs: Number.NaN }),
      event({ dataJson: '[1,2]' }),
      event({ dataJson: '{"a":"\\u0000"}' }),
      event({ dataJson: '{"lone":"\\ud800"}' }),
      event({ dataJson: '{not json' }),
      event({ memcg: 'x\0y' }),
      event({ id: '' }),
      event({ id: 'x'.repeat(65) }),
      event({ dataJson: `{"s":"${'a'.repeat(20_000)}"}` }),
      event(),
    ];
    const before = Date.now();
    await s.enqueue(host, { seq: 1, events });
    await until(() => countOf(host, 9));
    const got = await rows(host, 'id'); // one batch: the ids keep its order
    expect(got.map((r) => r.kind)).toEqual([...Array<string>(8).fill('invalid'), 'kill']);
    const reasons = got.slice(0, 8).map((r) => r.data.reason);
    expect(reasons).toEqual([
      'empty kind',
      'time not finite or out of range',
      'dataJson is not a JSON object',
      'dataJson holds a NUL or a lone surrogate',
      'dataJson holds a NUL or a lone surrogate',
      'dataJson is not JSON',
      'malformed memcg',
      'dataJson longer than 16384',
    ]);
    // A time that cannot be kept becomes the time of receipt.
    expect(got[1]?.time.getTime()).toBeGreaterThanOrEqual(before - 5);
    expect(got[1]?.data.timeMs).toBe('NaN');
    expect(got[5]?.data.dataJson).toBe('{not json');
    expect(got[0]?.data.data).toEqual(JSON.parse(events[0]?.dataJson ?? ''));
    expect(
      await metricValue(metrics, 'oomfleet_report_events_invalid_total', 'action="stored"'),
    ).toBe(8);
    expect(
      await metricValue(metrics, 'oomfleet_report_events_invalid_total', 'action="dropped"'),
    ).toBe(2);
  });

  it('refuses a host id that is not a UUID, and splits a very large batch into jobs', async () => {
    const host = await makeHost();
    const s = sink();
    await expect(s.enqueue('not-a-uuid', { seq: 1, events: [event()] })).rejects.toThrow(
      /not a UUID/,
    );
    const events = Array.from({ length: MAX_JOB_EVENTS + 10 }, () => event());
    await s.enqueue(host, { seq: 1, events });
    const q = new Queue(queueName, { connection: redis, prefix });
    closers.push(() => q.close());
    expect(await q.getJobCountByTypes('wait')).toBe(2);
    ingester();
    const got = await until(() => countOf(host, events.length));
    expect(got.map((r) => r.event_id)).toEqual(events.map((e) => e.id));
  });
});
