// The batch host example (examples/snapshots/batch-host.json) under a policy
// of our own, end to end through the loaders and the evaluator, no CLI.
import { describe, expect, it } from 'vitest';
import { readRepoFile } from '../../../test/helpers/fixtures.ts';
import { loadPolicy } from '../load-text.ts';
import type { CompiledPolicy } from '../model.ts';
import { loadSnapshotText } from '../snapshot-input.ts';
import type { History, HostSnapshot } from '../snapshot.ts';
import { describeTrace, evaluate } from './index.ts';

const POLICY = `
apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: batch-tier }
spec:
  killBudget: { max: 2, per: 1m }
  protect:
    - cgroup: /system.slice/sshd.service
    - process: "^postgres$"
  rules:
    - name: batch-pressure
      scope: /batch/*
      when:
        any:
          - pressure: { kind: full, window: avg10, above: 10 }
          - usage: { above: 90% }
      action: { kill: { victim: largest, avoid: ["^spark-"] } }
    - name: batch-throttle
      scope: /batch/*
      when: { usage: { above: 45% } }
      action: { throttle: { memoryHigh: 90% } }
      dryRun: true
    - name: host-low
      scope: global
      when:
        all:
          - available: { below: 20% }
          - swap: { below: 10%, noSwap: fire }
      action: { kill: { victim: lowest-priority } }
    - name: host-oom
      scope: global
      when: { oom: {} }
      action: { notify: { severity: critical, message: the kernel OOM killer ran } }
    - name: batch-oom
      scope: /batch/*
      when: { oom: { on: event } }
      action: { kill: { among: cgroup } }
`;

function load(policyText = POLICY): { policy: CompiledPolicy; snapshot: HostSnapshot } {
  const p = loadPolicy(policyText);
  expect(p.issues).toEqual([]);
  const s = loadSnapshotText(readRepoFile('examples/snapshots/batch-host.json'));
  expect(s.issues).toEqual([]);
  if (!p.policy || !s.snapshot) throw new Error('fixture does not load');
  expect(s.history.snapshots).toEqual([]);
  return { policy: p.policy, snapshot: s.snapshot };
}

const NO_HISTORY: History = { snapshots: [], actions: [], firingSince: {} };

/** host-low is global, so it overlaps the batch kill and waits for the next tick. */
const HOST_LOW_WAITS =
  'rule batch-pressure already kills on overlapping targets this tick; waiting for its effect';

