// The inotify watch on real cgroup v1 memcgs (below this test process's own
// memory cgroup, removed afterwards): what it vouches for must change as soon
// as the kernel's tree does, so that a cached listing, a cached limit or a
// skipped identity check never outlives the change by more than an event's
// delivery.
import { existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileGlob } from '../../policy/index.ts';
import {
  makeTestMemcg,
  memcgProblem,
  removeTestMemcgs,
  waitFor,
} from '../../../test/helpers/memcg.ts';
import { Enforcer } from '../enforce/apply.ts';
import { createV1Driver } from './v1.ts';
import { createV2Driver } from './v2.ts';
import { TreeWatch } from './watch.ts';

const MiB = 1024 ** 2;
const jobs = [compileGlob('/jobs/*')];

describe('the tree watch on real cgroup v1 memcgs', () => {
  it('has a writable memory cgroup to test on', () => {
    expect(memcgProblem()).toBeUndefined();
  });

  afterAll(async () => {
    await removeTestMemcgs();
  });

  it('list() gives the same listing until a memcg is made or removed, then the new one', async () => {
    const top = makeTestMemcg('watch-list');
    mkdirSync(join(top.dir, 'jobs'));
    for (const n of ['a', 'b']) mkdirSync(join(top.dir, 'jobs', n));
    const driver = createV1Driver(top.dir);
    const first = driver.list(jobs);
    expect(first).toEqual(['/', '/jobs', '/jobs/a', '/jobs/b']);
    // Directories watched only now: walked once more before the listing is trusted.
    const second = driver.list(jobs);
    expect(driver.list(jobs)).toBe(second);
    const version = driver.treeVersion?.();
    expect(version).toBeDefined();

    mkdirSync(join(top.dir, 'jobs', 'c'));
    await waitFor(() => driver.list(jobs).includes('/jobs/c'), 'the new memcg to be listed', 2000);
    expect(driver.treeVersion?.()).not.toBe(version);

    rmdirSync(join(top.dir, 'jobs', 'a'));
    await waitFor(() => !driver.list(jobs).includes('/jobs/a'), 'the removed memcg to go', 2000);
    expect(driver.list(jobs)).toEqual(['/', '/jobs', '/jobs/b', '/jobs/c']);
  });

  it('a limit written by someone else is read again at once, not after the cache time', async () => {
    const top = makeTestMemcg('watch-limit');
    const driver = createV1Driver(top.dir);
    mkdirSync(join(top.dir, 'jobs'));
    mkdirSync(join(top.dir, 'jobs', 'a'));
    const file = join(top.dir, 'jobs', 'a', 'memory.limit_in_bytes');
    writeFileSync(file, String(64 * MiB));
    driver.list(jobs);
    driver.list(jobs);
    expect(driver.limit?.('/jobs/a')).toBe(64 * MiB);
    const before = driver.limitsVersion?.();
    expect(before).toBeDefined();

    writeFileSync(file, String(32 * MiB));
    await waitFor(() => driver.limit?.('/jobs/a') === 32 * MiB, 'the new limit', 1000);
    expect(driver.limitsVersion?.()).not.toBe(before);
    // The agent's own read() agrees.
    expect(driver.read('/jobs/a', { oom: false, extras: false })?.limit).toBe(32 * MiB);
  });

  it('the enforcer re-applies to a memcg removed and made again, once the watch has seen it', async () => {
    const top = makeTestMemcg('watch-enforce');
    const driver = createV1Driver(top.dir);
    mkdirSync(join(top.dir, 'jobs'));
    const b = join(top.dir, 'jobs', 'b');
    mkdirSync(b);
    driver.list(jobs);
    driver.list(jobs);
    const enforcer = new Enforcer(driver);
    const want = new Map([['/jobs/b', { memoryMax: 64 * MiB }]]);
    enforcer.apply(want);
    expect(enforcer.reconcile(want)).toMatchObject({ applied: [], vanished: [] });

    const version = driver.treeVersion?.();
    rmdirSync(b);
    mkdirSync(b);
    await waitFor(() => driver.treeVersion?.() !== version, 'the watch to see it', 1000);
    driver.list(jobs);
    expect(enforcer.reconcile(want).applied).toEqual(['/jobs/b']);
    expect(driver.readSetting('/jobs/b', 'memoryMax')).toBe(64 * MiB);
  });
});

describe('the tree watch', () => {
  it('is not used on a fixture tree: every list() looks afresh', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oomfleet-watch-'));
    try {
      // The smallest v2 tree the driver lists: the root with memory enabled below it.
      writeFileSync(join(dir, 'cgroup.subtree_control'), 'memory\n');
      const driver = createV2Driver(dir);
      expect(driver.list()).toEqual(['/']);
      expect(driver.treeVersion?.()).toBeUndefined();
      mkdirSync(join(dir, 'a'));
      expect(driver.list()).toEqual(['/', '/a']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives up, rather than watch part of a tree, beyond its limit of directories', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oomfleet-watch-'));
    try {
      const dirs = ['a', 'b', 'c'].map((n) => join(dir, n));
      for (const d of dirs) mkdirSync(d);
      const w = new TreeWatch(new Set(), 2);
      expect(w.watchOnly(new Set(dirs.slice(0, 2)))).toBe(2);
      expect(w.active).toBe(true);
      expect(w.watchOnly(new Set(dirs))).toBe(-1);
      expect(w.active).toBe(false);
      expect(existsSync(dir)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
