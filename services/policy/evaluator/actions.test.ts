// Decisions: kill, throttle, notify; dry-run; cooldowns and repeat; pending
// kills; one kill per target per tick; the kill budget; several rules in one
// evaluation; traces.
import { describe, expect, it } from 'vitest';
import {
  GiB,
  MiB,
  T0,
  killRecord,
  kills,
  makeHistory,
  makeMemcg,
  makePolicy,
  makeProcess,
  makeSnapshot,
  outcomeOf,
  rule,
  run,
  victimOf,
} from '../../../test/helpers/evaluator.ts';
import type { ActionRecord, History } from '../snapshot.ts';

const ALWAYS = { available: { below: '100%' } };

const snapshot = makeSnapshot({
  memcgs: [
    makeMemcg({ path: '/' }),
    makeMemcg({ path: '/batch', usage: 12 * GiB, limit: 12 * GiB }),
    makeMemcg({ path: '/batch/a', usage: 7 * GiB, limit: 8 * GiB }),
    makeMemcg({ path: '/batch/b', usage: 4 * GiB, limit: 8 * GiB }),
    makeMemcg({ path: '/batch/c', usage: 512 * MiB, limit: 8 * GiB }),
  ],
  processes: [
    makeProcess({ pid: 1, comm: 'systemd', rss: 12 * MiB }),
    makeProcess({ pid: 101, comm: 'spark', cgroup: '/batch/a', rss: 6 * GiB }),
    makeProcess({ pid: 102, comm: 'python3', cgroup: '/batch/a', rss: 900 * MiB }),
    makeProcess({ pid: 201, comm: 'ffmpeg', cgroup: '/batch/b', rss: 3 * GiB }),
    makeProcess({ pid: 202, comm: 'sh', cgroup: '/batch/b', rss: 2 * MiB }),
    makeProcess({ pid: 301, comm: 'idle', cgroup: '/batch/c', rss: 400 * MiB }),
  ],
});

const killRule = (name: string, extra: Record<string, unknown> = {}, kill = {}) =>
  rule({ name, scope: '/batch/*', when: ALWAYS, action: { kill }, ...extra });

/** A kill of the previous tick whose victim is still dying. */
const pendingKill = (a: Partial<ActionRecord> & { rule: string }): ActionRecord =>
  killRecord({ time: T0 - 1_000, pending: true, ...a });

/** The reason of a kill rule held back by an earlier kill rule of the same tick. */
const heldBackBy = (earlier: string, dryRun = false): string =>
  `rule ${earlier} already ${dryRun ? 'would kill' : 'kills'} on overlapping targets this tick; waiting for its effect`;

const killedPid = (d: { kill?: { among: string; pid?: number } }): number | undefined =>
  d.kill?.among === 'process' ? d.kill.pid : undefined;

describe('kill', () => {
  it('decides one victim per rule with every field the agent needs', () => {
    const policy = makePolicy({
      rules: [killRule('k', {}, { grace: '5s', repeat: 'until-clear' })],
    });
    const e = run(policy, snapshot);
    expect(e.time).toBe(T0);
    expect(e.policy).toEqual({ name: 'test', digest: policy.digest });
    expect(e.decisions).toHaveLength(1);
    expect(e.decisions[0]).toMatchObject({
      rule: 'k',
      action: 'kill',
      dryRun: false,
      enforce: true,
      firing: ['/batch/a', '/batch/b', '/batch/c'],
      kill: {
        among: 'process',
        pid: 101,
        comm: 'spark',
        cmdline: 'spark',
        cgroup: '/batch/a',
        rss: 6 * GiB,
        startTime: T0 - 3_600_000,
        graceMs: 5000,
        repeat: 'until-clear',
      },
    });
    expect(outcomeOf(e, 'k')).toMatchObject({ outcome: 'acted', matched: 3 });
  });

  it('a rule that does not fire decides nothing and is quiet', () => {
    const policy = makePolicy({
      rules: [
        rule({
          name: 'k',
          scope: '/batch/*',
          when: { usage: { above: '99%' } },
          action: { kill: {} },
        }),
      ],
    });
    const e = run(policy, snapshot);
    expect(e.decisions).toEqual([]);
    expect(outcomeOf(e, 'k')).toMatchObject({
      outcome: 'quiet',
      reason: 'condition does not hold',
      fired: [],
    });
  });

  it('no candidate → no-victim, with the exclusions in the outcome', () => {
    const policy = makePolicy({
      protect: [{ process: '^(spark|python3|ffmpeg|sh|idle)$' }],
      rules: [killRule('k')],
    });
    const e = run(policy, snapshot);
    expect(e.decisions).toEqual([]);
    const o = outcomeOf(e, 'k');
    expect(o.outcome).toBe('no-victim');
    expect(o.reason).toMatch(/no candidate may be killed/);
    expect(o.victim?.excluded[0]?.count).toBe(5);
  });
});

