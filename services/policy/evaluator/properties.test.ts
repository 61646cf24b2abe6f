// Properties of the evaluator over random hosts, histories and policies.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GiB, MiB, T0 } from '../../../test/helpers/evaluator.ts';
import { compileGlob } from '../glob.ts';
import { loadPolicyValue } from '../load.ts';
import type { CompiledPolicy } from '../model.ts';
import type {
  ActionRecord,
  History,
  HostSnapshot,
  Memcg,
  Pressure,
  ProcessInfo,
} from '../snapshot.ts';
import { evaluate, type Decision } from './index.ts';

// ---- hosts ----

const NAMES = ['batch', 'web', 'system.slice', 'job-a', 'job-b', 'admin', 'x'] as const;

const pressureArb: fc.Arbitrary<Pressure> = fc
  .tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }))
  .map(([some, full]) => ({
    some: { avg10: some, avg60: some / 2, avg300: some / 4 },
    full: { avg10: full, avg60: full / 2, avg300: full / 4 },
  }));

/** Paths of a random memcg tree: "/", "/batch" and up to 10 more descendants. */
const treeArb: fc.Arbitrary<string[]> = fc
  .array(fc.tuple(fc.nat({ max: 5 }), fc.constantFrom(...NAMES)), { minLength: 1, maxLength: 10 })
  .map((steps) => {
    const paths = ['/', '/batch'];
    for (const [parent, name] of steps) {
      const base = paths[parent % paths.length] ?? '/';
      const path = base === '/' ? `/${name}` : `${base}/${name}`;
      if (!paths.includes(path)) paths.push(path);
    }
    return paths;
  });

const memcgArb = (path: string): fc.Arbitrary<Memcg> =>
  fc
    .record({
      usage: fc.integer({ min: 0, max: 16 * 1024 }).map((m) => m * MiB),
      limit: fc.option(
        fc.integer({ min: 1, max: 16 * 1024 }).map((m) => m * MiB),
        {
          nil: null,
        },
      ),
      pressure: fc.option(pressureArb, { nil: undefined }),
      oom: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
      underOom: fc.option(fc.boolean(), { nil: undefined }),
    })
    .map(({ usage, limit, pressure, oom, underOom }) => ({
      path,
      usage,
      limit,
      ...(pressure ? { pressure } : {}),
      ...(oom !== undefined ? { events: { oom, oom_kill: oom } } : {}),
      ...(underOom !== undefined ? { underOom } : {}),
    }));

const COMMS = ['systemd', 'sshd', 'postgres', 'spark-exec', 'python3', 'chrome', 'java', 'worker'];
const ARGS = [[], ['--primary'], ['--type=renderer'], ['-jar', 'kafka.jar'], ['worker.py']];

const processArb = (pid: number, cgroups: string[]): fc.Arbitrary<ProcessInfo> =>
  fc
    .record({
      comm: fc.constantFrom(...COMMS),
      args: fc.constantFrom(...ARGS),
      rss: fc.oneof(fc.constant(0), {
        weight: 6,
        arbitrary: fc.integer({ min: 1, max: 8 * 1024 }).map((m) => m * MiB),
      }),
      oomScore: fc.integer({ min: 0, max: 2000 }),
      oomScoreAdj: fc.oneof(
        fc.constantFrom(-1000, -999, -500, 0, 0, 200, 1000),
        fc.integer({ min: -1000, max: 1000 }),
      ),
      startTime: fc.integer({ min: 0, max: 1_000_000 }).map((ago) => T0 - ago),
      cgroup: fc.constantFrom(...cgroups),
      kernel: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, fc.constant(true)),
    })
    .map(({ comm, args, rss, oomScore, oomScoreAdj, startTime, cgroup, kernel }) => ({
      pid,
      ppid: kernel ? 2 : 1,
      comm: kernel ? `kworker/${pid % 8}:0` : comm,
      cmdline: kernel ? [] : [comm, ...args],
      rss: kernel ? 0 : rss,
      oomScore,
      oomScoreAdj,
      startTime,
      cgroup,
      ...(kernel ? { kernelThread: true } : {}),
    }));

