import { connect as netConnect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { hashToken, newToken } from '../auth/tokens.ts';
import type { Fanout } from '../fanout/fanout.ts';
import type { Metrics } from '../metrics.ts';
import type { AgentServiceClient } from '../../proto/oomfleet/v1/agent.ts';
import { startGrpcServer } from './server.ts';
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
let fanout: Fanout;
let metrics: Metrics;
let sink: MemorySink;
let server: GrpcServer;
let c: AgentServiceClient;
let versions: string[];
let policyName: string;

beforeAll(async () => {
  db = await freshDatabase('grpc');
  fanout = await testFanout();
  metrics = testMetrics();
  sink = new MemorySink();
  server = await startGrpcServer({
    db,
    metrics,
    reports: sink,
    fanout,
    replicaId: 'replica-a',
    maxMessageBytes: 64 * 1024,
  });
  c = client(server.port);
  const p = await makePolicy(db, 3);
  versions = p.ids;
  policyName = p.name;
});

afterAll(async () => {
  c.close();
  await server.close({ graceMs: 100 });
  await fanout.close();
  await db.drop();
});

async function assignByLabel(key: string, versionId: string): Promise<void> {
  const group = await db.prisma.hostGroup.create({
    data: { name: `g-${key}`, selector: { matchLabels: { [key]: 'yes' } } },
  });
  await db.prisma.assignment.create({
    data: { groupId: group.id, policyVersionId: versionId, createdBy: 'test' },
  });
}

const hostRow = (id: string) => db.prisma.host.findUniqueOrThrow({ where: { id } });
const v = (i: number): string => versions[i] as string;

function enrollCall(req: {
  enrollmentToken: string;
  hostname: string;
  labels?: Record<string, string>;
}) {
  return new Promise<{ hostId: string; hostSecret: string }>((resolve, reject) => {
    c.enroll({ labels: {}, ...req }, (err, res) => {
      if (err) reject(err);
      else resolve(res);
    });
  });
}

async function token(extra: { expiresAt?: Date; revokedAt?: Date; labels?: object } = {}) {
  const t = newToken('enrollment');
  await db.prisma.enrollmentToken.create({
    data: {
      name: 'test',
      tokenHash: hashToken(t),
      createdBy: 'test',
      labels: { zone: 'a', tier: 'x' },
      ...extra,
    },
  });
  return t;
}

describe('Enroll', () => {
  it('creates a host with merged labels and a secret that works', async () => {
    const t = await token();
    const r = await enrollCall({ enrollmentToken: t, hostname: 'web-1', labels: { tier: 'web' } });
    const h = await hostRow(r.hostId);
    expect(h.name).toBe('web-1');
    expect(h.labels).toEqual({ zone: 'a', tier: 'web' });
    expect(h.secretHash).toBe(hashToken(r.hostSecret));
    const a = new TestAgent(c, r.hostId, r.hostSecret);
    a.hello();
    await a.nth('assignment');
    a.close();
    const tok = await db.prisma.enrollmentToken.findFirstOrThrow({
      where: { tokenHash: hashToken(t) },
    });
    expect(tok.uses).toBe(1);
  });

  it('gives a re-enrolling hostname a new secret; the old one stops working', async () => {
    const t = await token();
    const first = await enrollCall({ enrollmentToken: t, hostname: 'db-1' });
    const second = await enrollCall({ enrollmentToken: t, hostname: 'db-1' });
    expect(second.hostId).toBe(first.hostId);
    expect(second.hostSecret).not.toBe(first.hostSecret);
    const old = new TestAgent(c, first.hostId, first.hostSecret);
    expect((await old.ended()).code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('refuses to re-enrol a hostname whose agent is connected; the live host keeps its identity', async () => {
    const t = await token();
    const first = await enrollCall({ enrollmentToken: t, hostname: 'live-1' });
    const live = new TestAgent(c, first.hostId, first.hostSecret);
    live.hello();
    await live.nth('assignment');
    await eventually(async () => (await hostRow(first.hostId)).connectedTo === 'replica-a');
    const err = await enrollCall({ enrollmentToken: t, hostname: 'live-1' }).then(
      () => undefined,
      (e: unknown) => e as grpc.ServiceError,
    );
    expect(err?.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(err?.details).toMatch(/"live-1" is enrolled and its agent is connected now/);
    expect(err?.details).toMatch(/stop the old agent: 90 s after it was last seen/);
    expect((await hostRow(first.hostId)).secretHash).toBe(hashToken(first.hostSecret));
    expect(live.status).toBeUndefined(); // its stream is untouched
    live.close();
    await eventually(async () => (await hostRow(first.hostId)).connectedTo === null);
    // Stopped: the replacement machine enrols and the old secret is retired.
    const second = await enrollCall({ enrollmentToken: t, hostname: 'live-1' });
    expect(second.hostId).toBe(first.hostId);
    const audit = await db.prisma.auditEntry.findMany({
      where: { targetId: first.hostId },
      orderBy: { id: 'asc' },
    });
    expect(audit.map((a) => a.action)).toEqual(['host.enroll', 'host.reenroll']);
    expect(audit[1]?.actor).toMatch(/^enrollment token /);
  });

  it('lets a host whose replica crashed re-enrol once it has been silent for 90 s', async () => {
    const t = await token();
    const first = await enrollCall({ enrollmentToken: t, hostname: 'orphan-1' });
    // What a replica that died holding the stream leaves behind.
    await db.prisma.host.update({
      where: { id: first.hostId },
      data: { connectedTo: 'replica-gone', lastSeenAt: new Date(Date.now() - 30_000) },
    });
    await expect(enrollCall({ enrollmentToken: t, hostname: 'orphan-1' })).rejects.toMatchObject({
      code: grpc.status.ALREADY_EXISTS,
    });
    await db.prisma.host.update({
      where: { id: first.hostId },
      data: { lastSeenAt: new Date(Date.now() - 91_000) },
    });
    const again = await enrollCall({ enrollmentToken: t, hostname: 'orphan-1' });
    expect(again.hostId).toBe(first.hostId);
  });

  it('concurrent first enrolments of one hostname: one host, and no request told the server is down', async () => {
    const t = await token();
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => enrollCall({ enrollmentToken: t, hostname: 'race-1' })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of results)
      if (r.status === 'rejected')
        expect((r.reason as grpc.ServiceError).code).toBe(grpc.status.ALREADY_EXISTS);
    expect(await db.prisma.host.count({ where: { name: 'race-1' } })).toBe(1);
  });

  it('refuses unknown, expired and revoked tokens with UNAUTHENTICATED', async () => {
    const expired = await token({ expiresAt: new Date(Date.now() - 1000) });
    const revoked = await token({ revokedAt: new Date() });
    for (const t of ['ofe_nope', expired, revoked, ''])
      await expect(enrollCall({ enrollmentToken: t, hostname: 'z-1' })).rejects.toMatchObject({
        code: grpc.status.UNAUTHENTICATED,
      });
    expect(await db.prisma.host.count({ where: { name: 'z-1' } })).toBe(0);
  });

  it('refuses a bad hostname with INVALID_ARGUMENT', async () => {
    const t = await token();
    await expect(enrollCall({ enrollmentToken: t, hostname: '../etc' })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
    });
  });
});

describe('Connect', () => {
  it('refuses missing, malformed and wrong credentials with UNAUTHENTICATED', async () => {
    const [h, other] = await makeHosts(db, 2);
    if (!h || !other) throw new Error('hosts');
    const cases: [string, string][] = [
      [h.id, 'ofh_wrong'],
      [h.id, other.secret], // one host cannot act as another
      ['00000000-0000-0000-0000-000000000000', h.secret],
      ['not-a-uuid', h.secret],
    ];
    for (const [id, secret] of cases) {
      const a = new TestAgent(c, id, secret);
      a.hello();
      expect((await a.ended()).code).toBe(grpc.status.UNAUTHENTICATED);
    }
    const bare = c.connect();
    const st = await new Promise<grpc.StatusObject>((r) =>
      bare.on('status', r).on('error', () => {}),
    );
    expect(st.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('ends a stream whose first message is not Hello with INVALID_ARGUMENT', async () => {
    const [h] = await makeHosts(db, 1);
    if (!h) throw new Error('host');
    const a = new TestAgent(c, h.id, h.secret);
    a.send({ $case: 'heartbeat', value: { timeMs: 1 } });
    expect((await a.ended()).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('on Hello: updates the host, resolves desired state and sends the assignment', async () => {
    const [h] = await makeHosts(db, 1, { zone: 'b', keep: 'yes' });
    if (!h) throw new Error('host');
    const group = await db.prisma.hostGroup.create({
      data: { name: `g-${h.name}`, selector: { matchLabels: { role: h.name } } },
    });
    await db.prisma.assignment.create({
      data: { groupId: group.id, policyVersionId: v(1), createdBy: 'test' },
    });
    const old = await db.prisma.policyVersion.findUniqueOrThrow({ where: { id: v(0) } });
    const a = new TestAgent(c, h.id, h.secret);
    a.hello({
      labels: { role: h.name, zone: 'c' },
      appliedVersionId: v(0),
      appliedDigest: old.digest,
    });
    const as = await a.nth('assignment');
    expect(as.versionId).toBe(v(1));
    expect(as.policyName).toBe(policyName);
    expect(as.version).toBe(2);
    expect(as.nonce).not.toBe('');
    const doc = JSON.parse(as.documentJson) as { metadata: { name: string } };
    expect(doc.metadata.name).toBe(policyName);
    // canonical JSON: keys sorted, no whitespace between tokens
    expect(
      as.documentJson.startsWith('{"apiVersion":"oomfleet/v1","kind":"OomPolicy","metadata":{'),
    ).toBe(true);
    const row = await hostRow(h.id);
    expect(row.labels).toEqual({ zone: 'c', keep: 'yes', role: h.name });
    expect(row).toMatchObject({
      agentVersion: '1.0.0',
      kernel: '6.1.0',
      cgroupMode: 'v2',
      connectedTo: 'replica-a',
      desiredVersionId: v(1),
      appliedVersionId: v(0),
      appliedDigest: old.digest,
    });
    expect(row.lastSeenAt).not.toBeNull();
    await eventually(async () => (await hostRow(h.id)).sentNonce === as.nonce);

    // Ack with a stale nonce: ignored. With the right one: recorded.
    a.send({ $case: 'ack', value: { versionId: v(1), nonce: 'stale', digest: '' } });
    a.send({ $case: 'ack', value: { versionId: v(1), nonce: as.nonce, digest: as.digest } });
    const acked = await eventually(async () => {
      const r = await hostRow(h.id);
      return r.appliedVersionId === v(1) ? r : undefined;
    });
    expect(acked.appliedDigest).toBe(as.digest);
    expect(acked.ackedAt).not.toBeNull();
    a.close();
    await eventually(async () => (await hostRow(h.id)).connectedTo === null);
  });

  it('does not believe a Hello that claims a version with another digest: the host is sent it again', async () => {
    const [h] = await makeHosts(db, 1, { keep: 'yes' });
    if (!h) throw new Error('host');
    const group = await db.prisma.hostGroup.create({
      data: { name: `g-${h.name}`, selector: { matchLabels: { role: h.name } } },
    });
    await db.prisma.assignment.create({
      data: { groupId: group.id, policyVersionId: v(1), createdBy: 'test' },
    });
    const a = new TestAgent(c, h.id, h.secret);
    a.hello({ labels: { role: h.name }, appliedVersionId: v(1), appliedDigest: 'sha256:other' });
    const as = await a.nth('assignment');
    expect(as.versionId).toBe(v(1));
    const row = await hostRow(h.id);
    expect(row).toMatchObject({ appliedVersionId: null, appliedDigest: null });
    a.send({ $case: 'ack', value: { versionId: v(1), nonce: as.nonce, digest: as.digest } });
    await eventually(async () => (await hostRow(h.id)).appliedVersionId === v(1));
    a.close();
  });

  it('sends an empty version_id to a host that should run nothing', async () => {
    const [h] = await makeHosts(db, 1);
    if (!h) throw new Error('host');
    const a = new TestAgent(c, h.id, h.secret);
    a.hello();
    const as = await a.nth('assignment');
    expect(as.versionId).toBe('');
    expect(as.documentJson).toBe('');
    expect(as.nonce).not.toBe('');
    a.close();
  });

  it('records a Nack and clears it on a later Ack; counts metrics', async () => {
    const [h] = await makeHosts(db, 1, { nacktest: 'yes' });
    if (!h) throw new Error('host');
    await assignByLabel('nacktest', v(2));
    const acks0 = (await metrics.acks.get()).values[0]?.value ?? 0;
    const nacks0 = (await metrics.nacks.get()).values[0]?.value ?? 0;
    const a = new TestAgent(c, h.id, h.secret);
    a.hello();
    const as = await a.nth('assignment');
    a.send({
      $case: 'nack',
      value: { versionId: v(2), nonce: as.nonce, reason: 'memcg v1 unsupported' },
    });
    const nacked = await eventually(async () => {
      const r = await hostRow(h.id);
      return r.lastNackVersionId ? r : undefined;
    });
    expect(nacked).toMatchObject({
      lastNackVersionId: v(2),
      lastNackReason: 'memcg v1 unsupported',
    });
    expect((await metrics.nacks.get()).values[0]?.value).toBe(nacks0 + 1);
    // a reconnect is sent the assignment again, with a new nonce
    a.close();
    const b = new TestAgent(c, h.id, h.secret);
    b.hello();
    const again = await b.nth('assignment');
    expect(again.versionId).toBe(v(2));
    expect(again.nonce).not.toBe(as.nonce);
    b.send({ $case: 'ack', value: { versionId: v(2), nonce: again.nonce, digest: again.digest } });
    const acked = await eventually(async () => {
      const r = await hostRow(h.id);
      return r.appliedVersionId === v(2) ? r : undefined;
    });
    expect(acked.lastNackVersionId).toBeNull();
    expect((await metrics.acks.get()).values[0]?.value).toBe(acks0 + 1);
    expect(
      (await metrics.pushToAck.get()).values.find((x) => x.metricName?.endsWith('_count'))?.value,
    ).toBeGreaterThan(0);
    b.close();
  });

  it('acknowledges report batches once queued, not when the queue fails', async () => {
    const [h] = await makeHosts(db, 1);
    if (!h) throw new Error('host');
    const a = new TestAgent(c, h.id, h.secret);
    a.hello();
    await a.nth('assignment');
    const ev = {
      id: '01J0',
      timeMs: Date.now(),
      kind: 'kill',
      policyDigest: '',
      memcg: '/batch',
      dataJson: '{}',
    };
    a.send({ $case: 'reports', value: { seq: 7, events: [ev] } });
    expect((await a.nth('reportAck')).seq).toBe(7);
    expect(sink.batches.find((b) => b.hostId === h.id)).toMatchObject({ seq: 7, events: [ev] });
    await eventually(async () => (await hostRow(h.id)).reportSeq === 7n);
    sink.failing = true;
    try {
      // Not acknowledged, and the stream ends: the agent resends from 8, in order.
      a.send({ $case: 'reports', value: { seq: 8, events: [ev] } });
      expect((await a.ended()).code).toBe(grpc.status.UNAVAILABLE);
      expect(a.received.filter((m) => m.msg?.$case === 'reportAck')).toHaveLength(1);
    } finally {
      sink.failing = false;
    }
    const b = new TestAgent(c, h.id, h.secret);
    b.hello();
    await b.nth('assignment');
    b.send({ $case: 'reports', value: { seq: 8, events: [ev] } });
    expect((await b.nth('reportAck')).seq).toBe(8);
    b.close();
  });

  it('acknowledges report batches in order, even when a later one is queued sooner', async () => {
    const [h] = await makeHosts(db, 1);
    if (!h) throw new Error('host');
    const a = new TestAgent(c, h.id, h.secret);
    a.hello();
    await a.nth('assignment');
    const ev = (id: string) => ({
      id,
      timeMs: Date.now(),
      kind: 'kill',
      policyDigest: '',
      memcg: '/batch',
      dataJson: '{}',
    });
    // The agent takes an ack of seq N for every batch up to N.
    sink.delay = (seq) => (seq === 1 ? 200 : 0);
    try {
      a.send({ $case: 'reports', value: { seq: 1, events: [ev('a')] } });
      a.send({ $case: 'reports', value: { seq: 2, events: [ev('b')] } });
      await a.nth('reportAck', 1);
      expect(
        a.received.flatMap((m) => (m.msg?.$case === 'reportAck' ? [m.msg.value.seq] : [])),
      ).toEqual([1, 2]);
    } finally {
      sink.delay = () => 0;
    }
    a.close();
  });

  it('replaces the first stream of a host by a second one', async () => {
    const [h] = await makeHosts(db, 1);
    if (!h) throw new Error('host');
    const a = new TestAgent(c, h.id, h.secret);
    a.hello();
    await a.nth('assignment');
    const b = new TestAgent(c, h.id, h.secret);
    b.hello();
    await b.nth('assignment');
    expect((await a.ended()).code).toBe(grpc.status.ABORTED);
    // the replaced stream's end does not mark the host disconnected
    await new Promise((r) => setTimeout(r, 100));
    expect((await hostRow(h.id)).connectedTo).toBe('replica-a');
    b.close();
    await eventually(async () => (await hostRow(h.id)).connectedTo === null);
  });

  it('pushes a new assignment when the fan-out says desired state changed', async () => {
    const hs = await makeHosts(db, 3);
    const agents = hs.map((h) => new TestAgent(c, h.id, h.secret));
    for (const a of agents) a.hello();
    for (const a of agents) expect((await a.nth('assignment')).versionId).toBe('');
    const first = hs[0];
    if (!first) throw new Error('host');
    await setDesired(db, [first.id], v(0));
    await fanout.publish([first.id]);
    expect((await agents[0]?.nth('assignment', 1))?.versionId).toBe(v(0));
    await setDesired(
      db,
      hs.map((h) => h.id),
      v(1),
    );
    await fanout.publish(['*']);
    for (const a of agents)
      expect(
        await a.until(
          () =>
            a.received.filter(
              (m) => m.msg?.$case === 'assignment' && m.msg.value.versionId === v(1),
            )[0],
        ),
      ).toBeDefined();
    // a publish with nothing changed sends nothing
    const before = agents.map((a) => a.received.length);
    await fanout.publish(['*']);
    await new Promise((r) => setTimeout(r, 200));
    expect(agents.map((a) => a.received.length)).toEqual(before);
    for (const a of agents) a.close();
  });

  it('refuses oversized messages and keeps serving', async () => {
    const [h] = await makeHosts(db, 1);
    if (!h) throw new Error('host');
    const a = new TestAgent(c, h.id, h.secret);
    a.hello({ kernel: 'x'.repeat(100 * 1024) });
    expect((await a.ended()).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const b = new TestAgent(c, h.id, h.secret);
    b.hello();
    await b.nth('assignment');
    b.close();
  });

  it('survives garbage bytes on the port', async () => {
    for (const junk of [
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\xff\xff\xff\xff'),
      Buffer.alloc(4096, 0xab),
    ]) {
      await new Promise<void>((resolve) => {
        const s = netConnect(server.port, '127.0.0.1', () => s.end(junk));
        s.on('error', () => {
          resolve();
        });
        s.on('close', () => {
          resolve();
        });
        s.resume();
      });
    }
    const [h] = await makeHosts(db, 1);
    if (!h) throw new Error('host');
    const a = new TestAgent(c, h.id, h.secret);
    a.hello();
    await a.nth('assignment');
    a.close();
  });
});

/** A server of its own (own options, own database), closed whatever happens. */
async function withOwnServer(
  d: TestDatabase,
  options: { replicaId: string; reconcileEveryMs?: number },
  fn: (c: AgentServiceClient, m: Metrics) => Promise<void>,
): Promise<void> {
  const f = await testFanout();
  const m = testMetrics();
  const s = await startGrpcServer({ db: d, metrics: m, reports: sink, fanout: f, ...options });
  const own = client(s.port);
  try {
    await fn(own, m);
  } finally {
    own.close();
    await s.close({ graceMs: 50 });
    await f.close();
  }
}

describe('reconciliation', () => {
  it('a desired-state change whose publish was lost reaches the agent at the next reconciliation', async () => {
    const [h] = await makeHosts(db, 1);
    if (!h) throw new Error('host');
    await withOwnServer(db, { replicaId: 'r-reconcile', reconcileEveryMs: 200 }, async (rc) => {
      const a = new TestAgent(rc, h.id, h.secret);
      a.hello();
      expect((await a.nth('assignment')).versionId).toBe('');
      // Changed in PostgreSQL, and never published (Redis was down, say).
      await setDesired(db, [h.id], v(2));
      const second = await a.nth('assignment', 1);
      expect(second.versionId).toBe(v(2));
      // Only what differs is sent: nothing more while the truth stays put.
      await new Promise((r) => setTimeout(r, 600));
      expect(a.received.filter((m) => m.msg?.$case === 'assignment')).toHaveLength(2);
      a.close();
    });
  });
});

describe('PostgreSQL errors', () => {
  it('an outage during reconciliation keeps the streams open; the next one after it sends what changed', async () => {
    const broken = await freshDatabase('grpcrec');
    try {
      const [h] = await makeHosts(broken, 1);
      if (!h) throw new Error('host');
      const p = await makePolicy(broken, 1);
      await withOwnServer(
        broken,
        { replicaId: 'r-outage', reconcileEveryMs: 100 },
        async (bc, m) => {
          const a = new TestAgent(bc, h.id, h.secret);
          a.hello();
          const first = await a.nth('assignment');
          // The Hello is done once its nonce is stored.
          await eventually(
            async () =>
              (await broken.prisma.host.findUniqueOrThrow({ where: { id: h.id } })).sentNonce ===
              first.nonce,
          );
          await broken.pool.query('ALTER TABLE hosts RENAME TO hosts_gone');
          await eventually(
            async () => ((await m.reconcileFailures.get()).values[0]?.value ?? 0) >= 2,
          );
          expect(a.status).toBeUndefined();
          await broken.pool.query('ALTER TABLE hosts_gone RENAME TO hosts');
          await setDesired(broken, [h.id], p.ids[0] ?? null);
          expect((await a.nth('assignment', 1)).versionId).toBe(p.ids[0]);
          a.close();
        },
      );
    } finally {
      await broken.drop();
    }
  });

  it('end the stream with UNAVAILABLE, never the process', async () => {
    const broken = await freshDatabase('grpcbad');
    try {
      const [h] = await makeHosts(broken, 1);
      if (!h) throw new Error('host');
      await withOwnServer(broken, { replicaId: 'r-bad' }, async (bc) => {
        const a = new TestAgent(bc, h.id, h.secret);
        a.hello();
        await a.nth('assignment');
        // the table disappears under the session: the next write fails
        await broken.pool.query('ALTER TABLE hosts RENAME TO hosts_gone');
        a.send({
          $case: 'ack',
          value: { versionId: '', nonce: (await a.nth('assignment')).nonce, digest: '' },
        });
        expect((await a.ended()).code).toBe(grpc.status.UNAVAILABLE);
        const b = new TestAgent(bc, h.id, h.secret);
        b.hello();
        expect((await b.ended()).code).toBe(grpc.status.UNAVAILABLE);
        await broken.pool.query('ALTER TABLE hosts_gone RENAME TO hosts');
        const d = new TestAgent(bc, h.id, h.secret);
        d.hello();
        await d.nth('assignment');
        d.close();
      });
    } finally {
      await broken.drop();
    }
  });
});
