// A rollout as the API shows it: per step and per host, with acks read from
// the hosts themselves (an ack is what the agent said, not what the rollout
// expects), and every verdict with the numbers it rested on.
import { asLabels } from '../desired/selector.ts';
import type { Database } from '../store/db.ts';
import { Prisma } from '../store/generated/client.ts';
import { answerTo, rolledBackSql, type HostAnswer } from './answers.ts';
import type { GateResult, GateThresholds } from './gates.ts';
import type { OnFailure, Phase, RolloutState } from './model.ts';
import type { StepSize } from './waves.ts';

export type HostView = {
  hostId: string;
  hostname: string;
  step: number;
  state: 'pending' | 'assigned' | 'acked' | 'nacked' | 'rolling-back' | 'rolled-back';
  previousVersionId: string | null;
  labels: Record<string, string>;
};

export type StepView = {
  index: number;
  size: StepSize;
  hosts: number;
  newHosts: number;
  state:
    | 'pending'
    | 'assigning'
    | 'waiting-acks'
    | 'baking'
    | 'passed'
    | 'failed'
    | 'inconclusive'
    | 'promoted'
    | 'skipped';
  startedAt?: string;
  ackDeadline?: string;
  bakeUntil?: string;
  acked: number;
  nacked: number;
};

export type VerdictView = {
  step: number;
  verdict: string;
  at: string;
  by: string | null;
  gates: GateResult[];
  reason?: string;
  window?: Record<string, string>;
};

export type RolloutView = {
  id: string;
  state: RolloutState;
  phase: Phase;
  group: { id: string; name: string };
  policy: { id: string; name: string };
  version: { id: string; version: number; digest: string };
  currentStep: number;
  steps: StepView[];
  hosts?: HostView[];
  hostCounts: Record<string, number>;
  verdicts: VerdictView[];
  settings: {
    bakeSeconds: number;
    ackTimeoutSeconds: number;
    thresholds: GateThresholds;
    onFailure: OnFailure;
    approvalAbovePercent: number | null;
    spreadBy: string[];
  };
  pausedReason: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
};

export const rolloutInclude = {
  group: { select: { id: true, name: true } },
  version: { include: { policy: { select: { id: true, name: true } } } },
  verdicts: { orderBy: { at: 'asc' } },
} satisfies Prisma.RolloutInclude;

type Row = Prisma.RolloutGetPayload<{ include: typeof rolloutInclude }>;

const iso = (d: Date | null | undefined): string | undefined => d?.toISOString();

const STEP_STATE: Record<string, StepView['state']> = {
  Successful: 'passed',
  Failed: 'failed',
  Inconclusive: 'inconclusive',
  Promoted: 'promoted',
};

export function verdictView(v: Row['verdicts'][number]): VerdictView {
  const g = (v.gates ?? {}) as {
    gates?: GateResult[];
    reason?: string;
    window?: Record<string, string>;
  };
  return {
    step: v.step,
    verdict: v.verdict,
    at: v.at.toISOString(),
    by: v.by,
    gates: Array.isArray(g.gates) ? g.gates : [],
    ...(g.reason ? { reason: g.reason } : {}),
    ...(g.window ? { window: g.window } : {}),
  };
}

interface HostRow extends HostAnswer {
  rollout_id: string;
  host_id: string;
  name: string;
  labels: unknown;
  step: number;
  state: string;
  previous_version_id: string | null;
  assigned_at: Date | null;
  rolled_back: boolean;
}

/**
 * The hosts of these rollouts, in wave order, in one query (a list of 50
 * rollouts is one round trip, not 50). Back on its previous version is only
 * meaningful once the rollback began, at the rollout's phase start.
 */
