// Property tests for the validator:
//  (a) documents built from the schema's building blocks always validate, and
//      their canonical JSON parses back to the same digest;
//  (b) mutations of valid documents never throw, return within a time bound,
//      and either validate or report issues that each say where, what and how;
//  (c) arbitrary strings and YAML-ish noise never throw.
// Fixed seeds: the same cases run every time.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { canonicalJson, loadPolicyValue, type LoadResult } from './load.ts';
import { loadPolicy } from './load-text.ts';
import { VICTIM_STRATEGIES } from './schema.ts';
import { formatDuration } from './units.ts';
import { REGEX_BUDGET_MS } from './regex.ts';

/** Per call: the regex checker alone may spend a document's budget, and the rest is quick. */
const TIME_BOUND_MS = REGEX_BUDGET_MS + 3000;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Doc = Record<string, unknown>;

const Mi = 1024 ** 2;
const UNITS = [
  ['Ki', 1024],
  ['Mi', 1024 ** 2],
  ['Gi', 1024 ** 3],
  ['Ti', 1024 ** 4],
] as const;

// ---- building blocks ----

/** A size of at least `min` bytes, written as an integer, a digit string or with a unit. */
const size = (min = 4096): fc.Arbitrary<string | number> =>
  fc.oneof(
    fc.integer({ min, max: 2 ** 45 }),
    fc.integer({ min, max: 2 ** 45 }).map((n) => String(n)),
    fc
      .tuple(fc.integer({ min: 1, max: 4096 }), fc.constantFrom(...UNITS))
      .filter(([n, [, f]]) => n * f >= min)
      .map(([n, [u]]) => `${n}${u}`),
    // A fraction that comes to whole bytes: 1.5Gi, 0.25Mi.
    fc
      .tuple(fc.integer({ min: 1, max: 64 }), fc.constantFrom('.5', '.25', '.75'))
      .map(([n, frac]) => `${n}${frac}Gi`),
  );

/** A percentage strictly between 0 and 100, as "NN%" or "NN.N%". */
const percentText = fc.oneof(
  fc.integer({ min: 1, max: 99 }).map((n) => `${n}%`),
  fc.integer({ min: 10, max: 999 }).map((n) => `${n / 10}%`),
);

/** Writes a duration of `ms` in one of the accepted spellings. */
const durationIn = (minMs: number, maxMs: number): fc.Arbitrary<string> =>
  fc.tuple(fc.integer({ min: minMs, max: maxMs }), fc.nat(3)).map(([ms, style]) => {
    if (style === 0 || ms === 0) return formatDuration(ms);
    if (style === 1) return `${ms}ms`;
    if (style === 2 && ms % 1000 === 0) return `${ms / 1000}s`;
    return `${Math.floor(ms / 1000)}s${ms % 1000}ms`;
  });

/** Cgroup globs for rule scopes and cgroup settings; never under /system.slice (that is protected). */
const scopeGlob = fc
  .tuple(
    fc.constantFrom('batch', 'web', 'user.slice', 'kubepods', 'job-*', '*', '**'),
    fc.array(
      fc.constantFrom(
        '*',
        '**',
        'spark-*',
        'user@1000.service',
        'app.slice',
        'x+y',
        'pod(1)',
        'a.b',
        'task-7',
      ),
      { maxLength: 3 },
    ),
    fc.boolean(),
  )
  .map(([first, rest, slash]) => `/${[first, ...rest].join('/')}${slash ? '/' : ''}`);

const protectGlob = fc
  .constantFrom('sshd.service', 'systemd-journald.service', 'oomfleet-agent.service', '*')
  .map((s) => `/system.slice/${s}`);

/** Safe, specific regexes (none matches everything, none backtracks badly). */
const regex = fc.constantFrom(
  '^sshd$',
  '^(sshd|systemd-journald)$',
  '^spark-',
  '^postgres$',
  '--type=renderer',
  '-contentproc',
  '^/usr/lib/firefox/firefox$',
  '^(java|python3)$',
  'celery worker',
  '^/batch/spark-',
  '^[a-z]+d$',
);

/** Unique rule names that match the name pattern. */
const ruleNames = (n: number): fc.Arbitrary<string[]> =>
  fc.uniqueArray(fc.stringMatching(/^[a-z]([a-z0-9-]{0,12}[a-z0-9])?$/), {
    minLength: n,
    maxLength: n,
  });

// ---- triggers and conditions ----

