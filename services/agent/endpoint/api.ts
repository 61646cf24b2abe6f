// What the agent's local endpoint serves: the engine implements this, the
// Unix-socket server exposes it, `oomfleet agent …` reads it.
import type { Evaluation, PolicyIssue } from '../../policy/index.ts';

export interface AgentStatus {
  version: string;
  pid: number;
  supervisorPid?: number;
  startedAt: number;
  hostname: string;
  cgroup: {
    mode: 'v1' | 'v2' | 'none';
    root?: string;
    /** Settings this hierarchy cannot express, or only approximately. */
    unsupported: { setting: string; note: string }[];
  };
  policy?: {
    name: string;
    digest: string;
    source: 'local' | 'control-plane';
    /** The control plane's version of it (source control-plane). */
    versionId?: string;
    version?: number;
    appliedAt: number;
    intervalMs: number;
  };
  lastRefusal?: { digest: string; reason: string; at: number };
  lastEvaluation?: {
    time: number;
    durationMs: number;
    intervalMs: number;
    /**
     * memcgs the tick read, and those it left unread because a parent's
     * usage was at or below every threshold beneath it (snapshot/prune.ts).
     */
    memcgs?: { read: number; skipped: number };
    rules: { rule: string; outcome: string; reason: string }[];
  };
  counters: { kills: number; fallbacks: number; evaluations: number; errors: number };
  /** The worker process's memory (process.memoryUsage()). */
  memory?: { rssBytes: number; heapUsedBytes: number; heapTotalBytes: number };
  controlPlane: {
    /**
     * disabled: no --control-plane; connecting: an attempt is under way;
     * disconnected: waiting to retry. since: when it connected, or since
     * when it has been without a connection.
     */
    state: 'disabled' | 'connecting' | 'connected' | 'disconnected';
    address?: string;
    since?: number;
    /** The host identity given at enrolment. */
    hostId?: string;
    /** Why the last attempt or stream failed. */
    lastError?: string;
  };
}

/** One outcome event, as the event log holds it (see services/agent/events). */
export interface EventRecord {
  id: string;
  time: number;
  kind: string;
  [field: string]: unknown;
}

export type DryRunResult =
  | { ok: false; issues: PolicyIssue[] }
  | {
      ok: true;
      name: string;
      digest: string;
      evaluation: Evaluation;
      refusal?: string;
      warnings: PolicyIssue[];
    };

export interface AgentApi {
  status(): AgentStatus;
  /** Evaluates the applied policy on a fresh snapshot, changing nothing. */
  explain(): Evaluation | undefined;
  /** Evaluates another policy on a fresh snapshot, changing nothing. */
  dryRun(policyText: string): DryRunResult | Promise<DryRunResult>;
  events(options: { since?: string; limit?: number }): EventRecord[];
  subscribe(listener: (event: EventRecord) => void): () => void;
}
