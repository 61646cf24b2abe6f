// The agent's engine: applies a policy, then on every tick snapshots what
// the policy needs, evaluates it, and carries out the decisions. Between
// ticks a fast path watches memcgs under user-space OOM handling every
// 10 ms, so a stuck memcg is handled at once, and handed back to the
// kernel's OOM killer if it is still stuck after `fallbackAfter`.
import {
  evaluate,
  emptyHistory,
  loadPolicyValue,
  type ActionRecord,
  type CanonicalPolicy,
  type CompiledPolicy,
  type Decision,
  type Evaluation,
  type History,
  type HostSnapshot,
  type PolicyIssue,
  type LoadResult,
} from '../../policy/index.ts';
import type { MemcgDriver } from '../cgroup/types.ts';
import { checkSupport } from '../enforce/compat.ts';
import { desiredSettings, type DesiredState } from '../enforce/desired.ts';
import type { AgentStatus, DryRunResult } from '../endpoint/api.ts';
import type { EventLog } from '../events/log.ts';
import type { Killer } from '../kill/killer.ts';
import type { HostReader } from '../proc/types.ts';
import {
  ALL_NEEDS,
  collectSnapshot,
  emptyStats,
  prunePlan,
  snapshotNeeds,
  type PruneInput,
  type PrunePlan,
  type SnapshotNeeds,
} from '../snapshot/index.ts';
import type { StateStore } from '../state/store.ts';
import { recordTick, settleAction } from './history.ts';
import { nextIntervalMs } from './interval.ts';
import { honourOomGroup } from './oom-group.ts';
import { userspaceOomTargets, type UserspaceOomTarget } from './userspace-oom.ts';

/** How often memcgs under user-space OOM handling are checked for being stuck. */
export const FAST_PATH_MS = 10;
export const HEARTBEAT_MS = 200;
/** New memcgs (a job started) get the policy's settings within this long; a full tree walk is not free. */
export const RECONCILE_EVERY_MS = 2000;

/** The worker's own memory, as `agent status` shows it (the agent must stay small). */
function memoryFigures(): AgentStatus['memory'] {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal };
}
/** Without user-space OOM handling a stall harms nothing at once; the supervisor still notices. */
export const DEFAULT_HEARTBEAT_WINDOW_MS = 10_000;

/** Victims chosen by RSS growth compare each process with its past: those need processes every tick. */
function needsProcessHistory(policy: CompiledPolicy): boolean {
  return policy.rules.some(
    (r) =>
      r.action.kind === 'kill' &&
      r.action.among === 'process' &&
      r.action.victim === 'fastest-growing',
  );
}

function killRuleFired(policy: CompiledPolicy, e: Evaluation): boolean {
  const kills = new Set(policy.rules.filter((r) => r.action.kind === 'kill').map((r) => r.name));
  return e.rules.some((r) => kills.has(r.rule) && r.fired.length > 0);
}

/** Applies settings all-or-nothing (services/agent/enforce/apply.ts). */
export interface SettingsApplier {
  apply(desired: DesiredState): unknown;
  /** Applies to memcgs that appeared since the last apply; idempotent. */
  reconcile(desired: DesiredState): { failed: Error[] };
  /** User-space OOM handling on or off for one memcg, with the state kept for the supervisor. */
  setOomKillDisable(memcg: string, on: boolean): void;
}

export interface EngineDeps {
  driver?: MemcgDriver;
  host: HostReader;
  killer: Killer;
  events: EventLog;
  store: StateStore;
  applier?: SettingsApplier;
  agentPids: () => number[];
  hostname: string;
  version: string;
  supervisorPid?: number;
  now?: () => number;
  log?: (line: string) => void;
  /** Sent after every tick: the supervisor's watchdog. */
  heartbeat?: (withinMs: number) => void;
}

export type ApplyOutcome = { ok: true } | { ok: false; reason: string };

/** Where a control-plane policy came from: the version the control plane assigned. */
export interface PolicyOrigin {
  versionId: string;
  name: string;
  version: number;
}