describe('throttle', () => {
  it('one decision per firing memcg: memory.high as a share of its current usage', () => {
    const policy = makePolicy({
      rules: [
        rule({
          name: 't',
          scope: '/batch/*',
          when: { usage: { above: '40%' } },
          action: { throttle: { memoryHigh: '80%', duration: '1m' } },
        }),
      ],
    });
    const e = run(policy, snapshot);
    expect(e.decisions.map((d) => d.throttle)).toEqual([
      {
        cgroup: '/batch/a',
        memoryHigh: Math.floor(0.8 * 7 * GiB),
        durationMs: 60_000,
        usage: 7 * GiB,
      },
      {
        cgroup: '/batch/b',
        memoryHigh: Math.floor(0.8 * 4 * GiB),
        durationMs: 60_000,
        usage: 4 * GiB,
      },
    ]);
    expect(e.decisions.map((d) => d.firing)).toEqual([['/batch/a'], ['/batch/b']]);
    expect(e.decisions.every((d) => d.action === 'throttle' && d.enforce && !d.dryRun)).toBe(true);
    expect(e.decisions[0]?.trace.conditions.map((c) => c.target)).toEqual(['/batch/a']);
    expect(outcomeOf(e, 't')).toMatchObject({ outcome: 'acted', fired: ['/batch/a', '/batch/b'] });
  });

  it('memory.high as a size', () => {
    const policy = makePolicy({
      rules: [
        rule({
          name: 't',
          scope: '/batch/a',
          when: ALWAYS,
          action: { throttle: { memoryHigh: '6Gi' } },
        }),
      ],
    });
    const e = run(policy, snapshot);
    expect(e.decisions).toHaveLength(1);
    expect(e.decisions[0]?.throttle).toEqual({
      cgroup: '/batch/a',
      memoryHigh: 6 * GiB,
      durationMs: 30_000,
      usage: 7 * GiB,
    });
  });
});

describe('notify', () => {
  it('one decision, however many targets fire', () => {
    const policy = makePolicy({
      rules: [
        rule({
          name: 'n',
          scope: '/batch/*',
          when: ALWAYS,
          action: { notify: { message: 'batch is hot', severity: 'critical' } },
        }),
      ],
    });
    const e = run(policy, snapshot);
    expect(e.decisions).toHaveLength(1);
    expect(e.decisions[0]).toMatchObject({
      action: 'notify',
      notify: { message: 'batch is hot', severity: 'critical' },
      firing: ['/batch/a', '/batch/b', '/batch/c'],
      enforce: true,
      dryRun: false,
    });
    expect(e.decisions[0]?.trace.summary).toMatch(
      /^notify \(critical\): rule n fired on 3 targets/,
    );
  });
});

describe('dry run', () => {
  const rules = [
    killRule('k'),
    rule({
      name: 't',
      scope: '/batch/a',
      when: ALWAYS,
      action: { throttle: { memoryHigh: '90%' } },
    }),
    rule({ name: 'n', when: ALWAYS }),
  ];

  it('spec-level: every decision is dryRun and not enforced; outcomes say dry-run', () => {
    const e = run(makePolicy({ dryRun: true, rules }), snapshot);
    expect(e.decisions.map((d) => d.action)).toEqual(['kill', 'throttle', 'notify']);
    for (const d of e.decisions) expect(d).toMatchObject({ dryRun: true, enforce: false });
    expect(e.rules.map((r) => r.outcome)).toEqual(['dry-run', 'dry-run', 'dry-run']);
    expect(e.decisions[0]?.trace.summary).toMatch(/^would kill pid 101/);
  });

  it('per rule: only that rule is dry', () => {
    const e = run(
      makePolicy({ rules: [killRule('k', { dryRun: true }), ...rules.slice(1)] }),
      snapshot,
    );
    expect(e.decisions.map((d) => [d.rule, d.dryRun, d.enforce])).toEqual([
      ['k', true, false],
      ['t', false, true],
      ['n', false, true],
    ]);
    expect(e.rules.map((r) => r.outcome)).toEqual(['dry-run', 'acted', 'acted']);
  });

  it('a dry-run choice does not shield its victim from a later real rule', () => {
    const e = run(
      makePolicy({ rules: [killRule('dry', { dryRun: true }), killRule('real')] }),
      snapshot,
    );
    expect(
      kills(e).map((d) => [d.rule, d.kill?.among === 'process' ? d.kill.pid : 0, d.enforce]),
    ).toEqual([
      ['dry', 101, false],
      ['real', 101, true],
    ]);
  });

  it('a real choice shields its victim from a later dry-run rule too', () => {
    // The real kill of the previous tick is still pending: the dry-run rule
    // reports the next victim, not the dying one.
    const e = run(
      makePolicy({ rules: [killRule('real'), killRule('dry', { dryRun: true })] }),
      snapshot,
      makeHistory({ actions: [pendingKill({ rule: 'real', pid: 101 })] }),
    );
    expect(outcomeOf(e, 'real')).toMatchObject({
      outcome: 'suppressed',
      reason: 'waiting for the previous victim (pid 101) to die',
    });
    expect(kills(e).map((d) => [d.rule, killedPid(d), d.enforce])).toEqual([['dry', 201, false]]);
    expect(outcomeOf(e, 'dry').victim?.excluded).toEqual([
      { reason: 'already being killed', count: 1, examples: ['pid 101 (spark)'] },
    ]);
  });

  it('in the same tick, a real kill holds back a later overlapping dry-run rule', () => {
    const e = run(
      makePolicy({ rules: [killRule('real'), killRule('dry', { dryRun: true })] }),
      snapshot,
    );
    expect(kills(e).map((d) => [d.rule, killedPid(d), d.enforce])).toEqual([['real', 101, true]]);
    expect(outcomeOf(e, 'dry')).toMatchObject({
      outcome: 'suppressed',
      reason: heldBackBy('real'),
    });
  });
});

