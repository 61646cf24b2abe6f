export { evaluate, MAX_RUNNERS_UP, MAX_TRACED_TARGETS } from './evaluate.ts';
export type {
  CandidateTrace,
  Decision,
  Evaluation,
  KillVictim,
  RuleOutcome,
  RuleOutcomeKind,
  Tier,
  VictimSelection,
} from './evaluate.ts';
export { describeTrace, evaluateCondition } from './triggers/index.ts';
export type { ConditionTrace, TriggerOutcome } from './triggers/index.ts';
export { GROWTH_LOOKBACK_MS } from './victims/strategies.ts';
export { thresholdBytes } from './triggers/quantity.ts';
export { marginTo } from './triggers/types.ts';
