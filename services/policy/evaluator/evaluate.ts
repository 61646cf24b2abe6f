// The evaluator: (policy, host snapshot, recent history) → decisions, each
// with a trace. Pure and deterministic: it reads the clock from the snapshot,
// never from the machine, and breaks every tie by pid or path. The same
// function runs in the agent, in `oomfleet policy explain` and in the control
// plane's simulation.
import type { CompiledAction, CompiledPolicy, CompiledRule } from '../model.ts';
import type { History, HostSnapshot, ProcessInfo } from '../snapshot.ts';
import { formatBytesApprox, formatDuration } from '../units.ts';
import { cgroupExclusion, cmdlineText, processExclusion, type Exclusions } from './candidates.ts';
import { isUnder, parentPath, type EvalContext, type Target } from './context.ts';
import { indexHistory } from './history-index.ts';
import { describeTrace, evaluateCondition, type ConditionTrace } from './triggers/index.ts';
import { scoreCgroup, scoreProcess, type Scored } from './victims/strategies.ts';

/** How many per-target condition traces a rule outcome keeps (fired ones first). */
export const MAX_TRACED_TARGETS = 20;
/** How many runners-up a victim choice lists. */
export const MAX_RUNNERS_UP = 5;

export type Tier = 'preferred' | 'neutral' | 'avoided';

export interface CandidateTrace {
  /** "pid 4242 (spark-worker)" or "/batch/job-7". */
  label: string;
  tier: Tier;
  score: string;
  /** For runners-up: why this one was not chosen. */
  whyNot?: string;
}

export interface VictimSelection {
  strategy: string;
  among: 'process' | 'cgroup';
  considered: number;
  chosen?: CandidateTrace;
  runnersUp: CandidateTrace[];
  excluded: { reason: string; count: number; examples: string[] }[];
}

export type KillVictim =
  | {
      among: 'process';
      pid: number;
      comm: string;
      cmdline: string;
      cgroup: string;
      rss: number;
      startTime: number;
    }
  | { among: 'cgroup'; cgroup: string; usage: number; pids: number[] };

export interface Decision {
  rule: string;
  action: 'kill' | 'throttle' | 'notify';
  /** True when the policy or the rule is in dry-run: report only. */
  dryRun: boolean;
  /** True only for actions the agent must carry out. Never true with dryRun. */
  enforce: boolean;
  /** The targets (memcg paths, or "global") on which the rule fired. */
  firing: string[];
  kill?: KillVictim & { graceMs: number; repeat: 'once' | 'until-clear' };
  throttle?: { cgroup: string; memoryHigh: number; durationMs: number; usage: number };
  notify?: { message: string; severity: 'info' | 'warning' | 'critical' };
  trace: {
    conditions: { target: string; trace: ConditionTrace }[];
    victim?: VictimSelection;
    summary: string;
  };
}

export type RuleOutcomeKind = 'quiet' | 'acted' | 'dry-run' | 'suppressed' | 'no-victim';

export interface RuleOutcome {
  rule: string;
  scope: string;
  /** How many targets the scope matched now (1 for global). */
  matched: number;
  fired: string[];
  outcome: RuleOutcomeKind;
  reason: string;
  conditions: { target: string; trace: ConditionTrace }[];
  victim?: VictimSelection;
}

export interface Evaluation {
  time: number;
  policy: { name: string; digest: string };
  decisions: Decision[];
  rules: RuleOutcome[];
}

function buildContext(snapshot: HostSnapshot, history: History): EvalContext {
  const memcgs = new Map(snapshot.memcgs.map((m) => [m.path, m]));
  const under = new Map<string, ProcessInfo[]>();
  // In pid order, so that every list below (and every trace) is independent of snapshot order.
  for (const p of [...snapshot.processes].sort((a, b) => a.pid - b.pid)) {
    for (let c: string | undefined = p.cgroup || '/'; c !== undefined; c = parentPath(c)) {
      let list = under.get(c);
      if (!list) under.set(c, (list = []));
      list.push(p);
    }
  }
  return {
    now: snapshot.time,
    snapshot,
    history,
    memcgs,
    processesUnder: (path) => under.get(path) ?? [],
    past: indexHistory(history, snapshot.time),
  };
}

function targetsOf(rule: CompiledRule, ctx: EvalContext): Target[] {
  if (rule.scope.kind === 'global') return [{ id: 'global' }];
  const glob = rule.scope.glob;
  return ctx.snapshot.memcgs
    .filter((m) => glob.matches(m.path))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((m) => ({ id: m.path, memcg: m }));
}

function tierOf(texts: string[], prefer: RegExp[], avoid: RegExp[]): { tier: Tier; by?: string } {
  const a = avoid.find((re) => texts.some((t) => re.test(t)));
  if (a) return { tier: 'avoided', by: a.source };
  const p = prefer.find((re) => texts.some((t) => re.test(t)));
  if (p) return { tier: 'preferred', by: p.source };
  return { tier: 'neutral' };
}

