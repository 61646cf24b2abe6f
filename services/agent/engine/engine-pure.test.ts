// The engine's pure parts: the adaptive interval and what history keeps.
import { describe, expect, it } from 'vitest';
import { emptyHistory, evaluate, loadPolicy, type HostSnapshot } from '../../policy/index.ts';
import { HISTORY_RESOLUTION_MS, recordTick, snapshotRetentionMs, settleAction } from './history.ts';
import { nextIntervalMs } from './interval.ts';

const GiB = 1024 ** 3;

function policy(extra = '') {
  const r = loadPolicy(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: t }
spec:
  interval: 2s
  rules:
    - name: low
      scope: global
      when: { available: { below: 10% } }
      action: { notify: {} }
${extra}`);
  if (!r.policy) throw new Error(JSON.stringify(r.issues));
  return r.policy;
}

function snap(time: number, availGiB: number): HostSnapshot {
  return {
    time,
    cgroupMode: 'none',
    host: { memTotal: 16 * GiB, memAvailable: availGiB * GiB, swapTotal: 0, swapFree: 0 },
    memcgs: [],
    processes: [
      {
        pid: 10,
        comm: 'x',
        cmdline: ['x', '--long'],
        rss: GiB,
        oomScore: 1,
        oomScoreAdj: 0,
        startTime: 1,
        cgroup: '/',
      },
    ],
  };
}

describe('adaptive interval', () => {
  it('stays at the policy interval far from every trigger', () => {
    const p = policy();
    expect(nextIntervalMs(p, evaluate(p, snap(0, 12), emptyHistory()))).toBe(2000);
  });

  it('shortens as MemAvailable nears the threshold, down to 100 ms at it', () => {
    const p = policy();
    const far = nextIntervalMs(p, evaluate(p, snap(0, 2.2), emptyHistory()));
    const near = nextIntervalMs(p, evaluate(p, snap(0, 1.7), emptyHistory()));
    const at = nextIntervalMs(p, evaluate(p, snap(0, 1), emptyHistory()));
    expect(far).toBeLessThan(2000);
    expect(near).toBeLessThan(far);
    expect(at).toBe(100);
  });
});

describe('history', () => {
  it('keeps snapshots as far back as the longest window, thinned, one per second at most', () => {
    const p = policy(`    - name: growing
      scope: global
      when: { growth: { above: 10Mi, window: 2m } }
      action: { notify: {} }
`);
    expect(snapshotRetentionMs(p)).toBe(120_000 + 4000);
    let h = emptyHistory();
    for (let t = 0; t <= 200_000; t += 500)
      h = recordTick(h, p, snap(t, 8), evaluate(p, snap(t, 8), h), []);
    const times = h.snapshots.map((s) => s.time);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(200_000 - 124_000);
    expect(times.every((t, i) => i === 0 || t - (times[i - 1] ?? 0) >= HISTORY_RESOLUTION_MS)).toBe(
      true,
    );
    expect(h.snapshots[0]?.processes[0]?.cmdline).toEqual([]);
  });

  it('tracks since when each rule has been firing, and forgets it when it stops', () => {
    const p = policy();
    let h = emptyHistory();
    h = recordTick(h, p, snap(1000, 1), evaluate(p, snap(1000, 1), h), []);
    h = recordTick(h, p, snap(2000, 1), evaluate(p, snap(2000, 1), h), []);
    expect(h.firingSince.low).toBe(1000);
    h = recordTick(h, p, snap(3000, 9), evaluate(p, snap(3000, 9), h), []);
    expect(h.firingSince.low).toBeUndefined();
  });

  it('keeps pending kills until settled, and drops old actions', () => {
    const p = policy();
    let h = emptyHistory();
    const e = evaluate(p, snap(0, 8), h);
    h = recordTick(h, p, snap(0, 8), e, [
      { time: 0, rule: 'low', kind: 'kill', dryRun: false, pid: 10, pending: true },
      { time: 0, rule: 'low', kind: 'notify', dryRun: false },
    ]);
    h = recordTick(h, p, snap(600_000, 8), evaluate(p, snap(600_000, 8), h), []);
    expect(h.actions).toHaveLength(1);
    h = settleAction(h, (a) => a.pid === 10);
    expect(h.actions[0]?.pending).toBe(false);
    h = recordTick(h, p, snap(700_000, 8), evaluate(p, snap(700_000, 8), h), []);
    expect(h.actions).toHaveLength(0);
  });
});
