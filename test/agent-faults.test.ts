// The agent must survive what the kernel and the world throw at it: memcgs
// that vanish mid-evaluation, malformed or unreadable cgroup files, victims
// that exit before the kill. Run on a v2 fixture tree shaped like the
// kernel's, which a test may break in ways a real kernel would only rarely.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startWorker, type Worker } from '../services/agent/worker.ts';
import { enforcerApplier } from '../services/agent/enforce/applier.ts';
import { copyCgroupFixture } from './helpers/cgroup-fixture.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const POLICY = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: faults }
spec:
  cgroups:
    - match: /batch.slice/*
      memoryMax: 8Gi
  rules:
    - name: batch-full
      scope: /batch.slice/*
      when: { any: [{ usage: { above: 1% } }, { pressure: { above: 1 } }, { oom: {} }] }
      action: { notify: {} }
      cooldown: 0s
`;

async function worker(): Promise<{ w: Worker; root: string }> {
  const fx = copyCgroupFixture();
  cleanups.push(() => {
    fx.remove();
  });
  const dir = mkdtempSync(join(tmpdir(), 'oomfleet-faults-'));
  cleanups.push(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, POLICY);
  const w = await startWorker({
    stateDir: join(dir, 'state'),
    socketPath: join(dir, 'agent.sock'),
    policyFile: file,
    cgroupMode: 'v2',
    cgroupRoot: fx.root,
    applier: enforcerApplier,
    log: () => undefined,
  });
  cleanups.push(() => w.stop());
  return { w, root: fx.root };
}

describe('agent faults', () => {
  it('keeps evaluating when a memcg vanishes, or its files are malformed or missing', async () => {
    const { w, root } = await worker();
    expect(w.engine.tick()?.rules[0]?.matched).toBe(2);
    // Malformed: garbage where numbers belong.
    writeFileSync(join(root, 'batch.slice/job-a.scope/memory.events'), 'low x\nhigh\n\0\0\0');
    writeFileSync(join(root, 'batch.slice/job-a.scope/memory.pressure'), 'nonsense');
    writeFileSync(join(root, 'batch.slice/job-a.scope/memory.current'), 'lots');
    expect(() => w.engine.tick()).not.toThrow();
    // Missing: a file gone, then the whole memcg gone mid-run.
    rmSync(join(root, 'batch.slice/job-b.scope/memory.current'));
    expect(() => w.engine.tick()).not.toThrow();
    rmSync(join(root, 'batch.slice/job-b.scope'), { recursive: true });
    const e = w.engine.tick();
    expect(e).toBeDefined();
    expect(w.engine.status().counters.evaluations).toBeGreaterThanOrEqual(4);
    // A new memcg appears: it gets the policy's settings at the next look (every 2 s, or now).
    mkdirSync(join(root, 'batch.slice/job-c.scope'));
    writeFileSync(join(root, 'batch.slice/job-c.scope/memory.max'), 'max\n');
    writeFileSync(join(root, 'batch.slice/job-c.scope/memory.current'), '4096\n');
    writeFileSync(join(root, 'batch.slice/job-c.scope/cgroup.procs'), '');
    w.engine.reconcileNow();
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(root, 'batch.slice/job-c.scope/memory.max'), 'utf8').trim()).toBe(
      String(8 * 1024 ** 3),
    );
  });

  it('a victim that exits before the kill is reported as already gone, and nothing else is signalled', async () => {
    const { w } = await worker();
    const p = spawn('sleep', ['600'], { stdio: 'ignore' });
    const pid = p.pid ?? 0;
    const startTime = Date.now();
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
    const policy = w.engine.explain();
    expect(policy).toBeDefined();
    const { createKiller } = await import('../services/agent/kill/killer.ts');
    const { loadPolicy } = await import('../services/policy/index.ts');
    const compiled = loadPolicy(POLICY).policy;
    if (!compiled) throw new Error('policy');
    const killer = createKiller({ agentPids: () => [process.pid] });
    const event = await killer.kill(
      {
        rule: 'batch-full',
        action: 'kill',
        dryRun: false,
        enforce: true,
        firing: ['/batch.slice/job-a.scope'],
        kill: {
          among: 'process',
          pid,
          comm: 'sleep',
          cmdline: 'sleep 600',
          cgroup: '/',
          rss: 4096,
          startTime,
          graceMs: 0,
          repeat: 'once',
        },
        trace: { conditions: [], summary: 'test' },
      },
      compiled,
      Date.now(),
    );
    expect(event.outcome).toBe('already-gone');
    expect(event.signals).toEqual([]);
  });
});