export type ControlPlaneStatus = AgentStatus['controlPlane'];

export class Engine {
  private policy?: CompiledPolicy;
  private source: 'local' | 'control-plane' = 'local';
  private origin?: PolicyOrigin;
  private controlPlane: ControlPlaneStatus = { state: 'disabled' };
  private appliedAt = 0;
  private needs?: SnapshotNeeds;
  /** How ticks may leave idle subtrees unread; undefined when they must read all. */
  private prune?: PrunePlan;
  private history: History = emptyHistory();
  private lastEvaluation?: {
    evaluation: Evaluation;
    durationMs: number;
    intervalMs: number;
    memcgsRead: number;
    memcgsSkipped: number;
  };
  private lastRefusal?: { digest: string; reason: string; at: number };
  private counters = { kills: 0, fallbacks: 0, evaluations: 0, errors: 0 };
  private readonly startedAt: number;
  private tickTimer?: NodeJS.Timeout;
  private fastTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private running = false;
  private ticking = false;
  private uoom: UserspaceOomTarget[] = [];
  /** memcg path → when it was first seen stuck in this episode. */
  private stuckSince = new Map<string, number>();
  /** memcgs handed back to the kernel, re-armed once their OOM clears. */
  private handedBack = new Set<string>();
  /** v2: the last memory.events max/oom counts of watched memcgs. */
  private v2Events = new Map<string, number>();
  private lastReconcile = 0;
  /** The last reconcile's desired state and what it was worked out from. */
  private desired?: {
    policy: CompiledPolicy;
    memcgs: readonly string[];
    memTotal: number;
    swapTotal: number;
    state: DesiredState;
  };
  private readonly now: () => number;
  private readonly log: (line: string) => void;

  constructor(private readonly deps: EngineDeps) {
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.startedAt = this.now();
  }

  /** Applies a validated canonical policy: all or nothing. */
  setPolicy(
    canonical: CanonicalPolicy,
    source: 'local' | 'control-plane',
    origin?: PolicyOrigin,
  ): ApplyOutcome {
    const loaded = loadPolicyValue(canonical);
    if (!loaded.ok || !loaded.policy || !loaded.digest) {
      const reason = loaded.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
      return this.refuse(loaded.digest ?? 'unknown', reason);
    }
    const policy = loaded.policy;
    const driver = this.deps.driver;
    const memcgs = driver ? driver.list() : [];
    if (driver) {
      const support = checkSupport(policy, driver, memcgs);
      if (!support.ok) return this.refuse(policy.digest, support.reason ?? 'unsupported settings');
    } else if (policy.cgroups.length > 0 || policy.rules.some((r) => r.scope.kind === 'cgroup')) {
      return this.refuse(
        policy.digest,
        'this host has no memory cgroup controller; the policy needs cgroups (use global rules only)',
      );
    }
    try {
      if (driver && this.deps.applier) {
        const host = this.deps.host.host();
        this.deps.applier.apply(desiredSettings(policy, memcgs, host, driver.mode));
      }
    } catch (err) {
      return this.refuse(policy.digest, `could not apply: ${(err as Error).message}`);
    }
    const previous = this.policy;
    this.policy = policy;
    this.source = source;
    this.origin = source === 'control-plane' ? origin : undefined;
    this.appliedAt = this.now();
    this.needs = snapshotNeeds(policy);
    this.prune = prunePlan(policy);
    this.uoom = driver ? userspaceOomTargets(policy, memcgs) : [];
    if (previous?.digest !== policy.digest) this.history = emptyHistory();
    const state = this.deps.store.load() ?? {
      version: 1 as const,
      originals: {},
      oomKillDisabled: [],
    };
    this.deps.store.save({
      ...state,
      policy: {
        name: policy.name,
        digest: policy.digest,
        canonical: policy.canonical,
        source,
        appliedAt: this.appliedAt,
      },
    });
    this.deps.events.record({
      kind: 'policy-applied',
      policy: { name: policy.name, digest: policy.digest },
      name: policy.name,
      digest: policy.digest,
      ...(this.origin ? { version: this.origin.version } : {}),
      source,
    });
    this.log(`agent: applied policy ${policy.name} ${policy.digest} (${source})`);
    this.lastReconcile = this.now();
    this.updateFastPath();
    if (this.running) this.schedule(0);
    return { ok: true };
  }

