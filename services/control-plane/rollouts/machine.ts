// The rollout step machine: every transition runs in one transaction with
// the rollout's row locked (SELECT … FOR UPDATE), so two replicas, a job run
// twice, or a person's action racing a timer cannot make a step happen twice.
// The row's `revision` names the one job that may drive the rollout next
// (driver.ts): each transition bumps it, and a job for an older revision
// finds nothing to do. The state lives here, in PostgreSQL; the jobs in
// Redis only say when to look again.
import { writeAudit, actorLabel, type Actor } from '../audit/audit.ts';
import { resolveDesired } from '../desired/resolve.ts';
import { ApiError } from '../http/errors.ts';
import type { Database } from '../store/db.ts';
import type { Prisma } from '../store/generated/client.ts';
import { answerTo, rolledBackSql, type HostAnswer } from './answers.ts';
import { judge, type GateResult, type GateThresholds } from './gates.ts';
import { ACK_POLL_MS, MAX_REPORT_WAIT_MS, SETTLE_MS, type RolloutState } from './model.ts';
import { gateStats } from './stats.ts';

type Tx = Prisma.TransactionClient;

export interface MachineDeps {
  db: Database;
  /** Hands hosts whose desired version changed to the fan-out (after commit). */
  onDesiredChanged: (hostIds: string[]) => Promise<void> | void;
  /** When the oldest outcome report not yet stored was queued (ingest/queue.ts). */
  oldestPendingReport?: () => Promise<number | undefined>;
  now?: () => number;
}

/** What to do after a transition: when to look again (for `revision`), if at all. */
export interface Next {
  revision: number;
  delayMs: number;
}

interface Locked {
  id: string;
  groupId: string;
  versionId: string;
  state: string;
  phase: string;
  waveCounts: number[];
  currentStep: number;
  bakeMs: number;
  ackTimeoutMs: number;
  thresholds: Prisma.JsonValue;
  onFailure: string;
  approvalAbovePercent: number | null;
  phaseStartedAt: Date | null;
  phaseDeadline: Date | null;
  revision: number;
  createdBy: string;
  createdAt: Date;
}

/** Work the transaction leaves for after its commit. */
interface After {
  changed: string[];
  /** Hosts released by the rollout: their desired version follows the assignments again. */
  released: string[];
}

