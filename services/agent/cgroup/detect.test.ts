// Detecting the memory hierarchy from /proc/self/mounts and /proc/self/cgroup:
// fixture files for a v1 (hybrid) host, a v2 host, hosts without a memory
// controller, and this machine itself (v1 at /sys/fs/cgroup/memory).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useCgroupFixture } from '../../../test/helpers/cgroup-fixture.ts';
import {
  createDriver,
  detectMemoryHierarchy,
  parseMounts,
  parseOwnCgroup,
  type MemoryHierarchy,
} from './detect.ts';

// A hybrid systemd host: v1 controllers, and a cgroup2 at unified/ without controllers.
const HYBRID_MOUNTS = `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0
`;
const HYBRID_CGROUP = `12:pids:/user.slice/user-1000.slice/session-3.scope
5:memory:/user.slice/user-1000.slice/session-3.scope
3:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-1000.slice/session-3.scope
0::/user.slice/user-1000.slice/session-3.scope
`;

describe('detectMemoryHierarchy on fixture files', () => {
  const fixture = useCgroupFixture('cgroup-v2');
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'oomfleet-detect-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const detect = (mounts: string, cgroup: string): MemoryHierarchy => {
    writeFileSync(join(dir, 'mounts'), mounts);
    writeFileSync(join(dir, 'cgroup'), cgroup);
    return detectMemoryHierarchy({
      mountsFile: join(dir, 'mounts'),
      cgroupFile: join(dir, 'cgroup'),
    });
  };
  const v2Mount = (): string =>
    `cgroup2 ${fixture().root} cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0\n`;

  it('finds v1 on a hybrid host, with the own memcg from the memory line', () => {
    expect(detect(HYBRID_MOUNTS, HYBRID_CGROUP)).toEqual({
      mode: 'v1',
      mountPoint: '/sys/fs/cgroup/memory',
      ownPath: '/user.slice/user-1000.slice/session-3.scope',
    });
  });

  it('finds v1 when memory is co-mounted with other controllers', () => {
    const mounts = 'cgroup /sys/fs/cgroup/cpu,memory cgroup rw,relatime,cpu,memory 0 0\n';
    expect(detect(mounts, '4:cpu,memory:/batch\n0::/\n')).toEqual({
      mode: 'v1',
      mountPoint: '/sys/fs/cgroup/cpu,memory',
      ownPath: '/batch',
    });
  });

  it('prefers the v1 memory mount even when a cgroup2 mount lists memory', () => {
    expect(detect(v2Mount() + HYBRID_MOUNTS, HYBRID_CGROUP).mode).toBe('v1');
  });

  it('finds v2 when the cgroup2 mount lists memory in cgroup.controllers', () => {
    expect(detect(v2Mount(), '0::/batch.slice/job-a.scope\n')).toEqual({
      mode: 'v2',
      mountPoint: fixture().root,
      ownPath: '/batch.slice/job-a.scope',
    });
  });

  it('says none when the cgroup2 mount has no memory controller and no v1 memory mount exists', () => {
    writeFileSync(join(fixture().root, 'cgroup.controllers'), 'cpu io pids\n');
    const mounts = HYBRID_MOUNTS.split('\n')
      .filter((l) => !l.includes('/memory '))
      .join('\n');
    expect(detect(mounts + v2Mount(), HYBRID_CGROUP)).toEqual({ mode: 'none' });
  });

  it('says none without any cgroup mount, or without a mounts file', () => {
    expect(detect('proc /proc proc rw,relatime 0 0\n', '')).toEqual({ mode: 'none' });
    expect(
      detectMemoryHierarchy({
        mountsFile: join(dir, 'absent'),
        cgroupFile: join(dir, 'absent'),
      }),
    ).toEqual({ mode: 'none' });
  });

  it('gives no ownPath when /proc/self/cgroup has no matching line', () => {
    expect(detect(HYBRID_MOUNTS, '0::/\n')).toEqual({
      mode: 'v1',
      mountPoint: '/sys/fs/cgroup/memory',
    });
  });

  it('unescapes octal escapes in mount points', () => {
    expect(parseMounts('cgroup /mnt/my\\040cgroups cgroup rw,memory 0 0\n')).toEqual([
      {
        source: 'cgroup',
        mountPoint: '/mnt/my cgroups',
        fsType: 'cgroup',
        options: ['rw', 'memory'],
      },
    ]);
  });
});

describe('parseOwnCgroup', () => {
  it('reads the memory line for v1 and the 0:: line for v2', () => {
    expect(parseOwnCgroup(HYBRID_CGROUP, 'v1')).toBe('/user.slice/user-1000.slice/session-3.scope');
    expect(parseOwnCgroup('0::/\n', 'v2')).toBe('/');
    expect(parseOwnCgroup('3:cpu,cpuacct:/x\n', 'v1')).toBeUndefined();
    // "name=systemd" is a named hierarchy, not the memory controller.
    expect(parseOwnCgroup('1:name=systemd:/a\n', 'v1')).toBeUndefined();
  });
});

describe('createDriver', () => {
  const fixture = useCgroupFixture('cgroup-v2');
  it('creates the driver of the mode', () => {
    expect(createDriver('v2', fixture().root).mode).toBe('v2');
    expect(createDriver('v1', fixture().root).mode).toBe('v1');
  });
});

describe('this machine', () => {
  it('has the memory controller on cgroup v1 at /sys/fs/cgroup/memory (its cgroup2 has none)', () => {
    const h = detectMemoryHierarchy();
    const memoryLine = readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[1]?.split(',').includes('memory'));
    expect(h).toEqual({
      mode: 'v1',
      mountPoint: '/sys/fs/cgroup/memory',
      ownPath: memoryLine?.split(':')[2],
    });
  });
});
