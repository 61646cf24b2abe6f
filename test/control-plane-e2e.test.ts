// The whole path on one machine: a real control plane (PostgreSQL, Redis,
// gRPC over loopback, the HTTP API) and a real agent (`oomfleet agent run`,
// the shipped bundles) enforcing on REAL cgroup v1 memcgs beneath this test's
// own memory cgroup. An operator authors a policy and assigns it to a group
// through the API; the agent enrols, receives it, enforces it, reports a
// kill; the control plane shows the host SYNCED and the kill in its events.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropShared,
  newShared,
  startTestControlPlane,
  type Shared,
  type TestControlPlane,
} from './helpers/control-plane.ts';
import {
  makeTestMemcg,
  memcgProblem,
  removeTestMemcgs,
  startHog,
  waitFor,
} from './helpers/memcg.ts';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin/oomfleet.js');
const Mi = 1024 * 1024;

const policy = (name: string, memoryMax: string): string => `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: ${name} }
spec:
  interval: 200ms
  cgroups:
    - match: /jobs/*
      memoryMax: ${memoryMax}
  rules:
    - name: jobs-pre-oom
      scope: /jobs/*
      when: { usage: { of: limit, above: 80% } }
      action: { kill: { victim: largest } }
`;

let shared: Shared;
let cp: TestControlPlane;
let agent: { proc: ChildProcess; log: () => string; exited: Promise<unknown> } | undefined;
/** The job memcg the first test made and the agent enforces on. */
let agentJobDir = '';
const dirs: string[] = [];

beforeAll(async () => {
  const problem = memcgProblem();
  if (problem) throw new Error(`no writable memcg for the end-to-end test: ${problem}`);
  shared = newShared();
  cp = await startTestControlPlane(shared);
}, 60_000);

afterAll(async () => {
  if (agent) {
    agent.proc.kill('SIGTERM');
    await Promise.race([agent.exited, sleep(8000)]);
    agent.proc.kill('SIGKILL');
  }
  await cp.stop();
  await dropShared(shared);
  await removeTestMemcgs();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 60_000);

function startAgent(cgroupRoot: string, token: string): NonNullable<typeof agent> {
  const dir = mkdtempSync(join(tmpdir(), 'oomfleet-e2e-'));
  dirs.push(dir);
  const args = [
    bin,
    'agent',
    'run',
    '--cgroup-mode',
    'v1',
    '--cgroup-root',
    cgroupRoot,
    '--state-dir',
    join(dir, 'state'),
    '--socket',
    join(dir, 'agent.sock'),
    '--control-plane',
    cp.grpcAddress,
    '--enrollment-token',
    token,
    '--labels',
    'role=batch,zone=e2e',
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout?.setEncoding('utf8').on('data', (s: string) => (log += s));
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => (log += s));
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  return { proc, log: () => log, exited };
}

const limitOf = (dir: string): number =>
  Number(readFileSync(join(dir, 'memory.limit_in_bytes'), 'utf8').trim());

interface HostView {
  id: string;
  name: string;
  syncState: string;
  applied?: { version: number } | null;
}

describe('control plane and a real agent, end to end', () => {
  it('authored, assigned, received, enforced on a real memcg, acked; a kill comes back as an event', async () => {
    const top = makeTestMemcg('cp-e2e');
    const jobs = join(top.dir, 'jobs');
    mkdirSync(jobs);
    const job = join(jobs, 'a');
    mkdirSync(job);
    agentJobDir = job;

    const enrol = await cp.api<{ token: string }>('POST', '/api/v1/enrollment-tokens', {
      name: 'e2e',
      labels: { fleet: 'e2e' },
    });
    expect(enrol.status).toBe(201);
    const v1 = await cp.api('POST', '/api/v1/policies', { source: policy('batch-e2e', '256Mi') });
    expect(v1.status).toBe(201);
    const group = await cp.api<{ id: string }>('POST', '/api/v1/groups', {
      name: 'batch',
      selector: { matchLabels: { role: 'batch' } },
    });
    expect(group.status).toBe(201);
    const assign = await cp.api('PUT', `/api/v1/groups/${group.body.id}/assignment`, {
      policy: 'batch-e2e',
      version: 1,
    });
    expect(assign.status).toBe(200);

    agent = startAgent(top.dir, enrol.body.token);
    const a = agent;
    await waitFor(
      () => limitOf(job) === 256 * Mi,
      'the assigned memoryMax on the memcg',
      30_000,
      100,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\nagent log:\n${a.log()}`);
    });
    let host: HostView | undefined;
    await waitFor(
      async () => {
        const r = await cp.api<{ items: HostView[] }>('GET', '/api/v1/hosts?label=role=batch');
        host = r.body.items[0];
        return host?.syncState === 'SYNCED';
      },
      'the host to be SYNCED',
      15_000,
      100,
    );
    expect(host?.applied?.version).toBe(1);

    // A new version reaches the agent without it reconnecting.
    const v2 = await cp.api('POST', '/api/v1/policies', { source: policy('batch-e2e', '192Mi') });
    expect(v2.status).toBe(201);
    await cp.api('PUT', `/api/v1/groups/${group.body.id}/assignment`, {
      policy: 'batch-e2e',
      version: 2,
    });
    await waitFor(() => limitOf(job) === 192 * Mi, 'version 2 on the memcg', 15_000, 100);

    // A hog past 80% of 192 MiB is killed by the agent; the kill is reported.
    const hog = await startHog(job, { maxMiB: 180 });
    await waitFor(
      () => hog.child.exitCode !== null || hog.child.signalCode !== null,
      'the hog to be killed',
      15_000,
      50,
    );
    await waitFor(
      async () => {
        const r = await cp.api<{ items: { kind: string; memcg?: string | null }[] }>(
          'GET',
          `/api/v1/events?kind=kill&host=${host?.id ?? ''}`,
        );
        return r.body.items.some((e) => e.memcg === '/jobs/a');
      },
      'the kill event in the control plane',
      20_000,
      200,
    );
  }, 120_000);

  it('a kill while the control plane is down reaches it after a restart; the desired state is re-sent', async () => {
    const a = agent;
    if (!a) throw new Error('the first test starts the agent');
    const port = cp.grpcPort;
    const hosts = await cp.api<{ items: HostView[] }>('GET', '/api/v1/hosts?label=role=batch');
    const hostId = hosts.body.items[0]?.id ?? '';
    await cp.stop();

    // The agent keeps enforcing (fail-static) and logs the kill for later.
    const jobDir = agentJobDir;
    const hog = await startHog(jobDir, { maxMiB: 180 });
    await waitFor(
      () => hog.child.exitCode !== null || hog.child.signalCode !== null,
      'the agent to kill the hog with the control plane down',
      15_000,
      50,
    );
    const killedAt = Date.now();

    cp = await startTestControlPlane(shared, { grpcPort: port });
    await waitFor(
      async () => {
        const r = await cp.api<{ items: { kind: string; time: string }[] }>(
          'GET',
          `/api/v1/events?kind=kill&host=${hostId}`,
        );
        return r.body.items.some((e) => Date.parse(e.time) >= killedAt - 5000);
      },
      'the kill made while the control plane was down',
      90_000,
      250,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\nagent log:\n${a.log()}`);
    });
    const host = await cp.api<HostView>('GET', `/api/v1/hosts/${hostId}`);
    expect(host.body.syncState).toBe('SYNCED');
  }, 150_000);
});
