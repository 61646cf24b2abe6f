// The control-plane client against a small AgentService over real gRPC on
// loopback (test-server.ts): enrolment, assignments acked and refused,
// reconnects with backoff, report batches none lost, fail-static, identity
// kept across restarts. cgroup mode "none" and global-only policies, so no
// memcg is needed.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalJson, loadPolicy } from '../../policy/index.ts';
import { startWorker, type Worker, type WorkerOptions } from '../worker.ts';
import type { ControlPlaneOptions } from './config.ts';
import {
  startFakeControlPlane,
  TEST_TOKEN,
  type Desired,
  type FakeControlPlane,
} from './test-server.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function policyText(name: string, below = '1%'): string {
  return `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: ${name} }
spec:
  rules:
    - name: low-memory
      scope: global
      when: { any: [{ available: { below: ${below} } }] }
      action: { notify: {} }
`;
}

const CGROUP_POLICY = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: needs-cgroups }
spec:
  cgroups:
    - match: /batch/*
      memoryMax: 1Gi
  rules:
    - name: batch
      scope: /batch/*
      when: { any: [{ usage: { above: 90% } }] }
      action: { notify: {} }
`;

function version(text: string, versionId: string, n = 1): Desired & { digestOk: string } {
  const r = loadPolicy(text);
  if (!r.ok || !r.canonical || !r.digest || !r.policy) throw new Error(JSON.stringify(r.issues));
  return {
    versionId,
    policyName: r.policy.name,
    version: n,
    digest: r.digest,
    documentJson: canonicalJson(r.canonical),
    digestOk: r.digest,
  };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'oomfleet-cp-'));
  cleanups.push(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

async function fakeServer(): Promise<FakeControlPlane> {
  const s = await startFakeControlPlane();
  cleanups.push(() => s.kill());
  return s;
}

const FAST: Partial<ControlPlaneOptions> = {
  backoffBaseMs: 50,
  backoffCapMs: 400,
  heartbeatMs: 100,
  reportDelayMs: 20,
  connectTimeoutMs: 3_000,
  stableMs: 60_000,
};

async function worker(
  dir: string,
  address: string,
  extra: Partial<ControlPlaneOptions> = {},
  options: Partial<WorkerOptions> = {},
): Promise<Worker & { lines: string[] }> {
  const lines: string[] = [];
  const w = await startWorker({
    stateDir: join(dir, 'state'),
    socketPath: join(dir, `agent-${Math.random().toString(36).slice(2)}.sock`),
    cgroupMode: 'none',
    controlPlane: {
      address,
      enrollmentToken: TEST_TOKEN,
      labels: { zone: 'a' },
      ...FAST,
      ...extra,
    },
    log: (l) => lines.push(l),
    ...options,
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await w.stop();
  };
  cleanups.push(stop);
  return { ...w, stop, lines };
}

describe('control-plane client', { timeout: 180_000 }, () => {
  it('enrols, says hello, applies the assignment and acks it; status shows the connection', async () => {
    const cp = await fakeServer();
    const v1 = version(policyText('cp-a'), 'ver-1');
    cp.setDesired(v1);
    const dir = tempDir();
    const w = await worker(dir, cp.address);
    await cp.waitFor(() => cp.got.acks.length > 0);
    expect(cp.got.enrolments).toHaveLength(1);
    expect(cp.got.enrolments[0]).toMatchObject({
      enrollmentToken: TEST_TOKEN,
      labels: { zone: 'a' },
    });
    expect(cp.got.hellos[0]).toMatchObject({
      labels: { zone: 'a' },
      agentVersion: '0.1.0',
      cgroupMode: 'none',
      appliedVersionId: '',
      appliedDigest: '',
    });
    expect(cp.got.acks[0]).toEqual({
      versionId: 'ver-1',
      nonce: cp.lastNonce(),
      digest: v1.digest,
    });
    const s = w.engine.status();
    expect(s.policy).toMatchObject({
      name: 'cp-a',
      digest: v1.digest,
      source: 'control-plane',
      versionId: 'ver-1',
      version: 1,
    });
    expect(s.controlPlane).toMatchObject({
      state: 'connected',
      address: cp.address,
      hostId: 'host-1',
    });
    expect(s.controlPlane.since).toBeTypeOf('number');
    // The identity is the host's credential: owner-only.
    const mode = statSync(join(dir, 'state/control/identity.json')).mode & 0o777;
    expect(mode).toBe(0o600);
    // Heartbeats flow; the policy-applied event is reported.
    await cp.waitFor(() => cp.got.heartbeats >= 2);
    await cp.waitFor(() =>
      [...cp.got.events.values()].find(
        (e) => e.kind === 'policy-applied' && e.policyDigest === v1.digest,
      ),
    );
    // A change of desired state is pushed and acked on the same stream.
    const v2 = version(policyText('cp-a', '2%'), 'ver-2', 2);
    cp.setDesired(v2);
    await cp.waitFor(() => cp.got.acks.find((a) => a.versionId === 'ver-2'));
    expect(w.engine.status().policy?.digest).toBe(v2.digest);
    expect(cp.got.connections).toBe(1);
  });

  it('nacks a policy the host cannot apply, with the reason, and keeps the previous one', async () => {
    const cp = await fakeServer();
    const good = version(policyText('good'), 'ver-good');
    cp.setDesired(good);
    const w = await worker(tempDir(), cp.address);
    await cp.waitFor(() => cp.got.acks.length > 0);
    cp.setDesired(version(CGROUP_POLICY, 'ver-cgroups', 2));
    const nack = await cp.waitFor(() => cp.got.nacks.find((n) => n.versionId === 'ver-cgroups'));
    expect(nack.nonce).toBe(cp.lastNonce());
    expect(nack.reason).toMatch(/no memory cgroup controller/);
    const s = w.engine.status();
    expect(s.policy).toMatchObject({ digest: good.digest, versionId: 'ver-good' });
    expect(s.lastRefusal?.reason).toMatch(/no memory cgroup controller/);
    // The refusal is reported too.
    await cp.waitFor(() => [...cp.got.events.values()].find((e) => e.kind === 'policy-refused'));
  });

  it('nacks a wrong or empty digest, and a document that is not a policy', async () => {
    const cp = await fakeServer();
    const good = version(policyText('good'), 'ver-good');
    cp.setDesired(good);
    const w = await worker(tempDir(), cp.address);
    await cp.waitFor(() => cp.got.acks.length > 0);
    const other = version(policyText('other'), 'ver-other', 2);
    cp.setDesired({ ...other, digest: good.digest.replace(/.$/, (c) => (c === '0' ? '1' : '0')) });
    const wrong = await cp.waitFor(() => cp.got.nacks.find((n) => n.versionId === 'ver-other'));
    expect(wrong.reason).toMatch(/digest mismatch/);
    cp.setDesired({ ...other, versionId: 'ver-empty', digest: '' });
    const empty = await cp.waitFor(() => cp.got.nacks.find((n) => n.versionId === 'ver-empty'));
    expect(empty.reason).toMatch(/no digest/);
    cp.setDesired({ ...other, versionId: 'ver-junk', documentJson: '{"kind":"Nope"}' });
    const junk = await cp.waitFor(() => cp.got.nacks.find((n) => n.versionId === 'ver-junk'));
    expect(junk.reason).toMatch(/invalid policy/);
    expect(w.engine.status().policy?.digest).toBe(good.digest);
    expect(cp.got.acks).toHaveLength(1);
  });

  it('runs no policy when the assignment is empty', async () => {
    const cp = await fakeServer();
    cp.setDesired(version(policyText('cp-a'), 'ver-1'));
    const w = await worker(tempDir(), cp.address);
    await cp.waitFor(() => cp.got.acks.length > 0);
    cp.setDesired(undefined);
    await cp.waitFor(() => cp.got.acks.find((a) => a.versionId === ''));
    expect(w.engine.status().policy).toBeUndefined();
  });

  it('reconnects after the server goes away, gets the desired state, and resends unacked reports', async () => {
    const cp = await fakeServer();
    cp.setDesired(version(policyText('cp-a'), 'ver-1'));
    const w = await worker(tempDir(), cp.address);
    await cp.waitFor(() => cp.got.acks.length > 0);
    await cp.waitFor(() => cp.got.events.size > 0);
    // Reports stop being acknowledged, then the server dies with batches in flight.
    cp.ackReports(false);
    for (let i = 0; i < 5; i++)
      w.events.record({
        kind: 'notify',
        rule: 'r',
        message: `before ${i}`,
        severity: 'info',
        dryRun: false,
        summary: '',
      });
    await cp.waitFor(() => cp.got.arrivals.size >= 6);
    expect(w.controlPlane?.reports().pending.length).toBeGreaterThan(0);
    await cp.kill();
    const down = await cp.waitFor(() => {
      const s = w.engine.status().controlPlane;
      return s.state !== 'connected' && s;
    });
    expect(down.address).toBe(cp.address);
    expect(down.lastError).toBeTruthy();
    // Events while disconnected are kept for later.
    for (let i = 0; i < 5; i++)
      w.events.record({
        kind: 'notify',
        rule: 'r',
        message: `during ${i}`,
        severity: 'info',
        dryRun: false,
        summary: '',
      });
    await cp.waitFor(() => w.engine.status().controlPlane.state === 'disconnected');
    // Back on the same port, with a new desired state.
    const v2 = version(policyText('cp-a', '3%'), 'ver-2', 2);
    cp.setDesired(v2);
    cp.ackReports(true);
    await cp.restart();
    await cp.waitFor(() => cp.got.acks.find((a) => a.versionId === 'ver-2'));
    expect(cp.got.connections).toBe(2);
    expect(cp.got.hellos[1]).toMatchObject({ appliedVersionId: 'ver-1' });
    await cp.waitFor(
      () =>
        w.controlPlane?.reports().pending.length === 0 &&
        w.engine.status().controlPlane.state === 'connected',
    );
    // Every event in the log reached the server; after dedup by id, once each.
    const all = w.events.since(undefined).events.map((e) => e.id);
    await cp.waitFor(() => all.every((id) => cp.got.events.has(id)));
    expect(cp.got.events.size).toBe(new Set(all).size);
    // Resent batches were resent (some ids arrived twice), with the same seq.
    expect([...cp.got.arrivals.values()].some((n) => n > 1)).toBe(true);
    const seqs = [...new Set(cp.got.batches.map((b) => b.seq))].sort((a, b) => a - b);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    const bySeq = new Map<number, string>();
    for (const b of cp.got.batches) {
      const key = b.ids.join(',');
      expect(bySeq.get(b.seq) ?? key).toBe(key);
      bySeq.set(b.seq, key);
    }
  });

  it('reconnects on GoAway', async () => {
    const cp = await fakeServer();
    cp.setDesired(version(policyText('cp-a'), 'ver-1'));
    const w = await worker(tempDir(), cp.address);
    await cp.waitFor(() => cp.got.acks.length > 0);
    cp.goAway('shutting down');
    await cp.waitFor(() => cp.got.connections === 2 && cp.got.acks.length === 2);
    expect(cp.got.hellos[1]?.appliedVersionId).toBe('ver-1');
    expect(cp.got.acks[1]?.versionId).toBe('ver-1');
    await cp.waitFor(() => w.engine.status().controlPlane.state === 'connected');
    expect(cp.got.enrolments).toHaveLength(1);
  });

  it('keeps its identity and last-known-good across a restart; fail-static when the server is unreachable', async () => {
    const cp = await fakeServer();
    const v1 = version(policyText('cp-a'), 'ver-1');
    cp.setDesired(v1);
    const dir = tempDir();
    const first = await worker(dir, cp.address);
    await cp.waitFor(() => cp.got.acks.length > 0);
    await first.stop();
    // The control plane is gone; the agent starts anyway, on its last good policy.
    await cp.kill();
    const second = await worker(dir, cp.address);
    const s = second.engine.status();
    expect(s.controlPlane).toMatchObject({
      state: 'connecting',
      address: cp.address,
      hostId: 'host-1',
    });
    expect(s.policy).toMatchObject({
      digest: v1.digest,
      source: 'control-plane',
      versionId: 'ver-1',
    });
    const down = await cp.waitFor(() => {
      const c = second.engine.status().controlPlane;
      return c.state === 'disconnected' && c.lastError ? c : undefined;
    });
    expect(down).toMatchObject({ address: cp.address, hostId: 'host-1' });
    // The server returns: the same identity, no second enrolment, the version in Hello.
    await cp.restart();
    await cp.waitFor(() => cp.got.acks.length >= 2);
    expect(cp.got.enrolments).toHaveLength(1);
    expect(cp.got.hellos[1]).toMatchObject({ appliedVersionId: 'ver-1', appliedDigest: v1.digest });
    expect(second.engine.status().controlPlane.state).toBe('connected');
  });

  it('without an identity or a token, stays disconnected and says why', async () => {
    const cp = await fakeServer();
    const w = await worker(tempDir(), cp.address, { enrollmentToken: undefined });
    const c = await cp.waitFor(() => {
      const x = w.engine.status().controlPlane;
      return x.lastError ? x : undefined;
    });
    expect(c.lastError).toMatch(/not enrolled/);
    expect(cp.got.connections).toBe(0);
  });

  it('stops at once, even while an attempt hangs on a silent server', async () => {
    // Accepts TCP and says nothing: no HTTP/2, no gRPC.
    const sockets = new Set<import('node:net').Socket>();
    const silent = createServer((sock) => sockets.add(sock));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          silent.close(() => {
            resolve();
          });
        }),
    );
    const address = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const w = await worker(tempDir(), address, { connectTimeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 300));
    expect(w.engine.status().controlPlane).toMatchObject({ state: 'connecting', address });
    const t0 = Date.now();
    await w.stop();
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('reports a refused enrolment token', async () => {
    const cp = await fakeServer();
    const w = await worker(tempDir(), cp.address, { enrollmentToken: 'wrong' });
    const c = await cp.waitFor(() => {
      const x = w.engine.status().controlPlane;
      return x.lastError ? x : undefined;
    });
    expect(c.lastError).toMatch(/PERMISSION_DENIED/);
  });
});
