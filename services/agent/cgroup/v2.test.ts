// The cgroup v2 driver on the fixture tree of test/fixtures/cgroup-v2, whose
// files are shaped exactly like the kernel's: every field parsed exactly,
// writes landing in the right files in the kernel's formats, list() honouring
// cgroup.subtree_control, and vanished memcgs read as undefined.
import { readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCgroupFixture } from '../../../test/helpers/cgroup-fixture.ts';
import { createV2Driver, rootUsageFromStat } from './v2.ts';
import { DriverError, type SettingName } from './types.ts';
import { MemcgSchema, compileGlob } from '../../policy/index.ts';
import { Value } from '@sinclair/typebox/value';

const fixture = useCgroupFixture('cgroup-v2');
const driver = () => createV2Driver(fixture().root);
const fileText = (path: string, name: string): string =>
  readFileSync(join(fixture().root, path, name), 'utf8');

const JOB_A = '/batch.slice/job-a.scope';

describe('v2 list', () => {
  it('lists the root and every cgroup whose parent enables memory, sorted', () => {
    expect(driver().list()).toEqual([
      '/',
      '/batch.slice',
      '/batch.slice/job-a.scope',
      '/batch.slice/job-b.scope',
      '/init.scope',
      '/system.slice',
      '/system.slice/sshd.service',
      '/user.slice',
    ]);
  });

  it('leaves out children of a parent whose subtree_control lacks memory', () => {
    expect(driver().list()).not.toContain('/user.slice/user-1000.slice');
  });

  it('with globs, walks only where they can match, keeping every match and its ancestors', () => {
    const globs = (...g: string[]) => g.map(compileGlob);
    expect(driver().list(globs('/batch.slice/*'))).toEqual([
      '/',
      '/batch.slice',
      '/batch.slice/job-a.scope',
      '/batch.slice/job-b.scope',
    ]);
    expect(driver().list(globs('/system.slice', '/init.scope'))).toEqual([
      '/',
      '/init.scope',
      '/system.slice',
    ]);
    expect(driver().list(globs('/**'))).toEqual(driver().list());
    expect(driver().list(globs('/**/job-a.scope'))).toEqual(driver().list());
    expect(driver().list(globs('/nothing/*'))).toEqual(['/']);
  });

  it('drops a whole subtree once its parent stops enabling memory', () => {
    writeFileSync(join(fixture().root, 'batch.slice/cgroup.subtree_control'), 'pids\n');
    const list = driver().list();
    expect(list).toContain('/batch.slice');
    expect(list.filter((p) => p.startsWith('/batch.slice/'))).toEqual([]);
  });
});

