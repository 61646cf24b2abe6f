// The agent's structured outcome events: what it did and what the kernel did,
// one record each. They feed `oomfleet agent events [--follow]`, the status
// counters and, later, the outcome reports shipped to the control plane.
// Declared as type aliases, not interfaces, so that every event is assignable
// to the endpoint's loose EventRecord ({ id, time, kind, [field]: unknown }).
import type { VictimSelection } from '../../policy/index.ts';

export type EventBase = {
  /** A ULID (see id.ts): unique, and sorts by creation time. */
  id: string;
  /** When the event happened, ms since the Unix epoch. */
  time: number;
  host?: string;
  /** The policy in force when it happened. */
  policy?: { name: string; digest: string };
};

export type SignalName = 'SIGTERM' | 'SIGKILL';

export type SignalSent = {
  signal: SignalName;
  /** ms since the epoch. */
  at: number;
  /** The pids signalled in this round (a whole-cgroup kill may need several). */
  pids: number[];
  /** Set when the kernel killed the group for us (v2 cgroup.kill) instead of per-pid signals. */
  via?: 'cgroup.kill';
};

/**
 * died: confirmed dead (gone, or a zombie);
 * already-gone: exited (or its pid was recycled) before any signal reached it;
 * refused: not signalled because it may not be killed (see `reason`);
 * survived: still alive after SIGKILL and the kill timeout (uninterruptible sleep, a fork storm…);
 * failed: the signal itself failed (EPERM…), see `reason`;
 * dry-run: the decision was report-only; nothing was signalled or even checked.
 */
export type KillOutcome = 'died' | 'already-gone' | 'refused' | 'survived' | 'failed' | 'dry-run';

export type KillEventVictim =
  | {
      kind: 'process';
      pid: number;
      comm: string;
      cmdline: string;
      cgroup: string;
      /** From the snapshot, ms since the epoch: with pid, the process's identity. */
      startTime: number;
    }
  | {
      kind: 'cgroup';
      cgroup: string;
      /** Every pid the killer signalled (for a refusal: the members it found). */
      pids: number[];
    };

export type KillEvent = EventBase & {
  kind: 'kill';
  rule: string;
  victim: KillEventVictim;
  signals: SignalSent[];
  graceMs: number;
  /**
   * Bytes freed: the victim's RSS (process, when it died), or the memcg's usage
   * before minus after (cgroup, when a driver could read it). Absent when unknown.
   */
  rssFreed?: number;
  /** Confirmed death − the trigger (the snapshot that fired). Absent unless it died. */
  triggerToDeathMs?: number;
  dryRun: boolean;
  outcome: KillOutcome;
  /** Why it was refused, failed or survived. */
  reason?: string;
  /** What the evaluator said: the one-line summary and how the victim was chosen. */
  trace: { summary: string; firing: string[]; victim?: VictimSelection };
};

export type OomEvent = EventBase & {
  kind: 'oom';
  memcg: string;
  /** Who handled it: the kernel's OOM killer, or the agent (user-space OOM handling). */
  handler: 'kernel' | 'userspace';
  /** Kernel OOM kills counted (memory.events oom_kill, v1 oom_control) since the last event. */
  kills?: number;
};

export type FallbackEvent = EventBase & {
  kind: 'fallback';
  /** The memcg handed back to the kernel's OOM killer (oom_kill_disable=0). */
  memcg: string;
  /** How long it had been stuck at its limit. */
  stuckMs: number;
  fallbackAfterMs: number;
  reason?: string;
};

export type ThrottleEvent = EventBase & {
  kind: 'throttle';
  rule: string;
  cgroup: string;
  memoryHigh: number;
  durationMs: number;
  usage: number;
  dryRun: boolean;
  summary: string;
};

export type NotifyEvent = EventBase & {
  kind: 'notify';
  rule: string;
  message: string;
  severity: 'info' | 'warning' | 'critical';
  dryRun: boolean;
  summary: string;
};

export type PolicyAppliedEvent = EventBase & {
  kind: 'policy-applied';
  name: string;
  digest: string;
  version?: number;
  source: 'local' | 'control-plane' | 'last-known-good';
};

export type PolicyRefusedEvent = EventBase & {
  kind: 'policy-refused';
  name?: string;
  digest?: string;
  version?: number;
  reason: string;
};

export type ErrorEvent = EventBase & {
  kind: 'error';
  /** Where: "monitor", "apply", "kill", "supervisor"… */
  where: string;
  message: string;
  code?: string;
};

export type AgentEvent =
  | KillEvent
  | OomEvent
  | FallbackEvent
  | ThrottleEvent
  | NotifyEvent
  | PolicyAppliedEvent
  | PolicyRefusedEvent
  | ErrorEvent;

export type AgentEventKind = AgentEvent['kind'];

/** An event before it has an id (and, optionally, a time): what producers hand to the log. */
export type AgentEventInput = AgentEvent extends infer E
  ? E extends AgentEvent
    ? Omit<E, 'id' | 'time'> & { time?: number }
    : never
  : never;

export const EVENT_KINDS: readonly AgentEventKind[] = [
  'kill',
  'oom',
  'fallback',
  'throttle',
  'notify',
  'policy-applied',
  'policy-refused',
  'error',
];