const TIER_RANK: Record<Tier, number> = { preferred: 0, neutral: 1, avoided: 2 };

interface Ranked<T> {
  item: T;
  id: string;
  label: string;
  tier: Tier;
  tierBy?: string;
  score: Scored;
  memory: number;
}

function rank<T>(list: Ranked<T>[]): Ranked<T>[] {
  return list.sort(
    (a, b) =>
      TIER_RANK[a.tier] - TIER_RANK[b.tier] ||
      b.score.key - a.score.key ||
      b.memory - a.memory ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

function whyNot<T>(r: Ranked<T>, chosen: Ranked<T>): string {
  if (r.tier !== chosen.tier) {
    if (r.tier === 'avoided') return `avoided (matches ${r.tierBy ?? ''})`;
    if (chosen.tier === 'preferred')
      return `not preferred; the victim matches ${chosen.tierBy ?? ''}`;
  }
  if (r.score.key !== chosen.score.key)
    return `ranked lower: ${r.score.why} vs ${chosen.score.why}`;
  if (r.memory !== chosen.memory)
    return `tie on score; uses less memory (${formatBytesApprox(r.memory)})`;
  return 'tie; the lower pid or path wins';
}

function selection<T>(
  strategy: string,
  among: 'process' | 'cgroup',
  ranked: Ranked<T>[],
  excluded: Map<string, string[]>,
): VictimSelection {
  const chosen = ranked[0];
  const trace = (r: Ranked<T>): CandidateTrace => ({
    label: r.label,
    tier: r.tier,
    score: r.score.why,
  });
  return {
    strategy,
    among,
    considered: ranked.length + [...excluded.values()].reduce((s, l) => s + l.length, 0),
    chosen: chosen && trace(chosen),
    runnersUp: chosen
      ? ranked.slice(1, 1 + MAX_RUNNERS_UP).map((r) => ({ ...trace(r), whyNot: whyNot(r, chosen) }))
      : [],
    excluded: [...excluded.entries()]
      .map(([reason, ids]) => ({ reason, count: ids.length, examples: ids.slice(0, 3) }))
      .sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1)),
  };
}

function addExcluded(map: Map<string, string[]>, reason: string, label: string): void {
  // Group "protected: comm matches X" style reasons per rule, not per process.
  const list = map.get(reason);
  if (list) list.push(label);
  else map.set(reason, [label]);
}

type KillRule = Extract<CompiledAction, { kind: 'kill' }>;

interface CandidateView {
  id: string;
  label: string;
  /** What prefer/avoid match: comm and command line, or the memcg path. */
  texts: string[];
  memory: number;
}

/** Sorts the candidates that may be killed and collects why the others may not. */
function rankCandidates<T>(
  items: readonly T[],
  action: KillRule,
  view: (item: T) => CandidateView,
  exclusion: (item: T) => string | undefined,
  score: (item: T) => Scored,
): { ranked: Ranked<T>[]; selection: VictimSelection } {
  const excluded = new Map<string, string[]>();
  const ranked: Ranked<T>[] = [];
  for (const item of items) {
    const v = view(item);
    const why = exclusion(item);
    if (why) {
      addExcluded(excluded, why, v.label);
      continue;
    }
    const t = tierOf(v.texts, action.prefer, action.avoid);
    ranked.push({
      item,
      id: v.id,
      label: v.label,
      tier: t.tier,
      tierBy: t.by,
      score: score(item),
      memory: v.memory,
    });
  }
  rank(ranked);
  return { ranked, selection: selection(action.victim, action.among, ranked, excluded) };
}

function chooseProcess(
  policy: CompiledPolicy,
  ctx: EvalContext,
  action: KillRule,
  firing: Target[],
  ex: Exclusions,
): { victim?: KillVictim; selection: VictimSelection } {
  const seen = new Set<number>();
  const pool: ProcessInfo[] = [];
  if (firing.some((t) => t.id === 'global')) pool.push(...ctx.processesUnder('/'));
  else
    for (const t of firing)
      for (const p of ctx.processesUnder(t.id))
        if (!seen.has(p.pid)) {
          seen.add(p.pid);
          pool.push(p);
        }
  const { ranked, selection: sel } = rankCandidates(
    pool,
    action,
    (p) => ({
      id: String(p.pid).padStart(10, '0'),
      label: `pid ${p.pid} (${p.comm})`,
      texts: [p.comm, cmdlineText(p)],
      memory: p.rss,
    }),
    (p) => processExclusion(policy, ctx, p, ex),
    (p) => scoreProcess(action.victim, p, ctx),
  );
  const top = ranked[0]?.item;
  return {
    victim: top && {
      among: 'process',
      pid: top.pid,
      comm: top.comm,
      cmdline: cmdlineText(top),
      cgroup: top.cgroup,
      rss: top.rss,
      startTime: top.startTime,
    },
    selection: sel,
  };
}

