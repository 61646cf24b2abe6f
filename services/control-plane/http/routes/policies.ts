// Policies and their immutable versions. POST /policies takes a document
// (YAML or JSON text) and stores it as the next version of the policy its
// metadata.name names, creating the policy on first use; a document whose
// digest equals the latest version's is that version (200), not a new one.
import { Type, type FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { diffPolicies, loadPolicy, type CanonicalPolicy } from '../../../policy/index.ts';
import { writeAudit } from '../../audit/audit.ts';
import type { Prisma } from '../../store/generated/client.ts';
import { ApiError, isUniqueViolation, type ProblemItem } from '../errors.ts';
import { actorOf } from '../helpers.ts';
import { DateTime, Nullable, withErrors } from '../schemas.ts';
import { VersionSchema, VersionSummarySchema, versionSummary, versionView } from '../views.ts';

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 253 }) });
const VersionParams = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 253 }),
  version: Type.Integer({ minimum: 1 }),
});

const PolicySchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  createdAt: DateTime,
  createdBy: Type.String(),
  versions: Type.Integer(),
  latest: Nullable(VersionSummarySchema),
});

const ChangeSchema = Type.Object({
  path: Type.String(),
  kind: Type.Union([
    Type.Literal('added'),
    Type.Literal('removed'),
    Type.Literal('changed'),
    Type.Literal('moved'),
  ]),
  before: Type.Optional(Type.Unknown()),
  after: Type.Optional(Type.Unknown()),
  summary: Type.String(),
});

const CreateResult = Type.Object({
  ...VersionSchema.properties,
  created: Type.Boolean(),
  warnings: Type.Array(
    Type.Object({
      path: Type.String(),
      line: Type.Optional(Type.Integer()),
      column: Type.Optional(Type.Integer()),
      message: Type.String(),
      hint: Type.String(),
    }),
  ),
});

const withPolicy = { policy: { select: { name: true } } } as const;

