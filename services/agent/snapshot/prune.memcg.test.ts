// Pruning on real cgroup v1 memcgs (below this test process's own memory
// cgroup, removed afterwards), with real processes: an idle subtree is read
// through its parent alone; a limit lowered by someone else, or a memcg
// growing towards its threshold, makes the tick read every memcg again and
// the rule fire where it should.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, type HostSnapshot } from '../../policy/index.ts';
import { makeHistory, makePolicy, rule } from '../../../test/helpers/evaluator.ts';
import {
  makeTestMemcg,
  memcgProblem,
  removeTestMemcgs,
  startHog,
  waitFor,
  type TestMemcg,
} from '../../../test/helpers/memcg.ts';
import type { MemcgDriver } from '../cgroup/types.ts';
import { createV1Driver } from '../cgroup/v1.ts';
import { createHostReader } from '../proc/reader.ts';
import { collectSnapshot, emptyStats, type CollectStats } from './collect.ts';
import { snapshotNeeds } from './needs.ts';
import { prunePlan } from './prune.ts';

const MiB = 1024 ** 2;
const JOBS = 20;

describe('pruning on real cgroup v1 memcgs', () => {
  it('has a writable memory cgroup to test on', () => {
    expect(memcgProblem()).toBeUndefined();
  });

  let top: TestMemcg;
  let driver: MemcgDriver;
  const host = createHostReader('/proc', { memoryHierarchy: { mode: 'v1' } });
  // Above half of a 512 MiB limit: 256 MiB.
  const policy = makePolicy({
    rules: [rule({ scope: '/jobs/*', when: { usage: { of: 'limit', above: '50%' } } })],
  });
  const plan = prunePlan(policy);
  const needs = snapshotNeeds(policy);
  const limitFile = (job: number): string =>
    join(top.dir, 'jobs', `j${job}`, 'memory.limit_in_bytes');

  const tick = (): { snap: HostSnapshot; stats: CollectStats; fired: string[] } => {
    if (!plan) throw new Error('the policy should be prunable');
    const stats = emptyStats();
    const snap = collectSnapshot({ driver, host, agentPids: [] }, needs, { plan, stats });
    const fired = evaluate(policy, snap, makeHistory()).rules.flatMap((r) => r.fired);
    return { snap, stats, fired };
  };

  beforeAll(() => {
    top = makeTestMemcg('prune');
    mkdirSync(join(top.dir, 'jobs'));
    for (let i = 0; i < JOBS; i++) {
      mkdirSync(join(top.dir, 'jobs', `j${i}`));
      writeFileSync(limitFile(i), String(512 * MiB));
    }
    driver = createV1Driver(top.dir);
  });

  afterAll(async () => {
    await removeTestMemcgs();
  });

  it('reads only /jobs while all of /jobs uses less than any threshold beneath it', async () => {
    const small = await startHog(join(top.dir, 'jobs', 'j1'), { stepMiB: 8, maxMiB: 8 });
    await small.waitForAllocated(8);
    const { snap, stats, fired } = tick();
    expect(snap.memcgs.map((m) => m.path)).toEqual(['/', '/jobs']);
    expect(stats).toMatchObject({ read: 2, skipped: JOBS });
    expect(stats.skippedMargin).toBeGreaterThan(0.5);
    expect(fired).toEqual([]);
  });

  it('reads them all once someone lowers a limit below what /jobs uses', async () => {
    // j3 is empty, but half of 16 MiB is less than j1's hog holds: the bound no longer holds.
    writeFileSync(limitFile(3), String(16 * MiB));
    await waitFor(() => tick().stats.skipped === 0, 'every memcg to be read', 2000);
    expect(tick().stats.read).toBe(JOBS + 2);
    expect(tick().fired).toEqual([]);
    writeFileSync(limitFile(3), String(512 * MiB));
    await waitFor(() => tick().stats.skipped === JOBS, 'the bound to hold again', 2000);
  });

  it('a memcg growing past its threshold is read and fires, with the rest', async () => {
    const big = await startHog(join(top.dir, 'jobs', 'j7'), { stepMiB: 32, maxMiB: 288 });
    await big.waitForAllocated(288, 30_000);
    const { stats, fired } = tick();
    expect(fired).toEqual(['/jobs/j7']);
    expect(stats).toMatchObject({ read: JOBS + 2, skipped: 0 });
    big.kill();
    await big.exited;
  });
});
