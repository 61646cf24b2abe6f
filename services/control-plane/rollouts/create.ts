// Starting a rollout: the group's hosts as they are now, in wave order, each
// with the version it was meant to run, all held by the rollout at once. A
// host is in at most one active rollout; creations are serialised (one
// advisory lock), so two overlapping rollouts cannot both see free hosts.
import { randomUUID } from 'node:crypto';
import { writeAudit, type Actor, actorLabel } from '../audit/audit.ts';
import { asLabels, matchesSelector, type Selector } from '../desired/selector.ts';
import { ApiError } from '../http/errors.ts';
import type { Database } from '../store/db.ts';
import type { Prisma } from '../store/generated/client.ts';
import type { RolloutSettings } from './model.ts';
import { effectiveSteps, orderHosts } from './waves.ts';

/** pg_advisory_xact_lock key for rollout creation ("oomr"). */
const CREATE_LOCK = 0x6f6f6d72;

export interface CreateInput {
  groupId: string;
  versionId: string;
  settings: RolloutSettings;
  /** Orders the waves; random unless given (tests). */
  seed?: string;
}

export async function createRollout(
  db: Database,
  input: CreateInput,
  actor: Actor,
): Promise<{ id: string; revision: number }> {
  const { settings } = input;
  return db.prisma.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${CREATE_LOCK})`;
      const group = await tx.hostGroup.findUnique({ where: { id: input.groupId } });
      if (!group) throw new ApiError('group-not-found', `no host group ${input.groupId}`);
      const version = await tx.policyVersion.findUnique({
        where: { id: input.versionId },
        include: { policy: { select: { name: true } } },
      });
      if (!version)
        throw new ApiError('policy-version-not-found', `no policy version ${input.versionId}`);

      const selector = group.selector as Selector;
      const hosts = (
        await tx.host.findMany({
          select: { id: true, labels: true, activeRolloutId: true, desiredVersionId: true },
        })
      )
        .map((h) => ({ ...h, labels: asLabels(h.labels) }))
        .filter((h) => matchesSelector(selector, h.labels));
      if (hosts.length === 0)
        throw new ApiError(
          'group-empty',
          `host group ${group.name} matches no host; enrol hosts with its labels first`,
        );
      const held = [
        ...new Set(hosts.flatMap((h) => (h.activeRolloutId ? [h.activeRolloutId] : []))),
      ];
      if (held.length > 0)
        throw new ApiError(
          'rollout-overlap',
          `${hosts.filter((h) => h.activeRolloutId).length} of the ${hosts.length} hosts of ${group.name} are in active rollout ${held.join(', ')}; wait for it to finish, or abort it`,
          { extensions: { rollouts: held } },
        );

      const order = orderHosts(hosts, input.seed ?? randomUUID(), settings.spreadBy);
      const steps = effectiveSteps(settings.steps, hosts.length);
      const byId = new Map(hosts.map((h) => [h.id, h]));
      const rollout = await tx.rollout.create({
        data: {
          groupId: group.id,
          versionId: version.id,
          state: 'running',
          phase: 'assigning',
          steps: steps.map((s) => s.size),
          waveCounts: steps.map((s) => s.count),
          bakeMs: settings.bakeMs,
          ackTimeoutMs: settings.ackTimeoutMs,
          thresholds: settings.thresholds as unknown as Prisma.InputJsonValue,
          onFailure: settings.onFailure,
          approvalAbovePercent: settings.approvalAbovePercent,
          spreadBy: settings.spreadBy,
          phaseStartedAt: new Date(),
          createdBy: actorLabel(actor),
        },
      });
      await tx.rolloutHost.createMany({
        data: order.map((hostId, position) => ({
          rolloutId: rollout.id,
          hostId,
          position,
          step: steps.findIndex((s) => position < s.count),
          previousVersionId: byId.get(hostId)?.desiredVersionId ?? null,
        })),
      });
      await tx.host.updateMany({
        where: { id: { in: order } },
        data: { activeRolloutId: rollout.id },
      });
      await writeAudit(tx, {
        actor,
        action: 'rollout.create',
        targetType: 'rollout',
        targetId: rollout.id,
        after: {
          group: group.name,
          policy: version.policy.name,
          version: version.version,
          hosts: order.length,
          waveCounts: rollout.waveCounts,
          settings,
        },
      });
      return { id: rollout.id, revision: rollout.revision };
    },
    { timeout: 60_000 },
  );
}
