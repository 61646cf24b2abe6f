// The /proc reader against the fake tree of test/fixtures/proc.
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostSchema, MAX_CMDLINE, ProcessSchema } from '../../policy/index.ts';
import { createHostReader } from './reader.ts';
import { LONG_ARGV, makeProcFixture, type ProcFixture } from './test-fixture.ts';
import { rmSync } from 'node:fs';

const KiB = 1024;
const BOOT_MS = 1_764_000_000_000;

let fx: ProcFixture;
beforeAll(() => {
  fx = makeProcFixture();
});
afterAll(() => {
  fx.cleanup();
});

describe('host()', () => {
  it('reads meminfo, PSI and the oom_kill counter', () => {
    const host = createHostReader(fx.root).host();
    expect(host).toEqual({
      memTotal: 16314556 * KiB,
      memAvailable: 4194304 * KiB,
      swapTotal: 2097148 * KiB,
      swapFree: 1048572 * KiB,
      pressure: {
        some: { avg10: 12.5, avg60: 4.02, avg300: 0.87, total: 123456789 },
        full: { avg10: 3.1, avg60: 1, avg300: 0.2, total: 23456789 },
      },
      oomKills: 7,
    });
    expect(Value.Check(HostSchema, host)).toBe(true);
  });

  it('has no pressure and no counter when the files are absent', () => {
    const f = makeProcFixture();
    try {
      rmSync(`${f.root}/pressure`, { recursive: true });
      rmSync(`${f.root}/vmstat`);
      const host = createHostReader(f.root).host();
      expect(host.pressure).toBeUndefined();
      expect(host.oomKills).toBeUndefined();
      expect(host.memTotal).toBe(16314556 * KiB);
    } finally {
      f.cleanup();
    }
  });

  it('throws without meminfo: there is no host to report', () => {
    expect(() => createHostReader('/nonexistent-proc').host()).toThrow();
  });
});

describe('bootTimeMs()', () => {
  it('is btime in ms', () => {
    expect(createHostReader(fx.root).bootTimeMs()).toBe(BOOT_MS);
  });
});

describe('processes()', () => {
  const byPid = (mode: 'v1' | 'v2' | 'none' = 'v1') =>
    new Map(
      createHostReader(fx.root, { memoryHierarchy: { mode } })
        .processes()
        .map((p) => [p.pid, p]),
    );

  it('lists the numeric directories, skipping one that exited mid-read', () => {
    expect([...byPid().keys()].sort((a, b) => a - b)).toEqual([1, 2, 4242, 4400, 4500]);
  });

  it('parses a comm containing ") (" and its NUL-separated argv', () => {
    const p = byPid().get(4242);
    expect(p).toEqual({
      pid: 4242,
      ppid: 1,
      comm: 'evil) (name',
      cmdline: ['python3', '-c', '', 'x y'],
      rss: 524288 * KiB,
      oomScore: 712,
      oomScoreAdj: 300,
      startTime: BOOT_MS + 123_450,
      cgroup: '/batch/job-1',
    });
  });

  it('flags kernel threads, with no RSS and no argv', () => {
    const k = byPid().get(2);
    expect(k).toMatchObject({ comm: 'kthreadd', kernelThread: true, rss: 0, cmdline: [] });
    expect(byPid().get(1)?.kernelThread).toBeUndefined();
  });

  it('uses defaults for unreadable files', () => {
    expect(byPid().get(4400)).toMatchObject({
      comm: 'locked',
      cmdline: [],
      oomScore: 5,
      oomScoreAdj: 0,
      rss: 2048 * KiB,
      cgroup: '/batch/job-2',
    });
  });

  it(`cuts the command line at ${MAX_CMDLINE} bytes`, () => {
    const p = byPid().get(4500);
    const bytes = p?.cmdline.reduce((n, a) => n + a.length + 1, 0) ?? 0;
    expect(bytes).toBeLessThanOrEqual(MAX_CMDLINE + 1);
    expect(p?.cmdline.slice(0, 2)).toEqual(LONG_ARGV.slice(0, 2));
    expect(p?.cmdline).toHaveLength(3);
    expect(p?.oomScoreAdj).toBe(-1000);
    expect(p?.rss).toBe(1024 * 1024 * KiB);
  });

  it('takes the cgroup from the line of the chosen hierarchy', () => {
    expect(byPid('v1').get(1)?.cgroup).toBe('/init.scope');
    expect(byPid('v2').get(4242)?.cgroup).toBe('/user.slice');
    expect(byPid('none').get(4242)?.cgroup).toBe('/');
  });

  it('detects the hierarchy from /proc/cgroups', () => {
    const p = createHostReader(fx.root)
      .processes({ pids: [4242] })
      .at(0);
    expect(p?.cgroup).toBe('/batch/job-1');
  });

  it('reads only the given pids, skipping missing ones', () => {
    const r = createHostReader(fx.root, { memoryHierarchy: { mode: 'v1' } });
    expect(r.processes({ pids: [4242, 99999, 4300, 1] }).map((p) => p.pid)).toEqual([4242, 1]);
  });

  it('produces schema-valid processes', () => {
    for (const p of byPid().values()) expect(Value.Check(ProcessSchema, p)).toBe(true);
  });
});
