// Which hosts each step of a rollout reaches. The order is fixed when the
// rollout starts (so a restart or a second replica computes the same waves)
// and spreads across label values (zone, kernel, hardware…): the first host
// of the canary and each next one come from the combination least
// represented so far, so that a small wave already sees the fleet's variety.
import { createHash } from 'node:crypto';

export type StepSize = { hosts: number } | { percent: number };

export interface WaveHost {
  id: string;
  labels: Record<string, string>;
}

/** 1 host → 5% → 25% → 100%, as most staged rollouts start. */
export const DEFAULT_STEPS: StepSize[] = [
  { hosts: 1 },
  { percent: 5 },
  { percent: 25 },
  { percent: 100 },
];
/** Labels to spread waves across, where hosts have them. */
export const DEFAULT_SPREAD = ['zone', 'kernel', 'hardware'];

const rank = (seed: string, key: string): string =>
  createHash('sha256').update(seed).update('\0').update(key).digest('hex');

/**
 * Every host in rollout order: round-robin over the combinations of the
 * spread labels (each combination's hosts in a seeded pseudo-random order),
 * so wave n is simply the first count(n) hosts.
 */
export function orderHosts(
  hosts: readonly WaveHost[],
  seed: string,
  spreadBy: readonly string[] = DEFAULT_SPREAD,
): string[] {
  const groups = new Map<string, string[]>();
  for (const h of hosts) {
    const key = JSON.stringify(spreadBy.map((k) => h.labels[k] ?? ''));
    const g = groups.get(key) ?? [];
    g.push(h.id);
    groups.set(key, g);
  }
  const queues = [...groups.entries()]
    .sort(([a], [b]) => (rank(seed, a) < rank(seed, b) ? -1 : 1))
    .map(([, ids]) => ids.sort((a, b) => (rank(seed, a) < rank(seed, b) ? -1 : 1)));
  const out: string[] = [];
  for (let round = 0; out.length < hosts.length; round++)
    for (const q of queues) {
      const id = q[round];
      if (id !== undefined) out.push(id);
    }
  return out;
}

/**
 * Cumulative host counts of the steps for a group of `total` hosts: each at
 * least 1 and more than the one before (a step that would add nobody is
 * dropped), the last one all hosts.
 */
export function waveCounts(steps: readonly StepSize[], total: number): number[] {
  return effectiveSteps(steps, total).map((s) => s.count);
}

/**
 * The steps that take a group of `total` hosts further, each with its
 * cumulative count (waveCounts): a step that adds no host is dropped, and a
 * last step of all hosts is added when the given ones stop short.
 */
export function effectiveSteps(
  steps: readonly StepSize[],
  total: number,
): { size: StepSize; count: number }[] {
  if (total === 0) return [];
  const out: { size: StepSize; count: number }[] = [];
  for (const s of steps) {
    const n =
      'hosts' in s
        ? Math.min(total, s.hosts)
        : Math.min(total, Math.ceil((s.percent / 100) * total));
    const count = Math.max(1, n);
    if (out.length === 0 || count > (out.at(-1)?.count ?? 0)) out.push({ size: s, count });
  }
  if ((out.at(-1)?.count ?? 0) < total) out.push({ size: { percent: 100 }, count: total });
  return out;
}
