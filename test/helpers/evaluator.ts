// Builders for evaluator tests: snapshots, processes, memcgs, history and
// policies with sensible defaults, so that each test states only what matters.
import { loadPolicyValue } from '../../services/policy/load.ts';
import type { CompiledPolicy } from '../../services/policy/model.ts';
import type {
  ActionRecord,
  History,
  HostInfo,
  HostSnapshot,
  Memcg,
  Pressure,
  ProcessInfo,
} from '../../services/policy/snapshot.ts';
import { evaluate } from '../../services/policy/evaluator/index.ts';
import type {
  ConditionTrace,
  Decision,
  Evaluation,
  RuleOutcome,
  TriggerOutcome,
} from '../../services/policy/evaluator/index.ts';

export const KiB = 1024;
export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;
/** "Now" in every test unless a test says otherwise. */
export const T0 = 1_764_090_000_000;

export function makeProcess(p: Partial<ProcessInfo> & { pid: number }): ProcessInfo {
  const comm = p.comm ?? `proc-${p.pid}`;
  return {
    ppid: 1,
    comm,
    cmdline: [comm],
    rss: 100 * MiB,
    oomScore: 100,
    oomScoreAdj: 0,
    startTime: T0 - 3_600_000,
    cgroup: '/',
    ...p,
  };
}

export function makeMemcg(m: Partial<Memcg> & { path: string }): Memcg {
  return { usage: GiB, limit: null, ...m };
}

/** A PSI file with the same value in every window. */
export function psi(full: number, some = full): Pressure {
  return {
    some: { avg10: some, avg60: some, avg300: some },
    full: { avg10: full, avg60: full, avg300: full },
  };
}

export interface SnapshotInit extends Partial<Omit<HostSnapshot, 'host'>> {
  host?: Partial<HostInfo>;
}

export function makeSnapshot(s: SnapshotInit = {}): HostSnapshot {
  const { host, ...rest } = s;
  return {
    time: T0,
    cgroupMode: 'v2',
    memcgs: [],
    processes: [],
    ...rest,
    host: { memTotal: 16 * GiB, memAvailable: 8 * GiB, swapTotal: 0, swapFree: 0, ...host },
  };
}

export function makeHistory(h: Partial<History> = {}): History {
  return { snapshots: [], actions: [], firingSince: {}, ...h };
}

export function killRecord(
  a: Partial<ActionRecord> & { rule: string; time: number },
): ActionRecord {
  return { kind: 'kill', dryRun: false, ...a };
}

/** A policy document around the given spec, loaded and compiled; throws on any error. */
export function makePolicy(spec: Record<string, unknown>, name = 'test'): CompiledPolicy {
  const doc = { apiVersion: 'oomfleet/v1', kind: 'OomPolicy', metadata: { name }, spec };
  const r = loadPolicyValue(doc);
  const errors = r.issues.filter((i) => i.severity === 'error');
  if (!r.ok || !r.policy || errors.length > 0)
    throw new Error(`test policy does not load: ${JSON.stringify(r.issues, null, 2)}`);
  return r.policy;
}

/** A rule with defaults: a notify action, no cooldown. */
export function rule(r: {
  name?: string;
  scope?: string;
  when: Record<string, unknown>;
  action?: Record<string, unknown>;
  cooldown?: string;
  dryRun?: boolean;
}): Record<string, unknown> {
  return { name: 'r', scope: 'global', action: { notify: {} }, cooldown: '0s', ...r };
}

export function run(
  policy: CompiledPolicy,
  snapshot: HostSnapshot,
  history: History = makeHistory(),
): Evaluation {
  return evaluate(policy, snapshot, history);
}

export function outcomeOf(e: Evaluation, ruleName: string): RuleOutcome {
  const o = e.rules.find((r) => r.rule === ruleName);
  if (!o) throw new Error(`no outcome for rule ${ruleName}`);
  return o;
}

export function kills(e: Evaluation): Decision[] {
  return e.decisions.filter((d) => d.action === 'kill');
}

export function onlyKill(e: Evaluation): NonNullable<Decision['kill']> {
  const k = kills(e);
  if (k.length !== 1 || !k[0]?.kill)
    throw new Error(`expected one kill, got ${JSON.stringify(e.decisions, null, 2)}`);
  return k[0].kill;
}

/** The pid (or cgroup path) of the one victim of an evaluation. */
export function victimOf(e: Evaluation): number | string {
  const k = onlyKill(e);
  return k.among === 'process' ? k.pid : k.cgroup;
}

/** The first leaf of a condition trace (the trigger itself for single-trigger rules). */
export function leaf(t: ConditionTrace): TriggerOutcome {
  if ('combinator' in t) {
    const c = t.children[0];
    if (!c) throw new Error('empty combinator');
    return leaf(c);
  }
  return t;
}

/**
 * Evaluates a single condition on one target (a memcg path or "global") via a
 * notify rule, and returns the trigger's outcome there.
 */
export function triggerOn(
  when: Record<string, unknown>,
  snapshot: HostSnapshot,
  opts: { target?: string; scope?: string; history?: History } = {},
): TriggerOutcome {
  const target = opts.target ?? 'global';
  const scope = opts.scope ?? target;
  const e = run(makePolicy({ rules: [rule({ scope, when })] }), snapshot, opts.history);
  const c = outcomeOf(e, 'r').conditions.find((x) => x.target === target);
  if (!c) throw new Error(`target ${target} not evaluated`);
  return leaf(c.trace);
}