  private refuse(digest: string, reason: string): ApplyOutcome {
    this.lastRefusal = { digest, reason, at: this.now() };
    this.deps.events.record({ kind: 'policy-refused', digest, reason });
    this.log(`agent: refused policy ${digest}: ${reason}`);
    const state = this.deps.store.load();
    if (state) this.deps.store.save({ ...state, lastNack: this.lastRefusal });
    return { ok: false, reason };
  }

  /**
   * Applies a policy assigned by the control plane (checked already by the
   * policy-check child), remembering the version it came with.
   */
  applyControlPlanePolicy(canonical: CanonicalPolicy, origin: PolicyOrigin): ApplyOutcome {
    return this.setPolicy(canonical, 'control-plane', origin);
  }

  /** The digest of the policy in force, if any. */
  appliedDigest(): string | undefined {
    return this.policy?.digest;
  }

  /** The control-plane version of the policy in force, if it came from one. */
  appliedOrigin(): PolicyOrigin | undefined {
    return this.source === 'control-plane' ? this.origin : undefined;
  }

  /**
   * Names the version of the policy in force (after a restart the state
   * directory holds the policy, the control-plane client its version id).
   */
  noteOrigin(digest: string, origin: PolicyOrigin): boolean {
    if (this.policy?.digest !== digest || this.source !== 'control-plane') return false;
    this.origin = origin;
    return true;
  }

  /**
   * Runs no policy (the control plane assigned none): hands every memcg back
   * to the kernel's OOM killer and restores the original settings.
   */
  clearPolicy(): ApplyOutcome {
    if (!this.policy) return { ok: true };
    for (const t of this.uoom) this.setOomKillDisable(t, false);
    try {
      if (this.deps.driver && this.deps.applier) this.deps.applier.apply(new Map());
    } catch (err) {
      for (const t of this.uoom) this.setOomKillDisable(t, true);
      return this.refuse(this.policy.digest, `could not remove: ${(err as Error).message}`);
    }
    const previous = this.policy;
    this.policy = undefined;
    this.origin = undefined;
    this.needs = undefined;
    this.prune = undefined;
    this.uoom = [];
    this.handedBack.clear();
    this.stuckSince.clear();
    this.history = emptyHistory();
    this.updateFastPath();
    const state = this.deps.store.load();
    if (state) {
      const rest = { ...state };
      delete rest.policy;
      this.deps.store.save(rest);
    }
    this.log(`agent: removed policy ${previous.name} ${previous.digest} (control-plane)`);
    return { ok: true };
  }

  /** What `agent status` shows of the control-plane connection (set by its client). */
  setControlPlaneStatus(status: ControlPlaneStatus): void {
    this.controlPlane = status;
  }

  /** The last good policy from the state directory, enforced before any control plane is reachable. */
  restoreLastKnownGood(): ApplyOutcome | undefined {
    const state = this.deps.store.load();
    if (!state?.policy) return undefined;
    return this.setPolicy(state.policy.canonical, state.policy.source);
  }

  start(): void {
    this.running = true;
    this.schedule(0);
    this.updateFastPath();
    // Heartbeats come from the event loop, not from ticks: a blocked or
    // stopped worker goes silent, and the supervisor hands OOM back to the
    // kernel once the shortest fallbackAfter has passed without one.
    if (this.deps.heartbeat) {
      const beat = (): void => this.deps.heartbeat?.(this.heartbeatWindowMs());
      beat();
      this.heartbeatTimer = setInterval(beat, HEARTBEAT_MS);
    }
  }

