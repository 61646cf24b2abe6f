// The semantic diff of two policy versions. It compares canonical documents,
// so formatting, key order, units and defaults never show up as changes; what
// is left is said in words an operator can read in a rollout review.
//
// Matching: rules by name (their order is evaluation order, so a reordering
// is reported as 'moved'), cgroup settings entries by their `match` glob (their
// order is kept by the canonical form too), protections by what they protect
// (the protect list is a set, so it has no order to report). Entries that share
// an identity are paired by occurrence.
//
// Paths name entries by identity rather than index, since an index differs
// between the two versions: spec.rules[name="batch"].action.kill.victim,
// spec.cgroups[match="/batch/*"].memoryMax, spec.protect[process="^sshd$"].
// Indices inside a rule's conditions are those of the new version (of the old
// one for what was removed). 'moved' changes carry the 0-based old and new
// positions as before/after; their summaries count from 1.
import type {
  CanonicalAction,
  CanonicalCgroupSettings,
  CanonicalCondition,
  CanonicalLimit,
  CanonicalPolicy,
  CanonicalProtection,
  CanonicalRule,
} from './model.ts';
import { stableStringify } from './normalize.ts';
import { formatSize, parseDuration } from './units.ts';

export interface PolicyChange {
  path: string;
  kind: 'added' | 'removed' | 'changed' | 'moved';
  before?: unknown;
  after?: unknown;
  summary: string;
}

// ---- words for values ----

const same = (a: unknown, b: unknown): boolean => stableStringify(a) === stableStringify(b);

/** A size in words: 8Gi, 1536Ki, 512 bytes. */
function sizeWords(bytes: number): string {
  const s = formatSize(bytes);
  if (!/^[0-9]+$/.test(s)) return s;
  return bytes === 1 ? '1 byte' : `${s} bytes`;
}

/** A canonical quantity or limit (bytes, "NN%" or "max") in words. */
function quantityWords(q: CanonicalLimit): string {
  return typeof q === 'number' ? sizeWords(q) : q;
}

const onOff = (b: boolean): string => (b ? 'on' : 'off');

