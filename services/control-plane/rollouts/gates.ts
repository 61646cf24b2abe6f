// The health gates a rollout step must pass, judged on the fleet's own
// outcome data: the wave's NACKs, its silent agents, and its kill, OOM and
// kernel-fallback rates per host-hour against a baseline (the hosts not yet
// in the rollout). Too little data is its own outcome, "no data", and never
// counts as healthy: a step with no-data gates is Inconclusive and pauses for
// a person. Every verdict carries the numbers it rested on.
export const RATE_KINDS = ['kill', 'oom', 'fallback'] as const;
export type RateKind = (typeof RATE_KINDS)[number];

export interface GateThresholds {
  /** NACKs / hosts in the wave above which the step fails (0: any NACK fails). */
  maxNackRatio: number;
  /** Silent agents (disconnected, or no heartbeat) / hosts in the wave. */
  maxSilentRatio: number;
  /** The wave's rate may be at most this times the baseline's… */
  maxRateRatio: number;
  /** …unless it exceeds the baseline by less than this, per host-hour (noise). */
  minRateExcess: number;
  /** Host-hours each side needs before its rate means anything. */
  minHostHours: number;
}

export const DEFAULT_THRESHOLDS: GateThresholds = {
  maxNackRatio: 0,
  maxSilentRatio: 0,
  maxRateRatio: 2,
  minRateExcess: 1,
  minHostHours: 0.5,
};

export interface WaveStats {
  hosts: number;
  nacked: number;
  silent: number;
  hostHours: number;
  counts: Record<RateKind, number>;
}

export interface BaselineStats {
  hosts: number;
  hostHours: number;
  counts: Record<RateKind, number>;
}

export type GateOutcome = 'pass' | 'fail' | 'no-data';
export type Verdict = 'Successful' | 'Failed' | 'Inconclusive';

export interface GateResult {
  gate: string;
  outcome: GateOutcome;
  /** What the outcome rested on. */
  numbers: Record<string, number>;
  reason: string;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

function ratioGate(gate: string, part: number, whole: number, max: number): GateResult {
  if (whole === 0)
    return { gate, outcome: 'no-data', numbers: { hosts: 0 }, reason: 'no hosts in the wave' };
  const ratio = part / whole;
  const numbers = { count: part, hosts: whole, ratio: round(ratio), max };
  return ratio > max
    ? {
        gate,
        outcome: 'fail',
        numbers,
        reason: `${part} of ${whole} hosts (${round(ratio)} > ${max})`,
      }
    : { gate, outcome: 'pass', numbers, reason: `${part} of ${whole} hosts` };
}

function rateGate(
  kind: RateKind,
  wave: WaveStats,
  base: BaselineStats,
  t: GateThresholds,
): GateResult {
  const gate = `${kind}-rate`;
  const numbers: Record<string, number> = {
    waveCount: wave.counts[kind],
    waveHostHours: round(wave.hostHours),
    baselineCount: base.counts[kind],
    baselineHostHours: round(base.hostHours),
  };
  if (wave.hostHours < t.minHostHours || base.hostHours < t.minHostHours)
    return {
      gate,
      outcome: 'no-data',
      numbers: { ...numbers, minHostHours: t.minHostHours },
      reason: `too little data: ${round(wave.hostHours)} host-hours in the wave, ${round(base.hostHours)} in the baseline, ${t.minHostHours} needed on each side`,
    };
  const waveRate = wave.counts[kind] / wave.hostHours;
  const baseRate = base.counts[kind] / base.hostHours;
  Object.assign(numbers, {
    waveRate: round(waveRate),
    baselineRate: round(baseRate),
    maxRateRatio: t.maxRateRatio,
    minRateExcess: t.minRateExcess,
  });
  const failed = waveRate > baseRate * t.maxRateRatio && waveRate - baseRate >= t.minRateExcess;
  return {
    gate,
    outcome: failed ? 'fail' : 'pass',
    numbers,
    reason: `${round(waveRate)} ${kind}s per host-hour in the wave, ${round(baseRate)} in the baseline`,
  };
}

export function judge(
  wave: WaveStats,
  baseline: BaselineStats,
  thresholds: GateThresholds = DEFAULT_THRESHOLDS,
): { verdict: Verdict; gates: GateResult[] } {
  const gates = [
    ratioGate('nack-ratio', wave.nacked, wave.hosts, thresholds.maxNackRatio),
    ratioGate('silent-ratio', wave.silent, wave.hosts, thresholds.maxSilentRatio),
    ...RATE_KINDS.map((k) => rateGate(k, wave, baseline, thresholds)),
  ];
  const verdict: Verdict = gates.some((g) => g.outcome === 'fail')
    ? 'Failed'
    : gates.some((g) => g.outcome === 'no-data')
      ? 'Inconclusive'
      : 'Successful';
  return { verdict, gates };
}
