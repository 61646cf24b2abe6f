// The agent end to end, as an operator runs it: `oomfleet agent run` (the
// supervisor and its worker) on REAL cgroup v1 memcgs created beneath this
// test's own memory cgroup, with real memory hogs. The agent's cgroup root is
// a test memcg, so it can see and touch nothing else on the host.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentClient } from '../services/agent/endpoint/client.ts';
import type { AgentStatus, EventRecord } from '../services/agent/endpoint/api.ts';
import {
  makeTestMemcg,
  memcgProblem,
  removeTestMemcgs,
  startHog,
  waitFor,
} from './helpers/memcg.ts';
import { copyCgroupFixture } from './helpers/cgroup-fixture.ts';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin/oomfleet.js');

beforeAll(() => {
  // This machine has a writable v1 memory controller; if one ever lacks it,
  // these tests must fail loudly rather than pass without testing anything.
  const problem = memcgProblem();
  if (problem) throw new Error(`no writable memcg for the agent tests: ${problem}`);
});

interface Running {
  proc: ChildProcess;
  socket: string;
  stateDir: string;
  log: () => string;
  client: ReturnType<typeof agentClient>;
  exited: Promise<number | null>;
}

const running: Running[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const r of running.splice(0)) {
    r.proc.kill('SIGTERM');
    await Promise.race([r.exited, sleep(8000)]);
    r.proc.kill('SIGKILL');
  }
  await removeTestMemcgs();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'oomfleet-agent-'));
  dirs.push(d);
  return d;
}

async function startAgent(
  cgroupRoot: string | undefined,
  opts: { policy?: string; stateDir?: string; mode?: 'v1' | 'v2' | 'none' } = {},
): Promise<Running> {
  const dir = tmp();
  const stateDir = opts.stateDir ?? join(dir, 'state');
  const socket = join(dir, 'run', 'agent.sock');
  const args = [bin, 'agent', 'run', '--cgroup-mode', opts.mode ?? 'v1'];
  args.push('--state-dir', stateDir, '--socket', socket);
  if (cgroupRoot) args.push('--cgroup-root', cgroupRoot);
  if (opts.policy) {
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, opts.policy);
    args.push('--policy', file);
  }
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout?.setEncoding('utf8').on('data', (s: string) => (log += s));
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => (log += s));
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      resolve(code);
    }),
  );
  const r: Running = {
    proc,
    socket,
    stateDir,
    log: () => log,
    client: agentClient(socket),
    exited,
  };
  running.push(r);
  await waitFor(() => log.includes('agent: running'), `the agent to start; log:\n${log}`, 20_000);
  return r;
}

const status = (r: Running): Promise<AgentStatus> => r.client.status();
const events = (r: Running): Promise<EventRecord[]> => r.client.events({ limit: 1000 });
/** The first event of a kind, waiting for it to be written. */
async function eventOf(
  r: Running,
  kind: string,
  timeoutMs = 5000,
): Promise<EventRecord | undefined> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const e = (await events(r)).find((x) => x.kind === kind);
    if (e) return e;
    await sleep(50);
  }
  return undefined;
}

const read = (dir: string, file: string): string => readFileSync(join(dir, file), 'utf8');

/** A test memcg with a child "job" below it: the agent's root and the memcg its policy targets. */
function jobMemcg(label: string): { top: ReturnType<typeof makeTestMemcg>; job: string } {
  const top = makeTestMemcg(label);
  const job = join(top.dir, 'job');
  mkdirSync(job);
  return { top, job };
}

/** Waits until the agent has the memcg under user-space OOM handling (v1 oom_kill_disable=1). */
function armed(job: string, what: string): Promise<void> {
  return waitFor(() => read(job, 'memory.oom_control').includes('oom_kill_disable 1'), what, 5000);
}

