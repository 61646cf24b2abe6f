// The batch host example (examples/snapshots/batch-host.json) under a policy
// of our own, end to end through the loaders and the evaluator, no CLI.
import { describe, expect, it } from 'vitest';
import { readRepoFile } from '../../../test/helpers/fixtures.ts';
import { loadPolicy } from '../load.ts';
import type { CompiledPolicy } from '../model.ts';
import { loadSnapshotText } from '../snapshot-input.ts';
import type { HostSnapshot } from '../snapshot.ts';
import { evaluate } from './index.ts';

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
          - swap: { below: 10% }
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

function load(): { policy: CompiledPolicy; snapshot: HostSnapshot } {
  const p = loadPolicy(POLICY);
  expect(p.issues).toEqual([]);
  const s = loadSnapshotText(readRepoFile('examples/snapshots/batch-host.json'));
  expect(s.issues).toEqual([]);
  if (!p.policy || !s.snapshot) throw new Error('fixture does not load');
  expect(s.history.snapshots).toEqual([]);
  return { policy: p.policy, snapshot: s.snapshot };
}

describe('batch host scenario', () => {
  it('kills the non-avoided batch process, dry-runs the throttle, and kills host-wide by priority', () => {
    const { policy, snapshot } = load();
    const e = evaluate(policy, snapshot, { snapshots: [], actions: [], firingSince: {} });

    expect(e.rules.map((r) => [r.rule, r.outcome, r.fired])).toEqual([
      ['batch-pressure', 'acted', ['/batch/job-a']],
      ['batch-throttle', 'dry-run', ['/batch/job-a', '/batch/job-b']],
      ['host-low', 'acted', ['global']],
      ['host-oom', 'quiet', []],
      ['batch-oom', 'quiet', []],
    ]);

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
      ['host-low', 'kill', true, 4201],
    ]);

    const [first, , , hostLow] = e.decisions;
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

    // host-low: 3Gi of 16Gi available (18.75%) and no swap.
    expect(hostLow?.trace.summary).toContain(
      'available 3Gi = 18.8% of MemTotal 16Gi [below 20% of MemTotal] → fired',
    );
    expect(hostLow?.trace.summary).toContain(
      'swap no swap (0 free) [below 10% of SwapTotal] → fired',
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

  it('with a previous snapshot: OOM events fire, and the spent budget holds back the third kill', () => {
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
      ['host-low', 'acted'],
      ['host-oom', 'acted'],
      ['batch-oom', 'suppressed'],
    ]);
    expect(e.rules[4]?.fired).toEqual(['/batch/job-b']);
    expect(e.rules[4]?.reason).toBe('kill budget spent: 2 kills in the last 1m');
    expect(e.decisions.find((d) => d.rule === 'host-oom')?.notify).toEqual({
      message: 'the kernel OOM killer ran',
      severity: 'critical',
    });
  });

  it('under spec-level dry run nothing is enforced, and the same victims are reported', () => {
    const { policy, snapshot } = load();
    const dry: CompiledPolicy = { ...policy, dryRun: true };
    const e = evaluate(dry, snapshot, { snapshots: [], actions: [], firingSince: {} });
    expect(e.decisions.every((d) => d.dryRun && !d.enforce)).toBe(true);
    expect(e.decisions.filter((d) => d.action === 'kill').map((d) => d.kill)).toMatchObject([
      { pid: 4102 },
      { pid: 4201 },
    ]);
  });

  // Each throttle decision is about one memcg, but its summary quotes the
  // condition trace of the first firing target: the /batch/job-b decision
  // says "usage 7Gi = 87.5%" (job-a's numbers) instead of job-b's 4Gi = 50%.
  // Reported, with the fix.
  it("a throttle summary quotes its own memcg's numbers", () => {
    const { policy, snapshot } = load();
    const e = evaluate(policy, snapshot, { snapshots: [], actions: [], firingSince: {} });
    const jobB = e.decisions.find((d) => d.throttle?.cgroup === '/batch/job-b');
    expect(jobB?.trace.summary).toContain('4Gi = 50.0% of limit 8Gi');
  });
});
