// Staged rollouts: start one (a policy version to a host group, in steps),
// follow it per step and per host, and the people's controls — pause,
// resume, promote, abort, approve — each audited. The step machine itself is
// services/control-plane/rollouts.
import { Type, type FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { createRollout } from '../../rollouts/create.ts';
import { DEFAULT_THRESHOLDS } from '../../rollouts/gates.ts';
import type { Action } from '../../rollouts/machine.ts';
import { DEFAULT_SETTINGS, ROLLOUT_STATES, type RolloutSettings } from '../../rollouts/model.ts';
import { oneRolloutView, rolloutInclude, rolloutViews } from '../../rollouts/view.ts';
import { ApiError } from '../errors.ts';
import { actorOf } from '../helpers.ts';
import { DateTime, IdParams, Nullable, Uuid, withErrors } from '../schemas.ts';

const StepSize = Type.Union([
  Type.Object({ hosts: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
  Type.Object(
    { percent: Type.Number({ exclusiveMinimum: 0, maximum: 100 }) },
    { additionalProperties: false },
  ),
]);

const Thresholds = Type.Object(
  {
    maxNackRatio: Type.Number({ minimum: 0, maximum: 1 }),
    maxSilentRatio: Type.Number({ minimum: 0, maximum: 1 }),
    maxRateRatio: Type.Number({ minimum: 1 }),
    minRateExcess: Type.Number({ minimum: 0 }),
    minHostHours: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);

const CreateBody = Type.Object(
  {
    groupId: Uuid,
    versionId: Uuid,
    steps: Type.Optional(Type.Array(StepSize, { minItems: 1, maxItems: 20 })),
    bakeSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 7 * 86_400 })),
    ackTimeoutSeconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: 86_400 })),
    thresholds: Type.Optional(Type.Partial(Thresholds)),
    onFailure: Type.Optional(Type.Union([Type.Literal('rollback'), Type.Literal('pause')])),
    approvalAbovePercent: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 100 }))),
    spreadBy: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 10 })),
    /** Orders the waves; random unless given. */
    seed: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);

const Gate = Type.Object({
  gate: Type.String(),
  outcome: Type.String(),
  numbers: Type.Record(Type.String(), Type.Number()),
  reason: Type.String(),
});

const Verdict = Type.Object({
  step: Type.Integer(),
  verdict: Type.String(),
  at: DateTime,
  by: Nullable(Type.String()),
  gates: Type.Array(Gate),
  reason: Type.Optional(Type.String()),
  window: Type.Optional(Type.Record(Type.String(), Type.String())),
});

const Step = Type.Object({
  index: Type.Integer(),
  size: StepSize,
  hosts: Type.Integer(),
  newHosts: Type.Integer(),
  state: Type.String(),
  startedAt: Type.Optional(DateTime),
  ackDeadline: Type.Optional(DateTime),
  bakeUntil: Type.Optional(DateTime),
  acked: Type.Integer(),
  nacked: Type.Integer(),
});

const RolloutHost = Type.Object({
  hostId: Type.String(),
  hostname: Type.String(),
  step: Type.Integer(),
  state: Type.String(),
  previousVersionId: Nullable(Type.String()),
  labels: Type.Record(Type.String(), Type.String()),
});

const RolloutSchema = Type.Object({
  id: Type.String(),
  state: Type.String(),
  phase: Type.String(),
  group: Type.Object({ id: Type.String(), name: Type.String() }),
  policy: Type.Object({ id: Type.String(), name: Type.String() }),
  version: Type.Object({ id: Type.String(), version: Type.Integer(), digest: Type.String() }),
  currentStep: Type.Integer(),
  steps: Type.Array(Step),
  hosts: Type.Optional(Type.Array(RolloutHost)),
  hostCounts: Type.Record(Type.String(), Type.Integer()),
  verdicts: Type.Array(Verdict),
  settings: Type.Object({
    bakeSeconds: Type.Number(),
    ackTimeoutSeconds: Type.Number(),
    thresholds: Thresholds,
    onFailure: Type.String(),
    approvalAbovePercent: Nullable(Type.Number()),
    spreadBy: Type.Array(Type.String()),
  }),
  pausedReason: Nullable(Type.String()),
  createdBy: Type.String(),
  createdAt: DateTime,
  updatedAt: DateTime,
  finishedAt: Nullable(DateTime),
});

const ActionBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 2000 })) },
  { additionalProperties: false },
);

const HistoryItem = Type.Object({
  at: DateTime,
  actor: Type.String(),
  action: Type.String(),
  detail: Type.Unknown(),
});

const ACTIONS: { action: Action; summary: string }[] = [
  { action: 'pause', summary: 'Pause a rollout: no timer moves it until it is resumed' },
  { action: 'resume', summary: 'Resume a paused rollout (an interrupted bake starts over)' },
  { action: 'promote', summary: 'Promote: skip the rest of the bake and go to the next step' },
  { action: 'abort', summary: 'Abort: roll every host back to the version it had' },
  {
    action: 'approve',
    summary: 'Approve the next step (by someone other than who started the rollout)',
  },
];

