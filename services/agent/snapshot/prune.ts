// Bounding a subtree by its parent's usage, so that a tick need not read
// every memcg of an idle host. A memcg's usage never exceeds its parent's
// where the parent's page counter is charged for its children (v2, and v1
// with use_hierarchy), so when a rule can fire only above some usage, and
// the parent's usage is at or below that for every memcg beneath it, no
// memcg beneath it can fire this tick: the tick reads the parent alone.
//
// Only `usage` triggers have such a floor. Any other trigger (OOM state,
// pressure, growth, available, swap) may fire at any usage, and a policy
// with one in a cgroup rule is never pruned; nor is one whose victims are
// chosen by growth, which compares every memcg with its past.
import {
  thresholdBytes,
  type CgroupGlob,
  type CompiledCondition,
  type CompiledPolicy,
} from '../../policy/index.ts';

/** What the usage floors need of a memcg: its effective limit and the host's RAM. */
export interface FloorInput {
  /** The lowest limit on the memcg or an ancestor (bytes), undefined for none. */
  effectiveLimit: number | undefined;
  memTotal: number;
}

/** The usage at or below which a condition cannot fire; -Infinity when it may fire at any usage. */
function conditionFloor(c: CompiledCondition, x: FloorInput): number {
  switch (c.kind) {
    case 'any':
      return Math.min(...c.children.map((k) => conditionFloor(k, x)));
    case 'all':
      return Math.max(...c.children.map((k) => conditionFloor(k, x)));
    case 'usage':
      if (c.of === 'ram') return thresholdBytes(c.above, x.memTotal);
      if ('percent' in c.above)
        // Without a limit a percentage of it never fires (the evaluator's "no data").
        return x.effectiveLimit === undefined
          ? Infinity
          : thresholdBytes(c.above, x.effectiveLimit);
      return c.above.bytes;
    default:
      return -Infinity;
  }
}

export interface PrunePlan {
  /** The cgroup rules, each with what it fires on. */
  rules: { glob: CgroupGlob; when: CompiledCondition }[];
  /** path → the conditions of the rules whose scope matches it (paths repeat every tick). */
  matching: Map<string, CompiledCondition[]>;
}

/** The plan for a policy, or undefined when its ticks must read every memcg in scope. */
export function prunePlan(policy: CompiledPolicy): PrunePlan | undefined {
  const rules: PrunePlan['rules'] = [];
  for (const r of policy.rules) {
    if (r.action.kind === 'kill' && r.action.victim === 'fastest-growing') return undefined;
    if (r.scope.kind !== 'cgroup') continue;
    if (conditionFloor(r.when, { effectiveLimit: 1, memTotal: 1 }) === -Infinity) return undefined;
    rules.push({ glob: r.scope.glob, when: r.when });
  }
  return { rules, matching: new Map() };
}

/** The lowest threshold of any usage trigger in a condition, whatever combines them. */
function nearestThreshold(c: CompiledCondition, x: FloorInput): number {
  return c.kind === 'any' || c.kind === 'all'
    ? Math.min(...c.children.map((k) => nearestThreshold(k, x)))
    : conditionFloor(c, x);
}

function matching(plan: PrunePlan, path: string): CompiledCondition[] {
  let conds = plan.matching.get(path);
  if (!conds) {
    // Bounded: memcgs come and go under long-running agents.
    if (plan.matching.size >= 65_536) plan.matching.clear();
    conds = plan.rules.filter((r) => r.glob.matches(path)).map((r) => r.when);
    plan.matching.set(path, conds);
  }
  return conds;
}

/**
 * The usage a memcg must exceed for any rule to fire on it: Infinity when
 * no rule's scope matches it.
 */
export function usageFloor(plan: PrunePlan, path: string, x: FloorInput): number {
  let floor = Infinity;
  for (const c of matching(plan, path)) floor = Math.min(floor, conditionFloor(c, x));
  return floor;
}

/**
 * The lowest threshold of any usage trigger of a rule matching the memcg.
 * The adaptive interval follows the nearest trigger, even one inside an
 * `all` whose other half is far (engine/interval.ts), so the margin of an
 * unread memcg is bounded against this, not against its floor.
 */
export function nearestUsageThreshold(plan: PrunePlan, path: string, x: FloorInput): number {
  let t = Infinity;
  for (const c of matching(plan, path)) t = Math.min(t, nearestThreshold(c, x));
  return t;
}
