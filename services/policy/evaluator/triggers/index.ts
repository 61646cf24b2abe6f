// The trigger registry: one small pure function per trigger kind, as oomd
// registers its detector plugins by name.
import type { CompiledCondition } from '../../model.ts';
import type { EvalContext, Target } from '../context.ts';
import { available } from './available.ts';
import { growth } from './growth.ts';
import { oom } from './oom.ts';
import { pressure } from './pressure.ts';
import { swap } from './swap.ts';
import type { ConditionTrace, TriggerOutcome } from './types.ts';
import { usage } from './usage.ts';

export type { ConditionTrace, TriggerOutcome } from './types.ts';

function runTrigger(
  c: Exclude<CompiledCondition, { kind: 'any' | 'all' }>,
  ctx: EvalContext,
  t: Target,
): TriggerOutcome {
  switch (c.kind) {
    case 'pressure':
      return pressure(c, ctx, t);
    case 'usage':
      return usage(c, ctx, t);
    case 'available':
      return available(c, ctx, t);
    case 'oom':
      return oom(c, ctx, t);
    case 'growth':
      return growth(c, ctx, t);
    case 'swap':
      return swap(c, ctx, t);
  }
}

/** Evaluates a condition tree on one target; every branch is evaluated so the trace is complete. */
export function evaluateCondition(
  c: CompiledCondition,
  ctx: EvalContext,
  t: Target,
): ConditionTrace {
  if (c.kind === 'any' || c.kind === 'all') {
    const children = c.children.map((x) => evaluateCondition(x, ctx, t));
    const fired =
      c.kind === 'any'
        ? children.some((x) => x.fired)
        : children.length > 0 && children.every((x) => x.fired);
    return { combinator: c.kind, fired, children };
  }
  return runTrigger(c, ctx, t);
}

/** One line for a condition trace: "usage 7.8Gi = 97.5% of limit 8Gi (above 95% of limit) ✓". */
export function describeTrace(t: ConditionTrace): string {
  if ('combinator' in t) return `${t.combinator}(${t.children.map(describeTrace).join('; ')})`;
  const mark = t.fired ? 'fired' : t.noData ? `no data: ${t.noData}` : 'not fired';
  return `${t.trigger} ${t.value} [${t.threshold}] → ${mark}`;
}
