// The audit log, newest first, paged by id.
import { Type, type FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Prisma } from '../../store/generated/client.ts';
import { DateTime, Nullable, withErrors } from '../schemas.ts';

const AuditSchema = Type.Object({
  id: Type.String(),
  at: DateTime,
  actor: Type.String(),
  action: Type.String(),
  targetType: Type.String(),
  targetId: Type.String(),
  before: Type.Unknown(),
  after: Type.Unknown(),
});

export const auditRoutes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  const { prisma } = app.deps.db;
  app.get(
    '/audit',
    {
      schema: {
        summary: 'The audit log, newest first',
        tags: ['audit'],
        querystring: Type.Object({
          actor: Type.Optional(
            Type.String({ maxLength: 200, description: 'substring of the actor' }),
          ),
          action: Type.Optional(Type.String({ maxLength: 100 })),
          targetType: Type.Optional(Type.String({ maxLength: 100 })),
          targetId: Type.Optional(Type.String({ maxLength: 200 })),
          since: Type.Optional(Type.String({ format: 'date-time' })),
          until: Type.Optional(Type.String({ format: 'date-time' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$' })),
        }),
        response: withErrors({
          200: Type.Object({ items: Type.Array(AuditSchema), nextCursor: Nullable(Type.String()) }),
        }),
      },
    },
    async (request) => {
      const q = request.query;
      const limit = q.limit ?? 100;
      const at: Prisma.DateTimeFilter = {};
      if (q.since) at.gte = new Date(q.since);
      if (q.until) at.lt = new Date(q.until);
      const rows = await prisma.auditEntry.findMany({
        where: {
          ...(q.actor ? { actor: { contains: q.actor } } : {}),
          ...(q.action ? { action: q.action } : {}),
          ...(q.targetType ? { targetType: q.targetType } : {}),
          ...(q.targetId ? { targetId: q.targetId } : {}),
          ...(q.since || q.until ? { at } : {}),
          ...(q.cursor ? { id: { lt: BigInt(q.cursor) } } : {}),
        },
        orderBy: { id: 'desc' },
        take: limit + 1,
      });
      const more = rows.length > limit;
      const page = rows.slice(0, limit);
      return {
        items: page.map((a) => ({
          id: a.id.toString(),
          at: a.at.toISOString(),
          actor: a.actor,
          action: a.action,
          targetType: a.targetType,
          targetId: a.targetId,
          before: a.before,
          after: a.after,
        })),
        nextCursor: more ? (page[page.length - 1]?.id.toString() ?? null) : null,
      };
    },
  );
  done();
};