const snapshotArb: fc.Arbitrary<HostSnapshot> = treeArb.chain((paths) =>
  fc
    .record({
      memcgs: fc.tuple(...paths.map(memcgArb)),
      pids: fc.uniqueArray(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 24 }),
      withInit: fc.boolean(),
      memTotal: fc.integer({ min: 1, max: 64 }).map((g) => g * GiB),
      availShare: fc.double({ min: 0, max: 1, noNaN: true }),
      swapTotal: fc.constantFrom(0, 0, 2 * GiB, 8 * GiB),
      swapShare: fc.double({ min: 0, max: 1, noNaN: true }),
      pressure: fc.option(pressureArb, { nil: undefined }),
      oomKills: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
    })
    .chain((r) => {
      const pids = r.withInit && !r.pids.includes(1) ? [1, ...r.pids] : r.pids;
      return fc
        .record({
          processes: fc.tuple(...pids.map((pid) => processArb(pid, paths))),
          agentPids: fc.subarray(pids, { maxLength: Math.min(2, pids.length) }),
        })
        .map(({ processes, agentPids }): HostSnapshot => ({
          time: T0,
          cgroupMode: 'v2',
          host: {
            memTotal: r.memTotal,
            memAvailable: Math.floor(r.memTotal * r.availShare),
            swapTotal: r.swapTotal,
            swapFree: Math.floor(r.swapTotal * r.swapShare),
            ...(r.pressure ? { pressure: r.pressure } : {}),
            ...(r.oomKills !== undefined ? { oomKills: r.oomKills } : {}),
          },
          memcgs: r.memcgs,
          processes,
          ...(agentPids.length > 0 ? { agentPids } : {}),
        }));
    }),
);

/** Earlier snapshots of the same host: same tree and pids, other numbers. */
const pastArb = (now: HostSnapshot): fc.Arbitrary<HostSnapshot[]> =>
  fc
    .array(
      fc.record({
        ago: fc.integer({ min: 1, max: 90_000 }),
        factor: fc.double({ min: 0, max: 2, noNaN: true }),
        pressure: fc.option(pressureArb, { nil: undefined }),
        oomDrop: fc.integer({ min: 0, max: 2 }),
      }),
      { maxLength: 4 },
    )
    .map((list) =>
      list
        .map(({ ago, factor, pressure, oomDrop }): HostSnapshot => ({
          ...now,
          time: now.time - ago,
          host: {
            ...now.host,
            memAvailable: Math.min(now.host.memTotal, Math.floor(now.host.memAvailable * factor)),
            ...(now.host.oomKills !== undefined
              ? { oomKills: Math.max(0, now.host.oomKills - oomDrop) }
              : {}),
          },
          memcgs: now.memcgs.map((m) => ({
            ...m,
            usage: Math.floor(m.usage * factor),
            ...(pressure ? { pressure } : {}),
            ...(m.events?.oom !== undefined
              ? { events: { oom: Math.max(0, m.events.oom - oomDrop) } }
              : {}),
          })),
          processes: now.processes.map((p) => ({ ...p, rss: Math.floor(p.rss * factor) })),
        }))
        .sort((a, b) => a.time - b.time)
        // Two snapshots of one instant would make "the previous snapshot" ambiguous.
        .filter((x, i, all) => all[i - 1]?.time !== x.time),
    );

// ---- policies ----

const RULE_NAMES = ['r0', 'r1', 'r2', 'r3', 'r4'] as const;
const REGEXES = ['^spark', 'chrome', '--type=renderer', '^/batch/', 'job-a$', '^python'];
/** Protections chosen so that none covers a kill rule's whole scope (the loader refuses that). */
interface Protection {
  process?: string;
  cmdline?: string;
  cgroup?: string;
}
const PROTECT: Protection[] = [
  { process: '^sshd$' },
  { process: '^postgres$' },
  { cmdline: '--primary' },
  { cmdline: 'kafka\\.jar' },
  { cgroup: '/system.slice' },
  { cgroup: '/web/admin' },
  { cgroup: '/batch/job-a' },
];
const CGROUP_SCOPES = ['/batch/*', '/batch/*', '/batch/**', '/**', '/*', '/*', '/web/*', '/', '/x'];

const pct = (min: number, max: number) => fc.integer({ min, max }).map((n) => `${n}%`);

