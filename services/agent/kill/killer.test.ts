// The killer on real processes: children of this test process, signalled for
// real, with a spy on every signal the killer sends.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createKiller, type KillerDeps } from './killer.ts';
import { readProcState } from './proc-state.ts';
import {
  SCRIPTS,
  bootTimeMs,
  compilePolicy,
  fakeClock,
  isRunning,
  killAllChildren,
  processDecision,
  processInfo,
  signalSpy,
  startChild,
} from './test-helpers.ts';
import { isEventId } from '../events/id.ts';
import { createEventLog } from '../events/log.ts';
import type { KillEvent } from '../events/types.ts';

afterEach(killAllChildren);

const policy = compilePolicy();
const killer = (deps: Partial<KillerDeps> = {}) =>
  createKiller({ agentPids: () => [], bootTimeMs, ...deps });
const alive = (pid: number): boolean => readProcState('/proc', pid).kind === 'alive';

describe('killProcess: refusals (no signal sent)', () => {
  it('refuses a pid that was reused: the start time differs, the process is untouched', async () => {
    const c = await startChild(SCRIPTS.idle);
    const p = processInfo(c.pid);
    const spy = signalSpy();
    const ev = await killer({ signal: spy.signal }).killProcess(
      processDecision({ ...p, startTime: p.startTime - 5_000 }),
      policy,
      Date.now(),
    );
    expect(ev.outcome).toBe('refused');
    expect(ev.reason).toMatch(/was reused/);
    expect(spy.calls).toEqual([]);
    expect(alive(c.pid)).toBe(true);
  });

  it('accepts a start time one clock tick off (rounding), and refuses two ticks off', async () => {
    const c = await startChild(SCRIPTS.idle);
    const p = processInfo(c.pid);
    const spy = signalSpy({ deliver: false });
    const k = killer({ signal: spy.signal, killTimeoutMs: 0 });
    const far = await k.killProcess(
      processDecision({ ...p, startTime: p.startTime + 20 }),
      policy,
      0,
    );
    expect(far.outcome).toBe('refused');
    const near = await k.killProcess(
      processDecision({ ...p, startTime: p.startTime + 10 }),
      policy,
      0,
    );
    expect(near.outcome).toBe('survived'); // signals swallowed by the spy
    expect(spy.calls.map((s) => s.sig)).toEqual(['SIGKILL']);
  });

  it('refuses pid 1', async () => {
    const spy = signalSpy({ deliver: false });
    const ev = await killer({ signal: spy.signal }).killProcess(
      processDecision({ pid: 1, comm: 'init', cmdline: [], cgroup: '/', rss: 1, startTime: 0 }),
      policy,
      0,
    );
    expect(ev).toMatchObject({ outcome: 'refused', reason: 'pid 1 (init)', signals: [] });
    expect(spy.calls).toEqual([]);
  });

  it('refuses pid 0 and negative pids (they would signal process groups)', async () => {
    const spy = signalSpy({ deliver: false });
    for (const pid of [0, -1, -process.pid]) {
      const ev = await killer({ signal: spy.signal }).killProcess(
        processDecision({ pid, comm: 'x', cmdline: [], cgroup: '/', rss: 1, startTime: 0 }),
        policy,
        0,
      );
      expect(ev.outcome).toBe('refused');
    }
    expect(spy.calls).toEqual([]);
  });

  it.runIf(alive(2))('refuses a kernel thread (pid 2, kthreadd)', async () => {
    const p = processInfo(2);
    const spy = signalSpy({ deliver: false });
    const ev = await killer({ signal: spy.signal }).killProcess(processDecision(p), policy, 0);
    expect(ev).toMatchObject({ outcome: 'refused', reason: 'kernel thread' });
    expect(spy.calls).toEqual([]);
  });

  it('refuses its own pid, even when agentPids forgets it', async () => {
    const p = processInfo(process.pid);
    const spy = signalSpy({ deliver: false });
    const ev = await killer({ signal: spy.signal }).killProcess(processDecision(p), policy, 0);
    expect(ev).toMatchObject({ outcome: 'refused', reason: 'the oomfleet agent' });
    expect(spy.calls).toEqual([]);
  });

  it('refuses the agent and its supervisor (agentPids)', async () => {
    const c = await startChild(SCRIPTS.idle);
    const spy = signalSpy();
    const ev = await killer({ signal: spy.signal, agentPids: () => [c.pid] }).killProcess(
      processDecision(processInfo(c.pid)),
      policy,
      0,
    );
    expect(ev).toMatchObject({ outcome: 'refused', reason: 'the oomfleet agent' });
    expect(spy.calls).toEqual([]);
    expect(alive(c.pid)).toBe(true);
  });

  it('refuses a process protected by comm, by command line, or by cgroup', async () => {
    const c = await startChild(SCRIPTS.titled('oomf-protected'));
    const p = processInfo(c.pid);
    expect(p.comm).toBe('oomf-protected');
    const spy = signalSpy();
    const cases: [string, RegExp][] = [
      ["{ process: '^oomf-prot' }", /^protected: comm matches/],
      ["{ cmdline: 'oomf-protected' }", /^protected: command line matches/],
      [`{ cgroup: '${p.cgroup}' }`, /^protected: cgroup .* is under/],
    ];
    for (const [rule, reason] of cases) {
      const ev = await killer({ signal: spy.signal }).killProcess(
        processDecision(p),
        compilePolicy([rule]),
        0,
      );
      expect(ev.outcome).toBe('refused');
      expect(ev.reason).toMatch(reason);
    }
    expect(spy.calls).toEqual([]);
    expect(alive(c.pid)).toBe(true);
  });

  it('re-matches protection on the live process, not the snapshot (it renamed itself since)', async () => {
    const c = await startChild(SCRIPTS.titled('oomf-protected'));
    const spy = signalSpy();
    const stale = { ...processInfo(c.pid), comm: 'innocent-looking', cmdline: ['innocent'] };
    const ev = await killer({ signal: spy.signal }).killProcess(
      processDecision(stale),
      compilePolicy(["{ process: '^oomf-protected$' }"]),
      0,
    );
    expect(ev.outcome).toBe('refused');
    expect(spy.calls).toEqual([]);
  });

  it('refuses oom_score_adj -1000', async () => {
    // Lowering oom_score_adj needs CAP_SYS_RESOURCE, which tests may lack: a
    // copy of the child's /proc files, with -1000, stands in for /proc.
    const c = await startChild(SCRIPTS.idle);
    const root = mkdtempSync(join(tmpdir(), 'oomfleet-proc-'));
    try {
      mkdirSync(join(root, String(c.pid)));
      for (const f of ['stat', 'cmdline', 'cgroup'])
        writeFileSync(join(root, String(c.pid), f), readFileSync(`/proc/${c.pid}/${f}`));
      writeFileSync(join(root, String(c.pid), 'oom_score_adj'), '-1000\n');
      writeFileSync(join(root, 'stat'), readFileSync('/proc/stat'));
      const spy = signalSpy();
      const ev = await killer({ signal: spy.signal, procRoot: root }).killProcess(
        processDecision(processInfo(c.pid)),
        policy,
        0,
      );
      expect(ev).toMatchObject({ outcome: 'refused' });
      expect(ev.reason).toMatch(/oom_score_adj -1000/);
      expect(spy.calls).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('killProcess: signals', () => {
  it('grace 0: SIGKILL straight away, and the process dies', async () => {
    const c = await startChild(SCRIPTS.ignoresTerm);
    const p = processInfo(c.pid);
    const spy = signalSpy();
    const t0 = Date.now();
    const ev = await killer({ signal: spy.signal }).killProcess(processDecision(p), policy, t0);
    expect(spy.calls.map((s) => s.sig)).toEqual(['SIGKILL']);
    expect(ev).toMatchObject({ kind: 'kill', outcome: 'died', rssFreed: p.rss, graceMs: 0 });
    expect(ev.signals.map((s) => s.signal)).toEqual(['SIGKILL']);
    expect(ev.triggerToDeathMs).toBeGreaterThanOrEqual(0);
    expect(ev.triggerToDeathMs).toBeLessThan(2_000);
    await c.exited;
    expect(c.child.signalCode).toBe('SIGKILL');
  });

  it('a process that ignores SIGTERM gets SIGKILL only once the grace is over (fake clock)', async () => {
    const c = await startChild(SCRIPTS.ignoresTerm);
    const clock = fakeClock();
    const spy = signalSpy({ now: clock.now });
    const triggeredAt = clock.now();
    const ev = await killer({ signal: spy.signal, ...clock }).killProcess(
      processDecision(processInfo(c.pid), { graceMs: 500 }),
      policy,
      triggeredAt,
    );
    expect(spy.calls.map((s) => s.sig)).toEqual(['SIGTERM', 'SIGKILL']);
    const [term, kill] = spy.calls;
    expect(term?.at).toBe(triggeredAt);
    expect(kill?.at).toBeGreaterThanOrEqual(triggeredAt + 500);
    expect(ev.outcome).toBe('died');
    expect(ev.triggerToDeathMs).toBeGreaterThanOrEqual(500);
    await c.exited;
    expect(c.child.signalCode).toBe('SIGKILL');
  });

  it('the same with real time: SIGKILL no sooner than the grace', async () => {
    const c = await startChild(SCRIPTS.ignoresTerm);
    const spy = signalSpy();
    const t0 = Date.now();
    const ev = await killer({ signal: spy.signal }).killProcess(
      processDecision(processInfo(c.pid), { graceMs: 300 }),
      policy,
      t0,
    );
    expect(spy.calls.map((s) => s.sig)).toEqual(['SIGTERM', 'SIGKILL']);
    expect((spy.calls[1]?.at ?? 0) - (spy.calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(300);
    expect(ev.outcome).toBe('died');
    expect(ev.triggerToDeathMs).toBeGreaterThanOrEqual(300);
    expect(ev.triggerToDeathMs).toBeLessThan(5_000);
  });

  it('a process that exits within the grace gets SIGTERM only', async () => {
    const c = await startChild(SCRIPTS.slowExit);
    const spy = signalSpy();
    const t0 = Date.now();
    const ev = await killer({ signal: spy.signal }).killProcess(
      processDecision(processInfo(c.pid), { graceMs: 10_000 }),
      policy,
      t0,
    );
    expect(spy.calls.map((s) => s.sig)).toEqual(['SIGTERM']);
    expect(ev.outcome).toBe('died');
    // It took its 200 ms to clean up, and was not cut short.
    expect(ev.triggerToDeathMs).toBeGreaterThanOrEqual(150);
    expect(ev.triggerToDeathMs).toBeLessThan(10_000);
    await c.exited;
    expect(c.child.exitCode).toBe(0);
  });

  it('already gone: the victim exited before the kill (nothing is signalled)', async () => {
    const c = await startChild(SCRIPTS.idle);
    const p = processInfo(c.pid);
    c.child.kill('SIGKILL');
    await c.exited;
    const spy = signalSpy();
    const ev = await killer({ signal: spy.signal }).killProcess(processDecision(p), policy, 0);
    expect(ev.outcome).toBe('already-gone');
    expect(ev.rssFreed).toBeUndefined();
    expect(spy.calls).toEqual([]);
  });

  it('already gone: ESRCH from the signal is not an error', async () => {
    const c = await startChild(SCRIPTS.idle);
    const spy = signalSpy({ errno: 'ESRCH' });
    const ev = await killer({ signal: spy.signal }).killProcess(
      processDecision(processInfo(c.pid), { graceMs: 1_000 }),
      policy,
      0,
    );
    expect(ev.outcome).toBe('already-gone');
    expect(ev.signals).toEqual([]);
  });

  it('a signal that fails otherwise (EPERM) is reported as failed', async () => {
    const c = await startChild(SCRIPTS.idle);
    const spy = signalSpy({ errno: 'EPERM' });
    const ev = await killer({ signal: spy.signal }).killProcess(
      processDecision(processInfo(c.pid)),
      policy,
      0,
    );
    expect(ev.outcome).toBe('failed');
    expect(ev.reason).toMatch(/EPERM/);
    expect(isRunning(c)).toBe(true);
  });

  it('survived: still alive after SIGKILL and the timeout', async () => {
    const c = await startChild(SCRIPTS.idle);
    // The spy swallows the signals, as an uninterruptible sleep would.
    const spy = signalSpy({ deliver: false });
    const ev = await killer({ signal: spy.signal, killTimeoutMs: 100 }).killProcess(
      processDecision(processInfo(c.pid), { graceMs: 50 }),
      policy,
      0,
    );
    expect(spy.calls.map((s) => s.sig)).toEqual(['SIGTERM', 'SIGKILL']);
    expect(ev.outcome).toBe('survived');
    expect(ev.reason).toMatch(/still alive 100 ms after SIGKILL/);
    expect(ev.triggerToDeathMs).toBeUndefined();
  });

  it('dry run: nothing is signalled, nothing is checked', async () => {
    const c = await startChild(SCRIPTS.idle);
    const spy = signalSpy();
    const ev = await killer({ signal: spy.signal }).killProcess(
      processDecision(processInfo(c.pid), { enforce: false }),
      policy,
      0,
    );
    expect(ev).toMatchObject({ outcome: 'dry-run', dryRun: true, signals: [] });
    expect(spy.calls).toEqual([]);
    expect(alive(c.pid)).toBe(true);
  });

  it('uses the default boot time and process.kill when none are injected', async () => {
    const c = await startChild(SCRIPTS.idle);
    const ev = await createKiller({ agentPids: () => [] }).killProcess(
      processDecision(processInfo(c.pid)),
      policy,
      Date.now(),
    );
    expect(ev.outcome).toBe('died');
    await c.exited;
  });
});

describe('kill events', () => {
  it('every kill has a unique, sortable id and carries the decision and policy', async () => {
    const k = killer({ host: 'test-host' });
    const events: KillEvent[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await startChild(SCRIPTS.idle);
      events.push(await k.killProcess(processDecision(processInfo(c.pid)), policy, Date.now()));
    }
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(3);
    expect([...ids].sort()).toEqual(ids);
    for (const e of events) {
      expect(isEventId(e.id)).toBe(true);
      expect(e).toMatchObject({
        kind: 'kill',
        host: 'test-host',
        rule: 'test-rule',
        policy: { name: 'killer-test', digest: policy.digest },
        trace: { summary: 'test kill', firing: ['global'] },
        victim: { kind: 'process' },
        dryRun: false,
      });
    }
  });

  it('kill events go to the event log with their ids and survive its restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oomfleet-kill-events-'));
    try {
      const log = createEventLog({ dir });
      const k = killer({ newId: log.nextId });
      const before = log.record({ kind: 'error', where: 'test', message: 'before the kills' });
      const kills: KillEvent[] = [];
      for (let i = 0; i < 2; i++) {
        const c = await startChild(SCRIPTS.idle);
        kills.push(await k.killProcess(processDecision(processInfo(c.pid)), policy, Date.now()));
      }
      for (const e of kills) log.append(e);
      log.close();
      const reopened = createEventLog({ dir });
      expect(reopened.since(before.id)).toEqual({ events: kills, truncated: false });
      expect(reopened.recent().map((e) => e.id)).toEqual([before.id, ...kills.map((e) => e.id)]);
      reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kill() dispatches on the victim kind; a non-kill decision is a programming error', async () => {
    const k = killer();
    const d = processDecision({
      pid: 1,
      comm: 'init',
      cmdline: [],
      cgroup: '/',
      rss: 1,
      startTime: 0,
    });
    expect((await k.kill(d, policy, 0)).victim.kind).toBe('process');
    const notify = { ...d, action: 'notify' as const, kill: undefined };
    await expect(k.killProcess(notify, policy, 0)).rejects.toThrow(TypeError);
    await expect(k.killCgroup(d, policy, 0)).rejects.toThrow(TypeError);
  });
});