const trigger = (global: boolean): fc.Arbitrary<Json> =>
  fc.oneof(
    fc
      .record(
        {
          kind: fc.constantFrom('some', 'full'),
          window: fc.constantFrom('avg10', 'avg60', 'avg300'),
          above: fc.oneof(
            fc.integer({ min: 0, max: 99 }),
            fc.double({ min: 0, max: 99.9, noNaN: true }),
            percentText,
          ),
          for: durationIn(0, 3_600_000),
        },
        { requiredKeys: ['above'] },
      )
      .map((pressure) => ({ pressure })),
    fc
      .record(
        {
          of: global ? fc.constant('ram') : fc.constantFrom('limit', 'ram'),
          above: fc.oneof(percentText, size()),
        },
        { requiredKeys: ['above'] },
      )
      .map((usage) => ({ usage })),
    fc.oneof(percentText, size()).map((below) => ({ available: { below } })),
    fc
      .record({ on: fc.constantFrom('any', 'stuck', 'event') }, { requiredKeys: [] })
      .map((oom) => ({ oom })),
    fc
      .record({ above: size(), window: durationIn(1000, 3_600_000) }, { requiredKeys: ['above'] })
      .map((growth) => ({ growth })),
    fc
      .record(
        { below: fc.oneof(percentText, size()), noSwap: fc.constantFrom('ignore', 'fire') },
        { requiredKeys: ['below'] },
      )
      .map((swap) => ({ swap })),
  );

const condition = (global: boolean): fc.Arbitrary<Json> =>
  fc.letrec<{ cond: Json }>((tie) => ({
    // At most 7 levels of any/all, so a trigger sits at most 8 levels deep:
    // the limit (MAX_CONDITION_DEPTH). Past it, only triggers are drawn.
    cond: fc.oneof(
      { depthSize: 'small', withCrossShrink: true, maxDepth: 7 },
      trigger(global),
      fc.array(tie('cond'), { minLength: 1, maxLength: 4 }).map((any) => ({ any })),
      fc.array(tie('cond'), { minLength: 1, maxLength: 4 }).map((all) => ({ all })),
    ),
  })).cond;

// ---- actions and rules ----

const kill = (global: boolean): fc.Arbitrary<Json> =>
  fc
    .record(
      {
        victim: fc.constantFrom(...VICTIM_STRATEGIES),
        among: global ? fc.constant('process') : fc.constantFrom('process', 'cgroup'),
        prefer: fc.array(regex, { maxLength: 4 }),
        avoid: fc.array(regex, { maxLength: 4 }),
        grace: durationIn(0, 300_000),
        repeat: fc.constantFrom('once', 'until-clear'),
      },
      { requiredKeys: [] },
    )
    .map((k) => ({ kill: k }));

const throttle = fc
  .record(
    { memoryHigh: fc.oneof(percentText, size()), duration: durationIn(1000, 86_400_000) },
    { requiredKeys: ['memoryHigh'] },
  )
  .map((t) => ({ throttle: t }));

const notify = fc
  .record(
    {
      message: fc.string({ maxLength: 80 }),
      severity: fc.constantFrom('info', 'warning', 'critical'),
    },
    { requiredKeys: [] },
  )
  .map((n) => ({ notify: n }));

const rule = (name: string): fc.Arbitrary<Json> =>
  fc.boolean().chain((global) =>
    fc.record(
      {
        name: fc.constant(name),
        scope: global ? fc.constant('global') : scopeGlob,
        when: condition(global),
        action: global ? fc.oneof(kill(true), notify) : fc.oneof(kill(false), throttle, notify),
        cooldown: durationIn(0, 86_400_000),
        dryRun: fc.boolean(),
      },
      { requiredKeys: ['name', 'scope', 'when', 'action'] },
    ),
  );

// ---- cgroups and protect ----

