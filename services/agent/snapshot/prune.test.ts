// Leaving subtrees unread must never hide a firing memcg: the property test
// evaluates random trees (usage hierarchical as the kernel's page counters
// keep it) with and without pruning and demands the same rules fire on the
// same memcgs, and an interval no longer than a full read would give.
// The tree is an in-memory driver: what is tested is the bound, over more
// shapes than real memcgs could be made in a test; prune.memcg.test.ts runs
// it on real ones.
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { evaluate, type HostSnapshot, type Memcg } from '../../policy/index.ts';
import { GiB, MiB, makeHistory, makePolicy, rule } from '../../../test/helpers/evaluator.ts';
import type { MemcgDriver } from '../cgroup/types.ts';
import { nextIntervalMs } from '../engine/interval.ts';
import type { HostReader } from '../proc/types.ts';
import { collectSnapshot, emptyStats } from './collect.ts';
import { snapshotNeeds } from './needs.ts';
import { prunePlan, usageFloor } from './prune.ts';

const ramOnly = { effectiveLimit: undefined, memTotal: 16 * GiB };

describe('prunePlan', () => {
  it('bounds usage triggers, combined with any and all', () => {
    const p = makePolicy({
      rules: [
        rule({
          scope: '/jobs/*',
          when: {
            any: [
              { usage: { of: 'limit', above: '90%' } },
              { all: [{ usage: { above: '300Mi' } }, { usage: { of: 'ram', above: '1%' } }] },
            ],
          },
        }),
      ],
    });
    const plan = prunePlan(p);
    expect(plan).toBeDefined();
    if (!plan) return;
    // any: the lower of 90% of 1 GiB and max(300 MiB, 1% of 16 GiB).
    expect(usageFloor(plan, '/jobs/a', { effectiveLimit: GiB, memTotal: 16 * GiB })).toBe(
      300 * MiB,
    );
    expect(usageFloor(plan, '/jobs/a', { effectiveLimit: 100 * MiB, memTotal: 16 * GiB })).toBe(
      90 * MiB,
    );
    // Without a limit, 90% of it never fires: only the other branch remains.
    expect(usageFloor(plan, '/jobs/a', ramOnly)).toBe(300 * MiB);
    // No rule's scope matches: nothing can fire there.
    expect(usageFloor(plan, '/other', ramOnly)).toBe(Infinity);
  });

  it.each([
    ['an oom trigger', { oom: {} }],
    ['a pressure trigger', { pressure: { above: '10%' } }],
    ['a growth trigger', { growth: { above: '10Mi', window: '10s' } }],
    ['an available trigger', { available: { below: '10%' } }],
    ['a usage trigger or an oom trigger', { any: [{ usage: { above: '1Gi' } }, { oom: {} }] }],
  ])('reads every memcg for a cgroup rule with %s', (_name, when) => {
    expect(prunePlan(makePolicy({ rules: [rule({ scope: '/jobs/*', when })] }))).toBeUndefined();
  });

  it('reads every memcg when victims are chosen by their growth', () => {
    const p = makePolicy({
      rules: [
        rule({
          scope: '/jobs/*',
          when: { usage: { above: '1Gi' } },
          action: { kill: { victim: 'fastest-growing' } },
        }),
      ],
    });
    expect(prunePlan(p)).toBeUndefined();
  });

  it('global rules do not stop pruning (they read the host, not memcgs)', () => {
    const p = makePolicy({
      rules: [
        rule({ name: 'g', when: { pressure: { above: '10%' } } }),
        rule({ name: 'c', scope: '/jobs/*', when: { usage: { above: '1Gi' } } }),
      ],
    });
    expect(prunePlan(p)?.rules).toHaveLength(1);
  });
});

// ---- the property ----

interface Node {
  path: string;
  own: number;
  limit: number | null;
}

/** A driver over an in-memory tree whose usage is hierarchical (own + all descendants'). */
function treeDriver(nodes: Node[]): MemcgDriver & { reads: string[] } {
  const byPath = new Map(nodes.map((n) => [n.path, n]));
  const usage = (p: string): number =>
    nodes
      .filter((n) => n.path === p || n.path.startsWith(p === '/' ? '/' : `${p}/`))
      .reduce((a, n) => a + n.own, 0);
  const reads: string[] = [];
  const paths = nodes.map((n) => n.path).sort();
  const unsupported = (): never => {
    throw new Error('not in this test');
  };
  return {
    reads,
    mode: 'v2',
    root: '/fake',
    support: () => ({ supported: false }),
    list: () => paths,
    read: (path): Memcg | undefined => {
      const n = byPath.get(path);
      if (!n) return undefined;
      reads.push(path);
      return { path, usage: usage(path), limit: n.limit };
    },
    readSetting: unsupported,
    writeSetting: unsupported,
    procs: () => [],
    underOom: () => false,
    limit: (path) => byPath.get(path)?.limit,
    usageIncludesChildren: (path) => path !== '/',
  };
}

