// Whole-cgroup kills on REAL cgroup v1 memcgs, created beneath this test
// process's own memory cgroup (test/helpers/memcg.ts) and removed after each
// test, with every process in them, whatever happened. Never skipped: without
// a writable v1 memcg the first test fails and says why.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  makeTestMemcg,
  memcgProblem,
  ownMemcgRoot,
  startHog,
  useTestMemcgs,
  waitFor,
  type TestMemcg,
} from '../../../test/helpers/memcg.ts';
import type { MemcgDriver } from '../cgroup/types.ts';
import { createV1Driver } from '../cgroup/v1.ts';
import { createKiller, type KillerDeps } from './killer.ts';
import { readProcState } from './proc-state.ts';
import {
  SCRIPTS,
  bootTimeMs,
  cgroupDecision,
  compilePolicy,
  killAllChildren,
  processInfo,
  signalSpy,
  startChild,
  type Child,
} from './test-helpers.ts';

const MiB = 1024 ** 2;
const alive = (pid: number): boolean => readProcState('/proc', pid).kind === 'alive';

/** Runs node inside the memcg from its first instruction, so that its forks start there too. */
const inMemcg =
  (m: TestMemcg) =>
  (argv: string[]): string[] => [
    '/bin/sh',
    '-c',
    'echo $$ > "$0/cgroup.procs" && exec "$@"',
    m.dir,
    ...argv,
  ];

/** The pid a SCRIPTS.forks child printed for its own child. */
function grandchildOf(c: Child): number {
  const m = /child (\d+)/.exec(c.output);
  if (!m?.[1]) throw new Error(`no grandchild pid in ${JSON.stringify(c.output)}`);
  return Number(m[1]);
}

