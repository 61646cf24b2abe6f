import { describe, expect, it } from 'vitest';
import { hierarchyPathOf, parseCgroupMounts, readHierarchyPath } from './mountinfo.ts';
import { readFileSync } from 'node:fs';

const MOUNTINFO = `22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 22 0:32 /kubepods/pod1 /var/lib/my\\040mem rw,relatime - cgroup cgroup rw,memory
`;

describe('mountinfo', () => {
  const mounts = parseCgroupMounts(MOUNTINFO);

  it('keeps only cgroup mounts, unescaping mount points', () => {
    expect(mounts.map((m) => m.mountPoint)).toEqual([
      '/sys/fs/cgroup/cpu',
      '/sys/fs/cgroup/memory',
      '/sys/fs/cgroup/unified',
      '/var/lib/my mem',
    ]);
  });

  it('maps a directory to its hierarchy path', () => {
    expect(hierarchyPathOf(mounts, '/sys/fs/cgroup/memory', 'v1')).toBe('/');
    expect(hierarchyPathOf(mounts, '/sys/fs/cgroup/memory/', 'v1')).toBe('/');
    expect(hierarchyPathOf(mounts, '/sys/fs/cgroup/memory/process_api/abc', 'v1')).toBe(
      '/process_api/abc',
    );
    expect(hierarchyPathOf(mounts, '/var/lib/my mem/x', 'v1')).toBe('/kubepods/pod1/x');
    expect(hierarchyPathOf(mounts, '/sys/fs/cgroup/unified/a', 'v2')).toBe('/a');
  });

  it('is undefined off any matching mount', () => {
    expect(hierarchyPathOf(mounts, '/tmp/fixture', 'v1')).toBeUndefined();
    expect(hierarchyPathOf(mounts, '/sys/fs/cgroup/cpu/x', 'v1')).toBeUndefined();
    expect(hierarchyPathOf(mounts, '/sys/fs/cgroup/memoryx', 'v1')).toBeUndefined();
    expect(hierarchyPathOf(mounts, '/sys/fs/cgroup/memory/a', 'v2')).toBeUndefined();
  });

  it('on this machine, our own memory cgroup directory maps back to /proc/self/cgroup', () => {
    const self = readFileSync('/proc/self/cgroup', 'utf8');
    const line = self.split('\n').find((l) => l.split(':')[1]?.split(',').includes('memory'));
    if (!line) return; // no v1 memory controller here
    const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
    const mounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes('memory'));
    if (!mount) return;
    const dir = `${mount.mountPoint}${path === '/' ? '' : path}`;
    expect(readHierarchyPath('/proc', dir, 'v1')).toBe(path);
  });
});
