// The simulated fleet against a REAL control plane (PostgreSQL, Redis, gRPC
// over loopback, the HTTP API): 20 hosts enrol and show up; an assignment
// reaches them all; a policy whose memoryMax is far below the workload's need
// shows up as OOM events at a far higher rate than a good one; a forced NACK
// shows as NACKED; a control-plane restart loses no event. The tests run in
// order on one fleet, each leaving the state the next one starts from.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  dropShared,
  newShared,
  startTestControlPlane,
  type Shared,
  type TestControlPlane,
} from '../../test/helpers/control-plane.ts';
import { eventually } from '../../test/helpers/wait.ts';
import { startSimulatedFleet, type SimulatedFleet } from './fleet.ts';

const HOSTS = 20;
/** One real second is ten simulated minutes: a bad policy's OOMs show within seconds. */
const TIME_SCALE = 600;
const REASON = 'simulated refusal (test)';

const policy = (name: string, memoryMax: string, note = ''): string => `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: ${name}, description: "simulator test ${note}" }
spec:
  cgroups:
    - { match: /jobs/*, memoryMax: ${memoryMax} }
  rules:
    - name: notify
      scope: /jobs/*
      when: { usage: { of: limit, above: 99% } }
      action: { notify: {} }
`;

interface HostView {
  id: string;
  name: string;
  labels: Record<string, string>;
  agentVersion: string;
  connectedTo: string | null;
  syncState: string;
  applied: { id: string; policy: string; version: number; digest: string } | null;
  lastNack: { versionId: string | null; reason: string } | null;
}
interface Version {
  id: string;
  version: number;
  digest: string;
}

let shared: Shared;
let cp: TestControlPlane;
let fleet: SimulatedFleet | undefined;
let groupId = '';
let tight: Version | undefined;

async function simHosts(): Promise<HostView[]> {
  const r = await cp.api<{ items: HostView[] }>('GET', '/api/v1/hosts?label=fleet=sim');
  expect(r.status).toBe(200);
  return r.body.items;
}

