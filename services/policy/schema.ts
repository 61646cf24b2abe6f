// The one source of the policy document's shape. The TypeScript types below,
// the structural validator and the committed JSON Schema (schemas/policy.schema.json,
// written by `npm run gen`) all come from these definitions.
//
// Mutually exclusive choices (a condition is one trigger or a combinator; an
// action is kill, throttle or notify) are objects with optional keys and
// minProperties/maxProperties = 1 rather than unions of objects: the
// validator can then name the exact unknown or misspelt key instead of
// answering "no union member matched".
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

export const SizeSchema = Type.Union(
  [Type.Integer({ minimum: 0 }), Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi)?$' })],
  {
    title: 'Size',
    description:
      'Bytes: an integer, or a number with a binary unit (Ki, Mi, Gi, Ti, Pi), e.g. 512Mi.',
  },
);

export const SizeOrPercentSchema = Type.Union(
  [
    Type.Integer({ minimum: 0 }),
    Type.String({ pattern: '^([0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi)?|[0-9]+(\\.[0-9]+)?%)$' }),
  ],
  {
    title: 'SizeOrPercent',
    description: 'Bytes (integer or with a binary unit, e.g. 8Gi) or a percentage (e.g. 90%).',
  },
);

/** memoryMax, memoryHigh and swapMax also accept `max`, the kernel's "no limit". */
export const LimitSchema = Type.Union(
  [
    Type.Integer({ minimum: 0 }),
    Type.String({
      pattern: '^(max|[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi)?|[0-9]+(\\.[0-9]+)?%)$',
    }),
  ],
  {
    title: 'Limit',
    description: 'Bytes, a percentage, or `max` for no limit.',
  },
);

export const DurationSchema = Type.String({
  title: 'Duration',
  pattern: '^([0-9]+(ms|s|m|h))+$',
  description: 'A duration such as 500ms, 10s, 1m30s or 2h.',
});

