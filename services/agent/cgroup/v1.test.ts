// The cgroup v1 driver on REAL memcgs, created beneath this test process's own
// memory cgroup and removed after each test whatever happened
// (test/helpers/memcg.ts). Nothing here is skipped: on a machine without a
// writable v1 memcg the first test fails and says why, and so do the others.
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  hasWritableMemcg,
  makeTestMemcg,
  memcgProblem,
  ownMemcgRoot,
  startHog,
  useTestMemcgs,
  waitFor,
} from '../../../test/helpers/memcg.ts';
import { MemcgSchema, compileGlob } from '../../policy/index.ts';
import { DriverError, type MemcgDriver, type SettingName } from './types.ts';
import { V1_UNLIMITED_FROM, createV1Driver } from './v1.ts';

const Mi = 1024 * 1024;
/** What this kernel prints for "no limit" (PAGE_COUNTER_MAX pages, 4 KiB pages). */
const KERNEL_UNLIMITED = '9223372036854771712\n';

const fileText = (dir: string, name: string): string => readFileSync(join(dir, name), 'utf8');

function catchDriverError(fn: () => unknown): DriverError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DriverError) return e;
    throw new Error(`expected a DriverError, got ${String(e)}`);
  }
  throw new Error('expected a DriverError, nothing was thrown');
}