/** memoryMin ≤ memoryLow ≤ memoryHigh ≤ memoryMax, each as a share of memoryMax or in bytes. */
const cgroupSettings: fc.Arbitrary<Json> = fc
  .record({
    match: scopeGlob,
    max: fc.oneof(
      fc.integer({ min: 64, max: 65536 }).map((n) => ({ bytes: n * Mi, text: `${n}Mi` as Json })),
      fc.constant({ bytes: Infinity, text: 'max' }),
      fc.integer({ min: 1, max: 100 }).map((p) => ({ bytes: NaN, text: `${p}%` as Json })),
    ),
    shares: fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 3, maxLength: 3 }),
    asPercent: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    present: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    swapMax: fc.option(fc.oneof(fc.constant('max'), percentText, size()), { nil: undefined }),
    oomGroup: fc.option(fc.boolean(), { nil: undefined }),
    userspaceOom: fc.option(
      fc.record(
        { enabled: fc.boolean(), fallbackAfter: durationIn(10, 3_600_000) },
        { requiredKeys: ['enabled'] },
      ),
      { nil: undefined },
    ),
  })
  .map(({ match, max, shares, asPercent, present, swapMax, oomGroup, userspaceOom }) => {
    const sorted = [...shares].sort((a, b) => a - b);
    const entry: Record<string, Json> = { match };
    const keys = ['memoryMin', 'memoryLow', 'memoryHigh'] as const;
    keys.forEach((k, i) => {
      const p = sorted[i] ?? 0;
      if (!present[i]) return;
      // Bytes only when memoryMax is in bytes (else a share of RAM and bytes are not comparable,
      // and a byte value may exceed a byte memoryMax set as a percentage of an unknown host).
      if (asPercent[i] || !Number.isFinite(max.bytes)) entry[k] = `${p}%`;
      else entry[k] = Math.floor((p / 100) * max.bytes);
    });
    if (present[3] || entry.memoryHigh !== undefined) entry.memoryMax = max.text;
    // With memoryMax given as a % of RAM, percentages of min/low/high are of that; bytes are not
    // used above, so no cross-unit comparison arises.
    if (swapMax !== undefined) entry.swapMax = swapMax;
    if (oomGroup !== undefined) entry.oomGroup = oomGroup;
    if (userspaceOom) entry.userspaceOom = userspaceOom;
    return entry;
  });

const protection: fc.Arbitrary<Json> = fc.oneof(
  fc
    .record(
      {
        cgroup: protectGlob,
        memoryMin: fc.oneof(percentText, size()),
        memoryLow: fc.oneof(percentText, size()),
      },
      { requiredKeys: ['cgroup'] },
    )
    .map((p) => p as Json),
  regex.map((process) => ({ process })),
  regex.map((cmdline) => ({ cmdline })),
);

// ---- whole documents ----

const policyDoc: fc.Arbitrary<Doc> = fc
  .nat(5)
  .chain((n) => ruleNames(n))
  .chain((names) =>
    fc.record(
      {
        apiVersion: fc.constant('oomfleet/v1'),
        kind: fc.constant('OomPolicy'),
        metadata: fc.record(
          {
            name: fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/),
            description: fc.string({ maxLength: 60 }),
          },
          { requiredKeys: ['name'] },
        ),
        spec: fc.record(
          {
            interval: durationIn(10, 3_600_000),
            dryRun: fc.boolean(),
            killBudget: fc.record({
              max: fc.integer({ min: 0, max: 10_000 }),
              per: durationIn(1000, 3_600_000),
            }),
            protect: fc.array(protection, { maxLength: 4 }),
            cgroups: fc.array(cgroupSettings, { maxLength: 3 }),
            rules: fc.tuple(...names.map(rule)),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: ['apiVersion', 'kind', 'metadata', 'spec'] },
    ),
  );

/** A document as YAML or as JSON text. */
const asText = (d: Doc, json: boolean): string =>
  json ? JSON.stringify(d, null, 2) : toYaml(d, { aliasDuplicateObjects: false });

function expectWellFormedIssues(r: LoadResult, parsedFromText: boolean): void {
  for (const i of r.issues) {
    expect(typeof i.path).toBe('string');
    expect(typeof i.message).toBe('string');
    expect(i.message.length).toBeGreaterThan(0);
    expect(typeof i.hint).toBe('string');
    expect(i.hint.length).toBeGreaterThan(0);
    expect(['error', 'warning']).toContain(i.severity);
    if (parsedFromText && i.path !== '') {
      // Anything with a path in a parsed document has a position.
      expect(i.line).toBeGreaterThanOrEqual(1);
      expect(i.column).toBeGreaterThanOrEqual(1);
    }
  }
  if (r.ok) expect(r.issues.every((i) => i.severity === 'warning')).toBe(true);
  else expect(r.issues.some((i) => i.severity === 'error')).toBe(true);
}

function timed(text: string): LoadResult {
  const start = performance.now();
  let r: LoadResult;
  try {
    r = loadPolicy(text);
  } catch (e) {
    throw new Error(`loadPolicy threw on ${JSON.stringify(text.slice(0, 300))}: ${String(e)}`);
  }
  const ms = performance.now() - start;
  expect(ms, `took ${Math.round(ms)} ms`).toBeLessThan(TIME_BOUND_MS);
  return r;
}

describe('(a) generated valid documents', () => {
  it('validate, with the same digest as text (YAML or JSON) and as a value', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(policyDoc, fc.boolean(), (d, json) => {
        for (const p of allPaths(d)) for (const s of p) if (typeof s === 'string') seen.add(s);
        const r = timed(asText(d, json));
        expect(
          r.issues.filter((i) => i.severity !== 'warning'),
          asText(d, false),
        ).toEqual([]);
        expect(r.ok).toBe(true);
        expect(loadPolicyValue(d).digest).toBe(r.digest);
      }),
      { seed: 20_251_125, numRuns: 150 },
    );
    // The generator reaches every part of the language.
    for (const k of [
      ...['pressure', 'usage', 'available', 'oom', 'growth', 'swap', 'any', 'all'],
      ...['noSwap'],
      ...['kill', 'throttle', 'notify', 'prefer', 'avoid', 'grace', 'repeat', 'among', 'victim'],
      ...['protect', 'cgroup', 'process', 'cmdline', 'cgroups', 'memoryMin', 'memoryLow'],
      ...['memoryHigh', 'memoryMax', 'swapMax', 'oomGroup', 'userspaceOom', 'killBudget'],
      ...['interval', 'dryRun', 'cooldown', 'for', 'window', 'duration', 'description'],
    ])
      expect(seen, k).toContain(k);
  });

  it('parse → canonical JSON → parse keeps the digest, and the canonical form is a fixed point', () => {
    fc.assert(
      fc.property(policyDoc, (d) => {
        const r = loadPolicyValue(d);
        expect(r.ok).toBe(true);
        if (!r.canonical) throw new Error('no canonical form');
        const text = canonicalJson(r.canonical);
        const again = loadPolicy(text);
        expect(again.ok).toBe(true);
        expect(again.digest).toBe(r.digest);
        expect(again.canonical).toEqual(r.canonical);
        // Also through YAML.
        expect(loadPolicy(toYaml(JSON.parse(text))).digest).toBe(r.digest);
      }),
      { seed: 7, numRuns: 100 },
    );
  });
});

