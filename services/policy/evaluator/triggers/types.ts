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
}

export type ConditionTrace =
  TriggerOutcome | { combinator: 'any' | 'all'; fired: boolean; children: ConditionTrace[] };

export type TriggerFn<K extends TriggerKind> = (
  cond: Extract<CompiledCondition, { kind: K }>,
  ctx: EvalContext,
  target: Target,
) => TriggerOutcome;