describe('several rules in one evaluation', () => {
  it('enforcing kill rules never choose the same victim', () => {
    // One kill per tick on overlapping targets, so the three rules take turns
    // over three ticks; each skips the victims still dying from the earlier ticks.
    const policy = makePolicy({ rules: [killRule('k1'), killRule('k2'), killRule('k3')] });
    const tick1 = run(policy, snapshot);
    expect(kills(tick1).map((d) => [d.rule, killedPid(d)])).toEqual([['k1', 101]]);
    expect(outcomeOf(tick1, 'k2')).toMatchObject({
      outcome: 'suppressed',
      reason: heldBackBy('k1'),
    });
    expect(outcomeOf(tick1, 'k3')).toMatchObject({
      outcome: 'suppressed',
      reason: heldBackBy('k1'),
    });

    const tick2 = run(
      policy,
      snapshot,
      makeHistory({ actions: [pendingKill({ rule: 'k1', pid: 101 })] }),
    );
    expect(kills(tick2).map((d) => [d.rule, killedPid(d)])).toEqual([['k2', 201]]);
    expect(outcomeOf(tick2, 'k2').victim?.excluded).toEqual([
      { reason: 'already being killed', count: 1, examples: ['pid 101 (spark)'] },
    ]);
    expect(outcomeOf(tick2, 'k3').reason).toBe(heldBackBy('k2'));

    const tick3 = run(
      policy,
      snapshot,
      makeHistory({
        actions: [pendingKill({ rule: 'k1', pid: 101 }), pendingKill({ rule: 'k2', pid: 201 })],
      }),
    );
    expect(kills(tick3).map((d) => [d.rule, killedPid(d)])).toEqual([['k3', 102]]);
    expect(outcomeOf(tick3, 'k3').victim?.excluded).toEqual([
      {
        reason: 'already being killed',
        count: 2,
        examples: ['pid 101 (spark)', 'pid 201 (ffmpeg)'],
      },
    ]);
  });

  it('a process kill after a cgroup kill skips the killed group members', () => {
    const policy = makePolicy({
      rules: [killRule('grp', {}, { among: 'cgroup' }), killRule('proc')],
    });
    const e = run(
      policy,
      snapshot,
      makeHistory({ actions: [pendingKill({ rule: 'grp', cgroup: '/batch/a' })] }),
    );
    expect(outcomeOf(e, 'grp').outcome).toBe('suppressed');
    expect(kills(e).map((d) => d.kill)).toMatchObject([{ among: 'process', pid: 201 }]);
    expect(outcomeOf(e, 'proc').victim?.excluded).toEqual([
      {
        reason: 'already being killed',
        count: 2,
        examples: ['pid 101 (spark)', 'pid 102 (python3)'],
      },
    ]);
  });

  it('in the same tick, a process kill after an overlapping cgroup kill waits', () => {
    const e = run(
      makePolicy({ rules: [killRule('grp', {}, { among: 'cgroup' }), killRule('proc')] }),
      snapshot,
    );
    expect(kills(e).map((d) => d.kill)).toMatchObject([
      { among: 'cgroup', cgroup: '/batch/a', pids: [101, 102] },
    ]);
    expect(outcomeOf(e, 'proc')).toMatchObject({
      outcome: 'suppressed',
      reason: heldBackBy('grp'),
    });
  });

  describe('a cgroup kill skips groups nested in or around one already being killed', () => {
    const policy = makePolicy({
      rules: [
        rule({
          name: 'inner',
          scope: '/batch/a',
          when: ALWAYS,
          action: { kill: { among: 'cgroup' } },
        }),
        rule({
          name: 'outer',
          scope: '/batch',
          when: ALWAYS,
          action: { kill: { among: 'cgroup' } },
        }),
      ],
    });

    it('around: /batch while /batch/a is dying', () => {
      const e = run(
        policy,
        snapshot,
        makeHistory({ actions: [pendingKill({ rule: 'inner', cgroup: '/batch/a' })] }),
      );
      expect(kills(e)).toEqual([]);
      expect(outcomeOf(e, 'inner').outcome).toBe('suppressed');
      expect(outcomeOf(e, 'outer')).toMatchObject({ outcome: 'no-victim' });
      expect(outcomeOf(e, 'outer').victim?.excluded[0]?.reason).toBe('already being killed');
    });

    it('nested: /batch/a while /batch is dying', () => {
      const e = run(
        policy,
        snapshot,
        makeHistory({ actions: [pendingKill({ rule: 'other', cgroup: '/batch' })] }),
      );
      expect(kills(e)).toEqual([]);
      expect(outcomeOf(e, 'inner')).toMatchObject({ outcome: 'no-victim' });
      expect(outcomeOf(e, 'inner').victim?.excluded[0]?.reason).toBe('already being killed');
      expect(outcomeOf(e, 'outer')).toMatchObject({ outcome: 'no-victim' });
    });

    it('in the same tick, the rule on the enclosing group waits', () => {
      const e = run(policy, snapshot);
      expect(kills(e).map((d) => d.rule)).toEqual(['inner']);
      expect(outcomeOf(e, 'outer')).toMatchObject({
        outcome: 'suppressed',
        reason: heldBackBy('inner'),
      });
    });
  });

  it('a cgroup kill skips a group whose member an earlier rule is killing', () => {
    const policy = makePolicy({
      rules: [killRule('proc'), killRule('grp', {}, { among: 'cgroup' })],
    });
    const e = run(
      policy,
      snapshot,
      makeHistory({ actions: [pendingKill({ rule: 'proc', pid: 101 })] }),
    );
    expect(outcomeOf(e, 'proc').outcome).toBe('suppressed');
    expect(kills(e).map((d) => d.kill)).toMatchObject([{ among: 'cgroup', cgroup: '/batch/b' }]);
    expect(outcomeOf(e, 'grp').victim?.excluded).toEqual([
      { reason: 'already being killed', count: 1, examples: ['/batch/a'] },
    ]);
  });

  it('in the same tick, a cgroup kill after an overlapping process kill waits', () => {
    const e = run(
      makePolicy({ rules: [killRule('proc'), killRule('grp', {}, { among: 'cgroup' })] }),
      snapshot,
    );
    expect(kills(e).map((d) => d.kill)).toMatchObject([{ among: 'process', pid: 101 }]);
    expect(outcomeOf(e, 'grp')).toMatchObject({
      outcome: 'suppressed',
      reason: heldBackBy('proc'),
    });
  });

  it('every rule has exactly one outcome, in policy order', () => {
    const policy = makePolicy({
      killBudget: { max: 1, per: '1m' },
      rules: [
        killRule('k1'),
        killRule('k2'),
        rule({ name: 'q', when: { available: { below: '1%' } } }),
        rule({ name: 'n', when: ALWAYS }),
        rule({ name: 'none', scope: '/web/*', when: ALWAYS }),
      ],
    });
    const e = run(policy, snapshot);
    expect(e.rules.map((r) => [r.rule, r.outcome])).toEqual([
      ['k1', 'acted'],
      ['k2', 'suppressed'],
      ['q', 'quiet'],
      ['n', 'acted'],
      ['none', 'quiet'],
    ]);
  });
});