async function lock(tx: Tx, id: string): Promise<Locked | undefined> {
  const rows = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM rollouts WHERE id = ${id}::uuid FOR UPDATE`;
  if (rows.length === 0) return undefined;
  return (await tx.rollout.findUnique({ where: { id } })) ?? undefined;
}

async function runLocked<T>(
  deps: MachineDeps,
  id: string,
  body: (tx: Tx, r: Locked, after: After, now: Date) => Promise<T>,
): Promise<T> {
  const after: After = { changed: [], released: [] };
  const now = new Date((deps.now ?? Date.now)());
  const out = await deps.db.prisma.$transaction(
    async (tx) => {
      const r = await lock(tx, id);
      if (!r) throw new ApiError('rollout-not-found', `no rollout ${id}`);
      return body(tx, r, after, now);
    },
    { timeout: 60_000 },
  );
  if (after.released.length > 0)
    after.changed.push(...(await resolveDesired(deps.db, { hostIds: after.released })));
  if (after.changed.length > 0) await deps.onDesiredChanged([...new Set(after.changed)]);
  return out;
}

/** Moves the rollout on: a new revision, the fields given, and when to look again. */
async function transition(
  tx: Tx,
  r: Locked,
  data: Prisma.RolloutUpdateInput,
  delayMs: number | undefined,
): Promise<Next | undefined> {
  const revision = r.revision + 1;
  await tx.rollout.update({ where: { id: r.id }, data: { ...data, revision } });
  Object.assign(r, data, { revision });
  return delayMs === undefined ? undefined : { revision, delayMs: Math.max(0, delayMs) };
}

/**
 * Looks again after delayMs. A new revision too: the next job needs an id of
 * its own (BullMQ ignores an id it holds), and any other job in flight for
 * this rollout becomes stale.
 */
function later(tx: Tx, r: Locked, delayMs: number): Promise<Next | undefined> {
  return transition(tx, r, {}, delayMs);
}

async function verdict(
  tx: Tx,
  r: Locked,
  v: string,
  by: string | null,
  gates: GateResult[] = [],
  extra: Record<string, unknown> = {},
): Promise<void> {
  await tx.rolloutVerdict.create({
    data: {
      rolloutId: r.id,
      step: r.currentStep,
      verdict: v,
      gates: { gates, ...extra } as unknown as Prisma.InputJsonValue,
      by,
    },
  });
}

const lastStep = (r: Locked): number => r.waveCounts.length - 1;
const total = (r: Locked): number => r.waveCounts.at(-1) ?? 0;

/** Does step `step` take the rollout beyond the share that needs a second person? */
function needsApproval(r: Locked, step: number): boolean {
  if (r.approvalAbovePercent === null) return false;
  const count = r.waveCounts[step] ?? 0;
  return (100 * count) / Math.max(1, total(r)) > r.approvalAbovePercent;
}

async function approvedStep(tx: Tx, r: Locked, step: number): Promise<boolean> {
  const n = await tx.rolloutVerdict.count({
    where: { rolloutId: r.id, step, verdict: 'Approved' },
  });
  return n > 0;
}

/** Gives the hosts of the current step the new version. */
async function assign(tx: Tx, r: Locked, after: After, now: Date): Promise<Next | undefined> {
  if (needsApproval(r, r.currentStep) && !(await approvedStep(tx, r, r.currentStep)))
    return transition(tx, r, { state: 'awaiting-approval', phaseStartedAt: now }, undefined);
  const hosts = await tx.rolloutHost.findMany({
    where: { rolloutId: r.id, step: { lte: r.currentStep }, state: 'pending' },
    select: { hostId: true },
  });
  const ids = hosts.map((h) => h.hostId);
  if (ids.length > 0) {
    await tx.host.updateMany({
      where: { id: { in: ids }, activeRolloutId: r.id },
      data: { desiredVersionId: r.versionId },
    });
    await tx.rolloutHost.updateMany({
      where: { rolloutId: r.id, hostId: { in: ids } },
      data: { state: 'assigned', assignedAt: now },
    });
    after.changed.push(...ids);
  }
  return transition(
    tx,
    r,
    {
      phase: 'waiting-acks',
      phaseStartedAt: now,
      phaseDeadline: new Date(now.getTime() + r.ackTimeoutMs),
    },
    0,
  );
}

/** Acks and NACKs of the hosts given the version so far. */
async function answers(
  tx: Tx,
  r: Locked,
): Promise<{ hosts: number; answered: number; nacked: number }> {
  const rows = await tx.$queryRaw<HostAnswer[]>`
    SELECT h.applied_version_id, h.last_nack_version_id
      FROM rollout_hosts rh JOIN hosts h ON h.id = rh.host_id
     WHERE rh.rollout_id = ${r.id}::uuid AND rh.step <= ${r.currentStep}`;
  const said = rows.map((h) => answerTo(h, r.versionId));
  return {
    hosts: rows.length,
    answered: said.filter((a) => a !== undefined).length,
    nacked: said.filter((a) => a === 'nacked').length,
  };
}

async function waitForAcks(tx: Tx, r: Locked, after: After, now: Date): Promise<Next | undefined> {
  const a = await answers(tx, r);
  const deadline = r.phaseDeadline?.getTime() ?? now.getTime();
  const thresholds = r.thresholds as unknown as GateThresholds;
  // NACKs beyond the gate already: no bake can save the step.
  if (a.hosts > 0 && a.nacked / a.hosts > thresholds.maxNackRatio)
    return judgeStep(tx, r, after, now);
  if (a.answered < a.hosts && now.getTime() < deadline)
    return later(tx, r, Math.min(ACK_POLL_MS, deadline - now.getTime()));
  return transition(
    tx,
    r,
    {
      phase: 'baking',
      phaseStartedAt: now,
      phaseDeadline: new Date(now.getTime() + r.bakeMs),
    },
    r.bakeMs,
  );
}

/** The gates on the bake so far, and what follows from the verdict. */
async function judgeStep(tx: Tx, r: Locked, after: After, now: Date): Promise<Next | undefined> {
  const thresholds = r.thresholds as unknown as GateThresholds;
  // The bake's window: up to its end (or now, when judged early).
  const end =
    r.phase === 'baking' && r.phaseDeadline && r.phaseDeadline < now ? r.phaseDeadline : now;
  const input = await gateStats(tx, r, end);
  const j = judge(input.wave, input.baseline, thresholds);
  await verdict(tx, r, j.verdict, null, j.gates, { window: input.window });
  if (j.verdict === 'Successful') return nextStep(tx, r, after, now);
  const reasons = j.gates
    .filter((g) => g.outcome !== 'pass')
    .map((g) => `${g.gate}: ${g.reason}`)
    .join('; ');
  if (j.verdict === 'Failed' && r.onFailure === 'rollback') return startRollback(tx, r, after, now);
  return transition(
    tx,
    r,
    {
      state: 'paused',
      pausedReason: `step ${r.currentStep + 1} ${j.verdict === 'Failed' ? 'failed' : 'was inconclusive'}: ${reasons}`,
    },
    undefined,
  );
}

/** The bake's reports are still queued long after it: no verdict on part of the data. */
async function reportsBehind(tx: Tx, r: Locked, ageMs: number): Promise<Next | undefined> {
  const gate: GateResult = {
    gate: 'reports',
    outcome: 'no-data',
    numbers: { oldestQueuedAgeMs: ageMs, maxReportWaitMs: MAX_REPORT_WAIT_MS },
    reason: `outcome reports from the bake were still queued ${Math.round(ageMs / 1000)} s later: the ingester is behind`,
  };
  await verdict(tx, r, 'Inconclusive', null, [gate]);
  return transition(
    tx,
    r,
    { state: 'paused', pausedReason: `step ${r.currentStep + 1} was inconclusive: ${gate.reason}` },
    undefined,
  );
}

async function nextStep(tx: Tx, r: Locked, after: After, now: Date): Promise<Next | undefined> {
  if (r.currentStep < lastStep(r))
    return transition(
      tx,
      r,
      {
        state: 'running',
        phase: 'assigning',
        currentStep: r.currentStep + 1,
        phaseStartedAt: now,
        phaseDeadline: null,
        pausedReason: null,
      },
      0,
    );
  // Done: the group's assignment becomes the new version, and the hosts go back to following it.
  const existing = await tx.assignment.findUnique({ where: { groupId: r.groupId } });
  await tx.assignment.upsert({
    where: { groupId: r.groupId },
    create: { groupId: r.groupId, policyVersionId: r.versionId, createdBy: `rollout ${r.id}` },
    update: { policyVersionId: r.versionId },
  });
  await writeAudit(tx, {
    actor: { id: r.id, name: 'rollout' },
    action: 'assignment.set',
    targetType: 'group',
    targetId: r.groupId,
    before: existing,
    after: { policyVersionId: r.versionId, by: `rollout ${r.id}` },
  });
  await release(tx, r, after);
  return transition(
    tx,
    r,
    { state: 'succeeded', phase: 'done', finishedAt: now, phaseDeadline: null, pausedReason: null },
    undefined,
  );
}

async function release(tx: Tx, r: Locked, after: After): Promise<void> {
  const hosts = await tx.rolloutHost.findMany({
    where: { rolloutId: r.id },
    select: { hostId: true },
  });
  await tx.rolloutHost.updateMany({ where: { rolloutId: r.id }, data: { state: 'released' } });
  await tx.host.updateMany({
    where: { activeRolloutId: r.id },
    data: { activeRolloutId: null },
  });
  after.released.push(...hosts.map((h) => h.hostId));
}

/** Every host that was given the new version goes back to the one it had. */
async function startRollback(
  tx: Tx,
  r: Locked,
  after: After,
  now: Date,
): Promise<Next | undefined> {
  const given = await tx.rolloutHost.findMany({
    where: { rolloutId: r.id, state: { in: ['assigned', 'rolling-back'] } },
    select: { hostId: true, previousVersionId: true },
  });
  const byPrevious = new Map<string | null, string[]>();
  for (const h of given) {
    const list = byPrevious.get(h.previousVersionId) ?? [];
    list.push(h.hostId);
    byPrevious.set(h.previousVersionId, list);
  }
  for (const [previous, ids] of byPrevious)
    await tx.host.updateMany({
      where: { id: { in: ids }, activeRolloutId: r.id },
      data: { desiredVersionId: previous },
    });
  await tx.rolloutHost.updateMany({
    where: { rolloutId: r.id, state: 'assigned' },
    data: { state: 'rolling-back' },
  });
  after.changed.push(...given.map((h) => h.hostId));
  return transition(
    tx,
    r,
    { state: 'rolling-back', phase: 'rolling-back', phaseStartedAt: now, phaseDeadline: null },
    0,
  );
}

/** Hosts still to ack the version they had before the rollout. */
async function notRolledBack(tx: Tx, r: Locked): Promise<number> {
  const rows = await tx.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM rollout_hosts rh JOIN hosts h ON h.id = rh.host_id
     WHERE rh.rollout_id = ${r.id}::uuid AND rh.state = 'rolling-back'
       AND NOT ${rolledBackSql(r.phaseStartedAt ?? new Date(0))}`;
  return Number(rows[0]?.n ?? 0);
}