function jobPolicy(
  opts: { fallbackAfter?: string; dryRun?: boolean; memoryMax?: string } = {},
): string {
  return `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: e2e-job }
spec:
  interval: 200ms
  protect:
    - process: '^sleep$'
  cgroups:
    - match: /job
      memoryMax: ${opts.memoryMax ?? '192Mi'}
      userspaceOom: { enabled: true, fallbackAfter: ${opts.fallbackAfter ?? '2s'} }
  rules:
    - name: job-oom
      scope: /job
      when: { oom: { on: stuck } }
      action: { kill: { victim: largest } }
      cooldown: 0s
      dryRun: ${opts.dryRun ? 'true' : 'false'}
`;
}

function guardian(dir: string): ChildProcess {
  const p = spawn('sleep', ['600'], { stdio: 'ignore' });
  writeFileSync(join(dir, 'cgroup.procs'), String(p.pid));
  return p;
}

describe('oomfleet agent run on real memcgs', () => {
  it('applies the policy, handles the OOM in user space: kills the hog, spares the protected process', async () => {
    const { top, job } = jobMemcg('agent-uoom');
    const agent = await startAgent(top.dir, { policy: jobPolicy() });
    await armed(job, 'oom_kill_disable=1 on /job');
    expect(Number(read(job, 'memory.limit_in_bytes'))).toBe(192 * 1024 * 1024);
    expect((await status(agent)).policy?.name).toBe('e2e-job');

    const keeper = guardian(job);
    try {
      const hog = await startHog(job, { stepMiB: 16, intervalMs: 10 });
      const end = await Promise.race([hog.exited, sleep(10_000).then(() => 'timeout' as const)]);
      expect(end).toEqual({ code: null, signal: 'SIGKILL' });
      expect(keeper.exitCode).toBeNull();
      expect(keeper.signalCode).toBeNull();
      // The kill event is written once the killer has confirmed the death.
      expect(await eventOf(agent, 'kill')).toMatchObject({
        rule: 'job-oom',
        outcome: 'died',
        victim: { kind: 'process', pid: hog.pid },
      });
      expect((await events(agent)).some((e) => e.kind === 'fallback')).toBe(false);
    } finally {
      keeper.kill('SIGKILL');
    }
  });

  it('hands a stuck memcg back to the kernel after fallbackAfter when no victim can be killed', async () => {
    const { top, job } = jobMemcg('agent-fallback');
    // Dry run: the agent decides but never kills, so only the fallback can end the OOM.
    const agent = await startAgent(top.dir, {
      policy: jobPolicy({ dryRun: true, fallbackAfter: '1s' }),
    });
    await armed(job, 'oom_kill_disable=1');
    const hog = await startHog(job, { stepMiB: 16, intervalMs: 10 });
    await waitFor(
      () => read(job, 'memory.oom_control').includes('under_oom 1'),
      'the hog stuck at the limit',
      10_000,
    );
    const stuckAt = Date.now();
    const end = await Promise.race([hog.exited, sleep(8000).then(() => 'timeout' as const)]);
    const stuckFor = Date.now() - stuckAt;
    expect(end).toEqual({ code: null, signal: 'SIGKILL' });
    expect(stuckFor).toBeGreaterThanOrEqual(900);
    expect(stuckFor).toBeLessThan(4000);
    const fallback = (await events(agent)).find((e) => e.kind === 'fallback');
    expect(fallback).toMatchObject({ memcg: '/job', fallbackAfterMs: 1000 });
    // Handed back while stuck; re-armed once the OOM cleared.
    await armed(job, 're-armed');
  });

  it('a stalled worker (SIGSTOP): the supervisor hands the stuck memcg to the kernel after fallbackAfter', async () => {
    const { top, job } = jobMemcg('agent-stall');
    const agent = await startAgent(top.dir, { policy: jobPolicy({ fallbackAfter: '1s' }) });
    await armed(job, 'oom_kill_disable=1');
    const worker = (await status(agent)).pid;
    process.kill(worker, 'SIGSTOP');
    try {
      const hog = await startHog(job, { stepMiB: 16, intervalMs: 10 });
      await waitFor(
        () =>
          read(job, 'memory.oom_control').includes('under_oom 1') ||
          hog.child.exitCode !== null ||
          hog.child.signalCode !== null,
        'stuck',
        10_000,
      );
      const stuckAt = Date.now();
      const end = await Promise.race([hog.exited, sleep(6000).then(() => 'timeout' as const)]);
      // The frozen worker could not kill it: the kernel did, once the supervisor gave it back.
      expect(end).toEqual({ code: null, signal: 'SIGKILL' });
      expect(Date.now() - stuckAt).toBeLessThan(2500);
      expect(agent.log()).toMatch(/worker silent for 1000 ms/);
    } finally {
      process.kill(worker, 'SIGCONT');
    }
    // Once it runs again the worker re-arms user-space OOM handling.
    await armed(job, 're-armed after the stall');
  });

  it('SIGKILL of the worker while a memcg is stuck: the supervisor restores kernel OOM and the hog dies within 1 s', async () => {
    const { top, job } = jobMemcg('agent-crash');
    const agent = await startAgent(top.dir, {
      policy: jobPolicy({ dryRun: true, fallbackAfter: '60s' }),
    });
    await armed(job, 'oom_kill_disable=1');
    const hog = await startHog(job, { stepMiB: 16, intervalMs: 10 });
    await waitFor(
      () => read(job, 'memory.oom_control').includes('under_oom 1'),
      'the hog stuck at the limit',
      10_000,
    );
    const worker = (await status(agent)).pid;
    const killedAt = Date.now();
    process.kill(worker, 'SIGKILL');
    const end = await Promise.race([hog.exited, sleep(5000).then(() => 'timeout' as const)]);
    expect(end).toEqual({ code: null, signal: 'SIGKILL' });
    expect(Date.now() - killedAt).toBeLessThan(1000);
    expect(agent.log()).toMatch(/kernel OOM handling restored on 1 memcg/);
  });

  it('enforces the last-known-good policy after a restart, before any control plane; SIGTERM restores kernel OOM', async () => {
    const { top, job } = jobMemcg('agent-lkg');
    const stateDir = join(tmp(), 'state');
    const first = await startAgent(top.dir, {
      policy: jobPolicy({ memoryMax: '160Mi' }),
      stateDir,
    });
    await armed(job, 'oom_kill_disable=1');
    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    running.splice(running.indexOf(first), 1);
    expect(read(job, 'memory.oom_control')).toContain('oom_kill_disable 0');

    const second = await startAgent(top.dir, { stateDir });
    const s = await status(second);
    expect(s.policy).toMatchObject({ name: 'e2e-job', source: 'local' });
    expect(Number(read(job, 'memory.limit_in_bytes'))).toBe(160 * 1024 * 1024);
    await armed(job, 'oom_kill_disable=1 again');
  });

  it('refuses a policy this hierarchy cannot apply, whole, with the reason, and keeps the previous one', async () => {
    const { top, job } = jobMemcg('agent-refuse');
    const stateDir = join(tmp(), 'state');
    const first = await startAgent(top.dir, {
      policy: jobPolicy({ memoryMax: '160Mi' }),
      stateDir,
    });
    await armed(job, 'applied');
    first.proc.kill('SIGTERM');
    await first.exited;
    running.splice(running.indexOf(first), 1);
    // memoryHigh has no cgroup v1 equivalent: the whole policy is refused.
    const bad = jobPolicy({ memoryMax: '128Mi' }).replace(
      'memoryMax: 128Mi',
      'memoryMax: 128Mi\n      memoryHigh: 100Mi',
    );
    const second = await startAgent(top.dir, { policy: bad, stateDir });
    const s = await status(second);
    expect(s.lastRefusal?.reason).toMatch(/memoryHigh/);
    expect(s.policy?.name).toBe('e2e-job');
    expect(Number(read(job, 'memory.limit_in_bytes'))).toBe(160 * 1024 * 1024);
    const dry = await second.client.dryRun(bad);
    expect(dry.ok && dry.refusal).toMatch(/memoryHigh/);
  });
});