function chooseCgroup(
  policy: CompiledPolicy,
  ctx: EvalContext,
  action: KillRule,
  firing: Target[],
  ex: Exclusions,
): { victim?: KillVictim; selection: VictimSelection } {
  const memcgs = firing.flatMap((t) => (t.memcg ? [t.memcg] : []));
  const { ranked, selection: sel } = rankCandidates(
    memcgs,
    action,
    (m) => ({ id: m.path, label: m.path, texts: [m.path], memory: m.usage }),
    (m) => cgroupExclusion(policy, ctx, m, ex),
    (m) => scoreCgroup(action.victim, m, ctx.processesUnder(m.path), ctx),
  );
  const top = ranked[0]?.item;
  return {
    victim: top && {
      among: 'cgroup',
      cgroup: top.path,
      usage: top.usage,
      pids: ctx
        .processesUnder(top.path)
        .map((p) => p.pid)
        .sort((x, y) => x - y),
    },
    selection: sel,
  };
}

/** Do two sets of targets share a memcg subtree ("global" shares everything)? */
function overlaps(a: readonly string[], b: readonly string[]): boolean {
  return a.some((x) =>
    b.some((y) => x === 'global' || y === 'global' || isUnder(x, y) || isUnder(y, x)),
  );
}

function victimLabel(v: KillVictim): string {
  return v.among === 'process'
    ? `pid ${v.pid} (${v.comm}, RSS ${formatBytesApprox(v.rss)}) in ${v.cgroup}`
    : `cgroup ${v.cgroup} (${formatBytesApprox(v.usage)}, ${v.pids.length} processes)`;
}

