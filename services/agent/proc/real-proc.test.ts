// The /proc reader against this machine's real /proc.
import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { HostSchema, ProcessSchema } from '../../policy/index.ts';
import { createHostReader } from './reader.ts';
import { parseCgroupPath } from './parse.ts';

const reader = createHostReader();

describe('real /proc', () => {
  it('reads host memory', () => {
    const host = reader.host();
    expect(Value.Check(HostSchema, host)).toBe(true);
    expect(host.memTotal).toBeGreaterThan(0);
    expect(host.memAvailable).toBeLessThanOrEqual(host.memTotal);
  });

  it('boot time is in the past, and stable', () => {
    const b = reader.bootTimeMs();
    expect(b).toBeLessThan(Date.now());
    expect(b).toBeGreaterThan(Date.UTC(2000, 0, 1));
    expect(reader.bootTimeMs()).toBe(b);
  });

  it('finds this test process with its argv, RSS and memory cgroup', () => {
    const [me] = reader.processes({ pids: [process.pid] });
    expect(me).toBeDefined();
    expect(me?.pid).toBe(process.pid);
    expect(me?.ppid).toBe(process.ppid);
    expect(me?.comm).toMatch(/node|vitest/);
    expect(me?.rss).toBeGreaterThan(0);
    expect(me?.cmdline[0]).toBe(readFileSync('/proc/self/cmdline', 'utf8').split('\0')[0]);
    expect(me?.kernelThread).toBeUndefined();
    const self = readFileSync('/proc/self/cgroup', 'utf8');
    expect(me?.cgroup).toBe(
      parseCgroupPath(
        self,
        self.includes(':memory:') ? 'v1' : self.includes('0::') ? 'v2' : 'none',
      ),
    );
    // Started before now, after boot.
    expect(me?.startTime).toBeGreaterThanOrEqual(reader.bootTimeMs());
    expect(me?.startTime).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it('lists every process: pid 1 and this one; kthreadd is a kernel thread', () => {
    const all = reader.processes();
    const pids = new Set(all.map((p) => p.pid));
    expect(pids.has(1)).toBe(true);
    expect(pids.has(process.pid)).toBe(true);
    const kthreadd = all.find((p) => p.pid === 2);
    if (kthreadd) {
      // Visible unless we run in a pid namespace.
      expect(kthreadd.kernelThread).toBe(true);
      expect(kthreadd.cmdline).toEqual([]);
      expect(kthreadd.rss).toBe(0);
    }
    for (const p of all) expect(Value.Check(ProcessSchema, p), `pid ${p.pid}`).toBe(true);
  });

  it('gives the same start time on every read', () => {
    const a = reader.processes({ pids: [process.pid, 1] });
    const b = createHostReader().processes({ pids: [process.pid, 1] });
    expect(b.map((p) => p.startTime)).toEqual(a.map((p) => p.startTime));
  });
});