const triggerArb = (global: boolean): fc.Arbitrary<Record<string, unknown>> =>
  fc.oneof(
    fc.record({
      pressure: fc.record({
        kind: fc.constantFrom('some', 'full'),
        window: fc.constantFrom('avg10', 'avg60', 'avg300'),
        above: fc.integer({ min: 0, max: 99 }),
        for: fc.constantFrom('0s', '5s', '30s'),
      }),
    }),
    fc.record({
      usage: global
        ? fc.record({ of: fc.constant('ram'), above: pct(1, 99) })
        : fc.record({
            of: fc.constantFrom('limit', 'ram'),
            above: fc.oneof(pct(1, 99), fc.constant('4Gi')),
          }),
    }),
    fc.record({ available: fc.record({ below: fc.oneof(pct(1, 100), fc.constant('2Gi')) }) }),
    fc.record({
      swap: fc.record(
        { below: pct(1, 100), noSwap: fc.constantFrom('ignore', 'fire') },
        { requiredKeys: ['below'] },
      ),
    }),
    fc.record({ oom: fc.record({ on: fc.constantFrom('any', 'stuck', 'event') }) }),
    fc.record({
      growth: fc.record({
        above: fc.constantFrom('1Mi', '64Mi'),
        window: fc.constantFrom('5s', '30s'),
      }),
    }),
  );

const conditionArb = (global: boolean): fc.Arbitrary<Record<string, unknown>> =>
  fc.oneof(
    { weight: 3, arbitrary: triggerArb(global) },
    fc.record({ any: fc.array(triggerArb(global), { minLength: 1, maxLength: 3 }) }),
    fc.record({ all: fc.array(triggerArb(global), { minLength: 1, maxLength: 3 }) }),
  );

const killArb = (global: boolean) =>
  fc.record({
    kill: fc.record({
      victim: fc.constantFrom('largest', 'fastest-growing', 'lowest-priority', 'newest', 'oldest'),
      among: global ? fc.constant('process') : fc.constantFrom('process', 'cgroup'),
      prefer: fc.subarray(REGEXES, { maxLength: 2 }),
      avoid: fc.subarray(REGEXES, { maxLength: 2 }),
      repeat: fc.constantFrom('once', 'until-clear'),
    }),
  });

const actionArb = (global: boolean): fc.Arbitrary<Record<string, unknown>> =>
  global
    ? fc.oneof({ weight: 3, arbitrary: killArb(true) }, fc.constant({ notify: {} }))
    : fc.oneof(
        { weight: 3, arbitrary: killArb(false) },
        fc.record({
          throttle: fc.record({ memoryHigh: fc.oneof(pct(10, 100), fc.constant('1Gi')) }),
        }),
        fc.constant({ notify: { severity: 'info' } }),
      );

const ruleArb = (name: string): fc.Arbitrary<Record<string, unknown>> =>
  fc.constantFrom('global', 'global', ...CGROUP_SCOPES).chain((scope) =>
    fc.record({
      name: fc.constant(name),
      scope: fc.constant(scope),
      when: conditionArb(scope === 'global'),
      action: actionArb(scope === 'global'),
      cooldown: fc.constantFrom('0s', '5s', '15s', '1m'),
      dryRun: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, fc.constant(true)),
    }),
  );

const policyDocArb = fc.record({
  apiVersion: fc.constant('oomfleet/v1'),
  kind: fc.constant('OomPolicy'),
  metadata: fc.constant({ name: 'prop' }),
  spec: fc.record({
    dryRun: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, fc.constant(true)),
    killBudget: fc.record({
      max: fc.oneof(fc.constant(0), { weight: 5, arbitrary: fc.integer({ min: 1, max: 4 }) }),
      per: fc.constantFrom('10s', '1m', '2m'),
    }),
    protect: fc.subarray(PROTECT),
    rules: fc
      .integer({ min: 1, max: RULE_NAMES.length })
      .chain((n) => fc.tuple(...RULE_NAMES.slice(0, n).map(ruleArb))),
  }),
});

function compile(doc: unknown): CompiledPolicy {
  const r = loadPolicyValue(doc);
  if (!r.ok || !r.policy)
    throw new Error(`generated policy does not load: ${JSON.stringify(r.issues)}`);
  return r.policy;
}