async function rollingBack(tx: Tx, r: Locked, after: After, now: Date): Promise<Next | undefined> {
  // Complete only when every host acked its previous version: one offline
  // now gets it when it reconnects, and the rollout waits for that.
  if ((await notRolledBack(tx, r)) > 0) return later(tx, r, ACK_POLL_MS);
  await release(tx, r, after);
  return transition(
    tx,
    r,
    { state: 'rolled-back', phase: 'done', finishedAt: now, phaseDeadline: null },
    undefined,
  );
}

/**
 * One look at the rollout by the job for `revision`: does whatever is due,
 * and says when to look again. A job for an older revision does nothing.
 */
export async function advance(
  deps: MachineDeps,
  id: string,
  revision: number,
): Promise<Next | undefined> {
  return runLocked(deps, id, async (tx, r, after, now) => {
    if (r.revision !== revision) return undefined;
    if (r.state === 'rolling-back') return rollingBack(tx, r, after, now);
    if (r.state !== 'running') return undefined;
    switch (r.phase) {
      case 'assigning':
        return assign(tx, r, after, now);
      case 'waiting-acks':
        return waitForAcks(tx, r, after, now);
      case 'baking': {
        // The bake's last reports are still on their way (agents ship them
        // every few hundred ms, then the queue): judge once they are stored.
        const end = r.phaseDeadline?.getTime() ?? 0;
        const left = end + SETTLE_MS - now.getTime();
        if (left > 0) return later(tx, r, left);
        // Reports queued during the bake and not stored yet would be missed,
        // and too few kills looks healthy: wait for them, within reason.
        const oldest = await deps.oldestPendingReport?.();
        if (oldest !== undefined && oldest <= end) {
          if (now.getTime() - end < MAX_REPORT_WAIT_MS) return later(tx, r, ACK_POLL_MS);
          return reportsBehind(tx, r, now.getTime() - oldest);
        }
        return judgeStep(tx, r, after, now);
      }
      default:
        return undefined;
    }
  });
}