export const PercentSchema = Type.Union(
  [Type.Number({ minimum: 0, maximum: 100 }), Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?%$' })],
  { title: 'Percent', description: 'A percentage: 30 or "30%".' },
);

export const CgroupGlobSchema = Type.String({
  title: 'CgroupGlob',
  minLength: 1,
  maxLength: 4096,
  description:
    'An absolute cgroup path below the cgroup root. `*` matches within one path segment, a `**` segment matches any depth.',
});

export const RegexSchema = Type.String({
  title: 'Regex',
  maxLength: 512,
  description: 'An ECMAScript regular expression; unanchored unless you write ^ and $.',
});

export const ScopeSchema = Type.String({
  title: 'Scope',
  minLength: 1,
  maxLength: 4096,
  description: '`global` (the whole host, read from /proc) or a cgroup glob.',
});

export const PressureTriggerSchema = Type.Object(
  {
    kind: Type.Optional(Type.Union([Type.Literal('some'), Type.Literal('full')])),
    window: Type.Optional(
      Type.Union([Type.Literal('avg10'), Type.Literal('avg60'), Type.Literal('avg300')]),
    ),
    above: PercentSchema,
    for: Type.Optional(DurationSchema),
  },
  { ...strict, description: 'PSI memory pressure above a share of wall time.' },
);

export const UsageTriggerSchema = Type.Object(
  {
    of: Type.Optional(Type.Union([Type.Literal('limit'), Type.Literal('ram')])),
    above: SizeOrPercentSchema,
  },
  {
    ...strict,
    description: "Memory in use above a size or a share of the cgroup's limit or host RAM.",
  },
);

export const AvailableTriggerSchema = Type.Object(
  { below: SizeOrPercentSchema },
  { ...strict, description: 'Host MemAvailable below a size or a share of MemTotal.' },
);

export const OomTriggerSchema = Type.Object(
  {
    on: Type.Optional(
      Type.Union([Type.Literal('any'), Type.Literal('stuck'), Type.Literal('event')]),
    ),
  },
  { ...strict, description: 'The memcg is stuck at its limit, or its OOM event count rose.' },
);

export const GrowthTriggerSchema = Type.Object(
  { above: SizeSchema, window: Type.Optional(DurationSchema) },
  {
    ...strict,
    description: 'Memory use growing faster than `above` bytes per second over `window`.',
  },
);

export const SwapTriggerSchema = Type.Object(
  {
    below: SizeOrPercentSchema,
    noSwap: Type.Optional(
      Type.Union([Type.Literal('ignore'), Type.Literal('fire')], {
        description:
          'On a host without swap: ignore (no data, does not hold; the default) or fire (counts as 0% free, as earlyoom does).',
      }),
    ),
  },
  { ...strict, description: 'Host SwapFree below a size or a share of SwapTotal.' },
);

/** Names of the leaf triggers, in the order the schema and docs list them. */
export const TRIGGER_KINDS = ['pressure', 'usage', 'available', 'oom', 'growth', 'swap'] as const;
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

export const ConditionSchema = Type.Recursive(
  (Self) =>
    Type.Object(
      {
        any: Type.Optional(Type.Array(Self, { minItems: 1, maxItems: 32 })),
        all: Type.Optional(Type.Array(Self, { minItems: 1, maxItems: 32 })),
        pressure: Type.Optional(PressureTriggerSchema),
        usage: Type.Optional(UsageTriggerSchema),
        available: Type.Optional(AvailableTriggerSchema),
        oom: Type.Optional(OomTriggerSchema),
        growth: Type.Optional(GrowthTriggerSchema),
        swap: Type.Optional(SwapTriggerSchema),
      },
      {
        ...strict,
        minProperties: 1,
        maxProperties: 1,
        description: 'Exactly one trigger, or `any` / `all` of nested conditions.',
      },
    ),
  { $id: 'Condition', title: 'Condition' },
);

export const VICTIM_STRATEGIES = [
  'largest',
  'fastest-growing',
  'lowest-priority',
  'newest',
  'oldest',
] as const;
export type VictimStrategy = (typeof VICTIM_STRATEGIES)[number];

export const KillActionSchema = Type.Object(
  {
    victim: Type.Optional(Type.Union(VICTIM_STRATEGIES.map((v) => Type.Literal(v)))),
    among: Type.Optional(Type.Union([Type.Literal('process'), Type.Literal('cgroup')])),
    prefer: Type.Optional(Type.Array(RegexSchema, { maxItems: 64 })),
    avoid: Type.Optional(Type.Array(RegexSchema, { maxItems: 64 })),
    grace: Type.Optional(DurationSchema),
    repeat: Type.Optional(Type.Union([Type.Literal('once'), Type.Literal('until-clear')])),
  },
  { ...strict, description: 'Kill one victim (SIGTERM, then SIGKILL after `grace`).' },
);

export const ThrottleActionSchema = Type.Object(
  { memoryHigh: SizeOrPercentSchema, duration: Type.Optional(DurationSchema) },
  {
    ...strict,
    description:
      'Lower memory.high of the firing memcgs to a size or a share of their current usage for `duration`.',
  },
);

export const NotifyActionSchema = Type.Object(
  {
    message: Type.Optional(Type.String({ maxLength: 1024 })),
    severity: Type.Optional(
      Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]),
    ),
  },
  { ...strict, description: 'Report only; change nothing.' },
);

export const ActionSchema = Type.Object(
  {
    kill: Type.Optional(KillActionSchema),
    throttle: Type.Optional(ThrottleActionSchema),
    notify: Type.Optional(NotifyActionSchema),
  },
  {
    ...strict,
    minProperties: 1,
    maxProperties: 1,
    description: 'Exactly one of kill, throttle, notify.',
  },
);

export const RuleSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' }),
    scope: ScopeSchema,
    when: ConditionSchema,
    action: ActionSchema,
    cooldown: Type.Optional(DurationSchema),
    dryRun: Type.Optional(Type.Boolean()),
  },
  strict,
);