const actionRecordArb = (s: HostSnapshot): fc.Arbitrary<ActionRecord> =>
  fc
    .record({
      ago: fc.integer({ min: 0, max: 150_000 }),
      rule: fc.constantFrom(...RULE_NAMES, 'retired'),
      kind: fc.constantFrom('kill', 'kill', 'throttle', 'notify'),
      dryRun: fc.boolean(),
      pending: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, fc.constant(true)),
      pid: fc.option(fc.constantFrom(...s.processes.map((p) => p.pid), 9999), { nil: undefined }),
      cgroup: fc.constantFrom(...s.memcgs.map((m) => m.path)),
    })
    .map(({ ago, rule, kind, dryRun, pending, pid, cgroup }) => ({
      time: s.time - ago,
      rule,
      kind,
      dryRun,
      ...(kind === 'kill' && pending ? { pending: true } : {}),
      ...(pid !== undefined ? { pid } : { cgroup }),
    }));

const scenarioArb = snapshotArb.chain((snapshot) =>
  fc.record({
    snapshot: fc.constant(snapshot),
    history: fc.record({
      snapshots: pastArb(snapshot),
      actions: fc.array(actionRecordArb(snapshot), { maxLength: 4 }),
      firingSince: fc.dictionary(
        fc.constantFrom(...RULE_NAMES),
        fc.integer({ min: 0, max: 120_000 }).map((ago) => T0 - ago),
      ),
    }),
    doc: policyDocArb,
    seed: fc.integer(),
  }),
);

// ---- helpers ----

function shuffle<T>(list: readonly T[], seed: number): T[] {
  const out = [...list];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
    const j = s % (i + 1);
    const a = out[i] as T;
    out[i] = out[j] as T;
    out[j] = a;
  }
  return out;
}

function isUnder(path: string, ancestor: string): boolean {
  return ancestor === '/' || path === ancestor || path.startsWith(`${ancestor}/`);
}

/** Why a process may never be killed under this policy document, judged independently of candidates.ts. */
function mayNotDie(doc: { spec: { protect: Protection[] } }, s: HostSnapshot) {
  return (p: ProcessInfo): string | undefined => {
    if (p.pid === 1) return 'pid 1';
    if (p.kernelThread || p.pid === 2 || (p.ppid === 2 && p.cmdline.length === 0))
      return 'kernel thread';
    if (s.agentPids?.includes(p.pid)) return 'agent';
    if (p.oomScoreAdj === -1000) return '-1000';
    for (const pr of doc.spec.protect) {
      if (pr.process !== undefined && new RegExp(pr.process, 'u').test(p.comm)) return 'comm';
      if (pr.cmdline !== undefined && new RegExp(pr.cmdline, 'u').test(p.cmdline.join(' ')))
        return 'cmdline';
      if (pr.cgroup !== undefined && compileGlob(pr.cgroup).matchesSelfOrAncestor(p.cgroup))
        return 'cgroup';
    }
    return undefined;
  };
}

/** Do two firing-target lists share a memcg subtree ("global" shares everything)? */
function targetsOverlap(a: readonly string[], b: readonly string[]): boolean {
  return a.some((x) =>
    b.some((y) => x === 'global' || y === 'global' || isUnder(x, y) || isUnder(y, x)),
  );
}

const killedPids = (d: Decision, s: HostSnapshot): number[] => {
  const k = d.kill;
  if (!k) return [];
  if (k.among === 'process') return [k.pid];
  return s.processes.filter((p) => isUnder(p.cgroup, k.cgroup)).map((p) => p.pid);
};

const PARAMS = { numRuns: 500, seed: 20_251_125 } as const;

// ---- properties ----

