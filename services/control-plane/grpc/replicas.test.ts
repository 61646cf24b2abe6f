// Two replicas sharing PostgreSQL and Redis: a change published through one
// reaches agents connected to the other; shutdown sends GoAway, reports
// NOT_SERVING and marks hosts disconnected; agents then reconnect elsewhere.
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import type { Fanout } from '../fanout/fanout.ts';
import type { AgentServiceClient } from '../../proto/oomfleet/v1/agent.ts';
import { AGENT_SERVICE_NAME, startGrpcServer } from './server.ts';
import {
  MemorySink,
  TestAgent,
  client,
  eventually,
  makeHosts,
  makePolicy,
  setDesired,
  testFanout,
  testMetrics,
} from './testing.ts';
import type { GrpcServer } from './types.ts';

let db: TestDatabase;
const channel = `oomfleet-test:${randomBytes(6).toString('hex')}`;
let fa: Fanout;
let fb: Fanout;
let a: GrpcServer;
let b: GrpcServer;
let ca: AgentServiceClient;
let cb: AgentServiceClient;
let versions: string[];
const metricsA = testMetrics();

beforeAll(async () => {
  db = await freshDatabase('grpcrep');
  fa = await testFanout(channel);
  fb = await testFanout(channel);
  const sink = new MemorySink();
  a = await startGrpcServer({ db, metrics: metricsA, reports: sink, fanout: fa, replicaId: 'A' });
  b = await startGrpcServer({
    db,
    metrics: testMetrics(),
    reports: sink,
    fanout: fb,
    replicaId: 'B',
  });
  ca = client(a.port);
  cb = client(b.port);
  versions = (await makePolicy(db, 2)).ids;
});

afterAll(async () => {
  ca.close();
  cb.close();
  await Promise.all([a.close({ graceMs: 50 }), b.close({ graceMs: 50 })]);
  await Promise.all([fa.close(), fb.close()]);
  await db.drop();
});

/** grpc.health.v1.Health/Check, encoded by hand (one string field in, one enum out). */
function healthCheck(port: number, service: string): Promise<number> {
  const Health = grpc.makeGenericClientConstructor(
    {
      check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: (s: string) => {
          const b = Buffer.from(s);
          return Buffer.concat([Buffer.from([0x0a, b.length]), b]);
        },
        requestDeserialize: (b: Buffer) => b.toString(),
        responseSerialize: (n: number) => Buffer.from([0x08, n]),
        responseDeserialize: (b: Buffer) => (b.length >= 2 ? (b[1] ?? 0) : 0),
      },
    },
    'Health',
  );
  const c = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (s: string) => {
        const bytes = Buffer.from(s);
        return Buffer.concat([Buffer.from([0x0a, bytes.length]), bytes]);
      },
      (buf: Buffer) => (buf.length >= 2 ? (buf[1] ?? 0) : 0),
      service,
      (err: grpc.ServiceError | null, v?: number) => {
        c.close();
        if (err) reject(err);
        else resolve(v ?? 0);
      },
    );
  });
}

describe('two replicas', () => {
  it('report SERVING on the health service', async () => {
    expect(await healthCheck(a.port, '')).toBe(1);
    expect(await healthCheck(b.port, AGENT_SERVICE_NAME)).toBe(1);
  });

  it('a change published through one replica reaches agents on both', async () => {
    const hs = await makeHosts(db, 4);
    const agents = hs.map((h, i) => new TestAgent(i % 2 === 0 ? ca : cb, h.id, h.secret));
    for (const ag of agents) ag.hello();
    for (const ag of agents) expect((await ag.nth('assignment')).versionId).toBe('');
    await eventually(
      async () => (await db.prisma.host.count({ where: { connectedTo: 'B' } })) >= 2,
    );
    expect(a.connectedHosts() + b.connectedHosts()).toBeGreaterThanOrEqual(4);

    // a few ids, published on A: the agents on B hear it too
    const ids = hs.map((h) => h.id);
    await setDesired(db, ids, versions[0] as string);
    await fa.publish(ids);
    for (const ag of agents) expect((await ag.nth('assignment', 1)).versionId).toBe(versions[0]);
    for (const ag of agents) {
      const as = await ag.nth('assignment', 1);
      ag.send({
        $case: 'ack',
        value: { versionId: as.versionId, nonce: as.nonce, digest: as.digest },
      });
    }
    await eventually(
      async () =>
        (await db.prisma.host.count({
          where: { id: { in: ids }, appliedVersionId: versions[0] },
        })) === 4,
    );

    // "all hosts", published on B
    await setDesired(db, ids, versions[1] as string);
    await fb.publish(['*']);
    for (const ag of agents) expect((await ag.nth('assignment', 2)).versionId).toBe(versions[1]);
    for (const ag of agents) ag.close();
  });

  it('shutdown: GoAway, NOT_SERVING, streams closed, hosts disconnected; agents move to the other replica', async () => {
    const metrics = testMetrics();
    const sink = new MemorySink();
    const f = await testFanout(channel);
    const c3 = await startGrpcServer({ db, metrics, reports: sink, fanout: f, replicaId: 'C' });
    const cc = client(c3.port);
    const hs = await makeHosts(db, 3);
    const agents = hs.map((h) => new TestAgent(cc, h.id, h.secret));
    for (const ag of agents) ag.hello();
    for (const ag of agents) await ag.nth('assignment');
    await eventually(
      async () => (await db.prisma.host.count({ where: { connectedTo: 'C' } })) === 3,
    );
    expect(c3.connectedHosts()).toBe(3);
    expect((await metrics.agentsConnected.get()).values[0]?.value).toBe(3);
    expect(await healthCheck(c3.port, '')).toBe(1);

    // the first agent leaves on GoAway by itself; the others ignore it
    agents[0]?.stream.on('data', (m: { msg?: { $case: string } }) => {
      if (m.msg?.$case === 'goAway') agents[0]?.stream.end();
    });
    const closing = c3.close({ graceMs: 300 });
    for (const ag of agents) expect((await ag.nth('goAway')).reason).toMatch(/shutting down/);
    await closing;
    for (const ag of agents.slice(1)) expect((await ag.ended()).code).toBe(grpc.status.UNAVAILABLE);
    expect(await db.prisma.host.count({ where: { connectedTo: 'C' } })).toBe(0);
    expect((await metrics.agentsConnected.get()).values[0]?.value).toBe(0);
    expect(c3.connectedHosts()).toBe(0);
    cc.close();
    await f.close();

    // they reconnect to A
    const again = hs.map((h) => new TestAgent(ca, h.id, h.secret));
    for (const ag of again) ag.hello();
    for (const ag of again) await ag.nth('assignment');
    await eventually(
      async () =>
        (await db.prisma.host.count({
          where: { id: { in: hs.map((h) => h.id) }, connectedTo: 'A' },
        })) === 3,
    );
    for (const ag of again) ag.close();
  });

  it('health reports NOT_SERVING while closing', async () => {
    const f = await testFanout(channel);
    const s = await startGrpcServer({
      db,
      metrics: testMetrics(),
      reports: new MemorySink(),
      fanout: f,
      replicaId: 'D',
    });
    const [h] = await makeHosts(db, 1);
    if (!h) throw new Error('host');
    const cd = client(s.port);
    const ag = new TestAgent(cd, h.id, h.secret);
    ag.hello();
    await ag.nth('assignment');
    const closing = s.close({ graceMs: 500 });
    await ag.nth('goAway');
    expect(await healthCheck(s.port, '')).toBe(2);
    await closing;
    cd.close();
    await f.close();
  });
});