describe('cooldown', () => {
  const hist = (actions: ActionRecord[], firingSince: Record<string, number> = {}): History =>
    makeHistory({ actions, firingSince });
  const policy = makePolicy({ rules: [killRule('k', { cooldown: '15s' })] });

  it('suppressed while the last action of the rule is younger than the cooldown', () => {
    const e = run(policy, snapshot, hist([killRecord({ rule: 'k', time: T0 - 5_000, pid: 999 })]));
    expect(e.decisions).toEqual([]);
    expect(outcomeOf(e, 'k')).toMatchObject({
      outcome: 'suppressed',
      reason: 'cooldown: last acted 5s ago, cooldown 15s',
    });
  });

  it('acts once the cooldown has passed (exactly, or more)', () => {
    for (const ago of [15_000, 60_000]) {
      const e = run(policy, snapshot, hist([killRecord({ rule: 'k', time: T0 - ago, pid: 999 })]));
      expect(outcomeOf(e, 'k').outcome).toBe('acted');
    }
  });

  it('uses the latest action of the rule; other rules do not count', () => {
    const older = killRecord({ rule: 'k', time: T0 - 60_000, pid: 998 });
    const newer = killRecord({ rule: 'k', time: T0 - 2_000, pid: 999 });
    expect(outcomeOf(run(policy, snapshot, hist([newer, older])), 'k').outcome).toBe('suppressed');
    expect(outcomeOf(run(policy, snapshot, hist([older, newer])), 'k').outcome).toBe('suppressed');
    const other = killRecord({ rule: 'other', time: T0 - 1_000, pid: 997 });
    expect(outcomeOf(run(policy, snapshot, hist([other, older])), 'k').outcome).toBe('acted');
  });

  it('dry-run actions count for the cooldown', () => {
    const dry = killRecord({ rule: 'k', time: T0 - 1_000, pid: 999, dryRun: true });
    expect(outcomeOf(run(policy, snapshot, hist([dry])), 'k').outcome).toBe('suppressed');
  });

  it('applies to throttle and notify rules too', () => {
    const p = makePolicy({
      rules: [
        rule({ name: 'n', when: ALWAYS, cooldown: '1m' }),
        rule({
          name: 't',
          scope: '/batch/a',
          when: ALWAYS,
          action: { throttle: { memoryHigh: '90%' } },
          cooldown: '1m',
        }),
      ],
    });
    const e = run(
      p,
      snapshot,
      hist([
        { time: T0 - 30_000, rule: 'n', kind: 'notify', dryRun: false },
        { time: T0 - 30_000, rule: 't', kind: 'throttle', dryRun: false, cgroup: '/batch/a' },
      ]),
    );
    expect(e.decisions).toEqual([]);
    expect(e.rules.map((r) => r.outcome)).toEqual(['suppressed', 'suppressed']);
  });

  describe('repeat: until-clear', () => {
    const untilClear = makePolicy({
      rules: [killRule('k', { cooldown: '15s' }, { repeat: 'until-clear' })],
    });
    const last = killRecord({ rule: 'k', time: T0 - 5_000, pid: 999 });

    it('keeps killing inside the cooldown while the rule has fired without a break since', () => {
      for (const since of [T0 - 60_000, T0 - 5_000]) {
        const e = run(untilClear, snapshot, hist([last], { k: since }));
        expect(outcomeOf(e, 'k').outcome).toBe('acted');
        expect(victimOf(e)).toBe(101);
      }
    });

    it('is suppressed when the rule started firing again after the last action', () => {
      const e = run(untilClear, snapshot, hist([last], { k: T0 - 4_000 }));
      expect(outcomeOf(e, 'k').outcome).toBe('suppressed');
      expect(outcomeOf(e, 'k').reason).toMatch(/^cooldown/);
    });

    it('is suppressed without a firingSince record', () => {
      expect(outcomeOf(run(untilClear, snapshot, hist([last])), 'k').outcome).toBe('suppressed');
    });

    it('repeat: once is suppressed in the same situation', () => {
      expect(outcomeOf(run(policy, snapshot, hist([last], { k: T0 - 60_000 })), 'k').outcome).toBe(
        'suppressed',
      );
    });
  });
});