describe('evaluator properties', () => {
  it('generated policies are valid documents', () => {
    fc.assert(
      fc.property(policyDocArb, (doc) => {
        const r = loadPolicyValue(doc);
        expect(r.issues.filter((i) => i.severity === 'error')).toEqual([]);
      }),
      { ...PARAMS, numRuns: 100 },
    );
  });

  it('is deterministic: twice the same, and the same choices on shuffled memcgs and processes', () => {
    fc.assert(
      fc.property(scenarioArb, ({ snapshot, history, doc, seed }) => {
        const policy = compile(doc);
        const a = evaluate(policy, snapshot, history);
        expect(evaluate(policy, snapshot, history)).toEqual(a);
        const c = evaluate(policy, shuffled(snapshot, seed), {
          ...history,
          snapshots: shuffle(history.snapshots, seed + 2),
        });
        expect(c).toEqual(a);
      }),
      PARAMS,
    );
  });

  it('never kills pid 1, a kernel thread, the agent, a -1000 process or a protected one', () => {
    fc.assert(
      fc.property(scenarioArb, ({ snapshot, history, doc }) => {
        const e = evaluate(compile(doc), snapshot, history);
        const why = mayNotDie(doc, snapshot);
        for (const d of e.decisions) {
          for (const pid of killedPids(d, snapshot)) {
            const p = snapshot.processes.find((x) => x.pid === pid);
            expect(p, `victim pid ${pid} exists`).toBeDefined();
            if (p) expect(why(p), `rule ${d.rule} kills pid ${pid}`).toBeUndefined();
          }
          if (d.kill?.among === 'cgroup') {
            const path = d.kill.cgroup;
            expect(path).not.toBe('/');
            const procs = snapshot.processes.filter((p) => isUnder(p.cgroup, path));
            expect(procs.length).toBeGreaterThan(0);
            expect(d.kill.pids).toEqual(procs.map((p) => p.pid).sort((x, y) => x - y));
            for (const pr of doc.spec.protect)
              if (pr.cgroup !== undefined)
                expect(compileGlob(pr.cgroup).matchesSelfOrAncestor(path)).toBe(false);
          }
          if (d.kill?.among === 'process') {
            const p = snapshot.processes.find(
              (x) => x.pid === (d.kill?.among === 'process' ? d.kill.pid : 0),
            );
            expect(p?.rss).toBeGreaterThan(0);
          }
        }
      }),
      PARAMS,
    );
  });

  it('enforcing kills never pick a pending victim or one another rule already picked', () => {
    fc.assert(
      fc.property(scenarioArb, ({ snapshot, history, doc }) => {
        const e = evaluate(compile(doc), snapshot, history);
        const pendingPids = new Set(
          history.actions
            .filter((a) => a.kind === 'kill' && a.pending && a.pid !== undefined)
            .map((a) => a.pid),
        );
        const seen = new Set<number>();
        for (const d of e.decisions.filter((x) => x.action === 'kill' && x.enforce)) {
          const k = d.kill;
          const pids = k?.among === 'process' ? [k.pid] : (k?.pids ?? []);
          for (const pid of pids) {
            expect(pendingPids.has(pid)).toBe(false);
            expect(seen.has(pid)).toBe(false);
            seen.add(pid);
          }
        }
      }),
      PARAMS,
    );
  });

  it('no two enforcing kill decisions in one evaluation have overlapping firing targets', () => {
    let overlappingRulesHeldBack = 0;
    fc.assert(
      fc.property(scenarioArb, ({ snapshot, history, doc }) => {
        const e = evaluate(compile(doc), snapshot, history);
        const killDecisions = e.decisions.filter((d) => d.action === 'kill');
        const enforcing = killDecisions.filter((d) => d.enforce);
        for (const [i, a] of enforcing.entries())
          for (const b of enforcing.slice(i + 1))
            expect(
              targetsOverlap(a.firing, b.firing),
              `rules ${a.rule} and ${b.rule} both kill on ${a.firing.join(',')} / ${b.firing.join(',')}`,
            ).toBe(false);
        // More generally: the only overlapping pair is a dry-run kill followed by a real one.
        for (const [i, a] of killDecisions.entries())
          for (const b of killDecisions.slice(i + 1))
            if (targetsOverlap(a.firing, b.firing))
              expect([a.rule, a.dryRun, b.rule, b.dryRun]).toEqual([a.rule, true, b.rule, false]);
        // A rule held back names an earlier rule that killed on overlapping targets.
        for (const r of e.rules) {
          const m =
            /^rule (\S+) already (kills|would kill) on overlapping targets this tick; waiting for its effect$/u.exec(
              r.reason,
            );
          if (!m) continue;
          overlappingRulesHeldBack++;
          expect(r.outcome).toBe('suppressed');
          const earlier = killDecisions.find((d) => d.rule === m[1]);
          expect(earlier).toBeDefined();
          expect(e.rules.findIndex((x) => x.rule === m[1])).toBeLessThan(e.rules.indexOf(r));
          expect(earlier?.dryRun).toBe(m[2] === 'would kill');
          expect(targetsOverlap(earlier?.firing ?? [], r.fired)).toBe(true);
        }
      }),
      PARAMS,
    );
    // The generated policies do put overlapping kill rules in one tick.
    expect(overlappingRulesHeldBack).toBeGreaterThan(0);
  });

  it('with spec-level dryRun every decision is dry and none is enforced', () => {
    fc.assert(
      fc.property(scenarioArb, ({ snapshot, history, doc }) => {
        const e = evaluate(
          compile({ ...doc, spec: { ...doc.spec, dryRun: true } }),
          snapshot,
          history,
        );
        for (const d of e.decisions) expect([d.dryRun, d.enforce]).toEqual([true, false]);
        for (const r of e.rules) expect(r.outcome).not.toBe('acted');
      }),
      PARAMS,
    );
  });

  it('enforce is exactly "not dry run", and dry-run rules never enforce', () => {
    fc.assert(
      fc.property(scenarioArb, ({ snapshot, history, doc }) => {
        const policy = compile(doc);
        const e = evaluate(policy, snapshot, history);
        for (const d of e.decisions) {
          expect(d.enforce).toBe(!d.dryRun);
          const rule = policy.rules.find((r) => r.name === d.rule);
          expect(d.dryRun).toBe(policy.dryRun || rule?.dryRun === true);
        }
      }),
      PARAMS,
    );
  });

  it('the kill budget holds: enforcing kills in the window, history included, stay within max', () => {
    fc.assert(
      fc.property(scenarioArb, ({ snapshot, history, doc }) => {
        const policy = compile(doc);
        const e = evaluate(policy, snapshot, history);
        const since = snapshot.time - policy.killBudget.perMs;
        const before = history.actions.filter(
          (a) => a.kind === 'kill' && !a.dryRun && a.time > since,
        ).length;
        const now = e.decisions.filter((d) => d.action === 'kill' && d.enforce).length;
        expect(now).toBeLessThanOrEqual(Math.max(0, policy.killBudget.max - before));
      }),
      PARAMS,
    );
  });

  it('every rule has exactly one outcome, in order, and decisions match outcomes', () => {
    fc.assert(
      fc.property(scenarioArb, ({ snapshot, history, doc }) => {
        const policy = compile(doc);
        const e = evaluate(policy, snapshot, history);
        expect(e.rules.map((r) => r.rule)).toEqual(policy.rules.map((r) => r.name));
        for (const r of e.rules) {
          expect(['quiet', 'acted', 'dry-run', 'suppressed', 'no-victim']).toContain(r.outcome);
          expect(r.reason.length).toBeGreaterThan(0);
          const mine = e.decisions.filter((d) => d.rule === r.rule);
          if (r.outcome === 'acted' || r.outcome === 'dry-run') {
            expect(mine.length).toBeGreaterThan(0);
            expect(mine.every((d) => d.dryRun === (r.outcome === 'dry-run'))).toBe(true);
          } else expect(mine).toEqual([]);
          expect(mine.filter((d) => d.action === 'kill').length).toBeLessThanOrEqual(1);
          if (r.outcome === 'quiet') expect(r.fired).toEqual([]);
          else expect(r.fired.length).toBeGreaterThan(0);
        }
        for (const d of e.decisions) {
          expect(d.trace.summary.length).toBeGreaterThan(0);
          expect(d.trace.conditions.length).toBeGreaterThan(0);
          if (d.action === 'kill') expect(d.trace.victim?.chosen).toBeDefined();
        }
      }),
      PARAMS,
    );
  });
});

