// A rollout's states, phases and settings, as stored in the rollouts table.
//
//   running ──(step passes)──▶ running (next step) … ──▶ succeeded
//      │  ╲──(a step would go beyond approvalAbovePercent)──▶ awaiting-approval ──approve──▶ running
//      ├──(Failed, onFailure rollback; or abort)──▶ rolling-back ──(every host acked its previous version)──▶ rolled-back
//      └──(Inconclusive; Failed with onFailure pause; pause)──▶ paused ──resume──▶ running
//
// Within a running step the phase is assigning → waiting-acks → baking, then
// the gates are judged (rollouts/gates.ts).
import { DEFAULT_THRESHOLDS, type GateThresholds } from './gates.ts';
import { DEFAULT_SPREAD, DEFAULT_STEPS, type StepSize } from './waves.ts';

export const ROLLOUT_STATES = [
  'running',
  'paused',
  'awaiting-approval',
  'rolling-back',
  'rolled-back',
  'succeeded',
] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

/** States in which the rollout holds its hosts (hosts.active_rollout_id). */
export const ACTIVE_STATES: readonly RolloutState[] = [
  'running',
  'paused',
  'awaiting-approval',
  'rolling-back',
];
/** States in which timers drive the rollout; the others wait for a person. */
export const DRIVEN_STATES: readonly RolloutState[] = ['running', 'rolling-back'];

export type Phase = 'assigning' | 'waiting-acks' | 'baking' | 'rolling-back' | 'done';

/** pending → assigned → (rolling-back →) released; acks are read from the hosts table. */
export type RolloutHostState = 'pending' | 'assigned' | 'rolling-back' | 'released';

export type OnFailure = 'rollback' | 'pause';

export interface RolloutSettings {
  steps: StepSize[];
  bakeMs: number;
  ackTimeoutMs: number;
  thresholds: GateThresholds;
  onFailure: OnFailure;
  /** A step that takes the rollout beyond this share of the group (percent) waits for approval. */
  approvalAbovePercent: number | null;
  spreadBy: string[];
}

export const DEFAULT_SETTINGS: RolloutSettings = {
  steps: DEFAULT_STEPS,
  bakeMs: 10 * 60_000,
  ackTimeoutMs: 2 * 60_000,
  thresholds: DEFAULT_THRESHOLDS,
  onFailure: 'rollback',
  approvalAbovePercent: null,
  spreadBy: DEFAULT_SPREAD,
};

/** How often a rollout looks for acks while it waits for them (and while it rolls back). */
export const ACK_POLL_MS = 100;
/**
 * How long after a bake the gates wait for its last outcome reports to be
 * stored (agents ship them every few hundred ms; the queue adds a little).
 * The window judged still ends with the bake.
 */
export const SETTLE_MS = 1500;
/**
 * How long the gates wait past a bake for reports still queued from it (the
 * ingester behind); after that the step is Inconclusive, never judged on
 * part of its data.
 */
export const MAX_REPORT_WAIT_MS = 60_000;
