// The host snapshot: what the agent reads from the kernel on one tick, and
// what the evaluator judges. One schema gives the TypeScript type and the
// validator used for snapshot files (`oomfleet policy explain --snapshot`).
// Sizes are bytes, times are milliseconds since the Unix epoch, pressure
// values are percentages as the kernel prints them (avg10=12.50 → 12.5).
import { Type, type Static } from '@sinclair/typebox';
import { toJsonSchema } from './schema.ts';

const strict = { additionalProperties: false } as const;
const Bytes = Type.Integer({ minimum: 0, description: 'bytes' });

export const PressureLineSchema = Type.Object(
  {
    avg10: Type.Number({ minimum: 0, maximum: 100 }),
    avg60: Type.Number({ minimum: 0, maximum: 100 }),
    avg300: Type.Number({ minimum: 0, maximum: 100 }),
    total: Type.Optional(
      Type.Integer({ minimum: 0, description: 'microseconds stalled, cumulative' }),
    ),
  },
  strict,
);

export const PressureSchema = Type.Object(
  { some: PressureLineSchema, full: Type.Optional(PressureLineSchema) },
  { ...strict, description: 'A PSI file: /proc/pressure/memory or a cgroup v2 memory.pressure.' },
);

export const MemcgEventsSchema = Type.Object(
  {
    low: Type.Optional(Type.Integer({ minimum: 0 })),
    high: Type.Optional(Type.Integer({ minimum: 0 })),
    max: Type.Optional(Type.Integer({ minimum: 0 })),
    oom: Type.Optional(Type.Integer({ minimum: 0 })),
    oom_kill: Type.Optional(Type.Integer({ minimum: 0 })),
    oom_group_kill: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  {
    ...strict,
    description: 'Cumulative counters from memory.events (v2) or memory.oom_control (v1 oom_kill).',
  },
);

export const MemcgSchema = Type.Object(
  {
    path: Type.String({ description: 'Absolute path below the cgroup root, "/" for the root.' }),
    usage: Bytes,
    limit: Type.Union([Bytes, Type.Null()], {
      description: 'memory.max / limit_in_bytes; null when unlimited.',
    }),
    high: Type.Optional(Type.Union([Bytes, Type.Null()])),
    low: Type.Optional(Bytes),
    min: Type.Optional(Bytes),
    swapUsage: Type.Optional(Bytes),
    swapLimit: Type.Optional(Type.Union([Bytes, Type.Null()])),
    stat: Type.Optional(
      Type.Record(Type.String(), Type.Number(), { description: 'memory.stat fields' }),
    ),
    events: Type.Optional(MemcgEventsSchema),
    pressure: Type.Optional(PressureSchema),
    underOom: Type.Optional(Type.Boolean({ description: 'v1 memory.oom_control under_oom' })),
    oomKillDisable: Type.Optional(
      Type.Boolean({ description: 'v1 memory.oom_control oom_kill_disable' }),
    ),
    oomGroup: Type.Optional(Type.Boolean({ description: 'v2 memory.oom.group' })),
  },
  strict,
);

export const ProcessSchema = Type.Object(
  {
    pid: Type.Integer({ minimum: 1 }),
    ppid: Type.Optional(Type.Integer({ minimum: 0 })),
    comm: Type.String({ maxLength: 64 }),
    cmdline: Type.Array(Type.String(), { description: 'argv; empty for kernel threads' }),
    rss: Bytes,
    oomScore: Type.Integer({ minimum: 0 }),
    oomScoreAdj: Type.Integer({ minimum: -1000, maximum: 1000 }),
    startTime: Type.Number({ description: 'ms since the Unix epoch' }),
    cgroup: Type.String({ description: 'memory cgroup path, "/" when none' }),
    kernelThread: Type.Optional(Type.Boolean()),
  },
  strict,
);

export const HostSchema = Type.Object(
  {
    memTotal: Bytes,
    memAvailable: Bytes,
    swapTotal: Bytes,
    swapFree: Bytes,
    pressure: Type.Optional(PressureSchema),
    oomKills: Type.Optional(
      Type.Integer({ minimum: 0, description: 'oom_kill from /proc/vmstat, cumulative' }),
    ),
  },
  strict,
);

export const SnapshotSchema = Type.Object(
  {
    time: Type.Number({ description: 'ms since the Unix epoch' }),
    hostname: Type.Optional(Type.String()),
    cgroupMode: Type.Union([Type.Literal('v1'), Type.Literal('v2'), Type.Literal('none')]),
    host: HostSchema,
    memcgs: Type.Array(MemcgSchema),
    processes: Type.Array(ProcessSchema),
    agentPids: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1 }), {
        description: 'the agent and its supervisor: never killed',
      }),
    ),
  },
  {
    ...strict,
    $id: 'https://oomfleet.dev/schemas/snapshot.schema.json',
    title: 'oomfleet host snapshot',
  },
);

export type PressureLine = Static<typeof PressureLineSchema>;
export type Pressure = Static<typeof PressureSchema>;
export type Memcg = Static<typeof MemcgSchema>;
export type ProcessInfo = Static<typeof ProcessSchema>;
export type HostInfo = Static<typeof HostSchema>;
export type HostSnapshot = Static<typeof SnapshotSchema>;

/** What the engine remembers between ticks; the evaluator reads it, never writes it. */
export interface ActionRecord {
  time: number;
  rule: string;
  kind: 'kill' | 'throttle' | 'notify';
  /** Dry-run actions are remembered for cooldowns but do not spend the kill budget. */
  dryRun: boolean;
  pid?: number;
  cgroup?: string;
  /** A kill whose victim has not died yet (still within its grace). */
  pending?: boolean;
}

export interface History {
  /** Earlier snapshots, oldest first; the engine keeps enough for the longest window. */
  snapshots: HostSnapshot[];
  actions: ActionRecord[];
  /** Per rule: since when it has been firing without a break (absent when not firing). */
  firingSince: Record<string, number>;
}

export const emptyHistory = (): History => ({ snapshots: [], actions: [], firingSince: {} });

/** The JSON Schema of snapshot files. */
export function snapshotJsonSchema(): unknown {
  return toJsonSchema(SnapshotSchema);
}