describe('the swap trigger and noSwap', () => {
  it('noSwap matters only on a host without swap: ignore never fires there, fire always does', () => {
    fc.assert(
      fc.property(snapshotArb, pct(1, 100), (snapshot, below) => {
        const fired = (noSwap?: 'ignore' | 'fire'): { fired: boolean; noData?: string } => {
          const doc = {
            apiVersion: 'oomfleet/v1',
            kind: 'OomPolicy',
            metadata: { name: 'swap' },
            spec: {
              rules: [
                {
                  name: 's',
                  scope: 'global',
                  when: { swap: noSwap ? { below, noSwap } : { below } },
                  action: { notify: {} },
                },
              ],
            },
          };
          const r = evaluate(compile(doc), snapshot, {
            snapshots: [],
            actions: [],
            firingSince: {},
          }).rules[0];
          const t = r?.conditions[0]?.trace;
          if (!r || !t || 'combinator' in t) throw new Error('expected one trigger outcome');
          expect(t.fired).toBe(r.fired.length > 0);
          return { fired: t.fired, ...(t.noData !== undefined ? { noData: t.noData } : {}) };
        };
        const byDefault = fired();
        expect(fired('ignore')).toEqual(byDefault);
        if (snapshot.host.swapTotal === 0) {
          expect(byDefault).toEqual({
            fired: false,
            noData: 'the host has no swap (noSwap: ignore)',
          });
          expect(fired('fire')).toEqual({ fired: true });
        } else {
          expect(byDefault.noData).toBeUndefined();
          expect(fired('fire')).toEqual(byDefault);
        }
      }),
      { ...PARAMS, numRuns: 200 },
    );
  });
});