export const policyRoutes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  const { prisma } = app.deps.db;

  async function policyByName(name: string) {
    const p = await prisma.policy.findUnique({ where: { name } });
    if (!p) throw new ApiError('policy-not-found', `no policy named ${JSON.stringify(name)}`);
    return p;
  }

  async function versionOf(policyId: string, name: string, version: number) {
    const v = await prisma.policyVersion.findUnique({
      where: { policyId_version: { policyId, version } },
      include: withPolicy,
    });
    if (!v) throw new ApiError('policy-version-not-found', `${name} has no version ${version}`);
    return v;
  }

  app.post(
    '/policies',
    {
      config: { role: 'author' },
      schema: {
        summary: 'Create a policy, or a new version of one, from YAML or JSON text',
        description:
          'Body {source, message?} as JSON, or the document itself as application/yaml (message in ?message=). ' +
          'The policy is named by metadata.name. A document identical (same digest) to the latest version returns that version with 200.',
        tags: ['policies'],
        querystring: Type.Object({ message: Type.Optional(Type.String({ maxLength: 2000 })) }),
        body: Type.Object({
          source: Type.String({ minLength: 1 }),
          message: Type.Optional(Type.String({ maxLength: 2000 })),
        }),
        response: withErrors({ 200: CreateResult, 201: CreateResult }),
      },
    },
    async (request, reply) => {
      const actor = actorOf(request);
      const loaded = loadPolicy(request.body.source);
      const errors = loaded.issues.filter((i) => i.severity !== 'warning');
      if (!loaded.ok || !loaded.canonical || !loaded.digest) {
        const items: ProblemItem[] = errors.map((i) => ({
          path: i.path,
          message: i.message,
          hint: i.hint,
          severity: i.severity ?? 'error',
          ...(i.line !== undefined ? { line: i.line } : {}),
          ...(i.column !== undefined ? { column: i.column } : {}),
        }));
        throw new ApiError(
          'invalid-policy',
          items
            .map(
              (i) => `${i.line ?? '?'}:${i.column ?? '?'} ${i.path || '(document)'}: ${i.message}`,
            )
            .join('\n'),
          { errors: items },
        );
      }
      const warnings = loaded.issues
        .filter((i) => i.severity === 'warning')
        .map((i) => ({
          path: i.path,
          message: i.message,
          hint: i.hint,
          ...(i.line !== undefined ? { line: i.line } : {}),
          ...(i.column !== undefined ? { column: i.column } : {}),
        }));
      const canonical = loaded.canonical;
      const digest = loaded.digest;
      const name = canonical.metadata.name;
      const message = request.body.message ?? request.query.message ?? '';
      for (let attempt = 0; ; attempt++) {
        try {
          const result = await prisma.$transaction(async (tx) => {
            let policy = await tx.policy.findUnique({ where: { name } });
            if (!policy) {
              policy = await tx.policy.create({ data: { name, createdBy: actor.name } });
              await writeAudit(tx, {
                actor,
                action: 'policy.create',
                targetType: 'policy',
                targetId: policy.id,
                after: policy,
              });
            }
            const latest = await tx.policyVersion.findFirst({
              where: { policyId: policy.id },
              orderBy: { version: 'desc' },
              include: withPolicy,
            });
            if (latest && latest.digest === digest) return { version: latest, created: false };
            const version = await tx.policyVersion.create({
              data: {
                policyId: policy.id,
                version: (latest?.version ?? 0) + 1,
                document: canonical as unknown as Prisma.InputJsonValue,
                source: request.body.source,
                digest,
                author: actor.name,
                message,
              },
              include: withPolicy,
            });
            await writeAudit(tx, {
              actor,
              action: 'policy.version.create',
              targetType: 'policy_version',
              targetId: version.id,
              before: latest ? versionSummary(latest) : null,
              after: versionSummary(version),
            });
            return { version, created: true };
          });
          return await reply
            .code(result.created ? 201 : 200)
            .send({ ...versionView(result.version), created: result.created, warnings });
        } catch (e) {
          // Two authors racing for the same next number: the loser retries.
          if (attempt < 3 && isUniqueViolation(e)) continue;
          throw e;
        }
      }
    },
  );

  app.get(
    '/policies',
    {
      schema: {
        summary: 'List policies with their latest version',
        tags: ['policies'],
        response: withErrors({ 200: Type.Object({ items: Type.Array(PolicySchema) }) }),
      },
    },
    async () => {
      const policies = await prisma.policy.findMany({
        orderBy: { name: 'asc' },
        include: {
          versions: { orderBy: { version: 'desc' }, take: 1, include: withPolicy },
          _count: { select: { versions: true } },
        },
      });
      return {
        items: policies.map((p) => ({
          id: p.id,
          name: p.name,
          createdAt: p.createdAt.toISOString(),
          createdBy: p.createdBy,
          versions: p._count.versions,
          latest: p.versions[0] ? versionSummary(p.versions[0]) : null,
        })),
      };
    },
  );

  app.get(
    '/policies/:name',
    {
      schema: {
        summary: 'One policy with its latest version',
        tags: ['policies'],
        params: NameParams,
        response: withErrors({ 200: PolicySchema }),
      },
    },
    async (request) => {
      const p = await prisma.policy.findUnique({
        where: { name: request.params.name },
        include: {
          versions: { orderBy: { version: 'desc' }, take: 1, include: withPolicy },
          _count: { select: { versions: true } },
        },
      });
      if (!p)
        throw new ApiError(
          'policy-not-found',
          `no policy named ${JSON.stringify(request.params.name)}`,
        );
      return {
        id: p.id,
        name: p.name,
        createdAt: p.createdAt.toISOString(),
        createdBy: p.createdBy,
        versions: p._count.versions,
        latest: p.versions[0] ? versionSummary(p.versions[0]) : null,
      };
    },
  );

  app.get(
    '/policies/:name/versions',
    {
      schema: {
        summary: 'The versions of a policy, newest first',
        tags: ['policies'],
        params: NameParams,
        response: withErrors({ 200: Type.Object({ items: Type.Array(VersionSummarySchema) }) }),
      },
    },
    async (request) => {
      const p = await policyByName(request.params.name);
      const versions = await prisma.policyVersion.findMany({
        where: { policyId: p.id },
        orderBy: { version: 'desc' },
        include: withPolicy,
      });
      return { items: versions.map(versionSummary) };
    },
  );

  app.get(
    '/policies/:name/versions/:version',
    {
      schema: {
        summary: 'One version: canonical document, source as submitted, digest, author, message',
        tags: ['policies'],
        params: VersionParams,
        response: withErrors({ 200: VersionSchema }),
      },
    },
    async (request) => {
      const p = await policyByName(request.params.name);
      return versionView(await versionOf(p.id, p.name, request.params.version));
    },
  );

  app.get(
    '/policies/:name/diff',
    {
      schema: {
        summary: 'The semantic difference between two versions, in words',
        description: 'to defaults to the latest version, from to the one before to.',
        tags: ['policies'],
        params: NameParams,
        querystring: Type.Object({
          from: Type.Optional(Type.Integer({ minimum: 1 })),
          to: Type.Optional(Type.Integer({ minimum: 1 })),
        }),
        response: withErrors({
          200: Type.Object({
            policy: Type.String(),
            from: VersionSummarySchema,
            to: VersionSummarySchema,
            changes: Type.Array(ChangeSchema),
          }),
        }),
      },
    },
    async (request) => {
      const p = await policyByName(request.params.name);
      let to = request.query.to;
      if (to === undefined) {
        const latest = await prisma.policyVersion.findFirst({
          where: { policyId: p.id },
          orderBy: { version: 'desc' },
        });
        if (!latest) throw new ApiError('policy-version-not-found', `${p.name} has no versions`);
        to = latest.version;
      }
      const from = request.query.from ?? Math.max(1, to - 1);
      const [a, b] = await Promise.all([
        versionOf(p.id, p.name, from),
        versionOf(p.id, p.name, to),
      ]);
      return {
        policy: p.name,
        from: versionSummary(a),
        to: versionSummary(b),
        changes: diffPolicies(
          a.document as unknown as CanonicalPolicy,
          b.document as unknown as CanonicalPolicy,
        ),
      };
    },
  );
  done();
};