describe('pending kills', () => {
  const pending = (a: Partial<ActionRecord> & { rule: string }): ActionRecord =>
    killRecord({ time: T0 - 60_000, pending: true, ...a });

  it('a rule whose latest action is a pending kill waits for the victim, past its cooldown', () => {
    for (const repeat of ['once', 'until-clear']) {
      const policy = makePolicy({ rules: [killRule('k', { cooldown: '1s' }, { repeat })] });
      const e = run(
        policy,
        snapshot,
        makeHistory({
          actions: [pending({ rule: 'k', pid: 555 })],
          firingSince: { k: T0 - 90_000 },
        }),
      );
      expect(e.decisions).toEqual([]);
      expect(outcomeOf(e, 'k')).toMatchObject({
        outcome: 'suppressed',
        reason: 'waiting for the previous victim (pid 555) to die',
      });
    }
  });

  it('a pending cgroup kill is named by its path', () => {
    const policy = makePolicy({ rules: [killRule('k')] });
    const e = run(
      policy,
      snapshot,
      makeHistory({ actions: [pending({ rule: 'k', cgroup: '/batch/x' })] }),
    );
    expect(outcomeOf(e, 'k').reason).toBe('waiting for the previous victim (/batch/x) to die');
  });

  it("another rule's pending victim is not chosen again", () => {
    const policy = makePolicy({ rules: [killRule('k')] });
    const e = run(
      policy,
      snapshot,
      makeHistory({ actions: [pending({ rule: 'other', pid: 101 })] }),
    );
    expect(victimOf(e)).toBe(201);
    expect(outcomeOf(e, 'k').victim?.excluded).toEqual([
      { reason: 'already being killed', count: 1, examples: ['pid 101 (spark)'] },
    ]);
  });

  it('a pending kill that is no longer pending shields nothing', () => {
    const policy = makePolicy({ rules: [killRule('k')] });
    const done = killRecord({ rule: 'other', time: T0 - 60_000, pid: 101, pending: false });
    expect(victimOf(run(policy, snapshot, makeHistory({ actions: [done] })))).toBe(101);
  });

  it("another rule's pending cgroup kill shields that group from cgroup rules", () => {
    const policy = makePolicy({ rules: [killRule('k', {}, { among: 'cgroup' })] });
    const e = run(
      policy,
      snapshot,
      makeHistory({ actions: [pending({ rule: 'other', cgroup: '/batch/a' })] }),
    );
    expect(victimOf(e)).toBe('/batch/b');
  });

  // The victims of a pending cgroup kill are its processes. evaluate() adds a
  // pending cgroup kill only to takenCgroups, which processExclusion() never
  // reads, so a process rule picks pid 101 inside the dying /batch/a. Reported.
  it("another rule's pending cgroup kill shields its members from process rules", () => {
    const policy = makePolicy({ rules: [killRule('k')] });
    const e = run(
      policy,
      snapshot,
      makeHistory({ actions: [pending({ rule: 'other', cgroup: '/batch/a' })] }),
    );
    expect(victimOf(e)).toBe(201);
  });
});