function shuffled(s: HostSnapshot, seed: number): HostSnapshot {
  return { ...s, memcgs: shuffle(s.memcgs, seed), processes: shuffle(s.processes, seed + 1) };
}

describe('determinism of traces', () => {
  // selection() keeps the first three excluded candidates per reason; they
  // must not depend on the order in which the snapshot lists processes.
  it('exclusion examples do not depend on the order of snapshot.processes', () => {
    const snapshot: HostSnapshot = {
      time: T0,
      cgroupMode: 'v2',
      host: { memTotal: 16 * GiB, memAvailable: GiB, swapTotal: 0, swapFree: 0 },
      memcgs: [{ path: '/', usage: GiB, limit: null }],
      processes: [5, 4, 3, 2, 6].map((n) => ({
        pid: n * 10,
        comm: `p${n}`,
        cmdline: [`p${n}`],
        rss: n === 6 ? GiB : MiB,
        oomScore: 0,
        oomScoreAdj: n === 6 ? 0 : -1000,
        startTime: T0,
        cgroup: '/',
      })),
    };
    const policy = compile({
      apiVersion: 'oomfleet/v1',
      kind: 'OomPolicy',
      metadata: { name: 'order' },
      spec: {
        rules: [
          {
            name: 'k',
            scope: 'global',
            when: { available: { below: '50%' } },
            action: { kill: {} },
          },
        ],
      },
    });
    const none: History = { snapshots: [], actions: [], firingSince: {} };
    const a = evaluate(policy, snapshot, none);
    const b = evaluate(policy, { ...snapshot, processes: [...snapshot.processes].reverse() }, none);
    expect(b.decisions).toEqual(a.decisions);
  });

  // Same cause: a cgroup shielded by several members names the first one in
  // snapshot order ("contains pid 1 ..." or "contains pid 110 ...").
  it('the member named for a shielded cgroup does not depend on process order', () => {
    const snapshot: HostSnapshot = {
      time: T0,
      cgroupMode: 'v2',
      host: { memTotal: 16 * GiB, memAvailable: GiB, swapTotal: 0, swapFree: 0 },
      memcgs: [
        { path: '/a', usage: 4 * GiB, limit: null },
        { path: '/b', usage: GiB, limit: null },
      ],
      processes: [
        {
          pid: 7,
          comm: 'db',
          cmdline: ['db'],
          rss: GiB,
          oomScore: 0,
          oomScoreAdj: -1000,
          startTime: T0,
          cgroup: '/a',
        },
        {
          pid: 3,
          comm: 'init',
          cmdline: ['init'],
          rss: GiB,
          oomScore: 0,
          oomScoreAdj: 0,
          startTime: T0,
          cgroup: '/a',
        },
        {
          pid: 9,
          comm: 'w',
          cmdline: ['w'],
          rss: GiB,
          oomScore: 0,
          oomScoreAdj: 0,
          startTime: T0,
          cgroup: '/b',
        },
      ],
      agentPids: [3],
    };
    const policy = compile({
      apiVersion: 'oomfleet/v1',
      kind: 'OomPolicy',
      metadata: { name: 'order' },
      spec: {
        rules: [
          {
            name: 'k',
            scope: '/*',
            when: { available: { below: '50%' } },
            action: { kill: { among: 'cgroup' } },
          },
        ],
      },
    });
    const none: History = { snapshots: [], actions: [], firingSince: {} };
    const a = evaluate(policy, snapshot, none);
    const b = evaluate(policy, { ...snapshot, processes: [...snapshot.processes].reverse() }, none);
    expect(a.decisions[0]?.kill).toMatchObject({ cgroup: '/b' });
    expect(b.decisions).toEqual(a.decisions);
  });
});