describe('oomfleet agent run without cgroups, and on cgroup v2', () => {
  it('a worker that cannot start (missing or invalid policy file) exits 1 with the reason, and is not restarted', async () => {
    const dir = tmp();
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'apiVersion: oomfleet/v1\nkind: OomPolicy\nmetadata: { name: x }\nspec: { interval: -1s }\n',
    );
    for (const [policy, why] of [
      [join(dir, 'missing.yaml'), /missing\.yaml: ENOENT/],
      [bad, /bad\.yaml: invalid policy: spec\.interval duration -1s is negative/],
    ] as const) {
      const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
        const p = spawn(process.execPath, [
          bin,
          'agent',
          'run',
          '--cgroup-mode',
          'none',
          '--state-dir',
          join(dir, 's'),
          '--socket',
          join(dir, 'a.sock'),
          '--policy',
          policy,
        ]);
        let err = '';
        p.stderr.setEncoding('utf8').on('data', (x: string) => (err += x));
        p.once('exit', (code) => {
          resolve({ code, err });
        });
      });
      expect(r.code).toBe(1);
      expect(r.err).toMatch(why);
      expect(r.err).toMatch(/not restarting/);
    }
  });

  it('global mode works from /proc alone: a global rule chooses among all processes (dry run)', async () => {
    // A process with a unique command line, preferred as the victim; dry run, so nothing on this host is killed.
    const marker = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      const agent = await startAgent(undefined, {
        mode: 'none',
        policy: `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: e2e-global }
spec:
  dryRun: true
  interval: 200ms
  killBudget: { max: 10000, per: 1m }
  rules:
    - name: host-ram
      scope: global
      when: { usage: { of: ram, above: 0.001% } }
      action: { kill: { victim: newest, prefer: ['^sleep 600$'] } }
      cooldown: 0s
`,
      });
      const s = await status(agent);
      expect(s.cgroup.mode).toBe('none');
      await waitFor(() => true, 'noop', 1);
      expect(await eventOf(agent, 'kill')).toMatchObject({
        outcome: 'dry-run',
        dryRun: true,
        victim: { kind: 'process', pid: marker.pid },
      });
      expect(marker.exitCode).toBeNull();
      const e = await agent.client.explain();
      expect('rules' in e && e.rules[0]).toMatchObject({ rule: 'host-ram' });
      expect(
        'decisions' in e && e.decisions[0]?.kill,
        JSON.stringify(e).slice(0, 1500),
      ).toMatchObject({ pid: marker.pid });
    } finally {
      marker.kill('SIGKILL');
    }
  });

  it("cgroup v2 (fixture tree shaped like the kernel's): settings land in the v2 files", async () => {
    const fx = copyCgroupFixture();
    dirs.push(fx.root);
    const job = join(fx.root, 'batch.slice/job-a.scope');
    const before = read(job, 'memory.max');
    const agent = await startAgent(fx.root, {
      mode: 'v2',
      policy: `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: e2e-v2 }
spec:
  cgroups:
    - match: /batch.slice/*
      memoryMax: 6Gi
      memoryHigh: 75%
      oomGroup: true
`,
    });
    expect((await status(agent)).cgroup.mode).toBe('v2');
    expect(read(job, 'memory.max').trim()).toBe(String(6 * 1024 ** 3));
    expect(read(job, 'memory.high').trim()).toBe(String(4.5 * 1024 ** 3));
    expect(read(job, 'memory.oom.group').trim()).toBe('1');
    expect(before.trim()).not.toBe(String(6 * 1024 ** 3));
  });
});