// ---- people's decisions ----

export type Action = 'pause' | 'resume' | 'promote' | 'abort' | 'approve';

const ALLOWED: Record<Action, readonly RolloutState[]> = {
  pause: ['running', 'awaiting-approval'],
  resume: ['paused'],
  promote: ['running', 'paused'],
  abort: ['running', 'paused', 'awaiting-approval'],
  approve: ['awaiting-approval'],
};

const VERDICT: Record<Action, string> = {
  pause: 'Paused',
  resume: 'Resumed',
  promote: 'Promoted',
  abort: 'Aborted',
  approve: 'Approved',
};

/**
 * A person's decision, audited with the state before and after. Returns
 * when the rollout should be looked at next (the driver schedules it).
 */
export async function act(
  deps: MachineDeps,
  id: string,
  action: Action,
  actor: Actor,
  reason?: string,
): Promise<Next | undefined> {
  return runLocked(deps, id, async (tx, r, after, now) => {
    const state = r.state as RolloutState;
    if (!ALLOWED[action].includes(state))
      throw new ApiError(
        'rollout-state',
        `cannot ${action} a rollout that is ${state}; ${action} applies when it is ${ALLOWED[action].join(' or ')}`,
      );
    if (action === 'promote' && r.phase === 'assigning')
      throw new ApiError(
        'rollout-state',
        'the step is still being assigned; promote once its hosts have the version',
      );
    if (action === 'approve' && actorLabel(actor) === r.createdBy)
      throw new ApiError(
        'approval-by-second-person',
        `${actor.name} started this rollout; another operator must approve step ${r.currentStep + 1}`,
      );
    const before = { state: r.state, phase: r.phase, step: r.currentStep };
    await verdict(tx, r, VERDICT[action], actorLabel(actor), [], reason ? { reason } : {});
    let next: Next | undefined;
    switch (action) {
      case 'pause':
        next = await transition(
          tx,
          r,
          {
            state: 'paused',
            pausedReason: `paused by ${actor.name}${reason ? `: ${reason}` : ''}`,
          },
          undefined,
        );
        break;
      case 'resume':
        // A bake interrupted starts over: the gates judge a whole one.
        next = await transition(
          tx,
          r,
          {
            state: 'running',
            pausedReason: null,
            ...(r.phase === 'baking'
              ? { phaseStartedAt: now, phaseDeadline: new Date(now.getTime() + r.bakeMs) }
              : {}),
          },
          0,
        );
        break;
      case 'promote':
        // A person's verdict in place of the gates: the rest of the bake is skipped.
        next = await nextStep(tx, r, after, now);
        break;
      case 'abort':
        next = await startRollback(tx, r, after, now);
        break;
      case 'approve':
        next = await transition(tx, r, { state: 'running', phase: 'assigning' }, 0);
        break;
    }
    await writeAudit(tx, {
      actor,
      action: `rollout.${action}`,
      targetType: 'rollout',
      targetId: r.id,
      before,
      after: {
        state: r.state,
        phase: r.phase,
        step: r.currentStep,
        ...(reason ? { reason } : {}),
      },
    });
    return next;
  });
}