function quote(s: string, max = 60): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max - 1)}…` : s);
}

type Measure = { unit: 'bytes' | 'percent' | 'ms' | 'count' | 'unlimited'; n: number };

function measureQuantity(q: CanonicalLimit): Measure | undefined {
  if (typeof q === 'number') return { unit: 'bytes', n: q };
  if (q === 'max') return { unit: 'unlimited', n: Infinity };
  if (q.endsWith('%')) return { unit: 'percent', n: Number(q.slice(0, -1)) };
  return undefined;
}

function measureDuration(d: string): Measure | undefined {
  try {
    return { unit: 'ms', n: parseDuration(d) };
  } catch {
    return undefined;
  }
}

/** "raised from A to B", "lowered from A to B", or "changed from A to B" when not comparable. */
function shift(
  before: Measure | undefined,
  after: Measure | undefined,
  beforeWords: string,
  afterWords: string,
): string {
  const comparable =
    before !== undefined &&
    after !== undefined &&
    before.n !== after.n &&
    (before.unit === after.unit || before.unit === 'unlimited' || after.unit === 'unlimited');
  const verb = comparable ? (before.n < after.n ? 'raised' : 'lowered') : 'changed';
  return `${verb} from ${beforeWords} to ${afterWords}`;
}

const shiftQuantity = (a: CanonicalLimit, b: CanonicalLimit): string =>
  shift(measureQuantity(a), measureQuantity(b), quantityWords(a), quantityWords(b));
const shiftDuration = (a: string, b: string): string =>
  shift(measureDuration(a), measureDuration(b), a, b);
const shiftCount = (a: number, b: number): string =>
  shift({ unit: 'count', n: a }, { unit: 'count', n: b }, String(a), String(b));

const PLURAL = { process: 'processes', cgroup: 'cgroups' } as const;
const SEVERITY_RANK = { info: 0, warning: 1, critical: 2 } as const;

// ---- descriptions ----

function conditionKind(c: CanonicalCondition): string {
  return Object.keys(c)[0] ?? '';
}

function describeNested(c: CanonicalCondition): string {
  const text = describeCondition(c);
  const list = 'any' in c ? c.any : 'all' in c ? c.all : undefined;
  return list && list.length > 1 ? `(${text})` : text;
}

/** One condition in words, e.g. "memory pressure (full, avg10) above 30% for 10s". */
export function describeCondition(c: CanonicalCondition): string {
  if ('any' in c) {
    if (c.any.length === 0) return 'never';
    return c.any.map(describeNested).join(' or ');
  }
  if ('all' in c) {
    if (c.all.length === 0) return 'always';
    return c.all.map(describeNested).join(' and ');
  }
  if ('pressure' in c) {
    const p = c.pressure;
    const hold = p.for === '0s' ? '' : ` for ${p.for}`;
    return `memory pressure (${p.kind}, ${p.window}) above ${p.above}${hold}`;
  }
  if ('usage' in c) {
    const u = c.usage;
    if (typeof u.above === 'number') return `memory usage above ${sizeWords(u.above)}`;
    return `memory usage above ${u.above} of ${u.of === 'limit' ? 'its limit' : 'RAM'}`;
  }
  if ('available' in c) return `available memory below ${quantityWords(c.available.below)}`;
  if ('oom' in c) {
    switch (c.oom.on) {
      case 'stuck':
        return 'OOM (stuck at its limit)';
      case 'event':
        return 'OOM event';
      default:
        return 'OOM (stuck at its limit or an OOM event)';
    }
  }
  if ('growth' in c)
    return `memory growing faster than ${sizeWords(c.growth.above)}/s over ${c.growth.window}`;
  return `swap free below ${quantityWords(c.swap.below)}${c.swap.noSwap === 'fire' ? ' (no swap counts as 0 free)' : ''}`;
}

/** An action in words, e.g. "kill largest process" or "notify (warning): "…"". */
export function describeAction(a: CanonicalAction): string {
  if ('kill' in a) {
    const k = a.kill;
    const parts = [`kill ${k.victim} ${k.among}`];
    if (k.prefer.length > 0) parts.push(`preferring ${k.prefer.join(', ')}`);
    if (k.avoid.length > 0) parts.push(`avoiding ${k.avoid.join(', ')}`);
    if (k.grace !== '0s') parts.push(`${k.grace} grace`);
    if (k.repeat === 'until-clear') parts.push('repeating until clear');
    return parts.join(', ');
  }
  if ('throttle' in a) {
    const t = a.throttle;
    const of = typeof t.memoryHigh === 'string' ? ' of current usage' : '';
    return `throttle memory.high to ${quantityWords(t.memoryHigh)}${of} for ${t.duration}`;
  }
  const n = a.notify;
  return `notify (${n.severity})${n.message ? `: ${quote(n.message)}` : ''}`;
}

function scopeWords(scope: string): string {
  return scope === 'global' ? 'global' : `in ${scope}`;
}

/**
 * A rule's trigger and action on one line, e.g.
 * "kill largest process when swap free below 10% (global)".
 */
export function describeRule(r: CanonicalRule): string {
  const dry = r.dryRun ? ' [dry run]' : '';
  return `${describeAction(r.action)} when ${describeCondition(r.when)} (${scopeWords(r.scope)})${dry}`;
}

function describeUserspaceOom(u: { enabled: boolean; fallbackAfter: string }): string {
  return u.enabled
    ? `user-space OOM handling enabled (kernel fallback after ${u.fallbackAfter})`
    : 'user-space OOM handling disabled';
}

const LIMIT_FIELDS = ['memoryMin', 'memoryLow', 'memoryHigh', 'memoryMax', 'swapMax'] as const;

function describeCgroupSettings(c: CanonicalCgroupSettings): string {
  const parts: string[] = [];
  for (const f of LIMIT_FIELDS) {
    const v = c[f];
    if (v !== undefined) parts.push(`${f} ${quantityWords(v)}`);
  }
  if (c.oomGroup !== undefined) parts.push(`oomGroup ${onOff(c.oomGroup)}`);
  if (c.userspaceOom) parts.push(describeUserspaceOom(c.userspaceOom));
  return parts.length > 0 ? parts.join(', ') : 'no settings';
}

function protectionIdentity(p: CanonicalProtection): { kind: string; pattern: string } {
  if ('cgroup' in p) return { kind: 'cgroup', pattern: p.cgroup };
  if ('process' in p) return { kind: 'process', pattern: p.process };
  return { kind: 'cmdline', pattern: p.cmdline };
}

function describeProtection(p: CanonicalProtection): string {
  const { kind, pattern } = protectionIdentity(p);
  const extra: string[] = [];
  if ('cgroup' in p) {
    if (p.memoryMin !== undefined) extra.push(`memoryMin ${quantityWords(p.memoryMin)}`);
    if (p.memoryLow !== undefined) extra.push(`memoryLow ${quantityWords(p.memoryLow)}`);
  }
  return `${kind} ${pattern}${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`;
}

// ---- list matching ----

interface Keyed {
  /** Identity, with an occurrence suffix when several entries share it. */
  key: string;
  /** Occurrence of the identity (1-based). */
  occurrence: number;
}

function keyed<T>(items: readonly T[], identity: (t: T) => string): Keyed[] {
  const seen = new Map<string, number>();
  return items.map((it) => {
    const id = identity(it);
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    return { key: `${id}\u0000${n}`, occurrence: n };
  });
}

interface ListMatch {
  /** [index in a, index in b] for entries present in both, in b order. */
  pairs: [number, number][];
  /** Pairs whose relative order changed (not in the longest kept run). */
  moved: Set<number>;
  removed: number[];
  added: number[];
}

function matchLists<T>(a: readonly T[], b: readonly T[], identity: (t: T) => string): ListMatch {
  const ka = keyed(a, identity);
  const kb = keyed(b, identity);
  const indexInA = new Map(ka.map((k, i) => [k.key, i]));
  const inB = new Set(kb.map((k) => k.key));
  const pairs: [number, number][] = [];
  const added: number[] = [];
  kb.forEach((k, j) => {
    const i = indexInA.get(k.key);
    if (i === undefined) added.push(j);
    else pairs.push([i, j]);
  });
  const removed = ka.flatMap((k, i) => (inB.has(k.key) ? [] : [i]));
  // Longest increasing run of old positions, in new order: those kept their
  // relative order; every other common entry moved. Among equally long runs
  // the one with the smallest old positions is kept, so an entry taken and put
  // earlier is the one reported as moved.
  const seq = pairs.map(([i]) => i);
  const at = (x: number): number => seq[x] ?? 0;
  const len: number[] = [];
  const prev: number[] = [];
  let best = -1;
  for (let x = 0; x < seq.length; x++) {
    len[x] = 1;
    prev[x] = -1;
    for (let y = 0; y < x; y++) {
      if (at(y) >= at(x)) continue;
      const l = (len[y] ?? 0) + 1;
      const p = prev[x] ?? -1;
      if (l > (len[x] ?? 0) || (l === len[x] && p >= 0 && at(y) < at(p))) {
        len[x] = l;
        prev[x] = y;
      }
    }
    const lb = best < 0 ? 0 : (len[best] ?? 0);
    if (best < 0 || (len[x] ?? 0) > lb || ((len[x] ?? 0) === lb && at(x) < at(best))) best = x;
  }
  const kept = new Set<number>();
  for (let x = best; x >= 0; x = prev[x] ?? -1) kept.add(x);
  const moved = new Set<number>();
  pairs.forEach((_, x) => {
    if (!kept.has(x)) moved.add(x);
  });
  return { pairs, moved, removed, added };
}

/**
 * Visits a matched list in document order: entries of the new version in
 * order, each removed entry just before the first entry that followed it.
 */
function visitInOrder(
  m: ListMatch,
  bLength: number,
  on: {
    removed: (i: number) => void;
    added: (j: number) => void;
    common: (i: number, j: number, moved: boolean) => void;
  },
): void {
  const pairByB = new Map(m.pairs.map(([i, j], x) => [j, { i, moved: m.moved.has(x) }]));
  const pending = [...m.removed];
  for (let j = 0; j < bLength; j++) {
    const p = pairByB.get(j);
    if (p && !p.moved) {
      while (pending.length > 0 && (pending[0] ?? 0) < p.i) on.removed(pending.shift() ?? 0);
    }
    if (p) on.common(p.i, j, p.moved);
    else on.added(j);
  }
  for (const i of pending) on.removed(i);
}

const ordinalSuffix = (occurrence: number): string =>
  occurrence > 1 ? ` (entry #${occurrence})` : '';

// ---- the diff ----

export function diffPolicies(a: CanonicalPolicy, b: CanonicalPolicy): PolicyChange[] {
  const out: PolicyChange[] = [];
  const push = (
    path: string,
    kind: PolicyChange['kind'],
    before: unknown,
    after: unknown,
    summary: string,
  ): void => {
    const change: PolicyChange = { path, kind, summary };
    if (before !== undefined) change.before = before;
    if (after !== undefined) change.after = after;
    out.push(change);
  };

  // ---- metadata ----
  if (a.metadata.name !== b.metadata.name)
    push(
      'metadata.name',
      'changed',
      a.metadata.name,
      b.metadata.name,
      `metadata.name: renamed from ${a.metadata.name} to ${b.metadata.name}`,
    );
  if (a.metadata.description !== b.metadata.description) {
    const da = a.metadata.description;
    const db = b.metadata.description;
    const summary =
      da === ''
        ? `metadata.description: set to ${quote(db)}`
        : db === ''
          ? `metadata.description: cleared (was ${quote(da)})`
          : `metadata.description: changed from ${quote(da)} to ${quote(db)}`;
    push('metadata.description', 'changed', da, db, summary);
  }

  // ---- spec settings ----
  const sa = a.spec;
  const sb = b.spec;
  if (sa.interval !== sb.interval)
    push(
      'spec.interval',
      'changed',
      sa.interval,
      sb.interval,
      `spec.interval: evaluation interval ${shiftDuration(sa.interval, sb.interval)}`,
    );
  if (sa.dryRun !== sb.dryRun)
    push(
      'spec.dryRun',
      'changed',
      sa.dryRun,
      sb.dryRun,
      sb.dryRun
        ? 'spec.dryRun: the whole policy is now dry-run (decisions are reported, nothing is done)'
        : 'spec.dryRun: the policy is no longer dry-run (decisions are carried out)',
    );
  diffKillBudget(sa.killBudget, sb.killBudget, push);

  // ---- protect ----
  const protectPath = (p: CanonicalProtection, occurrence: number): string => {
    const { kind, pattern } = protectionIdentity(p);
    return `spec.protect[${kind}=${JSON.stringify(pattern)}${occurrence > 1 ? `#${occurrence}` : ''}]`;
  };
  const protectId = (p: CanonicalProtection): string => {
    const { kind, pattern } = protectionIdentity(p);
    return `${kind}:${pattern}`;
  };
  const pm = matchLists(sa.protect, sb.protect, protectId);
  const pka = keyed(sa.protect, protectId);
  const pkb = keyed(sb.protect, protectId);
  visitInOrder(pm, sb.protect.length, {
    removed: (i) => {
      const p = sa.protect[i];
      if (!p) return;
      push(
        protectPath(p, pka[i]?.occurrence ?? 1),
        'removed',
        p,
        undefined,
        `protect: ${describeProtection(p)} no longer protected`,
      );
    },
    added: (j) => {
      const p = sb.protect[j];
      if (!p) return;
      push(
        protectPath(p, pkb[j]?.occurrence ?? 1),
        'added',
        undefined,
        p,
        `protect: ${describeProtection(p)} now protected`,
      );
    },
    common: (i, j) => {
      const pa = sa.protect[i];
      const pb = sb.protect[j];
      if (!pa || !pb || !('cgroup' in pa) || !('cgroup' in pb)) return;
      const path = protectPath(pb, pkb[j]?.occurrence ?? 1);
      const label = `protect: cgroup ${pb.cgroup}${ordinalSuffix(pkb[j]?.occurrence ?? 1)}`;
      for (const f of ['memoryMin', 'memoryLow'] as const)
        diffOptionalQuantity(`${path}.${f}`, `${label}: ${f}`, pa[f], pb[f], push);
    },
  });

  // ---- cgroups ----
  const cgPath = (c: CanonicalCgroupSettings, occurrence: number): string =>
    `spec.cgroups[match=${JSON.stringify(c.match)}${occurrence > 1 ? `#${occurrence}` : ''}]`;
  const cgLabel = (c: CanonicalCgroupSettings, occurrence: number): string =>
    `cgroups ${c.match}${ordinalSuffix(occurrence)}`;
  const cm = matchLists(sa.cgroups, sb.cgroups, (c) => c.match);
  const cka = keyed(sa.cgroups, (c) => c.match);
  const ckb = keyed(sb.cgroups, (c) => c.match);
  visitInOrder(cm, sb.cgroups.length, {
    removed: (i) => {
      const c = sa.cgroups[i];
      if (!c) return;
      const occ = cka[i]?.occurrence ?? 1;
      push(
        cgPath(c, occ),
        'removed',
        c,
        undefined,
        `${cgLabel(c, occ)} removed (was: ${describeCgroupSettings(c)})`,
      );
    },
    added: (j) => {
      const c = sb.cgroups[j];
      if (!c) return;
      const occ = ckb[j]?.occurrence ?? 1;
      push(
        cgPath(c, occ),
        'added',
        undefined,
        c,
        `${cgLabel(c, occ)} added: ${describeCgroupSettings(c)}`,
      );
    },
    common: (i, j, moved) => {
      const ca = sa.cgroups[i];
      const cb = sb.cgroups[j];
      if (!ca || !cb) return;
      const occ = ckb[j]?.occurrence ?? 1;
      const path = cgPath(cb, occ);
      const label = cgLabel(cb, occ);
      if (moved) push(path, 'moved', i, j, `${label}: moved from position ${i + 1} to ${j + 1}`);
      diffCgroupSettings(path, label, ca, cb, push);
    },
  });

  // ---- rules ----
  const rulePath = (r: CanonicalRule): string => `spec.rules[name=${JSON.stringify(r.name)}]`;
  const rm = matchLists(sa.rules, sb.rules, (r) => r.name);
  visitInOrder(rm, sb.rules.length, {
    removed: (i) => {
      const r = sa.rules[i];
      if (!r) return;
      push(
        rulePath(r),
        'removed',
        r,
        undefined,
        `rule "${r.name}" removed (was: ${describeRule(r)})`,
      );
    },
    added: (j) => {
      const r = sb.rules[j];
      if (!r) return;
      push(rulePath(r), 'added', undefined, r, `rule "${r.name}" added: ${describeRule(r)}`);
    },
    common: (i, j, moved) => {
      const ra = sa.rules[i];
      const rb = sb.rules[j];
      if (!ra || !rb) return;
      const path = rulePath(rb);
      const label = `rule "${rb.name}"`;
      if (moved) {
        const before = sb.rules[j - 1];
        const where = before ? `now evaluated after "${before.name}"` : 'now evaluated first';
        push(path, 'moved', i, j, `${label} moved from position ${i + 1} to ${j + 1} (${where})`);
      }
      diffRule(path, label, ra, rb, push);
    },
  });

  return out;
}

type Push = (
  path: string,
  kind: PolicyChange['kind'],
  before: unknown,
  after: unknown,
  summary: string,
) => void;

function diffKillBudget(
  a: CanonicalPolicy['spec']['killBudget'],
  b: CanonicalPolicy['spec']['killBudget'],
  push: Push,
): void {
  if (a.max !== b.max && a.per !== b.per) {
    push(
      'spec.killBudget',
      'changed',
      a,
      b,
      `spec.killBudget: changed from ${a.max} kills per ${a.per} to ${b.max} kills per ${b.per}`,
    );
  } else if (a.max !== b.max) {
    push(
      'spec.killBudget.max',
      'changed',
      a.max,
      b.max,
      `spec.killBudget: max ${shiftCount(a.max, b.max)} kills per ${b.per}`,
    );
  } else if (a.per !== b.per) {
    push(
      'spec.killBudget.per',
      'changed',
      a.per,
      b.per,
      `spec.killBudget: period ${shiftDuration(a.per, b.per)} (at most ${b.max} kills per period)`,
    );
  }
}

/** An optional size/percent/limit field: set, unset, raised, lowered. */
function diffOptionalQuantity(
  path: string,
  label: string,
  a: CanonicalLimit | undefined,
  b: CanonicalLimit | undefined,
  push: Push,
): void {
  if (a === b) return;
  if (a === undefined && b !== undefined)
    push(path, 'added', undefined, b, `${label} set to ${quantityWords(b)}`);
  else if (a !== undefined && b === undefined)
    push(path, 'removed', a, undefined, `${label} no longer set (was ${quantityWords(a)})`);
  else if (a !== undefined && b !== undefined)
    push(path, 'changed', a, b, `${label} ${shiftQuantity(a, b)}`);
}

function diffCgroupSettings(
  path: string,
  label: string,
  a: CanonicalCgroupSettings,
  b: CanonicalCgroupSettings,
  push: Push,
): void {
  for (const f of LIMIT_FIELDS)
    diffOptionalQuantity(`${path}.${f}`, `${label}: ${f}`, a[f], b[f], push);
  if (a.oomGroup !== b.oomGroup) {
    const p = `${path}.oomGroup`;
    if (a.oomGroup === undefined && b.oomGroup !== undefined)
      push(p, 'added', undefined, b.oomGroup, `${label}: oomGroup set to ${onOff(b.oomGroup)}`);
    else if (a.oomGroup !== undefined && b.oomGroup === undefined)
      push(
        p,
        'removed',
        a.oomGroup,
        undefined,
        `${label}: oomGroup no longer set (was ${onOff(a.oomGroup)})`,
      );
    else if (b.oomGroup !== undefined)
      push(p, 'changed', a.oomGroup, b.oomGroup, `${label}: oomGroup turned ${onOff(b.oomGroup)}`);
  }
  const ua = a.userspaceOom;
  const ub = b.userspaceOom;
  const p = `${path}.userspaceOom`;
  if (!ua && ub) push(p, 'added', undefined, ub, `${label}: ${describeUserspaceOom(ub)}`);
  else if (ua && !ub)
    push(
      p,
      'removed',
      ua,
      undefined,
      `${label}: user-space OOM handling no longer configured (was ${ua.enabled ? 'enabled' : 'disabled'})`,
    );
  else if (ua && ub) {
    if (ua.enabled !== ub.enabled)
      push(
        `${p}.enabled`,
        'changed',
        ua.enabled,
        ub.enabled,
        `${label}: user-space OOM handling ${ub.enabled ? 'enabled' : 'disabled'}`,
      );
    if (ua.fallbackAfter !== ub.fallbackAfter)
      push(
        `${p}.fallbackAfter`,
        'changed',
        ua.fallbackAfter,
        ub.fallbackAfter,
        `${label}: kernel OOM fallback delay ${shiftDuration(ua.fallbackAfter, ub.fallbackAfter)}`,
      );
  }
}

function diffRule(
  path: string,
  label: string,
  a: CanonicalRule,
  b: CanonicalRule,
  push: Push,
): void {
  if (a.scope !== b.scope)
    push(
      `${path}.scope`,
      'changed',
      a.scope,
      b.scope,
      `${label}: scope changed from ${a.scope} to ${b.scope}`,
    );
  diffCondition(`${path}.when`, label, a.when, b.when, push);
  diffAction(`${path}.action`, label, a.action, b.action, push);
  if (a.cooldown !== b.cooldown)
    push(
      `${path}.cooldown`,
      'changed',
      a.cooldown,
      b.cooldown,
      `${label}: cooldown ${shiftDuration(a.cooldown, b.cooldown)}`,
    );
  if (a.dryRun !== b.dryRun)
    push(
      `${path}.dryRun`,
      'changed',
      a.dryRun,
      b.dryRun,
      b.dryRun
        ? `${label}: now dry-run (decisions are reported, nothing is done)`
        : `${label}: no longer dry-run (decisions are carried out)`,
    );
}

function diffCondition(
  path: string,
  label: string,
  a: CanonicalCondition,
  b: CanonicalCondition,
  push: Push,
): void {
  if (same(a, b)) return;
  const ka = conditionKind(a);
  const kb = conditionKind(b);
  if (ka !== kb) {
    push(
      path,
      'changed',
      a,
      b,
      `${label}: condition changed: was ${describeCondition(a)}, now ${describeCondition(b)}`,
    );
    return;
  }
  if (('any' in a && 'any' in b) || ('all' in a && 'all' in b)) {
    const key = 'any' in a ? 'any' : 'all';
    const ca: CanonicalCondition[] = 'any' in a ? a.any : 'all' in a ? a.all : [];
    const cb: CanonicalCondition[] = 'any' in b ? b.any : 'all' in b ? b.all : [];
    diffConditionSet(`${path}.${key}`, label, key, ca, cb, push);
    return;
  }
  const field = (
    f: string,
    before: unknown,
    after: unknown,
    words: (x: string) => string,
  ): void => {
    if (before !== after)
      push(`${path}.${ka}.${f}`, 'changed', before, after, `${label}: ${words(ka)}`);
  };
  if ('pressure' in a && 'pressure' in b) {
    const pa = a.pressure;
    const pb = b.pressure;
    field('kind', pa.kind, pb.kind, () => `pressure kind changed from ${pa.kind} to ${pb.kind}`);
    field(
      'window',
      pa.window,
      pb.window,
      () => `pressure window changed from ${pa.window} to ${pb.window}`,
    );
    field(
      'above',
      pa.above,
      pb.above,
      () => `pressure threshold ${shiftQuantity(pa.above, pb.above)}`,
    );
    field('for', pa.for, pb.for, () => `pressure hold time ${shiftDuration(pa.for, pb.for)}`);
  } else if ('usage' in a && 'usage' in b) {
    const ua = a.usage;
    const ub = b.usage;
    field(
      'of',
      ua.of,
      ub.of,
      () =>
        `usage now measured against ${ub.of === 'ram' ? 'RAM' : 'the cgroup limit'} instead of ${ua.of === 'ram' ? 'RAM' : 'the cgroup limit'}`,
    );
    field(
      'above',
      ua.above,
      ub.above,
      () => `usage threshold ${shiftQuantity(ua.above, ub.above)}`,
    );
  } else if ('available' in a && 'available' in b) {
    const x = a.available.below;
    const y = b.available.below;
    field('below', x, y, () => `available-memory threshold ${shiftQuantity(x, y)}`);
  } else if ('swap' in a && 'swap' in b) {
    const x = a.swap.below;
    const y = b.swap.below;
    field('below', x, y, () => `swap-free threshold ${shiftQuantity(x, y)}`);
    const nx = a.swap.noSwap;
    const ny = b.swap.noSwap;
    field('noSwap', nx, ny, () =>
      ny === 'fire'
        ? 'swap trigger now holds on hosts without swap (noSwap: fire)'
        : 'swap trigger no longer holds on hosts without swap (noSwap: ignore)',
    );
  } else if ('oom' in a && 'oom' in b) {
    const x = a.oom.on;
    const y = b.oom.on;
    field('on', x, y, () => `OOM trigger changed from ${x} to ${y}`);
  } else if ('growth' in a && 'growth' in b) {
    const ga = a.growth;
    const gb = b.growth;
    field(
      'above',
      ga.above,
      gb.above,
      () =>
        `growth threshold ${shift(
          measureQuantity(ga.above),
          measureQuantity(gb.above),
          `${sizeWords(ga.above)}/s`,
          `${sizeWords(gb.above)}/s`,
        )}`,
    );
    field(
      'window',
      ga.window,
      gb.window,
      () => `growth window ${shiftDuration(ga.window, gb.window)}`,
    );
  }
}

/**
 * Children of any/all are a set. Children present in both are unchanged; a
 * removed and an added child of the same trigger kind, the only ones of that
 * kind, are one child that changed; the rest were removed or added.
 */
function diffConditionSet(
  path: string,
  label: string,
  key: 'any' | 'all',
  a: CanonicalCondition[],
  b: CanonicalCondition[],
  push: Push,
): void {
  const inB = new Set(b.map((c) => stableStringify(c)));
  const inA = new Set(a.map((c) => stableStringify(c)));
  const goneIdx = a.flatMap((c, i) => (inB.has(stableStringify(c)) ? [] : [i]));
  const newIdx = b.flatMap((c, j) => (inA.has(stableStringify(c)) ? [] : [j]));
  const countKind = (list: CanonicalCondition[], idx: number[], kind: string): number =>
    idx.filter((i) => list[i] && conditionKind(list[i]) === kind).length;
  const paired = new Map<number, number>(); // b index → a index
  for (const j of newIdx) {
    const cb = b[j];
    if (!cb) continue;
    const kind = conditionKind(cb);
    if (countKind(b, newIdx, kind) !== 1 || countKind(a, goneIdx, kind) !== 1) continue;
    const i = goneIdx.find((x) => a[x] && conditionKind(a[x]) === kind);
    if (i !== undefined) paired.set(j, i);
  }
  const pairedA = new Set(paired.values());
  for (const i of goneIdx) {
    const c = a[i];
    if (!c || pairedA.has(i)) continue;
    const words =
      key === 'any'
        ? `no longer fires on ${describeCondition(c)}`
        : `no longer requires ${describeCondition(c)}`;
    push(`${path}[${i}]`, 'removed', c, undefined, `${label}: ${words}`);
  }
  for (const j of newIdx) {
    const c = b[j];
    if (!c) continue;
    const i = paired.get(j);
    const old = i === undefined ? undefined : a[i];
    if (old) {
      diffCondition(`${path}[${j}]`, label, old, c, push);
      continue;
    }
    const words =
      key === 'any'
        ? `now also fires on ${describeCondition(c)}`
        : `now also requires ${describeCondition(c)}`;
    push(`${path}[${j}]`, 'added', undefined, c, `${label}: ${words}`);
  }
}

function diffAction(
  path: string,
  label: string,
  a: CanonicalAction,
  b: CanonicalAction,
  push: Push,
): void {
  if (same(a, b)) return;
  if ('kill' in a && 'kill' in b) {
    const ka = a.kill;
    const kb = b.kill;
    const p = `${path}.kill`;
    if (ka.victim !== kb.victim)
      push(
        `${p}.victim`,
        'changed',
        ka.victim,
        kb.victim,
        `${label}: kill victim changed from ${ka.victim} to ${kb.victim}`,
      );
    if (ka.among !== kb.among)
      push(
        `${p}.among`,
        'changed',
        ka.among,
        kb.among,
        `${label}: kill now chooses among ${PLURAL[kb.among]} instead of ${PLURAL[ka.among]}`,
      );
    for (const list of ['prefer', 'avoid'] as const) {
      const verb = list === 'prefer' ? 'prefers' : 'avoids';
      for (const re of ka[list])
        if (!kb[list].includes(re))
          push(`${p}.${list}`, 'removed', re, undefined, `${label}: kill no longer ${verb} ${re}`);
      for (const re of kb[list])
        if (!ka[list].includes(re))
          push(`${p}.${list}`, 'added', undefined, re, `${label}: kill now ${verb} ${re}`);
    }
    if (ka.grace !== kb.grace)
      push(
        `${p}.grace`,
        'changed',
        ka.grace,
        kb.grace,
        `${label}: kill grace period ${shiftDuration(ka.grace, kb.grace)}`,
      );
    if (ka.repeat !== kb.repeat)
      push(
        `${p}.repeat`,
        'changed',
        ka.repeat,
        kb.repeat,
        kb.repeat === 'until-clear'
          ? `${label}: kill now repeats until the condition clears (was once)`
          : `${label}: kill now happens once per firing (was until the condition clears)`,
      );
    return;
  }
  if ('throttle' in a && 'throttle' in b) {
    const ta = a.throttle;
    const tb = b.throttle;
    const p = `${path}.throttle`;
    if (ta.memoryHigh !== tb.memoryHigh)
      push(
        `${p}.memoryHigh`,
        'changed',
        ta.memoryHigh,
        tb.memoryHigh,
        `${label}: throttle memory.high ${shiftQuantity(ta.memoryHigh, tb.memoryHigh)}`,
      );
    if (ta.duration !== tb.duration)
      push(
        `${p}.duration`,
        'changed',
        ta.duration,
        tb.duration,
        `${label}: throttle duration ${shiftDuration(ta.duration, tb.duration)}`,
      );
    return;
  }
  if ('notify' in a && 'notify' in b) {
    const na = a.notify;
    const nb = b.notify;
    const p = `${path}.notify`;
    if (na.severity !== nb.severity)
      push(
        `${p}.severity`,
        'changed',
        na.severity,
        nb.severity,
        `${label}: notify severity ${shift(
          { unit: 'count', n: SEVERITY_RANK[na.severity] },
          { unit: 'count', n: SEVERITY_RANK[nb.severity] },
          na.severity,
          nb.severity,
        )}`,
      );
    if (na.message !== nb.message)
      push(
        `${p}.message`,
        'changed',
        na.message,
        nb.message,
        `${label}: notify message changed from ${quote(na.message)} to ${quote(nb.message)}`,
      );
    return;
  }
  push(
    path,
    'changed',
    a,
    b,
    `${label}: action changed from ${describeAction(a)} to ${describeAction(b)}`,
  );
}