export function evaluate(
  policy: CompiledPolicy,
  snapshot: HostSnapshot,
  history: History,
): Evaluation {
  const ctx = buildContext(snapshot, history);
  const decisions: Decision[] = [];
  const rules: RuleOutcome[] = [];

  // Victims chosen earlier this call, or whose earlier kill is still in its grace.
  const takenPids = new Set<number>();
  const takenCgroups = new Set<string>();
  for (const a of history.actions) {
    if (a.kind !== 'kill' || !a.pending) continue;
    if (a.pid !== undefined) takenPids.add(a.pid);
    else if (a.cgroup !== undefined) {
      takenCgroups.add(a.cgroup);
      for (const p of ctx.processesUnder(a.cgroup)) takenPids.add(p.pid);
    }
  }
  const killedThisTick: { rule: string; targets: string[]; dryRun: boolean }[] = [];
  const killsInWindow = (dry: boolean): number => {
    const since = ctx.now - policy.killBudget.perMs;
    const past = history.actions.filter(
      (a) => a.kind === 'kill' && a.time > since && (dry || !a.dryRun),
    ).length;
    const now = decisions.filter((d) => d.action === 'kill' && (dry || d.enforce)).length;
    return past + now;
  };

  for (const rule of policy.rules) {
    const scope = rule.scope.kind === 'global' ? 'global' : rule.scope.glob.source;
    const targets = targetsOf(rule, ctx);
    const traces = targets.map((t) => ({ target: t, trace: evaluateCondition(rule.when, ctx, t) }));
    const firing = traces.filter((x) => x.trace.fired).map((x) => x.target);
    const kept = [...traces.filter((x) => x.trace.fired), ...traces.filter((x) => !x.trace.fired)]
      .slice(0, MAX_TRACED_TARGETS)
      .map((x) => ({ target: x.target.id, trace: x.trace }));
    const outcome = (kind: RuleOutcomeKind, reason: string, victim?: VictimSelection): void => {
      rules.push({
        rule: rule.name,
        scope,
        matched: targets.length,
        fired: firing.map((t) => t.id),
        outcome: kind,
        reason,
        conditions: kept,
        ...(victim ? { victim } : {}),
      });
    };

    if (firing.length === 0) {
      outcome(
        'quiet',
        targets.length === 0 ? `scope ${scope} matches no memcg` : 'condition does not hold',
      );
      continue;
    }
    const dryRun = policy.dryRun || rule.dryRun;
    const firedText = `fired on ${firing.length === 1 ? (firing[0]?.id ?? '') : `${firing.length} targets`}: ${describeTrace(traces.find((x) => x.trace.fired)?.trace ?? { combinator: 'any', fired: true, children: [] })}`;

    // Cooldown, and repeat: until-clear, which keeps acting while the rule
    // has fired without a break since its last action.
    const last = history.actions
      .filter((a) => a.rule === rule.name)
      .sort((a, b) => b.time - a.time)[0];
    if (last?.pending && last.kind === 'kill') {
      outcome(
        'suppressed',
        `waiting for the previous victim (${last.pid !== undefined ? `pid ${last.pid}` : (last.cgroup ?? '')}) to die`,
      );
      continue;
    }
    if (last && ctx.now - last.time < rule.cooldownMs) {
      const since = history.firingSince[rule.name];
      const continuing =
        rule.action.kind === 'kill' &&
        rule.action.repeat === 'until-clear' &&
        since !== undefined &&
        since <= last.time;
      if (!continuing) {
        outcome(
          'suppressed',
          `cooldown: last acted ${formatDuration(Math.max(0, ctx.now - last.time))} ago, cooldown ${formatDuration(rule.cooldownMs)}`,
        );
        continue;
      }
    }

    const base = {
      rule: rule.name,
      dryRun,
      enforce: !dryRun,
      firing: firing.map((t) => t.id),
    };
    const conditions = kept.filter((k) => firing.some((f) => f.id === k.target));

    if (rule.action.kind === 'notify') {
      decisions.push({
        ...base,
        action: 'notify',
        notify: { message: rule.action.message, severity: rule.action.severity },
        trace: {
          conditions,
          summary: `notify (${rule.action.severity}): rule ${rule.name} ${firedText}`,
        },
      });
      outcome(dryRun ? 'dry-run' : 'acted', `notify: ${firedText}`);
      continue;
    }

    if (rule.action.kind === 'throttle') {
      const a = rule.action;
      for (const t of firing) {
        const m = t.memcg;
        if (!m) continue;
        const own = traces.find((x) => x.target.id === t.id)?.trace;
        const ownText = own ? `fired on ${t.id}: ${describeTrace(own)}` : firedText;
        const high = Math.max(
          4096,
          Math.floor(
            'percent' in a.memoryHigh ? (a.memoryHigh.percent / 100) * m.usage : a.memoryHigh.bytes,
          ),
        );
        decisions.push({
          ...base,
          action: 'throttle',
          firing: [t.id],
          throttle: { cgroup: t.id, memoryHigh: high, durationMs: a.durationMs, usage: m.usage },
          trace: {
            conditions: conditions.filter((c) => c.target === t.id),
            summary: `throttle ${t.id}: memory.high ${formatBytesApprox(high)} for ${formatDuration(a.durationMs)} (usage ${formatBytesApprox(m.usage)}); rule ${rule.name} ${ownText}`,
          },
        });
      }
      outcome(dryRun ? 'dry-run' : 'acted', `throttle ${firing.length} memcg(s): ${firedText}`);
      continue;
    }

    const kill = rule.action;
    // One kill per target per tick: a later kill rule firing on targets that
    // overlap an earlier kill's waits a tick, when that kill's effect shows.
    // A dry-run kill holds back only dry-run rules.
    const earlier = killedThisTick.find(
      (k) => (!k.dryRun || dryRun) && overlaps(k.targets, base.firing),
    );
    if (earlier) {
      outcome(
        'suppressed',
        `rule ${earlier.rule} already ${earlier.dryRun ? 'would kill' : 'kills'} on overlapping targets this tick; waiting for its effect`,
      );
      continue;
    }
    if (killsInWindow(dryRun) >= policy.killBudget.max) {
      outcome(
        'suppressed',
        `kill budget spent: ${policy.killBudget.max} kills in the last ${formatDuration(policy.killBudget.perMs)}`,
      );
      continue;
    }
    const ex: Exclusions = { takenPids, takenCgroups };
    const { victim, selection: sel } =
      kill.among === 'process'
        ? chooseProcess(policy, ctx, kill, firing, ex)
        : chooseCgroup(policy, ctx, kill, firing, ex);
    if (!victim) {
      outcome('no-victim', `${firedText}; no candidate may be killed`, sel);
      continue;
    }
    // A dry-run choice kills nothing, so it must not shield the victim from a real rule.
    if (!dryRun) {
      if (victim.among === 'process') takenPids.add(victim.pid);
      else {
        takenCgroups.add(victim.cgroup);
        for (const p of victim.pids) takenPids.add(p);
      }
    }
    killedThisTick.push({ rule: rule.name, targets: base.firing, dryRun });
    const summary = `${dryRun ? 'would kill' : 'kill'} ${victimLabel(victim)}: ${kill.victim} of ${sel.considered} candidates; rule ${rule.name} ${firedText}`;
    decisions.push({
      ...base,
      action: 'kill',
      kill: { ...victim, graceMs: kill.graceMs, repeat: kill.repeat },
      trace: { conditions, victim: sel, summary },
    });
    outcome(dryRun ? 'dry-run' : 'acted', summary, sel);
  }

  return { time: ctx.now, policy: { name: policy.name, digest: policy.digest }, decisions, rules };
}
