import { describe, expect, it } from 'vitest';
import {
  detectMemoryHierarchy,
  parseBtime,
  parseCgroupPath,
  parseCmdline,
  parseMeminfo,
  parsePidStat,
  parsePressure,
  parseStatusRss,
  parseVmstatOomKill,
} from './parse.ts';

const statLine = (comm: string, rest = 'S 7 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 999 0 0') =>
  `123 (${comm}) ${rest}\n`;

describe('parsePidStat', () => {
  it('reads comm, ppid, flags and start ticks', () => {
    expect(parsePidStat(statLine('bash'))).toEqual({
      comm: 'bash',
      ppid: 7,
      flags: 4194560,
      startTicks: 999,
    });
  });

  it.each([') (', 'a) S 1 2 (b', '))', 'x y z', '(', ''])(
    'takes comm up to the last ")": %j',
    (comm) => {
      const s = parsePidStat(statLine(comm));
      expect(s?.comm).toBe(comm);
      expect(s?.ppid).toBe(7);
      expect(s?.startTicks).toBe(999);
    },
  );

  it('cuts comm at 64 characters', () => {
    expect(parsePidStat(statLine('k'.repeat(100)))?.comm).toHaveLength(64);
  });

  it('refuses malformed lines', () => {
    expect(parsePidStat('')).toBeUndefined();
    expect(parsePidStat('123 bash S 1')).toBeUndefined();
    expect(parsePidStat('123 (bash) S 1 2')).toBeUndefined();
  });
});

describe('parseMeminfo', () => {
  it('converts kB to bytes', () => {
    const m = parseMeminfo(
      'MemTotal:       1000 kB\nMemFree:  10 kB\nMemAvailable:    500 kB\nSwapTotal:   0 kB\nSwapFree: 0 kB\n',
    );
    expect(m).toEqual({ memTotal: 1024000, memAvailable: 512000, swapTotal: 0, swapFree: 0 });
  });

  it('estimates MemAvailable on kernels without it', () => {
    const m = parseMeminfo(
      'MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 200 kB\nSwapCached: 99 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n',
    );
    expect(m.memAvailable).toBe(310 * 1024);
  });

  it('does not confuse SwapCached with Cached', () => {
    const m = parseMeminfo('SwapCached: 5 kB\nCached: 7 kB\nMemFree: 0 kB\nBuffers: 0 kB\n');
    expect(m.memAvailable).toBe(7 * 1024);
  });
});

describe('parsePressure', () => {
  it('reads some and full', () => {
    expect(
      parsePressure(
        'some avg10=12.50 avg60=0.00 avg300=1.00 total=42\nfull avg10=100.00 avg60=0.5 avg300=0.00 total=7\n',
      ),
    ).toEqual({
      some: { avg10: 12.5, avg60: 0, avg300: 1, total: 42 },
      full: { avg10: 100, avg60: 0.5, avg300: 0, total: 7 },
    });
  });

  it('accepts a file without a full line (the CPU file, old kernels)', () => {
    expect(parsePressure('some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n')).toEqual({
      some: { avg10: 1, avg60: 2, avg300: 3, total: 4 },
    });
  });

  it('is undefined for garbage', () => {
    expect(parsePressure('')).toBeUndefined();
    expect(parsePressure('some avg10=x avg60=1 avg300=1\n')).toBeUndefined();
  });
});

describe('small files', () => {
  it('vmstat oom_kill, not oom_kill_something', () => {
    expect(parseVmstatOomKill('pgfault 1\noom_kill 3\n')).toBe(3);
    expect(parseVmstatOomKill('oom_kill 0\n')).toBe(0);
    expect(parseVmstatOomKill('oom_kill_x 9\n')).toBeUndefined();
    expect(parseVmstatOomKill('pgfault 1\n')).toBeUndefined();
  });

  it('btime', () => {
    expect(parseBtime('cpu 1 2\nbtime 1764000000\nprocesses 3\n')).toBe(1764000000);
    expect(parseBtime('cpu 1 2\n')).toBeUndefined();
  });

  it('VmRSS', () => {
    expect(parseStatusRss('Name:\tx\nVmHWM:\t 9 kB\nVmRSS:\t    3116 kB\n')).toBe(3116 * 1024);
    expect(parseStatusRss('Name:\tkthreadd\nKthread:\t1\n')).toBe(0);
  });

  it('cmdline', () => {
    const b = (s: string) => Buffer.from(s);
    expect(parseCmdline(b('a\0b c\0'))).toEqual(['a', 'b c']);
    expect(parseCmdline(b('a\0\0b\0\0\0'))).toEqual(['a', '', 'b']);
    expect(parseCmdline(b('nginx: worker process'))).toEqual(['nginx: worker process']);
    expect(parseCmdline(b(''))).toEqual([]);
    expect(parseCmdline(b('\0\0'))).toEqual([]);
  });
});

describe('parseCgroupPath', () => {
  const text = '9:name=systemd:/user.slice\n5:cpu,memory:/a/b\n0::/unified/x\n';
  it('v1: the line listing memory', () => {
    expect(parseCgroupPath(text, 'v1')).toBe('/a/b');
    expect(parseCgroupPath('4:memory:/process_api/abc\n0::/\n', 'v1')).toBe('/process_api/abc');
    expect(parseCgroupPath('4:memory_x:/a\n', 'v1')).toBe('/');
  });
  it('v2: the 0:: line', () => {
    expect(parseCgroupPath(text, 'v2')).toBe('/unified/x');
    expect(parseCgroupPath('0::/a:b\n', 'v2')).toBe('/a:b');
  });
  it('"/" without a memory controller', () => {
    expect(parseCgroupPath(text, 'none')).toBe('/');
    expect(parseCgroupPath('', 'v1')).toBe('/');
    expect(parseCgroupPath('1:cpu:/x', 'v1')).toBe('/');
  });
});

describe('detectMemoryHierarchy', () => {
  it('reads /proc/cgroups', () => {
    const head = '#subsys_name\thierarchy\tnum_cgroups\tenabled\n';
    expect(detectMemoryHierarchy(`${head}cpu\t1\t1\t1\nmemory\t4\t35\t1\n`)).toBe('v1');
    expect(detectMemoryHierarchy(`${head}memory\t0\t35\t1\n`)).toBe('v2');
    expect(detectMemoryHierarchy(`${head}memory\t0\t1\t0\n`)).toBe('none');
    expect(detectMemoryHierarchy(`${head}cpu\t1\t1\t1\n`)).toBe('none');
  });
});
