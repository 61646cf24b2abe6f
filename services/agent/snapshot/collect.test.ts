// collectSnapshot on real cgroup v1 memcgs, created below this test
// process's own memory cgroup (test/helpers/memcg.ts) and removed
// afterwards, and on the fake /proc.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotSchema, type HostSnapshot } from '../../policy/index.ts';
import { makePolicy, rule } from '../../../test/helpers/evaluator.ts';
import {
  makeTestMemcg,
  memcgProblem,
  removeTestMemcgs,
  startHog,
  type Hog,
  type TestMemcg,
} from '../../../test/helpers/memcg.ts';
import type { MemcgDriver } from '../cgroup/types.ts';
import { createV1Driver } from '../cgroup/v1.ts';
import { parseCgroupPath } from '../proc/parse.ts';
import { createHostReader } from '../proc/reader.ts';
import { makeProcFixture } from '../proc/test-fixture.ts';
import { collectSnapshot, relativeCgroup } from './collect.ts';
import { ALL_NEEDS, snapshotNeeds } from './needs.ts';

const MiB = 1024 ** 2;
/** Below the driver's root, which is one test memcg. */
const TREE = ['/batch', '/batch/a', '/batch/b', '/batch/b/deep', '/web'];
describe('collectSnapshot on real cgroup v1 memcgs', () => {
  // This machine has a writable v1 memory controller; without one these
  // tests must fail, not pass having tested nothing.
  it('has a writable memory cgroup to test on', () => {
    expect(memcgProblem()).toBeUndefined();
  });

  let top: TestMemcg;
  let driver: MemcgDriver;
  let hog: Hog;
  const dirOf = (p: string): string => posix.join(top.dir, p);
  const host = createHostReader('/proc', { memoryHierarchy: { mode: 'v1' } });

  beforeAll(async () => {
    top = makeTestMemcg('collect');
    // Plain names below the test memcg; removing it takes the subtree.
    for (const p of TREE) mkdirSync(dirOf(p));
    writeFileSync(dirOf('/batch/a/memory.limit_in_bytes'), String(256 * MiB));
    driver = createV1Driver(top.dir);
    hog = await startHog(dirOf('/batch/a'), { stepMiB: 16, maxMiB: 16 });
    await hog.waitForAllocated(16);
  });

  afterAll(async () => {
    await removeTestMemcgs();
    expect(existsSync(top.dir)).toBe(false);
  });

  const batchKill = makePolicy({
    rules: [
      rule({
        scope: '/batch/*',
        when: { usage: { of: 'limit', above: '90%' } },
        action: { kill: {} },
      }),
    ],
  });

  it('reads the memcgs in scope with their ancestors, and the processes below them', () => {
    const snap = collectSnapshot(
      { driver, host, agentPids: [process.pid], now: () => 1_764_090_000_000, hostname: 'test' },
      snapshotNeeds(batchKill),
    );
    expect(
      Value.Check(SnapshotSchema, snap),
      JSON.stringify([...Value.Errors(SnapshotSchema, snap)]),
    ).toBe(true);
    expect(snap.cgroupMode).toBe('v1');
    expect(snap.time).toBe(1_764_090_000_000);
    expect(snap.hostname).toBe('test');
    expect(snap.agentPids).toEqual([process.pid]);
    expect(snap.memcgs.map((m) => m.path)).toEqual(['/', '/batch', '/batch/a', '/batch/b']);
    const a = snap.memcgs.find((m) => m.path === '/batch/a');
    expect(a?.limit).toBe(256 * MiB);
    expect(a?.usage).toBeGreaterThanOrEqual(16 * MiB);
    // No oom trigger and no user-space OOM handling: memory.oom_control and
    // the extras (failcnt, soft limit) are not read on a tick.
    expect(a?.underOom).toBeUndefined();
    expect(a?.events).toBeUndefined();
    expect(snap.memcgs.find((m) => m.path === '/batch')?.limit).toBeNull();
    const full = collectSnapshot({ driver, host, agentPids: [] }, ALL_NEEDS);
    expect(full.memcgs.find((m) => m.path === '/batch/a')).toMatchObject({
      underOom: false,
      oomKillDisable: false,
      events: { max: expect.any(Number) as number },
    });

    const p = snap.processes.find((x) => x.pid === hog.pid);
    expect(p).toMatchObject({ comm: 'node', cgroup: '/batch/a' });
    expect(p?.rss).toBeGreaterThanOrEqual(16 * MiB);
    expect(p?.cmdline[0]).toBe(process.execPath);
    // Only processes in the kill scope's subtrees: this test process is outside the root.
    expect(snap.processes.map((x) => x.pid)).toEqual([hog.pid]);
  });

  it('a global kill rule sees every process inside the driver root, none outside it', () => {
    const snap = collectSnapshot(
      { driver, host, agentPids: [] },
      snapshotNeeds(
        makePolicy({
          rules: [rule({ when: { available: { below: '1%' } }, action: { kill: {} } })],
        }),
      ),
    );
    expect(snap.memcgs).toEqual([]);
    expect(snap.processes.map((x) => [x.pid, x.cgroup])).toEqual([[hog.pid, '/batch/a']]);
    expect(Value.Check(SnapshotSchema, snap)).toBe(true);
  });

  it('ALL_NEEDS reads every memcg, with memory.stat', () => {
    const snap = collectSnapshot({ driver, host, agentPids: [] }, ALL_NEEDS);
    expect(snap.memcgs.map((m) => m.path)).toEqual(['/', ...TREE]);
    expect(snap.memcgs.find((m) => m.path === '/batch/a')?.stat?.rss).toBeGreaterThan(0);
    expect(Value.Check(SnapshotSchema, snap)).toBe(true);
  });

  it('skips a memcg removed between list and read', () => {
    const extra = dirOf('/batch/gone');
    mkdirSync(extra);
    // The real driver, except that the memcg disappears right after it was listed.
    const racing: MemcgDriver = {
      ...driver,
      list() {
        const l = driver.list();
        rmdirSync(extra);
        return l;
      },
    };
    const snap = collectSnapshot({ driver: racing, host, agentPids: [] }, snapshotNeeds(batchKill));
    expect(snap.memcgs.map((m) => m.path)).toEqual(['/', '/batch', '/batch/a', '/batch/b']);
    expect(snap.processes.map((x) => x.pid)).toEqual([hog.pid]);
    expect(Value.Check(SnapshotSchema, snap)).toBe(true);
  });

  it('takes the driver root from the mount table, or from rootPath', () => {
    const ownPath = parseCgroupPath(readFileSync('/proc/self/cgroup', 'utf8'), 'v1');
    const rootPath = posix.join(ownPath, top.name);
    const snap = collectSnapshot(
      { driver, host, agentPids: [], rootPath },
      snapshotNeeds(batchKill),
    );
    expect(snap.processes.find((x) => x.pid === hog.pid)?.cgroup).toBe('/batch/a');
    // A wrong rootPath puts every process outside the root.
    const wrong = collectSnapshot(
      { driver, host, agentPids: [], rootPath: '/elsewhere' },
      snapshotNeeds(batchKill),
    );
    expect(wrong.processes).toEqual([]);
  });
});