// ---- mutations ----

type Path = (string | number)[];

function allPaths(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => allPaths(x, [...prefix, i], out));
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) allPaths(x, [...prefix, k], out);
  return out;
}

/** Fields whose strings are parsed as sizes, durations, percentages, globs or regexes. */
const TYPED_FIELDS = new Set([
  'memoryMin',
  'memoryLow',
  'memoryHigh',
  'memoryMax',
  'swapMax',
  'above',
  'below',
  'interval',
  'per',
  'for',
  'window',
  'grace',
  'duration',
  'cooldown',
  'fallbackAfter',
  'match',
  'scope',
  'cgroup',
  'process',
  'cmdline',
  'prefer',
  'avoid',
  'name',
]);

function isTyped(p: Path): boolean {
  return p.some((s) => typeof s === 'string' && TYPED_FIELDS.has(s));
}

function setAt(root: Doc, path: Path, f: (old: unknown) => unknown): unknown {
  if (path.length === 0) return f(root);
  const copy = structuredClone(root);
  let node: unknown = copy;
  for (let i = 0; i < path.length - 1; i++)
    node = (node as Record<string | number, unknown>)[path[i] ?? ''];
  const last = path[path.length - 1] ?? '';
  const parent = node as Record<string | number, unknown>;
  const next = f(parent[last]);
  if (next === DELETE) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else Reflect.deleteProperty(parent, last);
  } else parent[last] = next;
  return copy;
}

const DELETE = Symbol('delete');

const trickyStrings = fc.constantFrom(
  '',
  ' ',
  '1G',
  '1g',
  '-1Gi',
  '-5s',
  '1e400',
  '9'.repeat(40),
  '99999999999999999999Pi',
  '0.0000001Ki',
  '101%',
  '-0%',
  'NaN',
  'Infinity',
  'max',
  'global',
  '/',
  '/..',
  '/a/../b',
  'relative/path',
  '/**/**',
  '/a//b',
  '/a\u0000b',
  '(a+)+$',
  '(x+x+)+y',
  '.*',
  '.*.*.*=.*',
  '[',
  '\\',
  '(?<',
  '1m30',
  '1h1h1h',
  '720h1ms',
  '__proto__',
  'constructor',
);

const deepValue = fc.tuple(fc.integer({ min: 5, max: 45 }), fc.boolean()).map(([depth, arrays]) => {
  let v: Json = 'leaf';
  for (let i = 0; i < depth; i++) v = arrays ? [v] : { any: [v] };
  return v;
});

const replacement = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer({ min: -(2 ** 53), max: -1 }),
  fc.constantFrom(-1, -0.5, 2 ** 53, 2 ** 64, 1e308, Number.MAX_SAFE_INTEGER + 2, 0.1, 1e-300),
  fc.string({ maxLength: 30 }),
  fc.string({ maxLength: 12, unit: 'binary' }),
  trickyStrings,
  deepValue,
);