describe('cgroup v1 driver on real memcgs', () => {
  useTestMemcgs();
  let d: MemcgDriver;
  beforeAll(() => {
    d = createV1Driver(ownMemcgRoot());
  });

  it('has a writable v1 memcg beneath its own memory cgroup (required, never skipped)', () => {
    expect(memcgProblem()).toBeUndefined();
    expect(hasWritableMemcg()).toBe(true);
  });

  it('keeps memory.* files open between reads, yet follows a memcg removed and made again', async () => {
    const cg = makeTestMemcg('reopen');
    writeFileSync(join(cg.dir, 'memory.limit_in_bytes'), String(64 * Mi));
    const hog = await startHog(cg.dir, { maxMiB: 16 });
    await waitFor(() => (d.read(cg.path)?.usage ?? 0) >= 8 * Mi, 'the hog to allocate');
    // Read through the kept descriptor: fresh values, not the first read's.
    hog.child.kill('SIGKILL');
    await waitFor(() => (d.read(cg.path)?.usage ?? Infinity) < 8 * Mi, 'usage to fall');
    // A kept file does not stop the memcg from being removed…
    await waitFor(() => fileText(cg.dir, 'cgroup.procs').trim() === '', 'the memcg to empty');
    rmdirSync(cg.dir);
    expect(d.read(cg.path)).toBeUndefined();
    // …and one made again under the same name is read afresh.
    mkdirSync(cg.dir);
    writeFileSync(join(cg.dir, 'memory.limit_in_bytes'), String(32 * Mi));
    expect(d.read(cg.path, { oom: false, extras: false })).toMatchObject({
      limit: 32 * Mi,
      usage: 0,
    });
  });

  it('reads a fresh memcg: unlimited, no OOM, snapshot-schema valid', () => {
    const cg = makeTestMemcg('fresh');
    const m = d.read(cg.path, { stat: true, pressure: true });
    expect(m).toMatchObject({
      path: cg.path,
      limit: null,
      events: { max: 0, oom: 0, oom_kill: 0 },
      underOom: false,
      oomKillDisable: false,
    });
    expect(m?.low).toBeUndefined();
    expect(m?.high).toBeUndefined();
    expect(m?.min).toBeUndefined();
    // v1 has no per-cgroup PSI, even when asked.
    expect(m?.pressure).toBeUndefined();
    expect(m?.stat).toHaveProperty('hierarchical_memory_limit');
    expect(m?.stat).toHaveProperty('total_rss');
    if (d.support('swapMax').supported) expect(m?.swapLimit).toBeNull();
    expect([...Value.Errors(MemcgSchema, m)]).toEqual([]);
  });

  it('lists created memcgs and their children, sorted, with the root first', () => {
    const a = makeTestMemcg('list');
    const child = makeTestMemcg('child', a);
    const list = d.list();
    expect(list[0]).toBe('/');
    expect(list).toContain(a.path);
    expect(list).toContain(child.path);
    expect([...list].sort()).toEqual(list);
  });

  it('with globs, lists the matches and their ancestors without walking elsewhere', () => {
    const a = makeTestMemcg('glist');
    const child = makeTestMemcg('kid', a);
    const grandchild = makeTestMemcg('deep', child);
    const list = d.list([compileGlob(`${a.path}/*`)]);
    expect(list).toEqual(['/', a.path, child.path]);
    expect(d.list([compileGlob(`${a.path}/**`)])).toEqual([
      '/',
      a.path,
      child.path,
      grandchild.path,
    ]);
  });

  it('reads limits written behind its back after a while, its own writes at once', async () => {
    const cg = makeTestMemcg('limits-cache');
    expect(d.read(cg.path)?.limit).toBeNull();
    d.writeSetting(cg.path, 'memoryMax', 64 * Mi);
    expect(d.read(cg.path)?.limit).toBe(64 * Mi);
    writeFileSync(join(cg.dir, 'memory.limit_in_bytes'), String(32 * Mi));
    await new Promise((r) => setTimeout(r, 2100));
    expect(d.read(cg.path)?.limit).toBe(32 * Mi);
    // Removed: gone, whatever was cached.
    rmdirSync(cg.dir);
    expect(d.read(cg.path)).toBeUndefined();
  });

  it('writes memoryMax to memory.limit_in_bytes, and "max" as -1 (read back as unlimited)', () => {
    const cg = makeTestMemcg('max');
    d.writeSetting(cg.path, 'memoryMax', 64 * Mi);
    expect(fileText(cg.dir, 'memory.limit_in_bytes')).toBe(`${64 * Mi}\n`);
    expect(d.readSetting(cg.path, 'memoryMax')).toBe(64 * Mi);
    expect(d.read(cg.path)?.limit).toBe(64 * Mi);
    d.writeSetting(cg.path, 'memoryMax', 'max');
    expect(fileText(cg.dir, 'memory.limit_in_bytes')).toBe(KERNEL_UNLIMITED);
    expect(Number(KERNEL_UNLIMITED)).toBeGreaterThanOrEqual(V1_UNLIMITED_FROM);
    expect(d.readSetting(cg.path, 'memoryMax')).toBe('max');
    expect(d.read(cg.path)?.limit).toBeNull();
  });

  it('writes memoryLow to memory.soft_limit_in_bytes, noting the approximation', () => {
    const cg = makeTestMemcg('low');
    expect(d.support('memoryLow')).toMatchObject({
      supported: true,
      file: 'memory.soft_limit_in_bytes',
      note: expect.stringMatching(/^approximation: cgroup v1 has no memory\.low/) as unknown,
    });
    d.writeSetting(cg.path, 'memoryLow', 32 * Mi);
    expect(fileText(cg.dir, 'memory.soft_limit_in_bytes')).toBe(`${32 * Mi}\n`);
    expect(d.readSetting(cg.path, 'memoryLow')).toBe(32 * Mi);
    expect(d.read(cg.path)?.low).toBe(32 * Mi);
    d.writeSetting(cg.path, 'memoryLow', 'max');
    expect(d.readSetting(cg.path, 'memoryLow')).toBe('max');
    expect(d.read(cg.path)?.low).toBeUndefined();
  });

  describe('swapMax through memory.memsw.limit_in_bytes (= memoryMax + swapMax)', () => {
    it('is supported on this host (swap accounting on)', () => {
      expect(d.support('swapMax')).toMatchObject({
        supported: true,
        file: 'memory.memsw.limit_in_bytes',
      });
    });

    it('needs a memoryMax first', () => {
      const cg = makeTestMemcg('swap-nolimit');
      const err = catchDriverError(() => {
        d.writeSetting(cg.path, 'swapMax', 32 * Mi);
      });
      expect(err.code).toBe('EINVAL');
      expect(err.message).toMatch(/swapMax needs a memoryMax on cgroup v1/);
      expect(fileText(cg.dir, 'memory.memsw.limit_in_bytes')).toBe(KERNEL_UNLIMITED);
    });

    it('writes memsw = limit + swap and reads back memsw − limit', () => {
      const cg = makeTestMemcg('swap');
      d.writeSetting(cg.path, 'memoryMax', 64 * Mi);
      d.writeSetting(cg.path, 'swapMax', 32 * Mi);
      expect(fileText(cg.dir, 'memory.memsw.limit_in_bytes')).toBe(`${96 * Mi}\n`);
      expect(d.readSetting(cg.path, 'swapMax')).toBe(32 * Mi);
      expect(d.read(cg.path)?.swapLimit).toBe(32 * Mi);
      d.writeSetting(cg.path, 'swapMax', 'max');
      expect(fileText(cg.dir, 'memory.memsw.limit_in_bytes')).toBe(KERNEL_UNLIMITED);
      expect(d.readSetting(cg.path, 'swapMax')).toBe('max');
      expect(d.read(cg.path)?.swapLimit).toBeNull();
    });

    it('orders the writes of memoryMax so the kernel keeps memsw ≥ mem, keeping the swap allowance', () => {
      const cg = makeTestMemcg('swap-order');
      d.writeSetting(cg.path, 'memoryMax', 64 * Mi);
      d.writeSetting(cg.path, 'swapMax', 32 * Mi);
      // The kernel refuses a limit above memsw: the order matters.
      expect(() => {
        writeFileSync(join(cg.dir, 'memory.limit_in_bytes'), String(128 * Mi));
      }).toThrow(/EINVAL|Invalid argument/);
      // Raising: memsw first.
      d.writeSetting(cg.path, 'memoryMax', 128 * Mi);
      expect(fileText(cg.dir, 'memory.limit_in_bytes')).toBe(`${128 * Mi}\n`);
      expect(fileText(cg.dir, 'memory.memsw.limit_in_bytes')).toBe(`${160 * Mi}\n`);
      // Lowering: the limit first.
      d.writeSetting(cg.path, 'memoryMax', 16 * Mi);
      expect(fileText(cg.dir, 'memory.limit_in_bytes')).toBe(`${16 * Mi}\n`);
      expect(fileText(cg.dir, 'memory.memsw.limit_in_bytes')).toBe(`${48 * Mi}\n`);
      expect(d.readSetting(cg.path, 'swapMax')).toBe(32 * Mi);
      // No memory limit: memsw must be unlimited too (v1 cannot hold a swap limit alone).
      d.writeSetting(cg.path, 'memoryMax', 'max');
      expect(fileText(cg.dir, 'memory.limit_in_bytes')).toBe(KERNEL_UNLIMITED);
      expect(fileText(cg.dir, 'memory.memsw.limit_in_bytes')).toBe(KERNEL_UNLIMITED);
      expect(d.readSetting(cg.path, 'swapMax')).toBe('max');
    });
  });

  it('toggles oom_kill_disable in memory.oom_control', () => {
    const cg = makeTestMemcg('oomctl');
    d.writeSetting(cg.path, 'oomKillDisable', true);
    expect(fileText(cg.dir, 'memory.oom_control')).toMatch(/^oom_kill_disable 1\n/);
    expect(d.readSetting(cg.path, 'oomKillDisable')).toBe(true);
    expect(d.read(cg.path)?.oomKillDisable).toBe(true);
    d.writeSetting(cg.path, 'oomKillDisable', false);
    expect(fileText(cg.dir, 'memory.oom_control')).toMatch(/^oom_kill_disable 0\n/);
    expect(d.readSetting(cg.path, 'oomKillDisable')).toBe(false);
    expect(d.read(cg.path)?.oomKillDisable).toBe(false);
  });

  it.each([
    ['memoryMin', 'cgroup v1 has no memory.min'],
    ['memoryHigh', 'cgroup v1 has no memory.high'],
    ['oomGroup', 'cgroup v1 has no memory.oom.group'],
  ] as [SettingName, string][])('does not support %s: "%s"', (setting, note) => {
    const cg = makeTestMemcg('unsupported');
    const s = d.support(setting);
    expect(s.supported).toBe(false);
    expect(s.note).toMatch(new RegExp(`^${note.replace(/\./g, '\\.')}`));
    for (const fn of [
      () => d.readSetting(cg.path, setting),
      () => {
        d.writeSetting(cg.path, setting, setting === 'oomGroup' ? true : 64 * Mi);
      },
    ]) {
      const err = catchDriverError(fn);
      expect(err.code).toBe('ENOTSUP');
      expect(err.message).toBe(s.note);
    }
  });

  it('refuses values of the wrong kind before writing', () => {
    const cg = makeTestMemcg('badvalue');
    expect(
      catchDriverError(() => {
        d.writeSetting(cg.path, 'memoryMax', -1);
      }).code,
    ).toBe('EINVAL');
    expect(
      catchDriverError(() => {
        d.writeSetting(cg.path, 'oomKillDisable', 1);
      }).code,
    ).toBe('EINVAL');
    expect(fileText(cg.dir, 'memory.limit_in_bytes')).toBe(KERNEL_UNLIMITED);
  });

  it('reports a memcg that vanished as undefined, no pids, not under OOM', () => {
    const cg = makeTestMemcg('vanish');
    rmdirSync(cg.dir);
    expect(d.read(cg.path, { stat: true })).toBeUndefined();
    expect(d.procs(cg.path)).toEqual([]);
    expect(d.underOom(cg.path)).toBe(false);
    expect(d.list()).not.toContain(cg.path);
    const err = catchDriverError(() => {
      d.writeSetting(cg.path, 'memoryMax', 64 * Mi);
    });
    expect(err.code).toBe('ENOENT');
  });

  it('passes on the kernel errno when a write fails (EBUSY: limit below unreclaimable usage), changing nothing', async () => {
    const cg = makeTestMemcg('ebusy');
    d.writeSetting(cg.path, 'memoryMax', 64 * Mi);
    d.writeSetting(cg.path, 'swapMax', 32 * Mi);
    const hog = await startHog(cg.dir, { stepMiB: 8, intervalMs: 1, maxMiB: 40 });
    await hog.waitForAllocated(40);
    expect(d.procs(cg.path)).toEqual([hog.pid]);
    const err = catchDriverError(() => {
      d.writeSetting(cg.path, 'memoryMax', 16 * Mi);
    });
    expect(err.code).toBe('EBUSY');
    expect(err.path).toBe(join(cg.dir, 'memory.limit_in_bytes'));
    expect(d.readSetting(cg.path, 'memoryMax')).toBe(64 * Mi);
    expect(d.readSetting(cg.path, 'swapMax')).toBe(32 * Mi);
  });

  it('user-space OOM: a hog at a 64 MiB limit with oom_kill_disable=1 is held (under_oom), and killed by the kernel once it is 0', async () => {
    const cg = makeTestMemcg('hog');
    d.writeSetting(cg.path, 'memoryMax', 64 * Mi);
    d.writeSetting(cg.path, 'oomKillDisable', true);
    const hog = await startHog(cg.dir, { stepMiB: 8, intervalMs: 5, maxMiB: 512 });
    await waitFor(() => d.underOom(cg.path), 'under_oom 1');

    const stuck = d.read(cg.path);
    expect(stuck).toMatchObject({ underOom: true, oomKillDisable: true, limit: 64 * Mi });
    expect(stuck?.events?.oom_kill).toBe(0);
    expect(stuck?.events?.max).toBeGreaterThan(0);
    expect(stuck?.usage).toBeGreaterThan(48 * Mi);
    expect(d.procs(cg.path)).toEqual([hog.pid]);
    expect(hog.allocatedMiB()).toBeLessThan(64);
    expect(hog.child.exitCode).toBeNull();

    // Hand the memcg back to the kernel: its OOM killer kills the hog.
    d.writeSetting(cg.path, 'oomKillDisable', false);
    const end = await hog.exited;
    expect(end.signal).toBe('SIGKILL');
    await waitFor(() => d.procs(cg.path).length === 0, 'the memcg to empty');
    const after = d.read(cg.path);
    expect(after?.underOom).toBe(false);
    expect(after?.events?.oom_kill).toBeGreaterThanOrEqual(1);
    // On v1 an "OOM event" is an OOM kill (see v1.ts).
    expect(after?.events?.oom).toBe(after?.events?.oom_kill);
  });
});