describe('one kill per target per tick', () => {
  const on = (
    name: string,
    scope: string,
    extra: Record<string, unknown> = {},
    when: Record<string, unknown> = ALWAYS,
  ) => rule({ name, scope, when, action: { kill: {} }, ...extra });

  it('a later kill rule on overlapping targets is suppressed, with the rule it waits for', () => {
    const e = run(
      makePolicy({ rules: [on('first', '/batch/*'), on('second', '/batch/a')] }),
      snapshot,
    );
    expect(kills(e).map((d) => [d.rule, killedPid(d)])).toEqual([['first', 101]]);
    const o = outcomeOf(e, 'second');
    expect(o).toMatchObject({
      outcome: 'suppressed',
      reason: 'rule first already kills on overlapping targets this tick; waiting for its effect',
      fired: ['/batch/a'],
    });
    expect(o.victim).toBeUndefined();
  });

  it('a memcg below an earlier kill target overlaps it, and one above does too', () => {
    const below = run(
      makePolicy({ rules: [on('up', '/batch'), on('down', '/batch/b')] }),
      snapshot,
    );
    expect(kills(below).map((d) => d.rule)).toEqual(['up']);
    expect(outcomeOf(below, 'down').reason).toBe(heldBackBy('up'));
    const above = run(
      makePolicy({ rules: [on('down', '/batch/b'), on('up', '/batch')] }),
      snapshot,
    );
    expect(kills(above).map((d) => d.rule)).toEqual(['down']);
    expect(outcomeOf(above, 'up').reason).toBe(heldBackBy('down'));
  });

  it('kill rules on disjoint scopes both kill in the same tick', () => {
    const e = run(makePolicy({ rules: [on('a', '/batch/a'), on('b', '/batch/b')] }), snapshot);
    expect(kills(e).map((d) => [d.rule, killedPid(d), d.enforce])).toEqual([
      ['a', 101, true],
      ['b', 201, true],
    ]);
    expect(e.rules.map((r) => r.outcome)).toEqual(['acted', 'acted']);
  });

  it('a path prefix is not a parent: /batch/a and /batch/ab are disjoint', () => {
    const s = makeSnapshot({
      memcgs: [...snapshot.memcgs, makeMemcg({ path: '/batch/ab', usage: GiB, limit: 8 * GiB })],
      processes: [...snapshot.processes, makeProcess({ pid: 401, cgroup: '/batch/ab', rss: GiB })],
    });
    const e = run(makePolicy({ rules: [on('a', '/batch/a'), on('ab', '/batch/ab')] }), s);
    expect(kills(e).map((d) => [d.rule, killedPid(d)])).toEqual([
      ['a', 101],
      ['ab', 401],
    ]);
  });

  it('overlap is judged on the firing targets, not on the scopes', () => {
    // Both scopes cover /batch/b, but the first rule fires only on /batch/a.
    const e = run(
      makePolicy({
        rules: [on('hot', '/batch/*', {}, { usage: { above: '80%' } }), on('b', '/batch/b')],
      }),
      snapshot,
    );
    expect(outcomeOf(e, 'hot').fired).toEqual(['/batch/a']);
    expect(kills(e).map((d) => [d.rule, killedPid(d)])).toEqual([
      ['hot', 101],
      ['b', 201],
    ]);
  });

  it('a global kill rule after a cgroup kill is suppressed, and a cgroup one after a global kill', () => {
    const after = run(
      makePolicy({ rules: [on('grp', '/batch/c'), on('host', 'global')] }),
      snapshot,
    );
    expect(kills(after).map((d) => [d.rule, killedPid(d)])).toEqual([['grp', 301]]);
    expect(outcomeOf(after, 'host')).toMatchObject({
      outcome: 'suppressed',
      reason: heldBackBy('grp'),
      fired: ['global'],
    });
    const before = run(
      makePolicy({ rules: [on('host', 'global'), on('grp', '/batch/c')] }),
      snapshot,
    );
    expect(kills(before).map((d) => [d.rule, killedPid(d)])).toEqual([['host', 101]]);
    expect(outcomeOf(before, 'grp').reason).toBe(heldBackBy('host'));
  });

  it('two global kill rules (earlyoom SIGTERM and SIGKILL levels both crossed) kill once', () => {
    const e = run(
      makePolicy({
        rules: [
          on('sigkill', 'global', {}, { available: { below: '60%' } }),
          on('sigterm', 'global', {}, { available: { below: '70%' } }),
        ],
      }),
      snapshot,
    );
    expect(kills(e).map((d) => d.rule)).toEqual(['sigkill']);
    expect(outcomeOf(e, 'sigterm')).toMatchObject({
      outcome: 'suppressed',
      reason: heldBackBy('sigkill'),
    });
  });

  it('a dry-run kill does not hold back a later real rule', () => {
    const e = run(
      makePolicy({ rules: [on('dry', '/batch/*', { dryRun: true }), on('real', '/batch/a')] }),
      snapshot,
    );
    expect(kills(e).map((d) => [d.rule, killedPid(d), d.enforce])).toEqual([
      ['dry', 101, false],
      ['real', 101, true],
    ]);
    expect(e.rules.map((r) => r.outcome)).toEqual(['dry-run', 'acted']);
  });

  it('a dry-run kill holds back a later dry-run rule: "already would kill"', () => {
    const e = run(
      makePolicy({
        rules: [on('dry1', '/batch/*', { dryRun: true }), on('dry2', '/batch/a', { dryRun: true })],
      }),
      snapshot,
    );
    expect(kills(e).map((d) => d.rule)).toEqual(['dry1']);
    expect(outcomeOf(e, 'dry2')).toMatchObject({
      outcome: 'suppressed',
      reason:
        'rule dry1 already would kill on overlapping targets this tick; waiting for its effect',
    });
  });

  it('a real kill holds back a later dry-run rule', () => {
    const e = run(
      makePolicy({ rules: [on('real', '/batch/*'), on('dry', '/batch/a', { dryRun: true })] }),
      snapshot,
    );
    expect(kills(e).map((d) => d.rule)).toEqual(['real']);
    expect(outcomeOf(e, 'dry')).toMatchObject({
      outcome: 'suppressed',
      reason: heldBackBy('real'),
    });
  });

  it('under spec-level dry run, overlapping kill rules hold each other back as real ones would', () => {
    const e = run(
      makePolicy({ dryRun: true, rules: [on('first', '/batch/*'), on('second', 'global')] }),
      snapshot,
    );
    expect(kills(e).map((d) => [d.rule, d.dryRun])).toEqual([['first', true]]);
    expect(outcomeOf(e, 'second').reason).toBe(heldBackBy('first', true));
  });

  it('throttle and notify rules after a kill still act on the same targets', () => {
    const e = run(
      makePolicy({
        rules: [
          on('k', '/batch/*'),
          rule({
            name: 't',
            scope: '/batch/a',
            when: ALWAYS,
            action: { throttle: { memoryHigh: '90%' } },
          }),
          rule({ name: 'n', when: ALWAYS }),
          rule({ name: 'nb', scope: '/batch/*', when: ALWAYS }),
        ],
      }),
      snapshot,
    );
    expect(e.decisions.map((d) => [d.rule, d.action])).toEqual([
      ['k', 'kill'],
      ['t', 'throttle'],
      ['n', 'notify'],
      ['nb', 'notify'],
    ]);
    expect(e.rules.map((r) => r.outcome)).toEqual(['acted', 'acted', 'acted', 'acted']);
  });

  it('a kill rule that chose no victim holds back nothing', () => {
    const e = run(
      makePolicy({
        protect: [{ process: '^idle$' }],
        rules: [on('empty', '/batch/c'), on('host', 'global')],
      }),
      snapshot,
    );
    expect(e.rules.map((r) => r.outcome)).toEqual(['no-victim', 'acted']);
    expect(kills(e).map((d) => d.rule)).toEqual(['host']);
  });

  it('a kill rule that waits (for its pending victim, or its cooldown) holds back nothing', () => {
    const policy = makePolicy({
      rules: [on('waiting', '/batch/*', { cooldown: '1m' }), on('next', '/batch/*')],
    });
    const pending = run(
      policy,
      snapshot,
      makeHistory({ actions: [pendingKill({ rule: 'waiting', pid: 101 })] }),
    );
    expect(outcomeOf(pending, 'waiting').outcome).toBe('suppressed');
    expect(kills(pending).map((d) => [d.rule, killedPid(d)])).toEqual([['next', 201]]);
    const cooling = run(
      policy,
      snapshot,
      makeHistory({ actions: [killRecord({ rule: 'waiting', time: T0 - 10_000, pid: 999 })] }),
    );
    expect(outcomeOf(cooling, 'waiting').reason).toMatch(/^cooldown/);
    expect(kills(cooling).map((d) => [d.rule, killedPid(d)])).toEqual([['next', 101]]);
  });

  it('a rule held back does not spend the kill budget', () => {
    const e = run(
      makePolicy({
        killBudget: { max: 2, per: '1m' },
        rules: [on('first', '/batch/a'), on('held', '/batch/a'), on('other', '/batch/b')],
      }),
      snapshot,
    );
    expect(e.rules.map((r) => r.outcome)).toEqual(['acted', 'suppressed', 'acted']);
    expect(kills(e).map((d) => d.rule)).toEqual(['first', 'other']);
  });
});