type Mutation =
  | { kind: 'delete' }
  | { kind: 'unknown-key'; key: string; value: unknown }
  | { kind: 'replace'; value: unknown }
  | { kind: 'typed-string'; value: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant({ kind: 'delete' as const }),
  fc
    .tuple(
      fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('acton', 'memryMax', 'scop')),
      fc.jsonValue({ maxDepth: 2 }),
    )
    .map(([key, value]) => ({ kind: 'unknown-key' as const, key, value })),
  replacement.map((value) => ({ kind: 'replace' as const, value })),
  fc.oneof(trickyStrings, fc.string({ maxLength: 20 })).map((value) => ({
    kind: 'typed-string' as const,
    value,
  })),
);

function mutate(d: Doc, m: Mutation, pick: number): unknown {
  const paths = allPaths(d);
  const candidates = m.kind === 'typed-string' ? paths.filter(isTyped) : paths;
  const pool = candidates.length > 0 ? candidates : paths;
  const path = pool[pick % pool.length] ?? [];
  switch (m.kind) {
    case 'delete':
      return path.length === 0 ? {} : setAt(d, path, () => DELETE);
    case 'unknown-key':
      return setAt(d, path, (old) =>
        old && typeof old === 'object' && !Array.isArray(old)
          ? { ...old, [m.key]: m.value }
          : { [m.key]: m.value },
      );
    case 'replace':
      return setAt(d, path, () => m.value);
    case 'typed-string':
      return setAt(d, path, () => m.value);
  }
}

describe('(b) mutations of valid documents', () => {
  it('never throw, stay within the time bound, and validate or explain every issue', () => {
    let valid = 0;
    let invalid = 0;
    fc.assert(
      fc.property(
        policyDoc,
        fc.array(fc.tuple(mutation, fc.nat()), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        (d, ms, json) => {
          let v: unknown = d;
          for (const [m, pick] of ms)
            v = v && typeof v === 'object' && !Array.isArray(v) ? mutate(v as Doc, m, pick) : v;
          const text = json ? JSON.stringify(v) : toYaml(v);
          const r = timed(text ?? 'null');
          expectWellFormedIssues(r, true);
          if (r.ok) valid++;
          else invalid++;
          // The same value handed over directly must not throw either.
          expectWellFormedIssues(loadPolicyValue(v), false);
          // A document that validates has a digest that survives a round trip.
          if (r.ok && r.canonical)
            expect(loadPolicy(canonicalJson(r.canonical)).digest).toBe(r.digest);
        },
      ),
      { seed: 1_000_003, numRuns: 300 },
    );
    // Both outcomes occur: the mutations are neither all harmless nor all fatal.
    expect(valid).toBeGreaterThan(10);
    expect(invalid).toBeGreaterThan(100);
  });
});

// ---- arbitrary text ----

const yamlToken = fc.constantFrom(
  '- ',
  ': ',
  '{',
  '}',
  '[',
  ']',
  ', ',
  '&a ',
  '*a',
  '*b',
  '!!str ',
  '!!binary ',
  '!custom ',
  '"',
  "'",
  '\n',
  '\n  ',
  '\n    ',
  '\t',
  '#',
  '---\n',
  '...\n',
  '%YAML 1.2\n',
  '? ',
  '|\n',
  '>-\n',
  '<<: ',
  'apiVersion',
  'oomfleet/v1',
  'kind',
  'OomPolicy',
  'metadata',
  'name',
  'spec',
  'rules',
  'scope',
  'when',
  'action',
  'kill',
  '1Gi',
  '90%',
  'null',
  '~',
  '0x1F',
  '.inf',
  '1e9',
  '\u00a0',
  '\ufeff',
);

describe('(c) arbitrary text', () => {
  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200, unit: 'binary' })),
        (s) => {
          expectWellFormedIssues(timed(s), true);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  it('never throws on YAML-ish noise', () => {
    fc.assert(
      fc.property(fc.array(yamlToken, { maxLength: 60 }), (tokens) => {
        expectWellFormedIssues(timed(tokens.join('')), true);
      }),
      { seed: 4242, numRuns: 400 },
    );
  });

  it('never throws on arbitrary values written as YAML or JSON', () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 4 }), fc.boolean(), (v, json) => {
        let text: string;
        try {
          // Both give undefined for undefined (and functions, symbols): read that as empty.
          text = (json ? JSON.stringify(v) : toYaml(v)) ?? '';
        } catch {
          return; // not serialisable (e.g. cycles, BigInt); nothing to test
        }
        expectWellFormedIssues(timed(text), true);
      }),
      { seed: 424_242, numRuns: 200 },
    );
  });
});
