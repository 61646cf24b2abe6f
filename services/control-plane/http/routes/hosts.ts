// Hosts: listed with filters (labels, desired/applied version, sync state),
// shown one at a time, and relabelled (which can change their desired
// version, so it is recomputed and published). Labels an operator set are
// theirs until handed back: the agent's Hello no longer merges over them.
import { Type, type FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Prisma } from '../../store/generated/client.ts';
import { writeAudit } from '../../audit/audit.ts';
import { asLabels, matchesSelector, type Selector } from '../../desired/selector.ts';
import { syncState } from '../../desired/sync-state.ts';
import { ApiError } from '../errors.ts';
import { actorOf, desiredChanged, isUuid } from '../helpers.ts';
import { Labels, Nullable, withErrors } from '../schemas.ts';
import { HostSchema, SyncStateSchema, hostInclude, hostView } from '../views.ts';

const LABEL_FILTER = /^(!?)([A-Za-z0-9_./-]{1,63})(?:(!=|=)(.{0,63}))?$/;

/**
 * `?label=` filters as a selector: k=v (equals), k!=v (not equal or absent),
 * k (exists), !k (does not exist).
 */
export function labelFilters(filters: readonly string[]): Selector {
  const matchLabels: Record<string, string> = {};
  const matchExpressions: NonNullable<Selector['matchExpressions']> = [];
  for (const f of filters) {
    const m = LABEL_FILTER.exec(f);
    if (!m?.[2] || (m[1] && m[3]))
      throw new ApiError('invalid-label-filter', `${JSON.stringify(f)}: use k=v, k!=v, k or !k`);
    const [, not, key, op, value] = m;
    if (op === '=') matchLabels[key] = value ?? '';
    else if (op === '!=') matchExpressions.push({ key, operator: 'NotIn', values: [value ?? ''] });
    else matchExpressions.push({ key, operator: not ? 'DoesNotExist' : 'Exists' });
  }
  return { matchLabels, matchExpressions };
}

const HostParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 253, description: 'host id (uuid) or name' }),
});

export const hostRoutes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  const { prisma } = app.deps.db;

  function hostWhere(idOrName: string): Prisma.HostWhereUniqueInput {
    return isUuid(idOrName) ? { id: idOrName } : { name: idOrName };
  }

  app.get(
    '/hosts',
    {
      schema: {
        summary: 'List hosts, filtered by labels, versions and sync state',
        tags: ['hosts'],
        querystring: Type.Object({
          label: Type.Optional(
            Type.Array(Type.String({ maxLength: 200 }), {
              description: 'k=v, k!=v, k (exists) or !k (absent); repeat to combine',
            }),
          ),
          desired: Type.Optional(
            Type.String({ format: 'uuid', description: 'desired version id' }),
          ),
          applied: Type.Optional(
            Type.String({ format: 'uuid', description: 'applied version id' }),
          ),
          state: Type.Optional(SyncStateSchema),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 1000 })),
          after: Type.Optional(
            Type.String({ description: 'cursor: the last host name of the previous page' }),
          ),
        }),
        response: withErrors({
          200: Type.Object({ items: Type.Array(HostSchema), nextCursor: Nullable(Type.String()) }),
        }),
      },
    },
    async (request) => {
      const q = request.query;
      const selector = labelFilters(q.label ?? []);
      const limit = q.limit ?? 1000;
      const rows = await prisma.host.findMany({
        where: {
          ...(q.desired ? { desiredVersionId: q.desired } : {}),
          ...(q.applied ? { appliedVersionId: q.applied } : {}),
          ...(q.after !== undefined ? { name: { gt: q.after } } : {}),
        },
        orderBy: { name: 'asc' },
        include: hostInclude,
      });
      const items = [];
      for (const h of rows) {
        if (!matchesSelector(selector, asLabels(h.labels))) continue;
        if (q.state && syncState(h) !== q.state) continue;
        items.push(hostView(h));
        if (items.length > limit) break;
      }
      const more = items.length > limit;
      if (more) items.pop();
      return { items, nextCursor: more ? (items[items.length - 1]?.name ?? null) : null };
    },
  );

  app.get(
    '/hosts/:id',
    {
      schema: {
        summary: 'One host: labels, sync state, desired and applied versions, last NACK',
        tags: ['hosts'],
        params: HostParams,
        response: withErrors({ 200: HostSchema }),
      },
    },
    async (request) => {
      const h = await prisma.host.findUnique({
        where: hostWhere(request.params.id),
        include: hostInclude,
      });
      if (!h) throw new ApiError('host-not-found', `no host ${JSON.stringify(request.params.id)}`);
      return hostView(h);
    },
  );

  /** Sets a host's labels and who owns them, audited; its desired version is recomputed. */
  async function setLabels(
    request: Parameters<typeof actorOf>[0],
    idOrName: string,
    action: string,
    change: (before: { labels: unknown; agentLabels: unknown }) => {
      labels: Record<string, string>;
      labelsSetAt: Date | null;
    },
  ) {
    const actor = actorOf(request);
    const where = hostWhere(idOrName);
    const select = { id: true, labels: true, agentLabels: true, labelsSetAt: true } as const;
    const id = await prisma.$transaction(async (tx) => {
      const before = await tx.host.findUnique({ where, select });
      if (!before) throw new ApiError('host-not-found', `no host ${JSON.stringify(idOrName)}`);
      const after = await tx.host.update({
        where: { id: before.id },
        data: change(before),
        select,
      });
      await writeAudit(tx, {
        actor,
        action,
        targetType: 'host',
        targetId: before.id,
        before,
        after,
      });
      return before.id;
    });
    await desiredChanged(app, [id]);
    const h = await prisma.host.findUniqueOrThrow({ where: { id }, include: hostInclude });
    return hostView(h);
  }

  app.put(
    '/hosts/:id/labels',
    {
      config: { role: 'operator' },
      schema: {
        summary:
          "Replace a host's labels; they stay as set, whatever its agent says, until handed back",
        tags: ['hosts'],
        params: HostParams,
        body: Type.Object({ labels: Labels }, { additionalProperties: false }),
        response: withErrors({ 200: HostSchema }),
      },
    },
    (request) =>
      setLabels(request, request.params.id, 'host.labels.update', () => ({
        labels: request.body.labels,
        labelsSetAt: new Date(),
      })),
  );

  app.delete(
    '/hosts/:id/labels',
    {
      config: { role: 'operator' },
      schema: {
        summary: "Hand a host's labels back to its agent: they become the agent's own again",
        tags: ['hosts'],
        params: HostParams,
        response: withErrors({ 200: HostSchema }),
      },
    },
    (request) =>
      setLabels(request, request.params.id, 'host.labels.release', (before) => ({
        labels: asLabels(before.agentLabels),
        labelsSetAt: null,
      })),
  );
  done();
};