const noProcesses: HostReader = {
  procRoot: '/proc',
  host: () => ({ memTotal: 16 * GiB, memAvailable: 8 * GiB, swapTotal: 0, swapFree: 0 }),
  processes: () => [],
} as unknown as HostReader;

const NAMES = ['a', 'b', 'c'];
/** Trees of up to 1 + 3 + 9 memcgs (under MAX_TRACED_TARGETS, so every margin is traced). */
const trees = fc
  .array(
    fc.record({
      parent: fc.constantFrom('', ...NAMES.map((n) => `/${n}`)),
      name: fc.constantFrom(...NAMES),
      own: fc.integer({ min: 0, max: 400 }).map((m) => m * MiB),
      limit: fc.option(fc.integer({ min: 16, max: 1024 }).map((m) => m * MiB)),
    }),
    { maxLength: 12 },
  )
  .map((entries) => {
    const nodes = new Map<string, Node>([['/', { path: '/', own: 0, limit: null }]]);
    for (const e of entries) {
      if (e.parent !== '' && !nodes.has(e.parent)) continue;
      const path = `${e.parent}/${e.name}`;
      if (!nodes.has(path)) nodes.set(path, { path, own: e.own, limit: e.limit });
    }
    return [...nodes.values()];
  });

const thresholds = fc.oneof(
  fc.integer({ min: 1, max: 99 }).map((p) => ({ usage: { of: 'limit', above: `${p}%` } })),
  fc.integer({ min: 1, max: 800 }).map((m) => ({ usage: { above: `${m}Mi` } })),
  fc.integer({ min: 1, max: 20 }).map((p) => ({ usage: { of: 'ram', above: `${p}%` } })),
);
const conditions = fc.oneof(
  thresholds,
  fc.array(thresholds, { minLength: 1, maxLength: 3 }).map((any) => ({ any })),
  fc.array(thresholds, { minLength: 1, maxLength: 3 }).map((all) => ({ all })),
);
const rules = fc.array(
  fc.record({
    scope: fc.constantFrom('/**', '/*', '/a/*', '/a', '/b/**'),
    when: conditions,
  }),
  { minLength: 1, maxLength: 3 },
);

describe('pruning, against reading every memcg', () => {
  test.prop([trees, rules], { numRuns: 300 })(
    'the same rules fire on the same memcgs; the next tick comes no later',
    (nodes, rs) => {
      const policy = makePolicy({
        interval: '10s',
        rules: rs.map((r, i) => rule({ name: `r${i}`, scope: r.scope, when: r.when })),
      });
      const plan = prunePlan(policy);
      expect(plan).toBeDefined();
      if (!plan) return;
      const needs = snapshotNeeds(policy);
      const driver = treeDriver(nodes);
      const deps = { driver, host: noProcesses, agentPids: [], now: () => 0 };
      const full: HostSnapshot = collectSnapshot(deps, needs);
      const stats = emptyStats();
      const pruned = collectSnapshot(deps, needs, { plan, stats });
      const fullEval = evaluate(policy, full, makeHistory());
      const prunedEval = evaluate(policy, pruned, makeHistory());
      const fired = (e: typeof fullEval): string[][] => e.rules.map((r) => [...r.fired].sort());
      expect(fired(prunedEval)).toEqual(fired(fullEval));
      expect(stats.read + stats.skipped).toBe(full.memcgs.length);
      expect(pruned.memcgs.length).toBe(stats.read);
      expect(nextIntervalMs(policy, prunedEval, stats.skippedMargin)).toBeLessThanOrEqual(
        nextIntervalMs(policy, fullEval),
      );
    },
  );

  it('an idle subtree costs one read of its parent', () => {
    const nodes: Node[] = [
      { path: '/', own: 0, limit: null },
      { path: '/jobs', own: 0, limit: null },
      ...Array.from({ length: 50 }, (_, i) => ({
        path: `/jobs/j${i}`,
        own: MiB,
        limit: GiB,
      })),
    ];
    const policy = makePolicy({
      rules: [rule({ scope: '/jobs/*', when: { usage: { of: 'limit', above: '95%' } } })],
    });
    const plan = prunePlan(policy);
    if (!plan) throw new Error('no plan');
    const driver = treeDriver(nodes);
    const stats = emptyStats();
    collectSnapshot({ driver, host: noProcesses, agentPids: [] }, snapshotNeeds(policy), {
      plan,
      stats,
    });
    expect(driver.reads).toEqual(['/', '/jobs']);
    expect(stats).toMatchObject({ read: 2, skipped: 50 });
    // 50 MiB against a floor of 95% of 1 GiB.
    expect(stats.skippedMargin).toBeCloseTo(1 - 50 / (0.95 * 1024), 2);
  });
});