describe('kill budget', () => {
  const budget = (max: number, per = '1m') => ({ max, per });
  const past = (ago: number, extra: Partial<ActionRecord> = {}): ActionRecord =>
    killRecord({ rule: 'earlier', time: T0 - ago, pid: 9000 + ago / 1000, ...extra });

  it('kills in history within the window spend the budget', () => {
    const policy = makePolicy({ killBudget: budget(2), rules: [killRule('k')] });
    const e = run(policy, snapshot, makeHistory({ actions: [past(10_000), past(50_000)] }));
    expect(e.decisions).toEqual([]);
    expect(outcomeOf(e, 'k')).toMatchObject({
      outcome: 'suppressed',
      reason: 'kill budget spent: 2 kills in the last 1m',
    });
    // One kill left: the rule acts.
    expect(
      outcomeOf(run(policy, snapshot, makeHistory({ actions: [past(10_000)] })), 'k').outcome,
    ).toBe('acted');
  });

  it('kills older than the window do not count', () => {
    const policy = makePolicy({ killBudget: budget(2), rules: [killRule('k')] });
    const e = run(
      policy,
      snapshot,
      makeHistory({ actions: [past(10_000), past(61_000), past(120_000)] }),
    );
    expect(outcomeOf(e, 'k').outcome).toBe('acted');
  });

  it('dry-run kills in history do not spend the real budget, other actions neither', () => {
    const policy = makePolicy({ killBudget: budget(1), rules: [killRule('k')] });
    const e = run(
      policy,
      snapshot,
      makeHistory({
        actions: [
          past(10_000, { dryRun: true }),
          past(20_000, { dryRun: true }),
          { time: T0 - 5_000, rule: 'x', kind: 'throttle', dryRun: false, cgroup: '/batch/a' },
          { time: T0 - 5_000, rule: 'y', kind: 'notify', dryRun: false },
        ],
      }),
    );
    expect(outcomeOf(e, 'k').outcome).toBe('acted');
  });

  it('kills decided earlier in this evaluation spend it', () => {
    // Disjoint scopes, so that no rule holds back another: only the budget does.
    const on = (name: string, scope: string) =>
      rule({ name, scope, when: ALWAYS, action: { kill: {} } });
    const policy = makePolicy({
      killBudget: budget(2),
      rules: [on('k1', '/batch/a'), on('k2', '/batch/b'), on('k3', '/batch/c')],
    });
    const e = run(policy, snapshot);
    expect(kills(e).map((d) => d.rule)).toEqual(['k1', 'k2']);
    expect(outcomeOf(e, 'k3').outcome).toBe('suppressed');
    expect(outcomeOf(e, 'k3').reason).toMatch(/^kill budget/);
    // History and this evaluation together.
    const e2 = run(policy, snapshot, makeHistory({ actions: [past(30_000)] }));
    expect(kills(e2).map((d) => d.rule)).toEqual(['k1']);
  });

  it('dry-run kills in this evaluation do not spend the real budget', () => {
    const policy = makePolicy({
      killBudget: budget(1),
      rules: [killRule('dry', { dryRun: true }), killRule('real')],
    });
    const e = run(policy, snapshot);
    expect(kills(e).map((d) => [d.rule, d.enforce])).toEqual([
      ['dry', false],
      ['real', true],
    ]);
  });

  it('max 0 suppresses every kill but not throttle or notify', () => {
    const policy = makePolicy({
      killBudget: budget(0),
      rules: [killRule('k'), rule({ name: 'n', when: ALWAYS })],
    });
    const e = run(policy, snapshot);
    expect(e.rules.map((r) => r.outcome)).toEqual(['suppressed', 'acted']);
  });

  it('a rule with no victim does not spend the budget', () => {
    const policy = makePolicy({
      killBudget: budget(1),
      rules: [
        rule({ name: 'empty', scope: '/batch/c', when: ALWAYS, action: { kill: {} } }),
        killRule('k'),
      ],
      protect: [{ process: '^idle$' }],
    });
    const e = run(policy, snapshot);
    expect(e.rules.map((r) => r.outcome)).toEqual(['no-victim', 'acted']);
  });
});

