// Rows as the API shows them: dates as ISO strings, versions as references
// (policy name, number, digest), hosts with their sync state.
import { Type, type Static } from '@fastify/type-provider-typebox';
import type { Selector } from '../desired/selector.ts';
import { SelectorSchema } from '../desired/selector.ts';
import { asLabels } from '../desired/selector.ts';
import { syncState } from '../desired/sync-state.ts';
import type { Host, HostGroup, PolicyVersion, Prisma } from '../store/generated/client.ts';
import { DateTime, Labels, Nullable, VersionRefSchema } from './schemas.ts';

export const Selector$ = Type.Unsafe<Selector>(SelectorSchema);

type VersionWithPolicy = PolicyVersion & { policy: { name: string } };

export function versionRef(v: VersionWithPolicy): Static<typeof VersionRefSchema> {
  return { id: v.id, policy: v.policy.name, version: v.version, digest: v.digest };
}

export const VersionSummarySchema = Type.Object({
  id: Type.String(),
  policy: Type.String(),
  version: Type.Integer(),
  digest: Type.String(),
  author: Type.String(),
  message: Type.String(),
  createdAt: DateTime,
});

export const VersionSchema = Type.Object({
  ...VersionSummarySchema.properties,
  document: Type.Unknown(),
  source: Type.String(),
});

export function versionSummary(v: VersionWithPolicy): Static<typeof VersionSummarySchema> {
  return {
    id: v.id,
    policy: v.policy.name,
    version: v.version,
    digest: v.digest,
    author: v.author,
    message: v.message,
    createdAt: v.createdAt.toISOString(),
  };
}

export function versionView(v: VersionWithPolicy): Static<typeof VersionSchema> {
  return { ...versionSummary(v), document: v.document, source: v.source };
}

export const hostInclude = {
  desiredVersion: { include: { policy: { select: { name: true } } } },
  appliedVersion: { include: { policy: { select: { name: true } } } },
} satisfies Prisma.HostInclude;

export type HostRow = Host & {
  desiredVersion: VersionWithPolicy | null;
  appliedVersion: VersionWithPolicy | null;
};

export const SyncStateSchema = Type.Union([
  Type.Literal('SYNCED'),
  Type.Literal('STALE'),
  Type.Literal('NACKED'),
  Type.Literal('DISCONNECTED'),
]);

export const HostSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  labels: Labels,
  labelsSetBy: Type.Union([Type.Literal('agent'), Type.Literal('operator')], {
    description:
      'operator: set through the API, and left alone by the agent until handed back (DELETE /hosts/:id/labels)',
  }),
  /** What the agent says of itself: its enrolment token's labels and its own. */
  agentLabels: Labels,
  agentVersion: Type.String(),
  kernel: Type.String(),
  cgroupMode: Type.String(),
  enrolledAt: DateTime,
  lastSeenAt: Nullable(DateTime),
  connectedTo: Nullable(Type.String()),
  syncState: SyncStateSchema,
  desired: Nullable(VersionRefSchema),
  applied: Nullable(VersionRefSchema),
  appliedDigest: Nullable(Type.String()),
  ackedAt: Nullable(DateTime),
  lastNack: Nullable(
    Type.Object({
      versionId: Nullable(Type.String()),
      reason: Type.String(),
      at: Nullable(DateTime),
    }),
  ),
});

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function hostView(h: HostRow): Static<typeof HostSchema> {
  return {
    id: h.id,
    name: h.name,
    labels: asLabels(h.labels),
    labelsSetBy: h.labelsSetAt ? 'operator' : 'agent',
    agentLabels: asLabels(h.agentLabels),
    agentVersion: h.agentVersion,
    kernel: h.kernel,
    cgroupMode: h.cgroupMode,
    enrolledAt: h.enrolledAt.toISOString(),
    lastSeenAt: iso(h.lastSeenAt),
    connectedTo: h.connectedTo,
    syncState: syncState(h),
    desired: h.desiredVersion ? versionRef(h.desiredVersion) : null,
    applied: h.appliedVersion ? versionRef(h.appliedVersion) : null,
    appliedDigest: h.appliedDigest,
    ackedAt: iso(h.ackedAt),
    lastNack:
      h.lastNackReason !== null || h.lastNackVersionId !== null
        ? { versionId: h.lastNackVersionId, reason: h.lastNackReason ?? '', at: iso(h.lastNackAt) }
        : null,
  };
}

export const HostBriefSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  labels: Labels,
});

export const AssignmentSchema = Type.Object({
  id: Type.String(),
  version: VersionRefSchema,
  priority: Type.Integer(),
  createdBy: Type.String(),
  createdAt: DateTime,
});

export const GroupSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  selector: Selector$,
  description: Type.String(),
  createdAt: DateTime,
  updatedAt: DateTime,
  assignment: Nullable(AssignmentSchema),
});

export const groupInclude = {
  assignments: { include: { policyVersion: { include: { policy: { select: { name: true } } } } } },
} satisfies Prisma.HostGroupInclude;

export type GroupRow = HostGroup & {
  assignments: {
    id: string;
    priority: number;
    createdBy: string;
    createdAt: Date;
    policyVersion: VersionWithPolicy;
  }[];
};

export function groupView(g: GroupRow): Static<typeof GroupSchema> {
  const a = g.assignments[0];
  return {
    id: g.id,
    name: g.name,
    selector: g.selector as Selector,
    description: g.description,
    createdAt: g.createdAt.toISOString(),
    updatedAt: g.updatedAt.toISOString(),
    assignment: a
      ? {
          id: a.id,
          version: versionRef(a.policyVersion),
          priority: a.priority,
          createdBy: a.createdBy,
          createdAt: a.createdAt.toISOString(),
        }
      : null,
  };
}