  /**
   * The 10 ms fast path runs only while some memcg is under user-space OOM
   * handling: an idle 10 ms timer alone costs half a percent of a CPU.
   */
  private updateFastPath(): void {
    const wanted = this.running && this.uoom.length > 0;
    if (wanted && !this.fastTimer)
      this.fastTimer = setInterval(() => {
        this.fastPath();
      }, FAST_PATH_MS);
    else if (!wanted && this.fastTimer) {
      clearInterval(this.fastTimer);
      this.fastTimer = undefined;
    }
  }

  /** How long the supervisor may wait for the next heartbeat. */
  heartbeatWindowMs(): number {
    const shortest = Math.min(...this.uoom.map((t) => t.fallbackAfterMs));
    return Number.isFinite(shortest)
      ? Math.max(shortest, 4 * HEARTBEAT_MS)
      : DEFAULT_HEARTBEAT_WINDOW_MS;
  }

  /** Stops ticking and hands every memcg back to the kernel's OOM killer (settings stay: fail-static). */
  stop(): void {
    this.running = false;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.fastTimer) clearInterval(this.fastTimer);
    this.fastTimer = undefined;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    for (const t of this.uoom) this.setOomKillDisable(t, false);
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = setTimeout(() => {
      this.tick();
    }, ms);
  }

  private snapshot(needs: SnapshotNeeds, prune?: PruneInput): HostSnapshot {
    return collectSnapshot(
      {
        driver: this.deps.driver,
        host: this.deps.host,
        agentPids: this.deps.agentPids(),
        now: this.now,
        hostname: this.deps.hostname,
      },
      needs,
      prune,
    );
  }

  /** One evaluation: snapshot, evaluate, act. Never throws: errors are events. */
  tick(urgent = false): Evaluation | undefined {
    const policy = this.policy;
    if (!policy || !this.needs || this.ticking) return undefined;
    this.ticking = true;
    let interval = policy.intervalMs;
    try {
      const started = performance.now();
      // Processes are the costliest part of a snapshot, and only kill rules
      // look at them: read them only once such a rule fires (unless a victim
      // strategy needs their history), then evaluate again with them.
      const lazy = !urgent && this.needs.processes.kind !== 'none' && !needsProcessHistory(policy);
      // Subtrees that cannot fire are left unread (snapshot/prune.ts); a
      // kill then reads everything again, victims and protections included.
      const stats = emptyStats();
      let snapshot = this.snapshot(
        lazy ? { ...this.needs, processes: { kind: 'none' } } : this.needs,
        !urgent && this.prune ? { plan: this.prune, stats } : undefined,
      );
      let evaluation = evaluate(policy, snapshot, this.history);
      if (lazy && killRuleFired(policy, evaluation)) {
        snapshot = this.snapshot(this.needs);
        evaluation = evaluate(policy, snapshot, this.history);
        Object.assign(stats, emptyStats());
      }
      if (stats.read === 0) stats.read = snapshot.memcgs.length;
      const actions = this.act(policy, honourOomGroup(evaluation, snapshot), snapshot.time);
      this.history = recordTick(this.history, policy, snapshot, evaluation, actions);
      interval = nextIntervalMs(policy, evaluation, stats.skippedMargin);
      this.counters.evaluations++;
      this.lastEvaluation = {
        evaluation,
        durationMs: performance.now() - started,
        intervalMs: interval,
        memcgsRead: stats.read,
        memcgsSkipped: stats.skipped,
      };
      if (snapshot.time - this.lastReconcile >= RECONCILE_EVERY_MS) {
        this.lastReconcile = snapshot.time;
        this.reconcile(policy);
        this.updateFastPath();
      }
      return evaluation;
    } catch (err) {
      this.counters.errors++;
      this.deps.events.record({ kind: 'error', message: (err as Error).message, where: 'tick' });
      return undefined;
    } finally {
      this.ticking = false;
      this.schedule(interval);
    }
  }

  /** Applies the policy to memcgs created since the last look, now rather than within RECONCILE_EVERY_MS. */
  reconcileNow(): void {
    if (!this.policy) return;
    this.lastReconcile = this.now();
    this.reconcile(this.policy);
    this.updateFastPath();
  }

  /** Settings for memcgs created since the policy was applied (a new batch job, say). */
  private reconcile(policy: CompiledPolicy): void {
    const driver = this.deps.driver;
    if (!driver || !this.deps.applier) return;
    try {
      // Settings and user-space OOM handling concern only what these globs
      // match: the walk need not go anywhere else.
      const memcgs = driver.list([
        ...policy.cgroups.map((c) => c.match),
        ...policy.protect.flatMap((p) => (p.kind === 'cgroup' ? [p.glob] : [])),
      ]);
      const host = this.deps.host.host();
      // The same listing (drivers return the same array while nothing was
      // made or removed) on the same host gives the same desired state.
      const d = this.desired;
      const desired =
        d?.policy === policy &&
        d.memcgs === memcgs &&
        d.memTotal === host.memTotal &&
        d.swapTotal === host.swapTotal
          ? d.state
          : desiredSettings(policy, memcgs, host, driver.mode);
      this.desired = {
        policy,
        memcgs,
        memTotal: host.memTotal,
        swapTotal: host.swapTotal,
        state: desired,
      };
      for (const err of this.deps.applier.reconcile(desired).failed) {
        this.counters.errors++;
        this.deps.events.record({ kind: 'error', message: err.message, where: 'reconcile' });
      }
      if (driver.mode !== 'v1') return;
      const known = new Set(this.uoom.map((t) => t.path));
      for (const t of userspaceOomTargets(policy, memcgs))
        if (!known.has(t.path)) this.uoom.push(t);
      this.uoom = this.uoom.filter((t) => memcgs.includes(t.path));
      // Re-arm user-space handling that someone else turned off (the
      // supervisor's watchdog after a stall), unless the agent handed the
      // memcg to the kernel itself and its OOM has not cleared yet.
      for (const t of this.uoom)
        if (!this.handedBack.has(t.path) && driver.readSetting(t.path, 'oomKillDisable') === false)
          this.setOomKillDisable(t, true);
    } catch (err) {
      this.counters.errors++;
      this.deps.events.record({
        kind: 'error',
        message: (err as Error).message,
        where: 'reconcile',
      });
    }
  }

  private act(policy: CompiledPolicy, evaluation: Evaluation, time: number): ActionRecord[] {
    const out: ActionRecord[] = [];
    for (const d of evaluation.decisions) {
      const base = { time, rule: d.rule, dryRun: !d.enforce };
      if (d.action === 'kill' && d.kill) {
        const pending = d.enforce;
        out.push({
          ...base,
          kind: 'kill',
          ...(d.kill.among === 'process' ? { pid: d.kill.pid } : { cgroup: d.kill.cgroup }),
          pending,
        });
        this.startKill(policy, d, time);
      } else if (d.action === 'throttle' && d.throttle) {
        out.push({ ...base, kind: 'throttle', cgroup: d.throttle.cgroup });
        this.throttle(policy, d);
      } else if (d.action === 'notify' && d.notify) {
        out.push({ ...base, kind: 'notify' });
        this.deps.events.record({
          kind: 'notify',
          policy: { name: policy.name, digest: policy.digest },
          rule: d.rule,
          severity: d.notify.severity,
          message: d.notify.message,
          summary: d.trace.summary,
          dryRun: d.dryRun,
        });
      }
    }
    return out;
  }

  private startKill(policy: CompiledPolicy, d: Decision, triggeredAt: number): void {
    const victim = d.kill;
    if (!victim) return;
    this.deps.killer
      .kill(d, policy, triggeredAt)
      .then((event) => {
        this.deps.events.append(event);
        if (event.outcome === 'died') this.counters.kills++;
      })
      .catch((err: unknown) => {
        this.counters.errors++;
        this.deps.events.record({ kind: 'error', message: (err as Error).message, where: 'kill' });
      })
      .finally(() => {
        this.history = settleAction(this.history, (a) =>
          a.rule === d.rule && victim.among === 'process'
            ? a.pid === victim.pid
            : a.cgroup === (victim.among === 'cgroup' ? victim.cgroup : undefined),
        );
        // The kill may have resolved what triggered it: look again now.
        this.schedule(0);
      });
  }

  private throttle(policy: CompiledPolicy, d: Decision): void {
    const t = d.throttle;
    const driver = this.deps.driver;
    if (!t || !driver || !d.enforce) return;
    try {
      const before = driver.readSetting(t.cgroup, 'memoryHigh');
      driver.writeSetting(t.cgroup, 'memoryHigh', t.memoryHigh);
      this.deps.events.record({
        kind: 'throttle',
        policy: { name: policy.name, digest: policy.digest },
        rule: d.rule,
        cgroup: t.cgroup,
        memoryHigh: t.memoryHigh,
        durationMs: t.durationMs,
        usage: t.usage,
        dryRun: false,
        summary: d.trace.summary,
      });
      setTimeout(() => {
        try {
          driver.writeSetting(t.cgroup, 'memoryHigh', before);
        } catch {
          // The memcg may be gone; nothing to restore then.
        }
      }, t.durationMs).unref();
    } catch (err) {
      this.counters.errors++;
      this.deps.events.record({
        kind: 'error',
        message: (err as Error).message,
        where: 'throttle',
      });
    }
  }

  private setOomKillDisable(t: UserspaceOomTarget, on: boolean): void {
    try {
      // The enforcer owns the list the supervisor restores from; it records
      // the memcg before setting the flag and forgets it after clearing it.
      if (this.deps.applier) this.deps.applier.setOomKillDisable(t.path, on);
      else this.deps.driver?.writeSetting(t.path, 'oomKillDisable', on);
    } catch (err) {
      this.counters.errors++;
      this.deps.events.record({
        kind: 'error',
        message: (err as Error).message,
        where: 'oom_kill_disable',
      });
    }
  }

  /** Every 10 ms: which user-space-handled memcgs are stuck, and for how long. */
  private fastPath(): void {
    const driver = this.deps.driver;
    if (!driver || this.uoom.length === 0) return;
    if (driver.mode === 'v2') {
      this.watchV2Events(driver);
      return;
    }
    const now = this.now();
    let stuckNow = false;
    for (const t of this.uoom) {
      let under: boolean;
      try {
        under = driver.underOom(t.path);
      } catch {
        continue;
      }
      if (!under) {
        this.stuckSince.delete(t.path);
        if (this.handedBack.delete(t.path)) this.setOomKillDisable(t, true);
        continue;
      }
      if (this.handedBack.has(t.path)) continue;
      const since = this.stuckSince.get(t.path);
      if (since === undefined) {
        this.stuckSince.set(t.path, now);
        stuckNow = true;
        this.deps.events.record({ kind: 'oom', memcg: t.path, handler: 'userspace' });
      } else if (now - since >= t.fallbackAfterMs) {
        this.setOomKillDisable(t, false);
        this.handedBack.add(t.path);
        this.counters.fallbacks++;
        this.deps.events.record({
          kind: 'fallback',
          memcg: t.path,
          stuckMs: now - since,
          fallbackAfterMs: t.fallbackAfterMs,
        });
        this.log(
          `agent: ${t.path} stuck for ${now - since} ms: handed back to the kernel OOM killer`,
        );
      }
    }
    // A memcg just got stuck: evaluate now, with processes, in this callback.
    if (stuckNow && !this.ticking) this.tick(true);
  }

  /**
   * cgroup v2 has no oom_kill_disable: user-space handling acts before the
   * limit, on the policy's usage and pressure rules. The fast path watches
   * memory.events and evaluates at once when a memcg hits memory.max or
   * goes OOM, instead of waiting for the next tick.
   */
  private watchV2Events(driver: MemcgDriver): void {
    let rose = false;
    for (const t of this.uoom) {
      const e = driver.read(t.path)?.events;
      if (!e) continue;
      const count = (e.max ?? 0) + (e.oom ?? 0);
      const before = this.v2Events.get(t.path);
      this.v2Events.set(t.path, count);
      if (before !== undefined && count > before) {
        rose = true;
        if ((e.oom ?? 0) > 0)
          this.deps.events.record({ kind: 'oom', memcg: t.path, handler: 'kernel' });
      }
    }
    if (rose && !this.ticking) this.tick(true);
  }

  status(): AgentStatus {
    const driver = this.deps.driver;
    const p = this.policy;
    const unsupported =
      driver && p
        ? checkSupport(p, driver, []).approximate.map((f) => ({ setting: f.setting, note: f.note }))
        : [];
    const notes = driver
      ? (['memoryMin', 'memoryLow', 'memoryHigh', 'memoryMax', 'swapMax', 'oomGroup'] as const)
          .map((s) => ({ setting: s, support: driver.support(s) }))
          .filter((x) => !x.support.supported)
          .map((x) => ({ setting: x.setting, note: x.support.note ?? '' }))
      : [];
    const le = this.lastEvaluation;
    return {
      version: this.deps.version,
      pid: process.pid,
      ...(this.deps.supervisorPid ? { supervisorPid: this.deps.supervisorPid } : {}),
      startedAt: this.startedAt,
      hostname: this.deps.hostname,
      cgroup: {
        mode: driver?.mode ?? 'none',
        ...(driver ? { root: driver.root } : {}),
        unsupported: [...notes, ...unsupported],
      },
      ...(p
        ? {
            policy: {
              name: p.name,
              digest: p.digest,
              source: this.source,
              ...(this.source === 'control-plane' && this.origin
                ? { versionId: this.origin.versionId, version: this.origin.version }
                : {}),
              appliedAt: this.appliedAt,
              intervalMs: p.intervalMs,
            },
          }
        : {}),
      ...(this.lastRefusal ? { lastRefusal: this.lastRefusal } : {}),
      ...(le
        ? {
            lastEvaluation: {
              time: le.evaluation.time,
              durationMs: le.durationMs,
              intervalMs: le.intervalMs,
              memcgs: { read: le.memcgsRead, skipped: le.memcgsSkipped },
              rules: le.evaluation.rules.map((r) => ({
                rule: r.rule,
                outcome: r.outcome,
                reason:
                  r.outcome === 'quiet' && r.matched === 0 && le.memcgsSkipped > 0
                    ? `condition does not hold: its memcgs were not read, as their parent's usage is below every threshold`
                    : r.reason,
              })),
            },
          }
        : {}),
      counters: { ...this.counters },
      memory: memoryFigures(),
      controlPlane: { ...this.controlPlane },
    };
  }

  /** The applied policy on a full fresh snapshot, with the engine's history; changes nothing. */
  explain(): Evaluation | undefined {
    if (!this.policy) return undefined;
    return evaluate(this.policy, this.snapshot(ALL_NEEDS), this.history);
  }

  /**
   * What a policy would do here now. Takes the policy checked already (by
   * loadPolicy, or by the policy-check child), so that the engine needs no
   * YAML parser.
   */
  dryRun(r: LoadResult): DryRunResult {
    if (!r.ok || !r.policy || !r.digest) return { ok: false, issues: r.issues };
    const warnings: PolicyIssue[] = r.issues;
    const driver = this.deps.driver;
    const support = driver ? checkSupport(r.policy, driver, driver.list()) : undefined;
    const evaluation = evaluate(r.policy, this.snapshot(ALL_NEEDS), {
      ...emptyHistory(),
      snapshots: this.history.snapshots,
    });
    return {
      ok: true,
      name: r.policy.name,
      digest: r.digest,
      evaluation,
      warnings,
      ...(support && !support.ok && support.reason ? { refusal: support.reason } : {}),
    };
  }
}