describe('v2 read', () => {
  it('parses every field of a busy memcg exactly', () => {
    const m = driver().read(JOB_A, { stat: true, pressure: true });
    expect(m).toBeDefined();
    const { stat, ...rest } = m ?? { stat: undefined };
    expect(rest).toEqual({
      path: JOB_A,
      usage: 7818436608,
      limit: 8589934592,
      high: 7516192768,
      low: 1073741824,
      min: 0,
      swapUsage: 52428800,
      swapLimit: 1073741824,
      events: { low: 0, high: 1523, max: 12, oom: 3, oom_kill: 2, oom_group_kill: 1 },
      pressure: {
        some: { avg10: 31.42, avg60: 12.07, avg300: 3.5, total: 98765432 },
        full: { avg10: 27.8, avg60: 10.11, avg300: 2.96, total: 87654321 },
      },
      oomGroup: true,
    });
    expect(stat).toMatchObject({
      anon: 7340032000,
      file: 402653184,
      kernel: 75751424,
      sock: 0,
      pgmajfault: 981,
      workingset_refault_file: 4711,
    });
    expect(Object.keys(stat ?? {})).toHaveLength(56);
  });

  it('reads "max" as null for memory.max, memory.high and memory.swap.max', () => {
    const m = driver().read('/batch.slice/job-b.scope');
    expect(m).toMatchObject({ limit: null, high: null, swapLimit: null, low: 0, min: 0 });
    expect(m?.oomGroup).toBe(false);
  });

  it('limit() gives a memcg\'s own memory.max (null for "max" and the root), as read() does', () => {
    const d = driver();
    expect(d.limit?.(JOB_A)).toBe(d.read(JOB_A)?.limit);
    expect(d.limit?.('/batch.slice')).toBe(17179869184);
    expect(d.limit?.('/batch.slice/job-b.scope')).toBeNull();
    expect(d.limit?.('/')).toBeNull();
    expect(d.limit?.('/no-such.scope')).toBeUndefined();
  });

  it("a memcg's memory.current includes its children, the root's (from memory.stat) does not count", () => {
    const d = driver();
    expect(d.usageIncludesChildren?.('/batch.slice')).toBe(true);
    expect(d.usageIncludesChildren?.('/')).toBe(false);
    // As the kernel's page counters keep it: the parent holds at least its children.
    const parent = d.read('/batch.slice')?.usage ?? 0;
    const kids = ['job-a.scope', 'job-b.scope'].map((k) => d.read(`/batch.slice/${k}`)?.usage ?? 0);
    expect(parent).toBeGreaterThanOrEqual(kids.reduce((a, b) => a + b, 0));
  });

  it('reads memory.stat and memory.pressure only when asked', () => {
    const m = driver().read(JOB_A);
    expect(m?.stat).toBeUndefined();
    expect(m?.pressure).toBeUndefined();
  });

  it('never reports underOom or oomKillDisable (v1 only)', () => {
    const m = driver().read(JOB_A);
    expect(m?.underOom).toBeUndefined();
    expect(m?.oomKillDisable).toBeUndefined();
    expect(driver().underOom(JOB_A)).toBe(false);
  });

  it('reads the root, which has no memory.current or memory.max, from its memory.stat', () => {
    const m = driver().read('/', { stat: true, pressure: true });
    expect(m?.path).toBe('/');
    expect(m?.limit).toBeNull();
    expect(m?.usage).toBe(rootUsageFromStat(m?.stat ?? {}));
    expect(m?.usage).toBe(9126805504 + 5368709120 + 402653184 + 4096);
    expect(m?.pressure).toEqual({
      some: { avg10: 0.12, avg60: 0.05, avg300: 0.01, total: 4520813 },
      full: { avg10: 0, avg60: 0, avg300: 0, total: 1289377 },
    });
    expect(m?.events).toBeUndefined();
  });

  it('produces entries valid against the snapshot schema for every listed memcg', () => {
    const d = driver();
    for (const path of d.list()) {
      const m = d.read(path, { stat: true, pressure: true });
      expect(m, path).toBeDefined();
      expect([...Value.Errors(MemcgSchema, m)], path).toEqual([]);
    }
  });

  it('drops memory.events keys the snapshot does not know', () => {
    writeFileSync(
      join(fixture().root, JOB_A, 'memory.events'),
      'low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 6\nsock_throttled 7\n',
    );
    expect(driver().read(JOB_A)?.events).toEqual({
      low: 1,
      high: 2,
      max: 3,
      oom: 4,
      oom_kill: 5,
      oom_group_kill: 6,
    });
  });

  it('leaves out swap fields when the kernel has no swap accounting', () => {
    const dir = join(fixture().root, JOB_A);
    unlinkSync(join(dir, 'memory.swap.current'));
    unlinkSync(join(dir, 'memory.swap.max'));
    const m = driver().read(JOB_A);
    expect(m).toBeDefined();
    expect(m?.swapUsage).toBeUndefined();
    expect(m?.swapLimit).toBeUndefined();
  });

  it('returns undefined for a memcg that vanished, and no pids', () => {
    rmSync(join(fixture().root, JOB_A), { recursive: true });
    expect(driver().read(JOB_A, { stat: true, pressure: true })).toBeUndefined();
    expect(driver().procs(JOB_A)).toEqual([]);
    expect(driver().underOom(JOB_A)).toBe(false);
    expect(driver().killAll?.(JOB_A)).toBe(false);
  });

  it('returns undefined for a cgroup that is not a memcg', () => {
    expect(driver().read('/user.slice/user-1000.slice')).toBeUndefined();
  });

  it('throws DriverError with the path and a reason for a malformed file', () => {
    writeFileSync(join(fixture().root, JOB_A, 'memory.max'), 'lots\n');
    const err = catchDriverError(() => driver().read(JOB_A));
    expect(err.path).toBe(join(fixture().root, JOB_A, 'memory.max'));
    expect(err.message).toMatch(/malformed memory\.max: expected an integer or "max"/);
  });

  it('refuses paths that climb out of the root', () => {
    const err = catchDriverError(() => driver().read('/../../etc'));
    expect(err.code).toBe('EINVAL');
  });
});

describe('v2 procs', () => {
  it('reads cgroup.procs', () => {
    expect(driver().procs(JOB_A)).toEqual([4100, 4101, 4102]);
    expect(driver().procs('/batch.slice')).toEqual([]);
    expect(driver().procs('/')).toEqual([2, 3, 4]);
  });
});

