// Outcome events reported by agents: a filtered, newest-first list paged by
// id, and counts per host group, per policy version (digest) or per hour.
import { Type, type FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { asLabels, matchesSelector, type Selector } from '../../desired/selector.ts';
import type { Prisma } from '../../store/generated/client.ts';
import { DateTime, Nullable, withErrors } from '../schemas.ts';

const EventSchema = Type.Object({
  id: Type.String(),
  hostId: Type.String(),
  host: Type.String(),
  eventId: Type.String(),
  kind: Type.String(),
  time: DateTime,
  policyDigest: Nullable(Type.String()),
  memcg: Nullable(Type.String()),
  data: Type.Unknown(),
  receivedAt: DateTime,
});

const Range = {
  kind: Type.Optional(Type.String({ maxLength: 100 })),
  since: Type.Optional(Type.String({ format: 'date-time' })),
  until: Type.Optional(Type.String({ format: 'date-time' })),
};

const BucketSchema = Type.Object({
  key: Type.String(),
  count: Type.Integer(),
  label: Type.Optional(Type.String()),
});

/** SQL conditions for kind/since/until, as text with $n parameters. */
function rangeSql(q: { kind?: string; since?: string; until?: string }, params: unknown[]): string {
  const where: string[] = [];
  if (q.kind !== undefined) where.push(`e.kind = $${params.push(q.kind)}`);
  if (q.since !== undefined) where.push(`e.time >= $${params.push(new Date(q.since))}`);
  if (q.until !== undefined) where.push(`e.time < $${params.push(new Date(q.until))}`);
  return where.length ? `WHERE ${where.join(' AND ')}` : '';
}

export const eventRoutes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  const { prisma, pool } = app.deps.db;

  app.get(
    '/events',
    {
      schema: {
        summary: 'Outcome events, newest first',
        tags: ['events'],
        querystring: Type.Object({
          host: Type.Optional(Type.String({ format: 'uuid' })),
          ...Range,
          digest: Type.Optional(Type.String({ maxLength: 100 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          cursor: Type.Optional(
            Type.String({
              pattern: '^[0-9]{1,19}$',
              description: 'nextCursor of the previous page',
            }),
          ),
        }),
        response: withErrors({
          200: Type.Object({ items: Type.Array(EventSchema), nextCursor: Nullable(Type.String()) }),
        }),
      },
    },
    async (request) => {
      const q = request.query;
      const limit = q.limit ?? 100;
      const time: Prisma.DateTimeFilter = {};
      if (q.since) time.gte = new Date(q.since);
      if (q.until) time.lt = new Date(q.until);
      const rows = await prisma.outcomeEvent.findMany({
        where: {
          ...(q.host ? { hostId: q.host } : {}),
          ...(q.kind ? { kind: q.kind } : {}),
          ...(q.digest ? { policyDigest: q.digest } : {}),
          ...(q.since || q.until ? { time } : {}),
          ...(q.cursor ? { id: { lt: BigInt(q.cursor) } } : {}),
        },
        orderBy: { id: 'desc' },
        take: limit + 1,
        include: { host: { select: { name: true } } },
      });
      const more = rows.length > limit;
      const page = rows.slice(0, limit);
      return {
        items: page.map((e) => ({
          id: e.id.toString(),
          hostId: e.hostId,
          host: e.host.name,
          eventId: e.eventId,
          kind: e.kind,
          time: e.time.toISOString(),
          policyDigest: e.policyDigest,
          memcg: e.memcg,
          data: e.data,
          receivedAt: e.receivedAt.toISOString(),
        })),
        nextCursor: more ? (page[page.length - 1]?.id.toString() ?? null) : null,
      };
    },
  );

  app.get(
    '/events/aggregate',
    {
      schema: {
        summary: 'Event counts per host group, per policy version (digest) or per hour',
        description:
          'by=group counts a host in every group that selects it now; by=version keys by digest ' +
          'and labels it policy@version when known; by=hour keys by the hour (UTC) the event happened.',
        tags: ['events'],
        querystring: Type.Object({
          by: Type.Union([Type.Literal('group'), Type.Literal('version'), Type.Literal('hour')]),
          ...Range,
        }),
        response: withErrors({
          200: Type.Object({ by: Type.String(), buckets: Type.Array(BucketSchema) }),
        }),
      },
    },
    async (request) => {
      const q = request.query;
      const params: unknown[] = [];
      const where = rangeSql(q, params);
      if (q.by === 'hour') {
        const r = await pool.query<{ hour: Date; count: string }>(
          `SELECT date_trunc('hour', e.time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, count(*) AS count
             FROM outcome_events e ${where} GROUP BY 1 ORDER BY 1`,
          params,
        );
        return {
          by: q.by,
          buckets: r.rows.map((x) => ({ key: x.hour.toISOString(), count: Number(x.count) })),
        };
      }
      if (q.by === 'version') {
        const r = await pool.query<{ digest: string | null; count: string; label: string | null }>(
          `SELECT c.digest, c.count,
                  (SELECT p.name || '@' || v.version FROM policy_versions v JOIN policies p ON p.id = v.policy_id
                    WHERE v.digest = c.digest ORDER BY v.created_at LIMIT 1) AS label
             FROM (SELECT e.policy_digest AS digest, count(*) AS count
                     FROM outcome_events e ${where} GROUP BY 1) c
            ORDER BY c.count DESC, c.digest`,
          params,
        );
        return {
          by: q.by,
          buckets: r.rows.map((x) => ({
            key: x.digest ?? 'none',
            count: Number(x.count),
            ...(x.label ? { label: x.label } : {}),
          })),
        };
      }
      const perHost = await pool.query<{ host_id: string; labels: unknown; count: string }>(
        `SELECT e.host_id, h.labels, count(*) AS count
           FROM outcome_events e JOIN hosts h ON h.id = e.host_id ${where} GROUP BY 1, 2`,
        params,
      );
      const groups = await prisma.hostGroup.findMany({ orderBy: { name: 'asc' } });
      const buckets = groups.map((g) => {
        let count = 0;
        for (const h of perHost.rows)
          if (matchesSelector(g.selector as Selector, asLabels(h.labels))) count += Number(h.count);
        return { key: g.id, label: g.name, count };
      });
      return { by: q.by, buckets };
    },
  );
  done();
};
