// API tokens (with a role) and enrolment tokens (for agents): admin only.
// A secret is in the response to its creation and nowhere else; deleting a
// token revokes it (the row stays, for the audit trail).
import { Type, type FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { writeAudit } from '../../audit/audit.ts';
import { hashToken, newToken } from '../../auth/tokens.ts';
import type { ApiToken, EnrollmentToken, Prisma } from '../../store/generated/client.ts';
import { asLabels } from '../../desired/selector.ts';
import { ApiError } from '../errors.ts';
import { actorOf } from '../helpers.ts';
import { DateTime, IdParams, Labels, Nullable, RoleSchema, withErrors } from '../schemas.ts';

const ApiTokenSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  createdBy: Type.String(),
  createdAt: DateTime,
  lastUsedAt: Nullable(DateTime),
  revokedAt: Nullable(DateTime),
});

const EnrollmentTokenSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  labels: Labels,
  createdBy: Type.String(),
  createdAt: DateTime,
  expiresAt: Nullable(DateTime),
  revokedAt: Nullable(DateTime),
  uses: Type.Integer(),
});

const Secret = Type.Object({ token: Type.String({ description: 'the secret; shown only now' }) });

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

function apiTokenView(t: ApiToken) {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    createdBy: t.createdBy,
    createdAt: t.createdAt.toISOString(),
    lastUsedAt: iso(t.lastUsedAt),
    revokedAt: iso(t.revokedAt),
  };
}

function enrollmentTokenView(t: EnrollmentToken) {
  return {
    id: t.id,
    name: t.name,
    labels: asLabels(t.labels),
    createdBy: t.createdBy,
    createdAt: t.createdAt.toISOString(),
    expiresAt: iso(t.expiresAt),
    revokedAt: iso(t.revokedAt),
    uses: t.uses,
  };
}

const Name = Type.String({ minLength: 1, maxLength: 100 });

export const tokenRoutes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  const { prisma } = app.deps.db;
  const admin = { role: 'admin' as const };

  /**
   * DELETE of a token: revoked, not removed (the row stays for the audit
   * trail); revoking twice changes nothing and still answers 204.
   */
  function revokeRoute<T extends { id: string; revokedAt: Date | null }>(o: {
    path: string;
    summary: string;
    find: (tx: Prisma.TransactionClient, id: string) => Promise<T | null>;
    revoke: (tx: Prisma.TransactionClient, id: string, at: Date) => Promise<T>;
    notFound: (id: string) => ApiError;
    action: string;
    targetType: string;
    view: (t: T) => unknown;
  }): void {
    app.delete(
      o.path,
      {
        config: admin,
        schema: {
          summary: o.summary,
          tags: ['tokens'],
          params: IdParams,
          response: withErrors({ 204: Type.Null() }),
        },
      },
      async (request, reply) => {
        const actor = actorOf(request);
        await prisma.$transaction(async (tx) => {
          const before = await o.find(tx, request.params.id);
          if (!before) throw o.notFound(request.params.id);
          const after = before.revokedAt ? before : await o.revoke(tx, before.id, new Date());
          await writeAudit(tx, {
            actor,
            action: o.action,
            targetType: o.targetType,
            targetId: before.id,
            before: o.view(before),
            after: o.view(after),
          });
        });
        return reply.code(204).send(null);
      },
    );
  }

  app.post(
    '/tokens',
    {
      config: admin,
      schema: {
        summary: 'Create an API token (the secret is returned once)',
        tags: ['tokens'],
        body: Type.Object({ name: Name, role: RoleSchema }, { additionalProperties: false }),
        response: withErrors({
          201: Type.Object({ ...ApiTokenSchema.properties, ...Secret.properties }),
        }),
      },
    },
    async (request, reply) => {
      const actor = actorOf(request);
      const token = newToken('api');
      const record = await prisma.$transaction(async (tx) => {
        const record = await tx.apiToken.create({
          data: {
            name: request.body.name,
            role: request.body.role,
            createdBy: actor.name,
            tokenHash: hashToken(token),
          },
        });
        await writeAudit(tx, {
          actor,
          action: 'token.create',
          targetType: 'api_token',
          targetId: record.id,
          after: apiTokenView(record),
        });
        return record;
      });
      return reply.code(201).send({ ...apiTokenView(record), token });
    },
  );

  app.get(
    '/tokens',
    {
      config: admin,
      schema: {
        summary: 'List API tokens (no secrets)',
        tags: ['tokens'],
        response: withErrors({ 200: Type.Object({ items: Type.Array(ApiTokenSchema) }) }),
      },
    },
    async () => {
      const rows = await prisma.apiToken.findMany({ orderBy: { createdAt: 'asc' } });
      return { items: rows.map(apiTokenView) };
    },
  );

  revokeRoute({
    path: '/tokens/:id',
    summary: 'Revoke an API token',
    find: (tx, id) => tx.apiToken.findUnique({ where: { id } }),
    revoke: (tx, id, at) => tx.apiToken.update({ where: { id }, data: { revokedAt: at } }),
    notFound: (id) => new ApiError('token-not-found', `no API token ${id}`),
    action: 'token.revoke',
    targetType: 'api_token',
    view: apiTokenView,
  });

  app.post(
    '/enrollment-tokens',
    {
      config: admin,
      schema: {
        summary: 'Create an enrolment token for agents (the secret is returned once)',
        tags: ['tokens'],
        body: Type.Object(
          {
            name: Name,
            labels: Type.Optional(Labels),
            expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false },
        ),
        response: withErrors({
          201: Type.Object({ ...EnrollmentTokenSchema.properties, ...Secret.properties }),
        }),
      },
    },
    async (request, reply) => {
      const actor = actorOf(request);
      const token = newToken('enrollment');
      const b = request.body;
      const record = await prisma.$transaction(async (tx) => {
        const record = await tx.enrollmentToken.create({
          data: {
            name: b.name,
            labels: b.labels ?? {},
            createdBy: actor.name,
            tokenHash: hashToken(token),
            expiresAt: b.expiresAt ? new Date(b.expiresAt) : null,
          },
        });
        await writeAudit(tx, {
          actor,
          action: 'enrollment-token.create',
          targetType: 'enrollment_token',
          targetId: record.id,
          after: enrollmentTokenView(record),
        });
        return record;
      });
      return reply.code(201).send({ ...enrollmentTokenView(record), token });
    },
  );

  app.get(
    '/enrollment-tokens',
    {
      config: admin,
      schema: {
        summary: 'List enrolment tokens (no secrets)',
        tags: ['tokens'],
        response: withErrors({ 200: Type.Object({ items: Type.Array(EnrollmentTokenSchema) }) }),
      },
    },
    async () => {
      const rows = await prisma.enrollmentToken.findMany({ orderBy: { createdAt: 'asc' } });
      return { items: rows.map(enrollmentTokenView) };
    },
  );

  revokeRoute({
    path: '/enrollment-tokens/:id',
    summary: 'Revoke an enrolment token',
    find: (tx, id) => tx.enrollmentToken.findUnique({ where: { id } }),
    revoke: (tx, id, at) => tx.enrollmentToken.update({ where: { id }, data: { revokedAt: at } }),
    notFound: (id) => new ApiError('enrollment-token-not-found', `no enrolment token ${id}`),
    action: 'enrollment-token.revoke',
    targetType: 'enrollment_token',
    view: enrollmentTokenView,
  });
  done();
};