export const UserspaceOomSchema = Type.Object(
  { enabled: Type.Boolean(), fallbackAfter: Type.Optional(DurationSchema) },
  strict,
);

export const CgroupSettingsSchema = Type.Object(
  {
    match: CgroupGlobSchema,
    memoryMin: Type.Optional(SizeOrPercentSchema),
    memoryLow: Type.Optional(SizeOrPercentSchema),
    memoryHigh: Type.Optional(LimitSchema),
    memoryMax: Type.Optional(LimitSchema),
    swapMax: Type.Optional(LimitSchema),
    oomGroup: Type.Optional(Type.Boolean()),
    userspaceOom: Type.Optional(UserspaceOomSchema),
  },
  strict,
);

export const ProtectionSchema = Type.Object(
  {
    cgroup: Type.Optional(CgroupGlobSchema),
    process: Type.Optional(RegexSchema),
    cmdline: Type.Optional(RegexSchema),
    memoryMin: Type.Optional(SizeOrPercentSchema),
    memoryLow: Type.Optional(SizeOrPercentSchema),
  },
  {
    ...strict,
    minProperties: 1,
    description:
      'Exactly one of cgroup, process (regex on comm) or cmdline (regex on the command line).',
  },
);

export const KillBudgetSchema = Type.Object(
  { max: Type.Integer({ minimum: 0, maximum: 10_000 }), per: DurationSchema },
  strict,
);

export const SpecSchema = Type.Object(
  {
    interval: Type.Optional(DurationSchema),
    dryRun: Type.Optional(Type.Boolean()),
    killBudget: Type.Optional(KillBudgetSchema),
    protect: Type.Optional(Type.Array(ProtectionSchema, { maxItems: 256 })),
    cgroups: Type.Optional(Type.Array(CgroupSettingsSchema, { maxItems: 256 })),
    rules: Type.Optional(Type.Array(RuleSchema, { maxItems: 256 })),
  },
  strict,
);

export const MetadataSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' }),
    description: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  strict,
);

export const PolicySchema = Type.Object(
  {
    apiVersion: Type.Literal('oomfleet/v1'),
    kind: Type.Literal('OomPolicy'),
    metadata: MetadataSchema,
    spec: SpecSchema,
  },
  {
    ...strict,
    $id: 'https://oomfleet.dev/schemas/policy.schema.json',
    title: 'oomfleet OomPolicy',
  },
);

/** The document as written: sizes and durations still strings, defaults absent. */
export type PolicyDocument = Static<typeof PolicySchema>;
export type Condition = Static<typeof ConditionSchema>;
export type Rule = Static<typeof RuleSchema>;
export type KillAction = Static<typeof KillActionSchema>;
export type ThrottleAction = Static<typeof ThrottleActionSchema>;
export type NotifyAction = Static<typeof NotifyActionSchema>;
export type CgroupSettings = Static<typeof CgroupSettingsSchema>;
export type Protection = Static<typeof ProtectionSchema>;
export type PressureTrigger = Static<typeof PressureTriggerSchema>;
export type UsageTrigger = Static<typeof UsageTriggerSchema>;
export type AvailableTrigger = Static<typeof AvailableTriggerSchema>;
export type OomTrigger = Static<typeof OomTriggerSchema>;
export type GrowthTrigger = Static<typeof GrowthTriggerSchema>;
export type SwapTrigger = Static<typeof SwapTriggerSchema>;

/** A schema as plain JSON Schema (draft-07), for editors, the web UI and other validators. */
export function toJsonSchema(schema: TSchema): TSchema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    ...(JSON.parse(JSON.stringify(schema)) as TSchema),
  };
}

/** The JSON Schema exported for editors and the web UI. */
export function policyJsonSchema(): TSchema {
  return toJsonSchema(PolicySchema);
}
