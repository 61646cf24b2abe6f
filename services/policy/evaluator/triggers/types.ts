import type { CompiledCondition } from '../../model.ts';
import type { TriggerKind } from '../../schema.ts';
import type { EvalContext, Target } from '../context.ts';

export interface TriggerOutcome {
  trigger: TriggerKind;
  fired: boolean;
  /** What was measured, in words: "97.2% of limit 8Gi (set on /batch)". */
  value: string;
  /** The condition, in words: "above 95%". */
  threshold: string;
  /** Set when there was nothing to measure; a trigger without data never fires. */
  noData?: string;
  /**
   * How far the measured value is from the threshold, as a share of the
   * threshold (0 at or past it, 1 or more far away); absent without data or
   * for event-like triggers. The agent evaluates faster as it nears 0.
   */
  margin?: number;
}

/** Distance to a threshold approached from below ("above X") or from above ("below X"). */
export function marginTo(value: number, threshold: number, approach: 'rising' | 'falling'): number {
  if (threshold <= 0) return approach === 'rising' ? 0 : Math.max(0, value);
  const m =
    approach === 'rising' ? (threshold - value) / threshold : (value - threshold) / threshold;
  return Math.max(0, Math.round(m * 1000) / 1000);
}

export type ConditionTrace =
  TriggerOutcome | { combinator: 'any' | 'all'; fired: boolean; children: ConditionTrace[] };

export type TriggerFn<K extends TriggerKind> = (
  cond: Extract<CompiledCondition, { kind: K }>,
  ctx: EvalContext,
  target: Target,
) => TriggerOutcome;