async function createVersion(source: string): Promise<Version> {
  const r = await cp.api<Version>('POST', '/api/v1/policies', { source });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

async function assign(name: string, version: number): Promise<void> {
  const r = await cp.api('PUT', `/api/v1/groups/${groupId}/assignment`, {
    policy: name,
    version,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

/** Stored OOM events per policy digest. */
async function oomsByDigest(): Promise<Map<string, number>> {
  const r = await cp.api<{ buckets: { key: string; count: number }[] }>(
    'GET',
    '/api/v1/events/aggregate?by=version&kind=oom',
  );
  expect(r.status).toBe(200);
  return new Map(r.body.buckets.map((b) => [b.key, b.count]));
}

async function storedEvents(): Promise<number> {
  const r = await cp.api<{ buckets: { count: number }[] }>(
    'GET',
    '/api/v1/events/aggregate?by=version',
  );
  expect(r.status).toBe(200);
  return r.body.buckets.reduce((n, b) => n + b.count, 0);
}

function theFleet(): SimulatedFleet {
  if (!fleet) throw new Error('the first test starts the fleet');
  return fleet;
}

beforeAll(async () => {
  shared = newShared();
  cp = await startTestControlPlane(shared);
}, 30_000);

afterAll(async () => {
  await fleet?.stop();
  await cp.stop();
  await dropShared(shared);
}, 30_000);

describe('a simulated fleet against a real control plane', { timeout: 90_000 }, () => {
  it('20 hosts enrol and show up connected and SYNCED, with their labels', async () => {
    const token = await cp.api<{ token: string }>('POST', '/api/v1/enrollment-tokens', {
      name: 'simulator',
      labels: { fleet: 'sim' },
    });
    expect(token.status).toBe(201);
    const started = Date.now();
    fleet = await startSimulatedFleet({
      count: HOSTS,
      address: cp.grpcAddress,
      enrollmentToken: token.body.token,
      hostsPerConnection: 8, // three shared connections
      timeScale: TIME_SCALE,
      seed: 42,
      reportEveryMs: 100,
    });
    const f = fleet;
    await f.waitForAll((h) => h.connected && h.assignments.length > 0);
    const hosts = await eventually('20 connected, SYNCED hosts in the API', async () => {
      const hs = await simHosts();
      return hs.length === HOSTS &&
        hs.every((h) => h.connectedTo !== null && h.syncState === 'SYNCED')
        ? hs
        : undefined;
    });
    console.log(`simulator: ${HOSTS} hosts enrolled and SYNCED in ${Date.now() - started} ms`);
    expect(hosts.map((h) => h.name)).toEqual(f.hosts.map((h) => h.hostname));
    for (const [i, h] of hosts.entries()) {
      const sim = f.hosts[i];
      expect(h.id).toBe(sim?.hostId);
      expect(h.agentVersion).toBe('oomfleet-simulator/1');
      expect(h.applied).toBeNull();
      expect(h.labels).toEqual({
        fleet: 'sim',
        zone: ['a', 'b', 'c'][i % 3],
        kernel: ['6.1', '6.6'][Math.floor(i / 3) % 2],
        hardware: ['x', 'y'][Math.floor(i / 6) % 2],
      });
    }
    // The spread covers every zone × kernel × hardware combination.
    expect(new Set(hosts.map((h) => JSON.stringify(h.labels))).size).toBe(12);
  }, 30_000);

  it('an assignment reaches all 20; a memoryMax far below the need shows as many more OOMs', async () => {
    const f = theFleet();
    const group = await cp.api<{ id: string }>('POST', '/api/v1/groups', {
      name: 'simulated',
      selector: { matchLabels: { fleet: 'sim' } },
    });
    expect(group.status).toBe(201);
    groupId = group.body.id;
    const good = await createVersion(policy('sim-good', '4Gi'));
    tight = await createVersion(policy('sim-tight', '1Gi'));

    // The good policy: acknowledged by every host, and shown applied by the API.
    await assign('sim-good', 1);
    await f.waitForAll((h) => h.applied?.versionId === good.id);
    await eventually('every host SYNCED on sim-good v1', async () =>
      (await simHosts()).every((h) => h.syncState === 'SYNCED' && h.applied?.id === good.id),
    );
    const window = 2000;
    await sleep(window);

    // The tight policy for as long.
    const t = tight;
    await assign('sim-tight', 1);
    await f.waitForAll((h) => h.applied?.versionId === t.id);
    expect(f.hosts.every((h) => h.currentRates.oom > 50)).toBe(true);
    await sleep(window);

    // 20 hosts × ~60 OOMs/simulated hour × 600 × 2 s ≈ 400 under the tight
    // policy; about 0.01 under the good one.
    const counts = await eventually(
      'the tight policy’s OOMs in the control plane',
      async () => {
        const c = await oomsByDigest();
        return (c.get(t.digest) ?? 0) >= 200 ? c : undefined;
      },
      15_000,
    );
    const goodOoms = counts.get(good.digest) ?? 0;
    const tightOoms = counts.get(t.digest) ?? 0;
    console.log(
      `simulator: OOMs stored over ${window} ms each: good ${goodOoms}, tight ${tightOoms}`,
    );
    expect(tightOoms).toBeGreaterThan(20 * Math.max(1, goodOoms));
    const events = await cp.api<{ items: { kind: string; data: { simulated?: boolean } }[] }>(
      'GET',
      `/api/v1/events?kind=oom&digest=${encodeURIComponent(t.digest)}&limit=5`,
    );
    expect(events.body.items).toHaveLength(5);
    expect(events.body.items.every((e) => e.data.simulated === true)).toBe(true);
  }, 30_000);

  it('a forced NACK shows as NACKED; the host keeps its previous policy', async () => {
    const f = theFleet();
    const t = tight;
    if (!t) throw new Error('the previous test makes the tight policy');
    const refuser = f.hosts[0];
    if (!refuser) throw new Error('no host');
    // It keeps refusing until the restart test, which checks that the
    // desired state is re-sent on reconnect.
    refuser.nack = () => REASON;
    const v2 = await createVersion(policy('sim-tight', '1Gi', 'v2'));
    await assign('sim-tight', 2);
    await f.waitForAll((h) => (h === refuser ? h.nacks > 0 : h.applied?.versionId === v2.id));
    expect(refuser.applied?.versionId).toBe(t.id);
    const hosts = await eventually('one NACKED host, the rest SYNCED on v2', async () => {
      const hs = await simHosts();
      return hs.every((h) =>
        h.id === refuser.hostId ? h.syncState === 'NACKED' : h.syncState === 'SYNCED',
      )
        ? hs
        : undefined;
    });
    const nacked = hosts.find((h) => h.id === refuser.hostId);
    expect(nacked?.lastNack).toMatchObject({ versionId: v2.id, reason: REASON });
    expect(nacked?.applied?.id).toBe(t.id);
  }, 20_000);

  it('a silent host leaves its assignment unanswered (STALE) until it speaks again', async () => {
    const f = theFleet();
    const quiet = f.hosts[1];
    if (!quiet) throw new Error('no host');
    quiet.setSilent(true);
    onTestFinished(() => {
      quiet.setSilent(false);
    });
    const v3 = await createVersion(policy('sim-tight', '1Gi', 'v3'));
    await assign('sim-tight', 3);
    await f.waitForAll((h) =>
      h === quiet
        ? h.unansweredAssignment?.versionId === v3.id
        : h === f.hosts[0] || h.applied?.versionId === v3.id,
    );
    const stale = await cp.api<HostView>('GET', `/api/v1/hosts/${quiet.hostId ?? ''}`);
    expect(stale.body.syncState).toBe('STALE');
    quiet.setSilent(false);
    await eventually('the silent host SYNCED once it answers', async () => {
      const h = await cp.api<HostView>('GET', `/api/v1/hosts/${quiet.hostId ?? ''}`);
      return h.body.syncState === 'SYNCED' && h.body.applied?.id === v3.id;
    });
  }, 20_000);

  it('a control-plane restart: the hosts reconnect and no generated event is lost', async () => {
    const f = theFleet();
    const port = cp.grpcPort;
    // First a network fault with batches in flight: they must be sent again.
    const dropped = f.hosts.map((h) => h.connections.ready);
    for (const h of f.hosts) h.dropStream();
    await f.waitForAll(
      (h, i = f.hosts.indexOf(h)) => h.connected && h.connections.ready > (dropped[i] ?? 0),
    );
    const readyBefore = f.hosts.map((h) => h.connections.ready);
    const generatedBefore = f.totals().generated;
    const started = Date.now();
    await cp.stop();
    const refuser = f.hosts[0];
    if (refuser) refuser.nack = undefined;
    // Hosts go on having OOMs while the control plane is away.
    await sleep(1000);
    cp = await startTestControlPlane(shared, { grpcPort: port });
    await f.waitForAll((h, i = f.hosts.indexOf(h)) => {
      return h.connected && h.connections.ready > (readyBefore[i] ?? 0);
    }, 15_000);
    console.log(`simulator: control plane restarted, all hosts back in ${Date.now() - started} ms`);
    expect(f.totals().generated).toBeGreaterThan(generatedBefore);

    // The desired state is re-sent on every stream: the host that refused
    // now accepts it, and every host is SYNCED on the same version.
    const latest = f.hosts[2]?.applied?.versionId;
    expect(latest).toBeDefined();
    await f.waitForAll((h) => h.applied?.versionId === latest);
    await eventually(
      'every host SYNCED after the restart',
      async () =>
        (await simHosts()).every((h) => h.syncState === 'SYNCED' && h.applied?.id === latest),
      10_000,
    );

    // Stop the workload, let every host ship what it has, and count rows.
    for (const h of f.hosts) h.setGenerating(false);
    await f.waitForAll((h) => h.unacknowledged === 0, 15_000);
    const { generated, acknowledged } = f.totals();
    expect(acknowledged).toBe(generated);
    const stored = await eventually(
      `all ${generated} generated events stored`,
      async () => {
        const n = await storedEvents();
        return n >= generated ? n : undefined;
      },
      15_000,
    );
    const resent = f.hosts.reduce((n, h) => n + h.resentBatches, 0);
    console.log(
      `simulator: ${generated} events generated, ${stored} stored; ${resent} batches resent`,
    );
    expect(resent).toBeGreaterThan(0);
    // Exactly: resent batches must not store an event twice.
    await sleep(500);
    expect(await storedEvents()).toBe(generated);
  }, 45_000);
});