describe('collectSnapshot without a memory controller', () => {
  it('reads the host and, for global kill rules, every process from /proc', () => {
    const fx = makeProcFixture();
    try {
      const host = createHostReader(fx.root, { memoryHierarchy: { mode: 'none' } });
      const globalKill = makePolicy({
        rules: [rule({ when: { available: { below: '5%' } }, action: { kill: {} } })],
      });
      const snap: HostSnapshot = collectSnapshot(
        { host, agentPids: [0, 4242], now: () => 5 },
        snapshotNeeds(globalKill),
      );
      expect(Value.Check(SnapshotSchema, snap)).toBe(true);
      expect(snap.cgroupMode).toBe('none');
      expect(snap.memcgs).toEqual([]);
      expect(snap.agentPids).toEqual([4242]);
      expect(snap.host.oomKills).toBe(7);
      expect(snap.processes.map((p) => p.pid).sort((a, b) => a - b)).toEqual([
        1, 2, 4242, 4400, 4500,
      ]);
      expect(snap.processes.every((p) => p.cgroup === '/')).toBe(true);

      const quiet = collectSnapshot(
        { host, agentPids: [] },
        snapshotNeeds(makePolicy({ rules: [rule({ when: { available: { below: '5%' } } })] })),
      );
      expect(quiet.processes).toEqual([]);
    } finally {
      fx.cleanup();
    }
  });
});

describe('relativeCgroup', () => {
  it('strips the root, and refuses what is outside it', () => {
    expect(relativeCgroup('/process_api/abc/x', '/process_api/abc')).toBe('/x');
    expect(relativeCgroup('/process_api/abc', '/process_api/abc')).toBe('/');
    expect(relativeCgroup('/process_api/abcd/x', '/process_api/abc')).toBeUndefined();
    expect(relativeCgroup('/other', '/process_api/abc')).toBeUndefined();
    expect(relativeCgroup('/a/b', '/')).toBe('/a/b');
  });
});
