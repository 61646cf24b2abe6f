// The adaptive evaluation interval. Like earlyoom, the agent looks more
// often as the host nears a trigger: at the policy's interval while every
// trigger is at least half its threshold away, then proportionally faster,
// down to MIN_INTERVAL_MS at the threshold.
import type { CompiledPolicy, ConditionTrace, Evaluation } from '../../policy/index.ts';

export const MIN_INTERVAL_MS = 100;

function margins(t: ConditionTrace, out: number[]): void {
  if ('combinator' in t) for (const c of t.children) margins(c, out);
  else if (t.margin !== undefined) out.push(t.margin);
}

/** The smallest margin of any traced trigger: 0 at a threshold, ≥ 1 far from all. */
export function nearestMargin(e: Evaluation): number {
  const all: number[] = [];
  for (const r of e.rules) for (const c of r.conditions) margins(c.trace, all);
  return all.length === 0 ? 1 : Math.min(...all);
}

/**
 * `unreadMargin`: a lower bound of the margins of memcgs the tick left
 * unread (services/agent/snapshot/prune.ts), 1 when it read them all.
 */
export function nextIntervalMs(
  policy: CompiledPolicy,
  e: Evaluation | undefined,
  unreadMargin = 1,
): number {
  const base = policy.intervalMs;
  const floor = Math.min(MIN_INTERVAL_MS, base);
  if (!e) return base;
  const factor = Math.min(1, Math.min(nearestMargin(e), unreadMargin) * 2);
  return Math.max(floor, Math.round(base * factor));
}