export const rolloutRoutes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  const { db } = app.deps;
  const { prisma } = db;
  const driver = (): NonNullable<typeof app.deps.rollouts> => {
    if (!app.deps.rollouts) throw new ApiError('not-ready', 'rollouts are not driven here');
    return app.deps.rollouts;
  };

  async function view(id: string, hosts = true) {
    const r = await prisma.rollout.findUnique({ where: { id }, include: rolloutInclude });
    if (!r) throw new ApiError('rollout-not-found', `no rollout ${id}`);
    return oneRolloutView(db, r, { hosts });
  }

  app.post(
    '/rollouts',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Start a rollout of a policy version to a host group',
        tags: ['rollouts'],
        body: CreateBody,
        response: withErrors({ 201: RolloutSchema }),
      },
    },
    async (request, reply) => {
      const b = request.body;
      const settings: RolloutSettings = {
        steps: b.steps ?? DEFAULT_SETTINGS.steps,
        bakeMs: Math.round((b.bakeSeconds ?? DEFAULT_SETTINGS.bakeMs / 1000) * 1000),
        ackTimeoutMs: Math.round(
          (b.ackTimeoutSeconds ?? DEFAULT_SETTINGS.ackTimeoutMs / 1000) * 1000,
        ),
        thresholds: { ...DEFAULT_THRESHOLDS, ...b.thresholds },
        onFailure: b.onFailure ?? DEFAULT_SETTINGS.onFailure,
        approvalAbovePercent: b.approvalAbovePercent ?? null,
        spreadBy: b.spreadBy ?? DEFAULT_SETTINGS.spreadBy,
      };
      const d = driver();
      const created = await createRollout(
        db,
        {
          groupId: b.groupId,
          versionId: b.versionId,
          settings,
          ...(b.seed ? { seed: b.seed } : {}),
        },
        actorOf(request),
      );
      await d.schedule(created.id, { revision: created.revision, delayMs: 0 });
      return reply.code(201).send(await view(created.id));
    },
  );

  app.get(
    '/rollouts',
    {
      schema: {
        summary: 'List rollouts, newest first',
        tags: ['rollouts'],
        querystring: Type.Object({
          state: Type.Optional(Type.Union(ROLLOUT_STATES.map((s) => Type.Literal(s)))),
          groupId: Type.Optional(Uuid),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
        }),
        response: withErrors({ 200: Type.Object({ items: Type.Array(RolloutSchema) }) }),
      },
    },
    async (request) => {
      const q = request.query;
      const rows = await prisma.rollout.findMany({
        where: {
          ...(q.state ? { state: q.state } : {}),
          ...(q.groupId ? { groupId: q.groupId } : {}),
        },
        orderBy: { createdAt: 'desc' },
        take: q.limit ?? 50,
        include: rolloutInclude,
      });
      return { items: await rolloutViews(db, rows, { hosts: false }) };
    },
  );

  app.get(
    '/rollouts/:id',
    {
      schema: {
        summary: 'One rollout, with per-step and per-host state and every verdict',
        tags: ['rollouts'],
        params: IdParams,
        response: withErrors({ 200: RolloutSchema }),
      },
    },
    async (request) => view(request.params.id),
  );

  app.get(
    '/rollouts/:id/history',
    {
      schema: {
        summary: "A rollout's timeline: who did what, and every verdict",
        tags: ['rollouts'],
        params: IdParams,
        response: withErrors({ 200: Type.Object({ items: Type.Array(HistoryItem) }) }),
      },
    },
    async (request) => {
      const r = await view(request.params.id, false);
      const audit = await prisma.auditEntry.findMany({
        where: { targetType: 'rollout', targetId: r.id },
        orderBy: { at: 'asc' },
      });
      const items = [
        ...audit.map((a) => ({
          at: a.at.toISOString(),
          actor: a.actor,
          action: a.action,
          detail: a.after,
        })),
        ...r.verdicts
          .filter((v) => v.by === null)
          .map((v) => ({
            at: v.at,
            actor: 'gates',
            action: `step ${v.step + 1}: ${v.verdict}`,
            detail: { gates: v.gates, ...(v.window ? { window: v.window } : {}) },
          })),
      ].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
      return { items };
    },
  );

  for (const { action, summary } of ACTIONS)
    app.post(
      `/rollouts/:id/${action}`,
      {
        config: { role: 'operator' },
        schema: {
          summary,
          tags: ['rollouts'],
          params: IdParams,
          // Optional: `curl -X POST …/pause` sends none.
          body: Type.Optional(Type.Union([ActionBody, Type.Null()])),
          response: withErrors({ 200: RolloutSchema }),
        },
      },
      async (request) => {
        const { id } = request.params;
        if (!(await prisma.rollout.findUnique({ where: { id }, select: { id: true } })))
          throw new ApiError('rollout-not-found', `no rollout ${id}`);
        await driver().act(id, action, actorOf(request), request.body?.reason);
        return view(id);
      },
    );

  done();
};
