// Meaning checks and the canonical form. Runs over the raw value whatever the
// structural check said (it reads defensively), so every problem in the
// document is reported in one pass.
import { compileGlob, globCoveredBy, GlobError, normalizeGlob } from './glob.ts';
import { compileRegex, newRegexBudget, RegexError } from './regex.ts';
import type { PathSegment } from './parse.ts';
import type { RawIssue } from './structure.ts';
import {
  DEFAULTS,
  type CanonicalAction,
  type CanonicalCgroupSettings,
  type CanonicalCondition,
  type CanonicalPolicy,
  type CanonicalProtection,
  type CanonicalRule,
} from './model.ts';
import {
  formatDuration,
  formatPercent,
  parseDuration,
  parseLimit,
  parsePercent,
  parseSizeOrPercent,
  parseSize,
  UnitError,
  type Limit,
  type Quantity,
} from './units.ts';
import { TRIGGER_KINDS, VICTIM_STRATEGIES } from './schema.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/**
 * A list, cut to the schema's maxItems: the structure check already reports
 * the excess, and meaning checks (regex analysis above all) must not run on
 * tens of thousands of entries.
 */
const arr = (v: unknown, max = 256): unknown[] => (Array.isArray(v) ? v.slice(0, max) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export const MAX_CONDITION_DEPTH = 8;

/** Canonical order-free lists are sorted by the JSON text of their entries. */
function sortUnique<T>(items: T[]): T[] {
  const byKey = new Map<string, T>();
  for (const it of items) byKey.set(stableStringify(it), it);
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

/** JSON with object keys sorted at every level (RFC 8785 style for our value types). */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (isObj(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const canonQuantity = (q: Quantity): number | string =>
  'percent' in q ? formatPercent(q.percent) : q.bytes;
const canonLimit = (l: Limit): number | string => (l === 'max' ? 'max' : canonQuantity(l));

export interface NormalizeResult {
  canonical: CanonicalPolicy;
  issues: RawIssue[];
}

export function normalize(raw: unknown): NormalizeResult {
  const issues: RawIssue[] = [];
  const regexBudget = newRegexBudget();
  const err = (path: PathSegment[], message: string, hint: string): void => {
    issues.push({ path, message, hint });
  };
  const warn = (path: PathSegment[], message: string, hint: string): void => {
    issues.push({ path, message, hint, severity: 'warning' });
  };

  // A bare number is bytes; `above: 95` almost always meant 95%.
  const tiny = (q: Quantity | Limit | undefined, path: PathSegment[]): void => {
    if (q && q !== 'max' && 'bytes' in q && q.bytes > 0 && q.bytes < 4096)
      warn(
        path,
        `${q.bytes} is read as ${q.bytes} bytes`,
        q.bytes <= 100
          ? `did you mean "${q.bytes}%"? Percentages need the % sign`
          : 'write a unit, e.g. 64Mi',
      );
  };

  const guard = <T>(path: PathSegment[], fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof UnitError || e instanceof GlobError || e instanceof RegexError) {
        err(path, e.message, e.hint);
        return undefined;
      }
      throw e;
    }
  };

  const duration = (
    v: unknown,
    path: PathSegment[],
    fallback: string,
    min = 0,
    max?: number,
  ): string => {
    if (v === undefined) return fallback;
    const ms = guard(path, () => parseDuration(v));
    if (ms === undefined) return fallback;
    if (ms < min)
      err(
        path,
        `${formatDuration(ms)} is shorter than ${formatDuration(min)}`,
        `use at least ${formatDuration(min)}`,
      );
    if (max !== undefined && ms > max)
      err(
        path,
        `${formatDuration(ms)} is longer than ${formatDuration(max)}`,
        `use at most ${formatDuration(max)}`,
      );
    return formatDuration(ms);
  };

  const root = isObj(raw) ? raw : {};
  const metadata = isObj(root.metadata) ? root.metadata : {};
  const spec = isObj(root.spec) ? root.spec : {};

  // ---- spec-level ----
  const interval = duration(spec.interval, ['spec', 'interval'], DEFAULTS.interval, 10, 3_600_000);
  const kb = isObj(spec.killBudget) ? spec.killBudget : {};
  const killBudget = {
    max: typeof kb.max === 'number' && Number.isInteger(kb.max) ? kb.max : DEFAULTS.killBudget.max,
    per: duration(kb.per, ['spec', 'killBudget', 'per'], DEFAULTS.killBudget.per, 1000),
  };

  // ---- protect ----
  const protect: CanonicalProtection[] = [];
  const protectGlobs: ReturnType<typeof compileGlob>[] = [];
  const protectRegexes: { re: RegExp; path: PathSegment[]; source: string }[] = [];
  arr(spec.protect).forEach((p, i) => {
    const path: PathSegment[] = ['spec', 'protect', i];
    if (!isObj(p)) return;
    const kinds = (['cgroup', 'process', 'cmdline'] as const).filter((k) => p[k] !== undefined);
    if (kinds.length !== 1) {
      err(
        path,
        kinds.length === 0
          ? 'names nothing to protect'
          : `names ${kinds.join(' and ')} in one entry`,
        'give exactly one of cgroup (a glob), process (a regex on comm) or cmdline (a regex on the command line); use one entry each',
      );
      return;
    }
    const kind = kinds[0];
    if (kind === undefined) return;
    if (kind === 'cgroup') {
      const src = str(p.cgroup) ?? '';
      const glob = guard([...path, 'cgroup'], () => compileGlob(src));
      if (!glob) return;
      protectGlobs.push(glob);
      const entry: CanonicalProtection = { cgroup: normalizeGlob(src) };
      const min =
        p.memoryMin === undefined
          ? undefined
          : guard([...path, 'memoryMin'], () => parseSizeOrPercent(p.memoryMin));
      const low =
        p.memoryLow === undefined
          ? undefined
          : guard([...path, 'memoryLow'], () => parseSizeOrPercent(p.memoryLow));
      if (min) entry.memoryMin = canonQuantity(min);
      if (low) entry.memoryLow = canonQuantity(low);
      protect.push(entry);
    } else {
      if (p.memoryMin !== undefined || p.memoryLow !== undefined)
        err(
          path,
          'memoryMin and memoryLow apply to cgroups, not processes',
          'move them to an entry with cgroup:',
        );
      const src = str(p[kind]) ?? '';
      const re = guard([...path, kind], () => compileRegex(src, regexBudget));
      if (!re) return;
      protectRegexes.push({ re, path: [...path, kind], source: src });
      protect.push(kind === 'process' ? { process: src } : { cmdline: src });
    }
  });

  // ---- cgroups ----
  const cgroups: CanonicalCgroupSettings[] = [];
  arr(spec.cgroups).forEach((c, i) => {
    const path: PathSegment[] = ['spec', 'cgroups', i];
    if (!isObj(c)) return;
    const src = str(c.match);
    if (src === 'global') {
      err(
        [...path, 'match'],
        '"global" is not a cgroup',
        'cgroup settings need a cgroup glob such as /batch/*',
      );
      return;
    }
    const glob = src === undefined ? undefined : guard([...path, 'match'], () => compileGlob(src));
    const entry: CanonicalCgroupSettings = {
      match: glob && src ? normalizeGlob(src) : (src ?? ''),
    };
    const q = (k: 'memoryMin' | 'memoryLow'): Quantity | undefined =>
      c[k] === undefined ? undefined : guard([...path, k], () => parseSizeOrPercent(c[k]));
    const l = (k: 'memoryHigh' | 'memoryMax' | 'swapMax'): Limit | undefined =>
      c[k] === undefined ? undefined : guard([...path, k], () => parseLimit(c[k]));
    const min = q('memoryMin');
    const low = q('memoryLow');
    const high = l('memoryHigh');
    const max = l('memoryMax');
    const swap = l('swapMax');
    tiny(min, [...path, 'memoryMin']);
    tiny(low, [...path, 'memoryLow']);
    tiny(high, [...path, 'memoryHigh']);
    tiny(max, [...path, 'memoryMax']);
    if (min) entry.memoryMin = canonQuantity(min);
    if (low) entry.memoryLow = canonQuantity(low);
    if (high) entry.memoryHigh = canonLimit(high);
    if (max) entry.memoryMax = canonLimit(max);
    if (swap) entry.swapMax = canonLimit(swap);
    checkOrdering(path, { memoryMin: min, memoryLow: low, memoryHigh: high, memoryMax: max }, err);
    if (typeof c.oomGroup === 'boolean') entry.oomGroup = c.oomGroup;
    if (isObj(c.userspaceOom)) {
      const u = c.userspaceOom;
      entry.userspaceOom = {
        enabled: u.enabled === true,
        fallbackAfter: duration(
          u.fallbackAfter,
          [...path, 'userspaceOom', 'fallbackAfter'],
          DEFAULTS.fallbackAfter,
          10,
          3_600_000,
        ),
      };
      if (u.enabled === true && (max === undefined || max === 'max'))
        warn(
          [...path, 'userspaceOom'],
          'user-space OOM handling is enabled but this entry sets no memoryMax',
          'the memcg only goes OOM at a limit; set memoryMax here or make sure one is set elsewhere',
        );
    }
    if (Object.keys(c).every((k) => k === 'match'))
      warn(path, 'sets nothing', 'add a setting such as memoryMax, or remove the entry');
    cgroups.push(entry);
  });

  // ---- rules ----
  const rules: CanonicalRule[] = [];
  const names = new Map<string, number>();
  arr(spec.rules).forEach((r, i) => {
    const path: PathSegment[] = ['spec', 'rules', i];
    if (!isObj(r)) return;
    const name = str(r.name) ?? '';
    const first = names.get(name);
    if (first !== undefined && name)
      err(
        [...path, 'name'],
        `rule name "${name}" is already used by spec.rules[${first}]`,
        'give every rule its own name',
      );
    else names.set(name, i);

    const scopeSrc = str(r.scope) ?? '';
    const isGlobal = scopeSrc === 'global';
    const scopeGlob =
      isGlobal || !scopeSrc ? undefined : guard([...path, 'scope'], () => compileGlob(scopeSrc));
    const scope = isGlobal ? 'global' : scopeGlob ? normalizeGlob(scopeSrc) : scopeSrc;

    const when = normalizeCondition(r.when, [...path, 'when'], 0, isGlobal);
    const action = normalizeAction(r.action, [...path, 'action'], isGlobal);

    // A kill rule must have someone it may kill.
    if (action && 'kill' in action) {
      // A global rule chooses among every process, i.e. everything below "/".
      const candidates = isGlobal ? compileGlob('/**') : scopeGlob;
      if (candidates) {
        const cover = protectGlobs.find((g) => globCoveredBy(candidates, g));
        if (cover)
          err(
            [...path, 'scope'],
            `every candidate of this kill rule is protected: scope ${scope} lies inside protected cgroup ${cover.source}`,
            'narrow the protection or change the scope; a kill rule that can kill nothing never resolves an OOM',
          );
      }
    }
    rules.push({
      name,
      scope,
      when: when ?? { any: [] },
      action: action ?? { notify: { ...DEFAULTS.notify } },
      cooldown: duration(r.cooldown, [...path, 'cooldown'], DEFAULTS.cooldown, 0, 86_400_000),
      dryRun: r.dryRun === true,
    });
  });

  const hasKill = rules.some((r) => 'kill' in r.action);
  for (const { re, path, source } of protectRegexes) {
    if (hasKill && matchesEverything(re))
      err(
        path,
        `regex ${JSON.stringify(source)} matches every process, so no kill rule can ever kill`,
        'anchor it (e.g. ^sshd$) or remove the entry',
      );
  }

  function normalizeCondition(
    c: unknown,
    path: PathSegment[],
    depth: number,
    global: boolean,
  ): CanonicalCondition | undefined {
    if (!isObj(c)) return undefined;
    if (depth >= MAX_CONDITION_DEPTH) {
      err(
        path,
        `conditions nest deeper than ${MAX_CONDITION_DEPTH} levels`,
        'flatten nested any/all',
      );
      return undefined;
    }
    const keys = Object.keys(c);
    const key = keys.length === 1 ? keys[0] : undefined;
    if (key === 'any' || key === 'all') {
      const children = arr(c[key], 32)
        .map((x, j) => normalizeCondition(x, [...path, key, j], depth + 1, global))
        .filter((x): x is CanonicalCondition => x !== undefined);
      return key === 'any' ? { any: sortUnique(children) } : { all: sortUnique(children) };
    }
    const t = key ? c[key] : undefined;
    if (!isObj(t) || !key || !(TRIGGER_KINDS as readonly string[]).includes(key)) return undefined;
    const tp = [...path, key];
    switch (key) {
      case 'pressure': {
        const above = guard([...tp, 'above'], () => parsePercent(t.above));
        if (above !== undefined && above >= 100)
          err(
            [...tp, 'above'],
            'pressure can never be above 100%',
            'use a threshold below 100, e.g. 30',
          );
        return {
          pressure: {
            kind: t.kind === 'some' ? 'some' : t.kind === 'full' ? 'full' : DEFAULTS.pressure.kind,
            window:
              t.window === 'avg60' || t.window === 'avg300' || t.window === 'avg10'
                ? t.window
                : DEFAULTS.pressure.window,
            above: formatPercent(above ?? 0),
            for: duration(t.for, [...tp, 'for'], DEFAULTS.pressure.for, 0, 3_600_000),
          },
        };
      }
      case 'usage': {
        const of = t.of === 'ram' || t.of === 'limit' ? t.of : global ? 'ram' : 'limit';
        if (global && of === 'limit')
          err(
            [...tp, 'of'],
            'a global rule has no cgroup limit to compare with',
            'use of: ram, or give the rule a cgroup scope',
          );
        const above = guard([...tp, 'above'], () => parseSizeOrPercent(t.above));
        tiny(above, [...tp, 'above']);
        if (above && 'percent' in above && above.percent >= 100)
          err(
            [...tp, 'above'],
            'usage can never be above 100%',
            'use a threshold below 100%, e.g. 95%',
          );
        return { usage: { of, above: above ? canonQuantity(above) : 0 } };
      }
      case 'available':
      case 'swap': {
        const below = guard([...tp, 'below'], () => parseSizeOrPercent(t.below));
        tiny(below, [...tp, 'below']);
        if (below && ('percent' in below ? below.percent === 0 : below.bytes === 0))
          err([...tp, 'below'], 'nothing is ever below 0', 'use a threshold above 0, e.g. 5%');
        const q = below ? canonQuantity(below) : 0;
        return key === 'available'
          ? { available: { below: q } }
          : { swap: { below: q, noSwap: t.noSwap === 'fire' ? 'fire' : 'ignore' } };
      }
      case 'oom':
        return { oom: { on: t.on === 'stuck' || t.on === 'event' ? t.on : DEFAULTS.oomOn } };
      case 'growth': {
        const above = guard([...tp, 'above'], () => parseSize(t.above));
        if (above === 0)
          warn(
            [...tp, 'above'],
            'growth above 0 bytes/s fires on any growth',
            'use a rate such as 50Mi',
          );
        return {
          growth: {
            above: above ?? 0,
            window: duration(t.window, [...tp, 'window'], DEFAULTS.growthWindow, 1000, 3_600_000),
          },
        };
      }
      default:
        return undefined;
    }
  }

  function normalizeAction(
    a: unknown,
    path: PathSegment[],
    global: boolean,
  ): CanonicalAction | undefined {
    if (!isObj(a)) return undefined;
    const keys = Object.keys(a);
    if (keys.length !== 1) return undefined;
    if (isObj(a.kill)) {
      const k = a.kill;
      const among = k.among === 'cgroup' ? 'cgroup' : 'process';
      if (global && among === 'cgroup')
        err(
          [...path, 'kill', 'among'],
          'a global rule works from /proc and has no cgroups to choose among',
          'use among: process, or give the rule a cgroup scope',
        );
      const regexes = (key: 'prefer' | 'avoid'): string[] =>
        sortUnique(
          arr(k[key], 64)
            .map((p, j) => {
              const src = str(p);
              if (src === undefined) return undefined;
              return guard([...path, 'kill', key, j], () => compileRegex(src, regexBudget))
                ? src
                : undefined;
            })
            .filter((x): x is string => x !== undefined),
        );
      return {
        kill: {
          victim: VICTIM_STRATEGIES.find((v) => v === k.victim) ?? DEFAULTS.kill.victim,
          among,
          prefer: regexes('prefer'),
          avoid: regexes('avoid'),
          grace: duration(k.grace, [...path, 'kill', 'grace'], DEFAULTS.kill.grace, 0, 300_000),
          repeat: k.repeat === 'until-clear' ? 'until-clear' : 'once',
        },
      };
    }
    if (isObj(a.throttle)) {
      const t = a.throttle;
      if (global)
        err(
          [...path, 'throttle'],
          'a global rule has no memcg whose memory.high could be lowered',
          'give the rule a cgroup scope, or use kill or notify',
        );
      const high = guard([...path, 'throttle', 'memoryHigh'], () =>
        parseSizeOrPercent(t.memoryHigh),
      );
      if (high && 'percent' in high && high.percent === 0)
        err(
          [...path, 'throttle', 'memoryHigh'],
          'memory.high of 0% would stall every process in the memcg',
          'use a share of current usage such as 80%',
        );
      return {
        throttle: {
          memoryHigh: high ? canonQuantity(high) : 0,
          duration: duration(
            t.duration,
            [...path, 'throttle', 'duration'],
            DEFAULTS.throttleDuration,
            1000,
            86_400_000,
          ),
        },
      };
    }
    if (isObj(a.notify)) {
      const n = a.notify;
      return {
        notify: {
          message: str(n.message) ?? DEFAULTS.notify.message,
          severity:
            n.severity === 'info' || n.severity === 'critical' || n.severity === 'warning'
              ? n.severity
              : DEFAULTS.notify.severity,
        },
      };
    }
    return undefined;
  }

  const canonical: CanonicalPolicy = {
    apiVersion: 'oomfleet/v1',
    kind: 'OomPolicy',
    metadata: { name: str(metadata.name) ?? '', description: str(metadata.description) ?? '' },
    spec: {
      interval,
      dryRun: spec.dryRun === true,
      killBudget,
      protect: sortUnique(protect),
      cgroups,
      rules,
    },
  };
  return { canonical, issues };
}

type Err = (path: PathSegment[], message: string, hint: string) => void;

/** memoryMin ≤ memoryLow ≤ memoryHigh ≤ memoryMax wherever two are comparable without the host. */
function checkOrdering(
  path: PathSegment[],
  v: { memoryMin?: Quantity; memoryLow?: Quantity; memoryHigh?: Limit; memoryMax?: Limit },
  err: Err,
): void {
  const order = ['memoryMin', 'memoryLow', 'memoryHigh', 'memoryMax'] as const;
  // Percentages of min/low/high are of memoryMax when it is given, so express
  // everything either in bytes or as a share of memoryMax when possible.
  const max = v.memoryMax;
  const absolute = (k: (typeof order)[number]): number | undefined => {
    const x = v[k];
    if (x === undefined || x === 'max')
      return x === 'max' && k === 'memoryMax' ? Infinity : undefined;
    if ('bytes' in x) return x.bytes;
    if (k !== 'memoryMax' && max !== undefined && max !== 'max' && 'bytes' in max)
      return Math.floor((x.percent / 100) * max.bytes);
    return undefined;
  };
  for (let i = 0; i < order.length; i++) {
    for (let j = i + 1; j < order.length; j++) {
      const lo = order[i];
      const hi = order[j];
      if (!lo || !hi) continue;
      const a = absolute(lo);
      const b = absolute(hi);
      if (a !== undefined && b !== undefined && a > b) {
        err(
          [...path, lo],
          `${lo} (${String(a)} bytes) is above ${hi} (${String(b)} bytes)`,
          `keep memoryMin ≤ memoryLow ≤ memoryHigh ≤ memoryMax: lower ${lo} or raise ${hi}`,
        );
      }
    }
  }
  for (const k of ['memoryMin', 'memoryLow', 'memoryHigh'] as const) {
    const x = v[k];
    if (x !== undefined && x !== 'max' && 'percent' in x && x.percent > 100)
      err([...path, k], `${k} is more than 100% of memoryMax`, 'use at most 100%');
  }
}

/** A protection regex that matches arbitrary strings protects every process. */
function matchesEverything(re: RegExp): boolean {
  // comm and command lines are never empty, so "." is as total as ".*".
  return ['x', 'Z', '0', 'qZ-9 /._', 'kworker/0:1', '-', ' ', 'é'].every((s) => re.test(s));
}