describe('batch host scenario', () => {
  it('kills the non-avoided batch process, dry-runs the throttle, and the host-wide kill waits a tick', () => {
    const { policy, snapshot } = load();
    const e = evaluate(policy, snapshot, NO_HISTORY);

    expect(e.rules.map((r) => [r.rule, r.outcome, r.fired])).toEqual([
      ['batch-pressure', 'acted', ['/batch/job-a']],
      ['batch-throttle', 'dry-run', ['/batch/job-a', '/batch/job-b']],
      ['host-low', 'suppressed', ['global']],
      ['host-oom', 'quiet', []],
      ['batch-oom', 'quiet', []],
    ]);
    const hostLow = e.rules.find((r) => r.rule === 'host-low');
    expect(hostLow?.reason).toBe(HOST_LOW_WAITS);
    expect(hostLow?.victim).toBeUndefined();

    expect(
      e.decisions.map((d) => [
        d.rule,
        d.action,
        d.enforce,
        d.kill?.among === 'process' ? d.kill.pid : d.throttle?.cgroup,
      ]),
    ).toEqual([
      ['batch-pressure', 'kill', true, 4102],
      ['batch-throttle', 'throttle', false, '/batch/job-a'],
      ['batch-throttle', 'throttle', false, '/batch/job-b'],
    ]);

    const [first] = e.decisions;
    // job-a fired on PSI (12 > 10), not on usage (87.5% is not above 90%).
    expect(first?.trace.summary).toContain(
      'pressure full avg10 = 12% [full avg10 above 10%] → fired',
    );
    expect(first?.trace.summary).toContain(
      'usage 7Gi = 87.5% of limit 8Gi [above 90% of limit] → not fired',
    );
    expect(first?.trace.victim?.runnersUp).toEqual([
      {
        label: 'pid 4101 (spark-executor)',
        tier: 'avoided',
        score: 'RSS 6.5Gi',
        whyNot: 'avoided (matches ^spark-)',
      },
    ]);

    // The throttle is 90% of each memcg's own usage.
    expect(e.decisions[1]?.throttle?.memoryHigh).toBe(Math.floor(0.9 * 7516192768));
    expect(e.decisions[2]?.throttle?.memoryHigh).toBe(Math.floor(0.9 * 4294967296));

    // host-low did fire: 3Gi of 16Gi available (18.75%) and no swap, which
    // counts as 0 free under noSwap: fire.
    const hostLowTrace = hostLow?.conditions[0]?.trace;
    expect(hostLowTrace && describeTrace(hostLowTrace)).toBe(
      'all(available 3Gi = 18.8% of MemTotal 16Gi [below 20% of MemTotal] → fired; swap no swap (counts as 0 free) [below 10% of SwapTotal] → fired)',
    );
  });

  it('next tick, with the batch victim still dying: batch-pressure waits, host-low kills host-wide by priority', () => {
    const { policy, snapshot } = load();
    const e = evaluate(policy, snapshot, {
      snapshots: [],
      actions: [
        {
          time: snapshot.time - 1000,
          rule: 'batch-pressure',
          kind: 'kill',
          dryRun: false,
          pending: true,
          pid: 4102,
        },
      ],
      firingSince: {},
    });
    expect(e.rules.map((r) => [r.rule, r.outcome, r.reason.split(':')[0]])).toEqual([
      ['batch-pressure', 'suppressed', 'waiting for the previous victim (pid 4102) to die'],
      ['batch-throttle', 'dry-run', 'throttle 2 memcg(s)'],
      ['host-low', 'acted', 'kill pid 4201 (ffmpeg, RSS 3.9Gi) in /batch/job-b'],
      ['host-oom', 'quiet', 'condition does not hold'],
      ['batch-oom', 'quiet', 'condition does not hold'],
    ]);
    const hostLow = e.decisions.find((d) => d.rule === 'host-low');
    expect(hostLow).toMatchObject({ action: 'kill', enforce: true, kill: { pid: 4201 } });

    // host-low: 3Gi of 16Gi available (18.75%) and no swap, which counts as
    // 0 free under noSwap: fire.
    expect(hostLow?.trace.summary).toContain(
      'available 3Gi = 18.8% of MemTotal 16Gi [below 20% of MemTotal] → fired',
    );
    expect(hostLow?.trace.summary).toContain(
      'swap no swap (counts as 0 free) [below 10% of SwapTotal] → fired',
    );
    expect(hostLow?.trace.victim?.considered).toBe(8);
    expect(
      Object.fromEntries(
        (hostLow?.trace.victim?.excluded ?? []).map((x) => [x.reason, x.examples]),
      ),
    ).toEqual({
      'already being killed': ['pid 4102 (python3)'],
      'kernel thread': ['pid 2 (kthreadd)'],
      'oom_score_adj -1000 (the kernel never kills it either)': ['pid 812 (sshd)'],
      'pid 1 (init)': ['pid 1 (systemd)'],
      'protected: comm matches ^postgres$': ['pid 901 (postgres)'],
      'the oomfleet agent': ['pid 5001 (oomfleet-agent)'],
    });
  });

  it('without noSwap: fire, host-low has no swap data on this swapless host and stays quiet', () => {
    const policyText = POLICY.replace('{ below: 10%, noSwap: fire }', '{ below: 10% }');
    expect(policyText).not.toBe(POLICY);
    const { policy, snapshot } = load(policyText);
    expect(snapshot.host.swapTotal).toBe(0);
    const e = evaluate(policy, snapshot, { snapshots: [], actions: [], firingSince: {} });
    const hostLow = e.rules.find((r) => r.rule === 'host-low');
    expect(hostLow).toMatchObject({ outcome: 'quiet', fired: [] });
    const trace = hostLow?.conditions[0]?.trace;
    expect(trace && 'combinator' in trace ? trace.children[1] : undefined).toMatchObject({
      trigger: 'swap',
      fired: false,
      value: 'no swap',
      noData: 'the host has no swap (noSwap: ignore)',
    });
    expect(
      e.decisions.map((d) => [d.rule, d.kill?.among === 'process' ? d.kill.pid : null]),
    ).toEqual([
      ['batch-pressure', 4102],
      ['batch-throttle', null],
      ['batch-throttle', null],
    ]);
  });

  it('with a previous snapshot: OOM events fire, a kill on a disjoint group still acts, and the spent budget holds it back', () => {
    const { policy, snapshot } = load();
    const previous: HostSnapshot = {
      ...snapshot,
      time: snapshot.time - 1000,
      host: { ...snapshot.host, oomKills: 3 },
      memcgs: snapshot.memcgs.map((m) =>
        m.path === '/batch/job-b' ? { ...m, events: { oom: 0, oom_kill: 0 } } : m,
      ),
    };
    const e = evaluate(policy, snapshot, { snapshots: [previous], actions: [], firingSince: {} });
    expect(e.rules.map((r) => [r.rule, r.outcome])).toEqual([
      ['batch-pressure', 'acted'],
      ['batch-throttle', 'dry-run'],
      ['host-low', 'suppressed'],
      ['host-oom', 'acted'],
      ['batch-oom', 'acted'],
    ]);
    expect(e.rules[2]?.reason).toBe(HOST_LOW_WAITS);
    // batch-oom fires on /batch/job-b only, disjoint from batch-pressure's
    // /batch/job-a: both kill in this tick.
    expect(e.rules[4]?.fired).toEqual(['/batch/job-b']);
    expect(
      e.decisions
        .filter((d) => d.action === 'kill')
        .map((d) => [d.rule, d.firing, d.kill?.among === 'process' ? d.kill.pid : d.kill?.cgroup]),
    ).toEqual([
      ['batch-pressure', ['/batch/job-a'], 4102],
      ['batch-oom', ['/batch/job-b'], '/batch/job-b'],
    ]);
    expect(e.decisions.find((d) => d.rule === 'host-oom')?.notify).toEqual({
      message: 'the kernel OOM killer ran',
      severity: 'critical',
    });

    // With host-low's kill of 30s ago (done, past its cooldown) in the
    // window, batch-pressure's kill spends the rest of the budget.
    const spent = evaluate(policy, snapshot, {
      snapshots: [previous],
      actions: [
        { time: snapshot.time - 30_000, rule: 'host-low', kind: 'kill', dryRun: false, pid: 4301 },
      ],
      firingSince: {},
    });
    expect(spent.rules.map((r) => [r.rule, r.outcome])).toEqual([
      ['batch-pressure', 'acted'],
      ['batch-throttle', 'dry-run'],
      ['host-low', 'suppressed'],
      ['host-oom', 'acted'],
      ['batch-oom', 'suppressed'],
    ]);
    expect(spent.rules[2]?.reason).toBe(HOST_LOW_WAITS);
    expect(spent.rules[4]?.reason).toBe('kill budget spent: 2 kills in the last 1m');
  });

  it('under spec-level dry run nothing is enforced, and the same victims are reported', () => {
    const { policy, snapshot } = load();
    const dry: CompiledPolicy = { ...policy, dryRun: true };
    const e = evaluate(dry, snapshot, NO_HISTORY);
    expect(e.decisions.every((d) => d.dryRun && !d.enforce)).toBe(true);
    const victims = (x: typeof e) =>
      x.decisions.filter((d) => d.action === 'kill').map((d) => [d.rule, d.kill]);
    expect(victims(e)).toMatchObject([['batch-pressure', { pid: 4102 }]]);
    expect(victims(e)).toEqual(victims(evaluate(policy, snapshot, NO_HISTORY)));
    // host-low waits here too, for a kill that would happen.
    expect(e.rules.find((r) => r.rule === 'host-low')).toMatchObject({
      outcome: 'suppressed',
      reason:
        'rule batch-pressure already would kill on overlapping targets this tick; waiting for its effect',
    });
  });

  // Each throttle decision is about one memcg, but its summary quotes the
  // condition trace of the first firing target: the /batch/job-b decision
  // says "usage 7Gi = 87.5%" (job-a's numbers) instead of job-b's 4Gi = 50%.
  // Reported, with the fix.
  it("a throttle summary quotes its own memcg's numbers", () => {
    const { policy, snapshot } = load();
    const e = evaluate(policy, snapshot, NO_HISTORY);
    const jobB = e.decisions.find((d) => d.throttle?.cgroup === '/batch/job-b');
    expect(jobB?.trace.summary).toContain('4Gi = 50.0% of limit 8Gi');
  });
});
