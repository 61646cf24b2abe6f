// The local endpoint over a real Unix socket: routes, root-only permissions,
// event following, and `oomfleet agent …` reading it through the real binary.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, loadPolicy, loadSnapshotText } from '../../policy/index.ts';
import type { AgentApi, AgentStatus, EventRecord } from './api.ts';
import { agentClient } from './client.ts';
import { startEndpoint } from './server.ts';

const root = join(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'oomfleet-endpoint-'));
const socket = join(dir, 'run', 'agent.sock');
const snapshotText = readFileSync(join(root, 'examples/snapshots/stuck-memcg-v1.json'), 'utf8');
const policyText = readFileSync(join(root, 'examples/policies/batch-userspace-oom.yaml'), 'utf8');

const listeners = new Set<(e: EventRecord) => void>();
const events: EventRecord[] = [
  { id: '01', time: 1764090000000, kind: 'policy-applied', policy: 'batch-userspace-oom' },
  { id: '02', time: 1764090001000, kind: 'kill', rule: 'batch-job-oom', pid: 7001 },
];

function evaluateText(text: string) {
  const r = loadPolicy(text);
  const s = loadSnapshotText(snapshotText);
  if (!r.policy || !s.snapshot) return undefined;
  return { r, e: evaluate(r.policy, s.snapshot, s.history) };
}

const status: AgentStatus = {
  version: '0.1.0',
  pid: 4242,
  supervisorPid: 4241,
  startedAt: Date.now() - 60_000,
  hostname: 'worker-3',
  cgroup: {
    mode: 'v1',
    root: '/sys/fs/cgroup/memory',
    unsupported: [{ setting: 'memoryHigh', note: 'cgroup v1 has no memory.high' }],
  },
  policy: {
    name: 'batch-userspace-oom',
    digest: 'sha256:abc',
    source: 'local',
    appliedAt: Date.now() - 30_000,
    intervalMs: 1000,
  },
  counters: { kills: 1, fallbacks: 0, evaluations: 30, errors: 0 },
  controlPlane: { state: 'disabled' },
};

// The engine implements this for real; here the same evaluator runs on a recorded snapshot.
const api: AgentApi = {
  status: () => status,
  explain: () => evaluateText(policyText)?.e,
  dryRun: (text) => {
    const x = evaluateText(text);
    if (!x?.r.digest) return { ok: false, issues: loadPolicy(text).issues };
    return {
      ok: true,
      name: x.r.canonical?.metadata.name ?? '',
      digest: x.r.digest,
      evaluation: x.e,
      warnings: [],
    };
  },
  events: ({ since, limit }) =>
    events.filter((e) => since === undefined || e.id > since).slice(0, limit),
  subscribe: (l) => {
    listeners.add(l);
    return () => listeners.delete(l);
  },
};

let server: Server;
beforeAll(async () => {
  server = await startEndpoint(api, socket);
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'bin/oomfleet.js'), ...args, '--socket', socket],
      { env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('agent endpoint', () => {
  it('listens on a socket only its owner (root) may use, in a 0700 directory', () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
  });

  it('serves status, explain, dry-run and events', async () => {
    const c = agentClient(socket);
    expect((await c.status()).policy?.name).toBe('batch-userspace-oom');
    const e = await c.explain();
    expect('decisions' in e && e.decisions[0]?.kill).toMatchObject({ pid: 7001 });
    const d = await c.dryRun(policyText.replace('victim: largest', 'victim: newest'));
    expect(d.ok && d.evaluation.decisions[0]?.kill).toMatchObject({ pid: 7002 });
    const bad = await c.dryRun('apiVersion: oomfleet/v1\nkind: OomPolicy\n');
    expect(bad.ok).toBe(false);
    expect(await c.events({ since: '01' })).toEqual([events[1]]);
  });

  it('follows events: backlog first, then live ones', async () => {
    const c = agentClient(socket);
    const got: EventRecord[] = [];
    const abort = new AbortController();
    const done = c.follow(
      {},
      (e) => {
        got.push(e);
        if (got.length === 3) abort.abort();
      },
      abort.signal,
    );
    while (listeners.size === 0) await new Promise((r) => setTimeout(r, 5));
    for (const l of listeners) l({ id: '03', time: Date.now(), kind: 'fallback', memcg: '/batch' });
    await done;
    expect(got.map((e) => e.id)).toEqual(['01', '02', '03']);
  });

  it('oomfleet agent status / explain / dry-run / events read it through the real binary', async () => {
    const s = await cli(['agent', 'status']);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/policy\s+batch-userspace-oom sha256:abc/);
    expect(s.stdout).toMatch(/memoryHigh: cgroup v1 has no memory.high/);
    expect(JSON.parse((await cli(['agent', 'status', '--json'])).stdout)).toEqual(status);
    const e = await cli(['agent', 'explain']);
    expect(e.code).toBe(0);
    expect(e.stdout).toContain('victim: pid 7001 (etl-loader)');
    const file = join(dir, 'try.yaml');
    writeFileSync(file, policyText.replace('victim: largest', 'victim: newest'));
    const d = await cli(['agent', 'dry-run', '--policy', file, '--json']);
    expect(d.code).toBe(0);
    expect(
      (JSON.parse(d.stdout) as { evaluation: { decisions: { kill: { pid: number } }[] } })
        .evaluation.decisions[0]?.kill.pid,
    ).toBe(7002);
    const ev = await cli(['agent', 'events']);
    expect(ev.stdout.trim().split('\n')).toHaveLength(2);
    expect(ev.stdout).toMatch(/kill\s+rule=batch-job-oom pid=7001/);
  });

  it('without an agent, the CLI says so and exits 1', async () => {
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(root, 'bin/oomfleet.js'), 'agent', 'status', '--socket', join(dir, 'none.sock')],
        (err, _o, stderr) => {
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr });
        },
      );
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no agent is listening on .*none\.sock/);
  });
});