export async function hostRowsOf(db: Database, ids: string[]): Promise<Map<string, HostRow[]>> {
  const byRollout = new Map<string, HostRow[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return byRollout;
  const rows = await db.prisma.$queryRaw<HostRow[]>`
    SELECT rh.rollout_id, rh.host_id, h.name, h.labels, rh.step, rh.state, rh.previous_version_id,
           rh.assigned_at, h.applied_version_id, h.last_nack_version_id,
           COALESCE(ro.state IN ('rolling-back', 'rolled-back')
                    AND ${rolledBackSql(Prisma.sql`ro.phase_started_at`)}, false) AS rolled_back
      FROM rollout_hosts rh
      JOIN hosts h ON h.id = rh.host_id
      JOIN rollouts ro ON ro.id = rh.rollout_id
     WHERE rh.rollout_id = ANY(${ids}::uuid[])
     ORDER BY rh.rollout_id, rh.position`;
  for (const row of rows) byRollout.get(row.rollout_id)?.push(row);
  return byRollout;
}

function hostState(r: Row, h: HostRow): HostView['state'] {
  if (h.assigned_at === null) return 'pending';
  if (h.state === 'rolling-back' || (h.state === 'released' && r.state === 'rolled-back'))
    return h.rolled_back ? 'rolled-back' : 'rolling-back';
  return answerTo(h, r.versionId) ?? 'assigned';
}

/** Views of rollouts, their hosts read in one query; `hosts: false` leaves out the per-host list. */
export async function rolloutViews(
  db: Database,
  rollouts: Row[],
  options: { hosts: boolean } = { hosts: true },
): Promise<RolloutView[]> {
  const hostRows = await hostRowsOf(
    db,
    rollouts.map((r) => r.id),
  );
  return rollouts.map((r) => rolloutView(r, hostRows.get(r.id) ?? [], options));
}

/** The view of one rollout. */
export async function oneRolloutView(
  db: Database,
  r: Row,
  options: { hosts: boolean } = { hosts: true },
): Promise<RolloutView> {
  const hostRows = await hostRowsOf(db, [r.id]);
  return rolloutView(r, hostRows.get(r.id) ?? [], options);
}

function rolloutView(r: Row, rows: HostRow[], options: { hosts: boolean }): RolloutView {
  const hosts: HostView[] = rows.map((h) => ({
    hostId: h.host_id,
    hostname: h.name,
    step: h.step,
    state: hostState(r, h),
    previousVersionId: h.previous_version_id,
    labels: asLabels(h.labels),
  }));
  const verdicts = r.verdicts.map(verdictView);
  const sizes = r.steps as StepSize[];
  const finished = r.state === 'succeeded' || r.state === 'rolled-back';
  const steps: StepView[] = r.waveCounts.map((count, index) => {
    const mine = hosts.filter((h) => h.step === index);
    const judged = verdicts.filter((v) => v.step === index && STEP_STATE[v.verdict]).at(-1);
    const current = index === r.currentStep;
    let state: StepView['state'];
    if (index > r.currentStep) state = finished ? 'skipped' : 'pending';
    else if (judged && (!current || r.state !== 'running' || r.phase === 'assigning'))
      state = STEP_STATE[judged.verdict] ?? 'passed';
    else if (current && r.state === 'running')
      state =
        r.phase === 'assigning' || r.phase === 'waiting-acks' || r.phase === 'baking'
          ? r.phase
          : 'baking';
    else state = judged ? (STEP_STATE[judged.verdict] ?? 'passed') : current ? 'pending' : 'passed';
    return {
      index,
      size: sizes[index] ?? { hosts: count },
      hosts: count,
      newHosts: count - (index > 0 ? (r.waveCounts[index - 1] ?? 0) : 0),
      state,
      ...(current && r.phaseStartedAt ? { startedAt: iso(r.phaseStartedAt) } : {}),
      ...(current && r.phase === 'waiting-acks' && r.phaseDeadline
        ? { ackDeadline: iso(r.phaseDeadline) }
        : {}),
      ...(current && r.phase === 'baking' && r.phaseDeadline
        ? { bakeUntil: iso(r.phaseDeadline) }
        : {}),
      acked: mine.filter((h) => h.state === 'acked').length,
      nacked: mine.filter((h) => h.state === 'nacked').length,
    };
  });
  const hostCounts: Record<string, number> = {};
  for (const h of hosts) hostCounts[h.state] = (hostCounts[h.state] ?? 0) + 1;
  return {
    id: r.id,
    state: r.state as RolloutState,
    phase: r.phase as Phase,
    group: r.group,
    policy: { id: r.version.policy.id, name: r.version.policy.name },
    version: { id: r.version.id, version: r.version.version, digest: r.version.digest },
    currentStep: r.currentStep,
    steps,
    ...(options.hosts ? { hosts } : {}),
    hostCounts,
    verdicts,
    settings: {
      bakeSeconds: r.bakeMs / 1000,
      ackTimeoutSeconds: r.ackTimeoutMs / 1000,
      thresholds: r.thresholds as unknown as GateThresholds,
      onFailure: r.onFailure as OnFailure,
      approvalAbovePercent: r.approvalAbovePercent,
      spreadBy: r.spreadBy,
    },
    pausedReason: r.pausedReason,
    createdBy: r.createdBy,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
  };
}
