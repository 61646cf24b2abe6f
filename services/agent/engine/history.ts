// What the engine remembers between ticks, kept as small as the policy
// allows: snapshots only as far back as its longest window, thinned to the
// fields triggers and victim strategies read; actions only as far back as
// the kill budget and the longest cooldown reach.
import {
  GROWTH_LOOKBACK_MS,
  type ActionRecord,
  type CompiledCondition,
  type CompiledPolicy,
  type Evaluation,
  type History,
  type HostSnapshot,
} from '../../policy/index.ts';

function longestWindow(c: CompiledCondition): number {
  switch (c.kind) {
    case 'any':
    case 'all':
      return Math.max(0, ...c.children.map(longestWindow));
    case 'pressure':
      return c.forMs;
    case 'growth':
      return c.windowMs;
    default:
      return 0;
  }
}

/** How far back snapshots must reach for this policy's `for`, `growth` and fastest-growing. */
export function snapshotRetentionMs(policy: CompiledPolicy): number {
  const windows = policy.rules.map((r) => longestWindow(r.when));
  return Math.max(GROWTH_LOOKBACK_MS, ...windows) + 2 * policy.intervalMs;
}

export function actionRetentionMs(policy: CompiledPolicy): number {
  return Math.max(policy.killBudget.perMs, ...policy.rules.map((r) => r.cooldownMs));
}

/**
 * A snapshot as history needs it: command lines and memory.stat are dropped
 * (nothing in the past is matched against them), the rest kept.
 */
export function thin(s: HostSnapshot): HostSnapshot {
  return {
    ...s,
    memcgs: s.memcgs.map(({ stat: _stat, ...m }) => m),
    processes: s.processes.map((p) => ({ ...p, cmdline: [] })),
  };
}

/** At most one history snapshot per this many ms, however fast the engine ticks. */
export const HISTORY_RESOLUTION_MS = 1000;

export function recordTick(
  h: History,
  policy: CompiledPolicy,
  snapshot: HostSnapshot,
  evaluation: Evaluation,
  newActions: ActionRecord[],
): History {
  const now = snapshot.time;
  const last = h.snapshots[h.snapshots.length - 1];
  const keepFrom = now - snapshotRetentionMs(policy);
  const snapshots = h.snapshots.filter((s) => s.time >= keepFrom);
  if (!last || now - last.time >= HISTORY_RESOLUTION_MS) snapshots.push(thin(snapshot));

  const firingSince: Record<string, number> = {};
  for (const r of evaluation.rules)
    if (r.fired.length > 0) firingSince[r.rule] = h.firingSince[r.rule] ?? now;

  const actionsFrom = now - actionRetentionMs(policy);
  const actions = [...h.actions.filter((a) => a.time >= actionsFrom || a.pending), ...newActions];
  return { snapshots, actions, firingSince };
}

/** Marks a pending kill as finished (its victim died, or the kill failed). */
export function settleAction(h: History, match: (a: ActionRecord) => boolean): History {
  return {
    ...h,
    actions: h.actions.map((a) => (a.pending && match(a) ? { ...a, pending: false } : a)),
  };
}