describe('v2 settings', () => {
  const FILES: [SettingName, string][] = [
    ['memoryMin', 'memory.min'],
    ['memoryLow', 'memory.low'],
    ['memoryHigh', 'memory.high'],
    ['memoryMax', 'memory.max'],
    ['swapMax', 'memory.swap.max'],
    ['oomGroup', 'memory.oom.group'],
  ];

  it.each(FILES)('supports %s through %s', (setting, file) => {
    expect(driver().support(setting)).toEqual({ supported: true, file });
  });

  it('does not support oomKillDisable, and says why', () => {
    const s = driver().support('oomKillDisable');
    expect(s.supported).toBe(false);
    expect(s.note).toBe(
      'cgroup v2 has no oom_kill_disable; user-space OOM handling acts on memory.high and pressure before the limit',
    );
    const err = catchDriverError(() => {
      driver().writeSetting(JOB_A, 'oomKillDisable', true);
    });
    expect(err.code).toBe('ENOTSUP');
    expect(err.message).toBe(s.note);
    expect(() => driver().readSetting(JOB_A, 'oomKillDisable')).toThrow(DriverError);
  });

  it('reads each setting in the kernel unit', () => {
    const d = driver();
    expect(d.readSetting(JOB_A, 'memoryMax')).toBe(8589934592);
    expect(d.readSetting(JOB_A, 'memoryHigh')).toBe(7516192768);
    expect(d.readSetting(JOB_A, 'memoryLow')).toBe(1073741824);
    expect(d.readSetting(JOB_A, 'memoryMin')).toBe(0);
    expect(d.readSetting(JOB_A, 'swapMax')).toBe(1073741824);
    expect(d.readSetting(JOB_A, 'oomGroup')).toBe(true);
    expect(d.readSetting('/batch.slice/job-b.scope', 'memoryMax')).toBe('max');
    expect(d.readSetting('/batch.slice/job-b.scope', 'oomGroup')).toBe(false);
  });

  it.each(FILES.filter(([s]) => s !== 'oomGroup'))(
    'writes %s to %s as bytes or "max", as the kernel prints it',
    (setting, file) => {
      const d = driver();
      d.writeSetting(JOB_A, setting, 268435456);
      expect(fileText(JOB_A, file)).toBe('268435456\n');
      expect(d.readSetting(JOB_A, setting)).toBe(268435456);
      d.writeSetting(JOB_A, setting, 'max');
      expect(fileText(JOB_A, file)).toBe('max\n');
      expect(d.readSetting(JOB_A, setting)).toBe('max');
    },
  );

  it('writes oomGroup as 1 or 0', () => {
    const d = driver();
    d.writeSetting('/batch.slice/job-b.scope', 'oomGroup', true);
    expect(fileText('/batch.slice/job-b.scope', 'memory.oom.group')).toBe('1\n');
    d.writeSetting('/batch.slice/job-b.scope', 'oomGroup', false);
    expect(fileText('/batch.slice/job-b.scope', 'memory.oom.group')).toBe('0\n');
  });

  it('touches no other file when writing a setting', () => {
    const before = fileText(JOB_A, 'memory.high');
    driver().writeSetting(JOB_A, 'memoryMax', 1073741824);
    expect(fileText(JOB_A, 'memory.high')).toBe(before);
    expect(fileText('/batch.slice/job-b.scope', 'memory.max')).toBe('max\n');
  });

  it('refuses values of the wrong kind before writing', () => {
    const d = driver();
    expect(
      catchDriverError(() => {
        d.writeSetting(JOB_A, 'memoryMax', -1);
      }).code,
    ).toBe('EINVAL');
    expect(
      catchDriverError(() => {
        d.writeSetting(JOB_A, 'memoryMax', 1.5);
      }).code,
    ).toBe('EINVAL');
    expect(
      catchDriverError(() => {
        d.writeSetting(JOB_A, 'memoryMax', true);
      }).code,
    ).toBe('EINVAL');
    expect(
      catchDriverError(() => {
        d.writeSetting(JOB_A, 'oomGroup', 1);
      }).code,
    ).toBe('EINVAL');
    expect(fileText(JOB_A, 'memory.max')).toBe('8589934592\n');
  });

  it('reports the errno of a failed write', () => {
    rmSync(join(fixture().root, JOB_A), { recursive: true });
    const err = catchDriverError(() => {
      driver().writeSetting(JOB_A, 'memoryHigh', 1 << 30);
    });
    expect(err.code).toBe('ENOENT');
    expect(err.path).toBe(join(fixture().root, JOB_A, 'memory.high'));
  });
});

describe('v2 killAll', () => {
  it('writes "1" to cgroup.kill', () => {
    expect(driver().killAll?.(JOB_A)).toBe(true);
    expect(fileText(JOB_A, 'cgroup.kill')).toBe('1\n');
  });

  it('is not available on the root, nor on kernels without cgroup.kill', () => {
    expect(driver().killAll?.('/')).toBe(false);
    unlinkSync(join(fixture().root, JOB_A, 'cgroup.kill'));
    expect(driver().killAll?.(JOB_A)).toBe(false);
  });
});

describe('v2 driver identity', () => {
  it('says its mode and root', () => {
    const d = driver();
    expect(d.mode).toBe('v2');
    expect(d.root).toBe(fixture().root);
  });
});

function catchDriverError(fn: () => unknown): DriverError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DriverError) return e;
    throw new Error(`expected a DriverError, got ${String(e)}`);
  }
  throw new Error('expected a DriverError, nothing was thrown');
}
