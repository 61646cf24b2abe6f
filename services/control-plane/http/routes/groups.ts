// Host groups (label selectors), previews of which hosts they match, and the
// one assignment per group (a policy version with a priority). Every change
// that can move a host's desired version is followed by resolveDesired for
// the hosts it can affect and onDesiredChanged for those that moved.
import { Type, type FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { writeAudit } from '../../audit/audit.ts';
import { asLabels, matchesSelector, type Selector } from '../../desired/selector.ts';
import { ACTIVE_STATES } from '../../rollouts/model.ts';
import { ApiError, isUniqueViolation } from '../errors.ts';
import { actorOf, desiredChanged } from '../helpers.ts';
import { IdParams, withErrors } from '../schemas.ts';
import {
  GroupSchema,
  HostBriefSchema,
  Selector$,
  groupInclude,
  groupView,
  versionRef,
  type GroupRow,
} from '../views.ts';

const GroupBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' }),
    selector: Selector$,
    description: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);

const Preview = Type.Object({ count: Type.Integer(), hosts: Type.Array(HostBriefSchema) });

export const groupRoutes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  const { prisma } = app.deps.db;

  async function matching(selectors: readonly Selector[]) {
    const hosts = await prisma.host.findMany({
      select: { id: true, name: true, labels: true },
      orderBy: { name: 'asc' },
    });
    return hosts
      .map((h) => ({ id: h.id, name: h.name, labels: asLabels(h.labels) }))
      .filter((h) => selectors.some((s) => matchesSelector(s, h.labels)));
  }

  /** The group with its assignment, or 404; inside a transaction when given one. */
  async function group(
    id: string,
    client: Pick<typeof prisma, 'hostGroup'> = prisma,
  ): Promise<GroupRow> {
    const g = await client.hostGroup.findUnique({ where: { id }, include: groupInclude });
    if (!g) throw new ApiError('group-not-found', `no host group ${id}`);
    return g;
  }

  const nameTaken = (name: string) =>
    new ApiError('group-name-taken', `a host group named ${JSON.stringify(name)} exists`);

  app.post(
    '/groups',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Create a host group',
        tags: ['groups'],
        body: GroupBody,
        response: withErrors({ 201: GroupSchema }),
      },
    },
    async (request, reply) => {
      const actor = actorOf(request);
      const b = request.body;
      try {
        const g = await prisma.$transaction(async (tx) => {
          const g = await tx.hostGroup.create({
            data: { name: b.name, selector: b.selector, description: b.description ?? '' },
            include: groupInclude,
          });
          await writeAudit(tx, {
            actor,
            action: 'group.create',
            targetType: 'group',
            targetId: g.id,
            after: groupView(g),
          });
          return g;
        });
        return await reply.code(201).send(groupView(g));
      } catch (e) {
        if (isUniqueViolation(e)) throw nameTaken(b.name);
        throw e;
      }
    },
  );

  app.get(
    '/groups',
    {
      schema: {
        summary: 'List host groups with their assignments',
        tags: ['groups'],
        response: withErrors({ 200: Type.Object({ items: Type.Array(GroupSchema) }) }),
      },
    },
    async () => {
      const groups = await prisma.hostGroup.findMany({
        orderBy: { name: 'asc' },
        include: groupInclude,
      });
      return { items: groups.map(groupView) };
    },
  );

  app.get(
    '/groups/:id',
    {
      schema: {
        summary: 'One host group',
        tags: ['groups'],
        params: IdParams,
        response: withErrors({ 200: GroupSchema }),
      },
    },
    async (request) => groupView(await group(request.params.id)),
  );

  app.put(
    '/groups/:id',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Replace a host group (name, selector, description)',
        tags: ['groups'],
        params: IdParams,
        body: GroupBody,
        response: withErrors({ 200: GroupSchema }),
      },
    },
    async (request) => {
      const actor = actorOf(request);
      const b = request.body;
      let result;
      try {
        result = await prisma.$transaction(async (tx) => {
          const before = await group(request.params.id, tx);
          const after = await tx.hostGroup.update({
            where: { id: before.id },
            data: { name: b.name, selector: b.selector, description: b.description ?? '' },
            include: groupInclude,
          });
          await writeAudit(tx, {
            actor,
            action: 'group.update',
            targetType: 'group',
            targetId: before.id,
            before: groupView(before),
            after: groupView(after),
          });
          return { before, after };
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw nameTaken(b.name);
        throw e;
      }
      if (result.after.assignments.length > 0) {
        const affected = await matching([
          result.before.selector as Selector,
          result.after.selector as Selector,
        ]);
        await desiredChanged(
          app,
          affected.map((h) => h.id),
        );
      }
      return groupView(result.after);
    },
  );

  app.delete(
    '/groups/:id',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Delete a host group (and its assignment)',
        tags: ['groups'],
        params: IdParams,
        response: withErrors({ 204: Type.Null() }),
      },
    },
    async (request, reply) => {
      const actor = actorOf(request);
      const before = await prisma.$transaction(async (tx) => {
        const before = await group(request.params.id, tx);
        // Its finished rollouts go with it (the audit log keeps their story);
        // an active one holds hosts, and must end first.
        const active = await tx.rollout.findMany({
          where: { groupId: before.id, state: { in: [...ACTIVE_STATES] } },
          select: { id: true },
        });
        if (active.length > 0)
          throw new ApiError(
            'rollout-state',
            `host group ${before.name} has an active rollout (${active.map((r) => r.id).join(', ')}); abort it or let it finish first`,
          );
        await tx.hostGroup.delete({ where: { id: before.id } });
        await writeAudit(tx, {
          actor,
          action: 'group.delete',
          targetType: 'group',
          targetId: before.id,
          before: groupView(before),
        });
        return before;
      });
      if (before.assignments.length > 0) {
        const affected = await matching([before.selector as Selector]);
        await desiredChanged(
          app,
          affected.map((h) => h.id),
        );
      }
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/groups/:id/hosts',
    {
      schema: {
        summary: 'The hosts the group selects now',
        tags: ['groups'],
        params: IdParams,
        response: withErrors({ 200: Preview }),
      },
    },
    async (request) => {
      const g = await group(request.params.id);
      const hosts = await matching([g.selector as Selector]);
      return { count: hosts.length, hosts };
    },
  );

  app.post(
    '/groups/preview',
    {
      schema: {
        summary: 'The hosts a selector would select (before creating a group)',
        tags: ['groups'],
        body: Type.Object({ selector: Selector$ }, { additionalProperties: false }),
        response: withErrors({ 200: Preview }),
      },
    },
    async (request) => {
      const hosts = await matching([request.body.selector]);
      return { count: hosts.length, hosts };
    },
  );

  app.put(
    '/groups/:id/assignment',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Assign a policy version to the group (replacing its assignment)',
        tags: ['groups'],
        params: IdParams,
        body: Type.Object(
          {
            policy: Type.String({ minLength: 1 }),
            version: Type.Integer({ minimum: 1 }),
            priority: Type.Optional(Type.Integer({ minimum: -1000000, maximum: 1000000 })),
          },
          { additionalProperties: false },
        ),
        response: withErrors({ 200: GroupSchema }),
      },
    },
    async (request) => {
      const actor = actorOf(request);
      const b = request.body;
      const after = await prisma.$transaction(async (tx) => {
        const before = await group(request.params.id, tx);
        const version = await tx.policyVersion.findFirst({
          where: { policy: { name: b.policy }, version: b.version },
          include: { policy: { select: { name: true } } },
        });
        if (!version)
          throw new ApiError('policy-version-not-found', `${b.policy} has no version ${b.version}`);
        const data = {
          policyVersionId: version.id,
          priority: b.priority ?? 0,
          createdBy: actor.name,
          createdAt: new Date(),
        };
        await tx.assignment.upsert({
          where: { groupId: before.id },
          create: { groupId: before.id, ...data },
          update: data,
        });
        const after = await tx.hostGroup.findUniqueOrThrow({
          where: { id: before.id },
          include: groupInclude,
        });
        await writeAudit(tx, {
          actor,
          action: 'assignment.set',
          targetType: 'group',
          targetId: before.id,
          before: groupView(before).assignment,
          after: { ...groupView(after).assignment, version: versionRef(version) },
        });
        return after;
      });
      const affected = await matching([after.selector as Selector]);
      await desiredChanged(
        app,
        affected.map((h) => h.id),
      );
      return groupView(after);
    },
  );

  app.delete(
    '/groups/:id/assignment',
    {
      config: { role: 'operator' },
      schema: {
        summary: "Remove the group's assignment",
        tags: ['groups'],
        params: IdParams,
        response: withErrors({ 204: Type.Null() }),
      },
    },
    async (request, reply) => {
      const actor = actorOf(request);
      const before = await prisma.$transaction(async (tx) => {
        const before = await group(request.params.id, tx);
        if (before.assignments.length === 0)
          throw new ApiError('assignment-not-found', `host group ${before.name} has no assignment`);
        await tx.assignment.delete({ where: { groupId: before.id } });
        await writeAudit(tx, {
          actor,
          action: 'assignment.remove',
          targetType: 'group',
          targetId: before.id,
          before: groupView(before).assignment,
        });
        return before;
      });
      const affected = await matching([before.selector as Selector]);
      await desiredChanged(
        app,
        affected.map((h) => h.id),
      );
      return reply.code(204).send(null);
    },
  );
  done();
};
