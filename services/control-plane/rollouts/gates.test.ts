import { describe, expect, it } from 'vitest';
import { judge, type BaselineStats, type WaveStats } from './gates.ts';

const quiet = { kill: 0, oom: 0, fallback: 0 };
const wave = (o: Partial<WaveStats> = {}): WaveStats => ({
  hosts: 10,
  nacked: 0,
  silent: 0,
  hostHours: 5,
  counts: quiet,
  ...o,
});
const base = (o: Partial<BaselineStats> = {}): BaselineStats => ({
  hosts: 90,
  hostHours: 45,
  counts: { kill: 9, oom: 0, fallback: 0 },
  ...o,
});

describe('judge', () => {
  it('a quiet wave beside a baseline with enough data is Successful', () => {
    expect(judge(wave(), base()).verdict).toBe('Successful');
  });

  it('one NACK fails the step by default, and says how many of how many', () => {
    const r = judge(wave({ nacked: 1 }), base());
    expect(r.verdict).toBe('Failed');
    expect(r.gates.find((g) => g.gate === 'nack-ratio')).toMatchObject({
      outcome: 'fail',
      numbers: { count: 1, hosts: 10, ratio: 0.1 },
    });
  });

  it('OOMs well above the baseline rate fail; a rate within noise does not', () => {
    const bad = judge(wave({ counts: { ...quiet, oom: 20 } }), base());
    expect(bad.verdict).toBe('Failed');
    expect(bad.gates.find((g) => g.gate === 'oom-rate')).toMatchObject({
      outcome: 'fail',
      numbers: { waveRate: 4, baselineRate: 0 },
    });
    // 3 kills in 5 host-hours (0.6/h) against 0.2/h: three times, but less than 1/h more.
    expect(judge(wave({ counts: { ...quiet, kill: 3 } }), base()).verdict).toBe('Successful');
  });

  it('too little data is no-data and Inconclusive, never healthy', () => {
    const r = judge(wave({ hostHours: 0.1 }), base());
    expect(r.verdict).toBe('Inconclusive');
    expect(r.gates.filter((g) => g.outcome === 'no-data').map((g) => g.gate)).toEqual([
      'kill-rate',
      'oom-rate',
      'fallback-rate',
    ]);
    expect(judge(wave(), base({ hosts: 0, hostHours: 0 })).verdict).toBe('Inconclusive');
  });

  it('a failure outranks missing data', () => {
    expect(judge(wave({ hostHours: 0.1, nacked: 2 }), base()).verdict).toBe('Failed');
  });
});