describe('killCgroup on real v1 memcgs', () => {
  useTestMemcgs();
  afterEach(killAllChildren);

  let driver: MemcgDriver;
  beforeAll(() => {
    driver = createV1Driver(ownMemcgRoot());
  });
  const policy = compilePolicy();
  const killer = (deps: Partial<KillerDeps> = {}) =>
    createKiller({ driver, agentPids: () => [], bootTimeMs, ...deps });
  const members = (m: TestMemcg): number[] => driver.procs(m.path);
  /**
   * Members that are not zombies. A killed child stays a zombie, still listed
   * in cgroup.procs, until Node reaps it on a later turn of the event loop;
   * it has released its memory already, so the killer counts it as dead.
   */
  const liveMembers = (m: TestMemcg): number[] => members(m).filter(alive);
  /** ...and once reaped, the memcg is empty. */
  const emptied = (m: TestMemcg): Promise<void> =>
    waitFor(() => members(m).length === 0, `${m.path} to empty`, 5_000);

  it('has a writable v1 memcg beneath its own memory cgroup (required, never skipped)', () => {
    expect(memcgProblem()).toBeUndefined();
  });

  it('kills every process of the memcg and of the memcgs below it, forks included', async () => {
    const top = makeTestMemcg('kill-group');
    const sub = makeTestMemcg('sub', top);
    const a = await startChild(SCRIPTS.idle, inMemcg(top));
    const b = await startChild(SCRIPTS.forks, inMemcg(top));
    const c = await startChild(SCRIPTS.ignoresTerm, inMemcg(sub));
    const grandchild = grandchildOf(b);
    expect(members(top).sort()).toEqual([a.pid, b.pid, grandchild].sort());
    expect(members(sub)).toEqual([c.pid]);

    const spy = signalSpy();
    const t0 = Date.now();
    const ev = await killer({ signal: spy.signal }).killCgroup(
      cgroupDecision(top.path, [a.pid, b.pid, c.pid]),
      policy,
      t0,
    );
    expect(ev.outcome).toBe('died');
    expect(ev.reason).toBeUndefined();
    expect(liveMembers(top)).toEqual([]);
    expect(liveMembers(sub)).toEqual([]);
    for (const pid of [a.pid, b.pid, c.pid, grandchild]) expect(alive(pid)).toBe(false);
    expect(ev.victim).toEqual({
      kind: 'cgroup',
      cgroup: top.path,
      pids: [a.pid, b.pid, c.pid, grandchild].sort((x, y) => x - y),
    });
    expect(new Set(spy.calls.map((s) => s.sig))).toEqual(new Set(['SIGKILL']));
    expect(ev.signals.every((s) => s.signal === 'SIGKILL')).toBe(true);
    expect(ev.triggerToDeathMs).toBeGreaterThanOrEqual(0);
    expect(ev.triggerToDeathMs).toBeLessThan(2_000);
    expect(ev.rssFreed).toBeGreaterThanOrEqual(0);
    await emptied(top);
    await emptied(sub);
  });

  it('catches a process that joins the memcg while the kill runs (a fork racing it)', async () => {
    const top = makeTestMemcg('late-joiner');
    const a = await startChild(SCRIPTS.idle, inMemcg(top));
    const late = await startChild(SCRIPTS.ignoresTerm); // outside, for now
    const base = signalSpy();
    let joined = false;
    const signal = (pid: number, sig: 'SIGTERM' | 'SIGKILL'): void => {
      base.signal(pid, sig);
      if (!joined) {
        joined = true;
        writeFileSync(join(top.dir, 'cgroup.procs'), String(late.pid));
      }
    };
    const ev = await killer({ signal }).killCgroup(cgroupDecision(top.path, [a.pid]), policy, 0);
    expect(ev.outcome).toBe('died');
    expect(ev.signals.map((s) => s.pids)).toEqual([[a.pid], [late.pid]]);
    await late.exited;
    expect(late.child.signalCode).toBe('SIGKILL');
  });

  it('grace: SIGTERM to every member first; SIGKILL only after the grace, to those still there', async () => {
    const top = makeTestMemcg('grace');
    const polite = await startChild(SCRIPTS.idle, inMemcg(top));
    const stubborn = await startChild(SCRIPTS.ignoresTerm, inMemcg(top));
    const spy = signalSpy();
    const ev = await killer({ signal: spy.signal }).killCgroup(
      cgroupDecision(top.path, [polite.pid, stubborn.pid], { graceMs: 300 }),
      policy,
      Date.now(),
    );
    expect(ev.outcome).toBe('died');
    const term = spy.calls.filter((s) => s.sig === 'SIGTERM');
    const kill = spy.calls.filter((s) => s.sig === 'SIGKILL');
    expect(term.map((s) => s.pid).sort()).toEqual([polite.pid, stubborn.pid].sort());
    expect(kill.map((s) => s.pid)).toContain(stubborn.pid);
    expect(kill.map((s) => s.pid)).not.toContain(polite.pid);
    const firstTerm = Math.min(...term.map((s) => s.at));
    for (const k of kill) expect(k.at - firstTerm).toBeGreaterThanOrEqual(300);
    expect(ev.signals.map((s) => s.signal)).toEqual(['SIGTERM', 'SIGKILL']);
  });

  it('grace: a group that exits on SIGTERM gets no SIGKILL', async () => {
    const top = makeTestMemcg('polite');
    const a = await startChild(SCRIPTS.slowExit, inMemcg(top));
    const b = await startChild(SCRIPTS.idle, inMemcg(top));
    const spy = signalSpy();
    const ev = await killer({ signal: spy.signal }).killCgroup(
      cgroupDecision(top.path, [a.pid, b.pid], { graceMs: 10_000 }),
      policy,
      Date.now(),
    );
    expect(ev.outcome).toBe('died');
    expect(spy.calls.every((s) => s.sig === 'SIGTERM')).toBe(true);
    expect(ev.triggerToDeathMs).toBeGreaterThanOrEqual(150);
    expect(ev.triggerToDeathMs).toBeLessThan(10_000);
  });

  it('one protected member shields the whole group: refused, nobody signalled', async () => {
    const top = makeTestMemcg('shielded');
    const a = await startChild(SCRIPTS.idle, inMemcg(top));
    const p = await startChild(SCRIPTS.titled('oomf-protected'), inMemcg(top));
    const spy = signalSpy();
    const ev = await killer({ signal: spy.signal }).killCgroup(
      cgroupDecision(top.path, [a.pid, p.pid]),
      compilePolicy(["{ process: '^oomf-protected$' }"]),
      0,
    );
    expect(ev.outcome).toBe('refused');
    expect(ev.reason).toBe(`contains pid ${p.pid}: protected: comm matches ^oomf-protected$`);
    expect(spy.calls).toEqual([]);
    expect(alive(a.pid) && alive(p.pid)).toBe(true);
  });

  it('a member in a protected sub-memcg shields the group (paths relative to the driver root)', async () => {
    const top = makeTestMemcg('protected-sub');
    const sub = makeTestMemcg('keep', top);
    await startChild(SCRIPTS.idle, inMemcg(top));
    const kept = await startChild(SCRIPTS.idle, inMemcg(sub));
    const spy = signalSpy();
    const ev = await killer({ signal: spy.signal }).killCgroup(
      cgroupDecision(top.path, []),
      compilePolicy([`{ cgroup: '${sub.path}' }`]),
      0,
    );
    expect(ev.outcome).toBe('refused');
    expect(ev.reason).toMatch(
      new RegExp(`^contains pid ${kept.pid}: protected: cgroup ${sub.path} is under`),
    );
    expect(spy.calls).toEqual([]);
  });

  it('refuses a protected memcg and the root', async () => {
    const top = makeTestMemcg('protected');
    const a = await startChild(SCRIPTS.idle, inMemcg(top));
    const spy = signalSpy();
    const k = killer({ signal: spy.signal });
    const ev = await k.killCgroup(
      cgroupDecision(top.path, [a.pid]),
      compilePolicy([`{ cgroup: '${top.path}' }`]),
      0,
    );
    expect(ev).toMatchObject({ outcome: 'refused', reason: `protected: under ${top.path}` });
    const root = await k.killCgroup(cgroupDecision('/', [a.pid]), policy, 0);
    expect(root).toMatchObject({ outcome: 'refused', reason: 'the root cgroup' });
    expect(spy.calls).toEqual([]);
    expect(alive(a.pid)).toBe(true);
  });

  it('an empty memcg is already gone; a dry run signals nothing', async () => {
    const top = makeTestMemcg('empty');
    const spy = signalSpy();
    const k = killer({ signal: spy.signal });
    expect((await k.killCgroup(cgroupDecision(top.path, [123]), policy, 0)).outcome).toBe(
      'already-gone',
    );
    const full = makeTestMemcg('dry');
    const a = await startChild(SCRIPTS.idle, inMemcg(full));
    const dry = await k.killCgroup(
      cgroupDecision(full.path, [a.pid], { enforce: false }),
      policy,
      0,
    );
    expect(dry).toMatchObject({ outcome: 'dry-run', dryRun: true, signals: [] });
    expect(spy.calls).toEqual([]);
    expect(alive(a.pid)).toBe(true);
  });

  it('reports the memory freed: usage before minus after', async () => {
    const top = makeTestMemcg('freed');
    const hog = await startHog(top.dir, { stepMiB: 16, maxMiB: 64 });
    await hog.waitForAllocated(64);
    const before = driver.read(top.path)?.usage ?? 0;
    expect(before).toBeGreaterThanOrEqual(64 * MiB);
    const ev = await killer().killCgroup(
      cgroupDecision(top.path, [hog.pid], { usage: before }),
      policy,
      Date.now(),
    );
    expect(ev.outcome).toBe('died');
    expect(ev.rssFreed).toBeGreaterThanOrEqual(60 * MiB);
    expect((await hog.exited).signal).toBe('SIGKILL');
  });

  it('uses the driver’s killAll (v2 cgroup.kill) when it has one', async () => {
    const top = makeTestMemcg('kill-all');
    const a = await startChild(SCRIPTS.ignoresTerm, inMemcg(top));
    const b = await startChild(SCRIPTS.forks, inMemcg(top));
    const calls: string[] = [];
    // v1 has no cgroup.kill: this stand-in SIGKILLs the tree, as the kernel would.
    const withKillAll: MemcgDriver = {
      ...driver,
      killAll(path) {
        calls.push(path);
        for (const pid of driver.procs(path)) process.kill(pid, 'SIGKILL');
        return true;
      },
    };
    const ev = await killer({ driver: withKillAll }).killCgroup(
      cgroupDecision(top.path, [a.pid, b.pid]),
      policy,
      0,
    );
    expect(calls).toEqual([top.path]);
    expect(ev.outcome).toBe('died');
    expect(ev.signals[0]).toMatchObject({ signal: 'SIGKILL', via: 'cgroup.kill' });
    expect(liveMembers(top)).toEqual([]);
    await emptied(top);
  });

  it('without a driver: the decision’s pids, only while /proc still places them in the group', async () => {
    const top = makeTestMemcg('no-driver');
    const a = await startChild(SCRIPTS.idle, inMemcg(top));
    const outsider = await startChild(SCRIPTS.idle);
    // No driver: paths are the hierarchy's own, as /proc/PID/cgroup shows them.
    const path = processInfo(a.pid).cgroup;
    expect(path.endsWith(top.path)).toBe(true);
    const spy = signalSpy();
    const ev = await createKiller({ agentPids: () => [], signal: spy.signal }).killCgroup(
      cgroupDecision(path, [a.pid, outsider.pid]),
      policy,
      0,
    );
    expect(ev.outcome).toBe('died');
    expect(ev.victim).toEqual({ kind: 'cgroup', cgroup: path, pids: [a.pid] });
    expect(ev.rssFreed).toBeUndefined();
    expect(spy.calls.map((s) => s.pid)).not.toContain(outsider.pid);
    expect(alive(outsider.pid)).toBe(true);
  });
});