describe('traces', () => {
  it('a kill trace holds the measured values, the thresholds and the victim numbers', () => {
    const policy = makePolicy({
      rules: [
        rule({
          name: 'hot',
          scope: '/batch/*',
          when: { usage: { above: '85%' } },
          action: { kill: { victim: 'largest' } },
        }),
      ],
    });
    const e = run(policy, snapshot);
    const d = e.decisions[0];
    expect(d?.firing).toEqual(['/batch/a']);
    expect(d?.trace.conditions).toEqual([
      {
        target: '/batch/a',
        trace: {
          trigger: 'usage',
          fired: true,
          value: '7Gi = 87.5% of limit 8Gi',
          threshold: 'above 85% of limit',
          margin: 0,
        },
      },
    ]);
    expect(d?.trace.summary).toBe(
      'kill pid 101 (spark, RSS 6Gi) in /batch/a: largest of 2 candidates; rule hot fired on /batch/a: usage 7Gi = 87.5% of limit 8Gi [above 85% of limit] → fired',
    );
    expect(d?.trace.victim).toEqual({
      strategy: 'largest',
      among: 'process',
      considered: 2,
      chosen: { label: 'pid 101 (spark)', tier: 'neutral', score: 'RSS 6Gi' },
      runnersUp: [
        {
          label: 'pid 102 (python3)',
          tier: 'neutral',
          score: 'RSS 900Mi',
          whyNot: 'ranked lower: RSS 900Mi vs RSS 6Gi',
        },
      ],
      excluded: [],
    });
    // The rule outcome keeps every target's trace, the fired ones first.
    expect(outcomeOf(e, 'hot').conditions.map((c) => [c.target, c.trace.fired])).toEqual([
      ['/batch/a', true],
      ['/batch/b', false],
      ['/batch/c', false],
    ]);
  });

  it('a throttle trace holds memory.high, the usage and the condition', () => {
    const policy = makePolicy({
      rules: [
        rule({
          name: 'thr',
          scope: '/batch/b',
          when: { usage: { of: 'ram', above: '3Gi' } },
          action: { throttle: { memoryHigh: '75%', duration: '45s' } },
        }),
      ],
    });
    const d = run(policy, snapshot).decisions[0];
    expect(d?.trace.summary).toBe(
      'throttle /batch/b: memory.high 3Gi for 45s (usage 4Gi); rule thr fired on /batch/b: usage 4Gi = 25.0% of RAM 16Gi [above 3Gi] → fired',
    );
  });

  it('a suppressed rule says why, with the numbers', () => {
    const policy = makePolicy({ killBudget: { max: 3, per: '5m' }, rules: [killRule('k')] });
    const actions = [1, 2, 3].map((i) => killRecord({ rule: 'x', time: T0 - i * 60_000, pid: i }));
    const o = outcomeOf(run(policy, snapshot, makeHistory({ actions })), 'k');
    expect(o.reason).toBe('kill budget spent: 3 kills in the last 5m');
    expect(o.fired).toEqual(['/batch/a', '/batch/b', '/batch/c']);
  });
});
