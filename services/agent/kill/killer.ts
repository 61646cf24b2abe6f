// The killer: carries out one kill decision and reports it as a 'kill' event.
// A process: SIGTERM, up to the grace for it to exit, then SIGKILL. A whole
// memcg: every member, forks included, until the group is empty. Each pid is
// re-verified from /proc right before it is signalled (verify.ts), because
// the evaluator judged a snapshot that may be a tick old.
//
// The one race left: between the last check of a pid and the signal, the
// victim could exit and its pid be handed to a new process. Linux allocates
// pids cyclically, so that needs pid_max forks within a few microseconds;
// pidfd_send_signal would close it, but Node has no pidfd API.
import type { CompiledPolicy, Decision, KillVictim } from '../../policy/index.ts';
import type { MemcgDriver } from '../cgroup/types.ts';
import { createIdGenerator } from '../events/id.ts';
import type { KillEvent, KillEventVictim, SignalName, SignalSent } from '../events/types.ts';
import { readHierarchyPath } from '../proc/mountinfo.ts';
import { readBootTimeMs, readCgroupPath, readProcState } from './proc-state.ts';
import { relativeToRoot, verifyKillable, type Identity, type VerifyContext } from './verify.ts';

/** How long SIGKILL may take before the victim counts as 'survived'. */
export const DEFAULT_KILL_TIMEOUT_MS = 2_000;
/** How often death is checked: small against any grace, cheap (one stat read). */
export const DEFAULT_POLL_MS = 10;

export interface KillerDeps {
  /** The memcg driver, for whole-cgroup kills; without it a group is known only by the decision's pids. */
  driver?: MemcgDriver;
  /** The agent and its supervisor: never signalled (this process never is, whatever this returns). */
  agentPids: () => number[];
  procRoot?: string;
  /** Defaults to process.kill; tests inject a spy. */
  signal?: (pid: number, sig: SignalName) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * Boot time in ms, exactly as the host reader used it to compute the
   * snapshot's start times (HostReader.bootTimeMs): btime can drift by a second
   * between reads, which would look like pid reuse. Read from /proc/stat once when absent.
   */
  bootTimeMs?: () => number;
  /**
   * Where the driver's root sits in its hierarchy, as /proc/PID/cgroup names
   * it (the snapshot collector's rootPath). Found from /proc/self/mountinfo
   * when absent; "/" without a driver.
   */
  cgroupRoot?: string;
  /** Event ids; pass the event log's nextId so kill ids sort with the rest. */
  newId?: () => string;
  host?: string;
  killTimeoutMs?: number;
  pollMs?: number;
}

export interface Killer {
  /** Dispatches on the decision's victim kind. */
  kill(decision: Decision, policy: CompiledPolicy, triggeredAt: number): Promise<KillEvent>;
  killProcess(decision: Decision, policy: CompiledPolicy, triggeredAt: number): Promise<KillEvent>;
  killCgroup(decision: Decision, policy: CompiledPolicy, triggeredAt: number): Promise<KillEvent>;
}

type Sent = 'ok' | 'gone' | { error: string };
type Check = 'ok' | 'gone' | { refused: string };

const defaultSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

const errnoOf = (err: unknown): string | undefined =>
  (err as NodeJS.ErrnoException | undefined)?.code;

function isUnder(path: string, root: string): boolean {
  return root === '/' ? path.startsWith('/') : path === root || path.startsWith(`${root}/`);
}

export function createKiller(deps: KillerDeps): Killer {
  const procRoot = deps.procRoot ?? '/proc';
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? defaultSleep;
  const signal =
    deps.signal ??
    ((pid: number, sig: SignalName): void => {
      process.kill(pid, sig);
    });
  const newId = deps.newId ?? createIdGenerator(now);
  const killTimeoutMs = deps.killTimeoutMs ?? DEFAULT_KILL_TIMEOUT_MS;
  const pollMs = deps.pollMs ?? DEFAULT_POLL_MS;
  let bootCache: number | undefined;
  const bootTimeMs =
    deps.bootTimeMs ??
    ((): number => {
      bootCache ??= readBootTimeMs(procRoot);
      return bootCache;
    });

  let rootCache: string | undefined;
  const cgroupRoot = (): string => {
    const d = deps.driver;
    rootCache ??= deps.cgroupRoot ?? (d ? readHierarchyPath(procRoot, d.root, d.mode) : '/') ?? '/';
    return rootCache;
  };

  const verifyContext = (policy: CompiledPolicy): VerifyContext => ({
    procRoot,
    protect: policy.protect,
    agentPids: new Set([process.pid, ...deps.agentPids()]),
    cgroupMode: deps.driver?.mode,
    cgroupRoot: cgroupRoot(),
  });

  const send = (pid: number, sig: SignalName): Sent => {
    try {
      signal(pid, sig);
      return 'ok';
    } catch (err) {
      if (errnoOf(err) === 'ESRCH') return 'gone';
      return { error: `${sig} to pid ${pid}: ${errnoOf(err) ?? (err as Error).message}` };
    }
  };

  /** Is this process (pid + start tick) gone or a zombie? */
  const isDead = (pid: number, startTicks: number): boolean => {
    const s = readProcState(procRoot, pid);
    // A different start tick: the victim died and its pid already went to someone else.
    return s.kind === 'gone' || (s.kind === 'alive' && s.proc.startTicks !== startTicks);
  };

  const stateOf = (pid: number): string => {
    const s = readProcState(procRoot, pid);
    return s.kind === 'alive' ? s.proc.state : s.kind;
  };

  /** Polls until `dead()` holds (→ the time it was seen) or the deadline passes (→ undefined). */
  const waitUntil = async (dead: () => boolean, deadline: number): Promise<number | undefined> => {
    for (;;) {
      if (dead()) return now();
      const left = deadline - now();
      if (left <= 0) return undefined;
      await sleep(Math.min(pollMs, left));
    }
  };

  const baseEvent = (
    id: string,
    decision: Decision,
    policy: CompiledPolicy,
    victim: KillEventVictim,
    graceMs: number,
  ): KillEvent => ({
    id,
    time: now(),
    ...(deps.host !== undefined ? { host: deps.host } : {}),
    policy: { name: policy.name, digest: policy.digest },
    kind: 'kill',
    rule: decision.rule,
    victim,
    signals: [],
    graceMs,
    dryRun: decision.dryRun || !decision.enforce,
    outcome: 'dry-run',
    trace: {
      summary: decision.trace.summary,
      firing: decision.firing,
      ...(decision.trace.victim ? { victim: decision.trace.victim } : {}),
    },
  });

  const victimOf = (
    decision: Decision,
    among: KillVictim['among'],
  ): (KillVictim & { graceMs: number }) | undefined => {
    const k = decision.kill;
    if (decision.action !== 'kill' || !k || k.among !== among) return undefined;
    return k;
  };

  async function killProcess(
    decision: Decision,
    policy: CompiledPolicy,
    triggeredAt: number,
  ): Promise<KillEvent> {
    const v = victimOf(decision, 'process');
    if (v?.among !== 'process')
      throw new TypeError(`killProcess needs a process kill decision (rule ${decision.rule})`);
    const id = newId();
    const graceMs = Math.max(0, v.graceMs);
    const event = baseEvent(
      id,
      decision,
      policy,
      {
        kind: 'process',
        pid: v.pid,
        comm: v.comm,
        cmdline: v.cmdline,
        cgroup: v.cgroup,
        startTime: v.startTime,
      },
      graceMs,
    );
    const finish = (patch: Partial<KillEvent>): KillEvent => ({ ...event, ...patch, time: now() });
    // Report-only: not a signal, not even a check.
    if (!decision.enforce) return finish({ dryRun: true, outcome: 'dry-run' });

    let identity: Identity;
    try {
      identity = { startTime: v.startTime, bootTimeMs: bootTimeMs() };
    } catch (err) {
      return finish({ outcome: 'refused', reason: `no boot time: ${(err as Error).message}` });
    }
    const verdict = verifyKillable(verifyContext(policy), v.pid, identity);
    if (!verdict.ok)
      return verdict.gone
        ? finish({ outcome: 'already-gone' })
        : finish({ outcome: 'refused', reason: verdict.reason });
    const ticks = verdict.proc.startTicks;
    const signals: SignalSent[] = [];
    const died = (at: number): KillEvent =>
      finish({ signals, outcome: 'died', rssFreed: v.rss, triggerToDeathMs: at - triggeredAt });

    if (graceMs > 0) {
      const sent = send(v.pid, 'SIGTERM');
      if (sent === 'gone') return finish({ outcome: 'already-gone' });
      if (sent !== 'ok') return finish({ outcome: 'failed', reason: sent.error });
      signals.push({ signal: 'SIGTERM', at: now(), pids: [v.pid] });
      const at = await waitUntil(() => isDead(v.pid, ticks), now() + graceMs);
      if (at !== undefined) return died(at);
    }

    // One last look, so the SIGKILL follows a check of the pid's identity immediately.
    if (signals.length > 0 && isDead(v.pid, ticks)) return died(now());
    const sent = send(v.pid, 'SIGKILL');
    if (sent === 'gone')
      return signals.length > 0 ? died(now()) : finish({ outcome: 'already-gone' });
    if (sent !== 'ok') return finish({ signals, outcome: 'failed', reason: sent.error });
    signals.push({ signal: 'SIGKILL', at: now(), pids: [v.pid] });
    const at = await waitUntil(() => isDead(v.pid, ticks), now() + killTimeoutMs);
    if (at !== undefined) return died(at);
    return finish({
      signals,
      outcome: 'survived',
      reason: `still alive ${killTimeoutMs} ms after SIGKILL (state ${stateOf(v.pid)})`,
    });
  }

  async function killCgroup(
    decision: Decision,
    policy: CompiledPolicy,
    triggeredAt: number,
  ): Promise<KillEvent> {
    const v = victimOf(decision, 'cgroup');
    if (v?.among !== 'cgroup')
      throw new TypeError(`killCgroup needs a cgroup kill decision (rule ${decision.rule})`);
    const id = newId();
    const graceMs = Math.max(0, v.graceMs);
    const path = v.cgroup;
    const event = baseEvent(
      id,
      decision,
      policy,
      { kind: 'cgroup', cgroup: path, pids: [...v.pids] },
      graceMs,
    );
    const finish = (patch: Partial<KillEvent>): KillEvent => ({ ...event, ...patch, time: now() });
    if (!decision.enforce) return finish({ dryRun: true, outcome: 'dry-run' });

    if (path === '/' || path === '')
      return finish({ outcome: 'refused', reason: 'the root cgroup' });
    for (const pr of policy.protect)
      if (pr.kind === 'cgroup' && pr.glob.matchesSelfOrAncestor(path))
        return finish({ outcome: 'refused', reason: `protected: under ${pr.glob.source}` });

    const ctx = verifyContext(policy);
    const driver = deps.driver;
    const usage = (): number | undefined => {
      try {
        return driver?.read(path)?.usage;
      } catch {
        return undefined;
      }
    };

    const inGroupByProc = (pid: number): boolean => {
      try {
        const rel = relativeToRoot(readCgroupPath(procRoot, pid, driver?.mode), cgroupRoot());
        return rel !== undefined && isUnder(rel, path);
      } catch {
        return false; // exited, or unreadable: not provably a member
      }
    };

    // Members: the memcg and every memcg below it. Without a driver, the
    // decision's pids, kept only while /proc still places them in the group.
    const members = (): number[] => {
      const pids = new Set<number>();
      if (driver) {
        let paths: string[];
        try {
          paths = driver.list().filter((p) => isUnder(p, path));
        } catch {
          paths = [path];
        }
        for (const p of paths) {
          try {
            for (const pid of driver.procs(p)) pids.add(pid);
          } catch {
            // A child memcg removed meanwhile: its processes are gone with it.
          }
        }
      } else {
        for (const pid of v.pids) if (inGroupByProc(pid)) pids.add(pid);
      }
      return [...pids].sort((a, b) => a - b);
    };

    // pid → start tick of every member verified so far: a pid seen again with
    // another start tick is a new process and is verified again.
    const verified = new Map<number, number>();
    const check = (pid: number): Check => {
      const ticks = verified.get(pid);
      const s = readProcState(procRoot, pid);
      if (s.kind === 'gone') return 'gone';
      if (ticks !== undefined && s.kind === 'alive' && s.proc.startTicks === ticks) return 'ok';
      const verdict = verifyKillable(ctx, pid);
      if (!verdict.ok) return verdict.gone ? 'gone' : { refused: verdict.reason };
      // Without a driver, a pid that left the group (or was reused outside it) is not ours to kill.
      if (!driver && !isUnder(verdict.cgroup, path)) return 'gone';
      verified.set(pid, verdict.proc.startTicks);
      return 'ok';
    };
    const liveMembers = (): number[] =>
      members().filter((pid) => readProcState(procRoot, pid).kind !== 'gone');

    const before = usage();
    const initial = members();
    // Killing a group kills every member: one that may not die shields the group, as in the evaluator.
    for (const pid of initial) {
      const r = check(pid);
      if (typeof r === 'object')
        return finish({
          victim: { kind: 'cgroup', cgroup: path, pids: initial },
          outcome: 'refused',
          reason: `contains pid ${pid}: ${r.refused}`,
        });
    }
    if (verified.size === 0)
      return finish({
        victim: { kind: 'cgroup', cgroup: path, pids: [] },
        outcome: 'already-gone',
      });

    const signals: SignalSent[] = [];
    const sentTo: Record<SignalName, Set<number>> = { SIGTERM: new Set(), SIGKILL: new Set() };
    /** Members that joined after the group was judged and may not be killed: spared, and reported. */
    const spared = new Map<number, string>();
    const errors: string[] = [];
    const round = (sig: SignalName, pids: number[]): void => {
      const fresh: number[] = [];
      for (const pid of pids) {
        const r = check(pid);
        if (r === 'gone') continue;
        if (typeof r === 'object') {
          spared.set(pid, r.refused);
          continue;
        }
        // Repeated SIGKILLs to a dying process are harmless; only new pids are recorded.
        const sent = send(pid, sig);
        if (sent === 'ok') {
          if (!sentTo[sig].has(pid)) fresh.push(pid);
          sentTo[sig].add(pid);
        } else if (sent !== 'gone' && errors.length < 5) errors.push(sent.error);
      }
      if (fresh.length > 0) signals.push({ signal: sig, at: now(), pids: fresh });
    };
    const done = (outcome: 'died' | 'survived', at?: number): KillEvent => {
      const after = usage();
      const left = outcome === 'survived' ? liveMembers() : [];
      const why = [
        ...(left.length > 0
          ? [`${left.length} member(s) still alive: ${left.slice(0, 10).join(', ')}`]
          : []),
        ...[...spared].map(([pid, r]) => `spared pid ${pid}: ${r}`),
        ...errors,
      ];
      const pids = new Set([...sentTo.SIGTERM, ...sentTo.SIGKILL]);
      return finish({
        victim: { kind: 'cgroup', cgroup: path, pids: [...pids].sort((a, b) => a - b) },
        signals,
        outcome,
        ...(before !== undefined && after !== undefined
          ? { rssFreed: Math.max(0, before - after) }
          : {}),
        ...(at !== undefined ? { triggerToDeathMs: at - triggeredAt } : {}),
        ...(why.length > 0 ? { reason: why.join('; ') } : {}),
      });
    };
    const remaining = (): number[] => liveMembers().filter((pid) => !spared.has(pid));

    if (graceMs > 0) {
      round('SIGTERM', initial);
      const at = await waitUntil(() => remaining().length === 0, now() + graceMs);
      if (at !== undefined) return done(spared.size > 0 ? 'survived' : 'died', at);
    }

    const deadline = now() + killTimeoutMs;
    // cgroup.kill (v2) kills the whole subtree at once, forks included, but
    // cannot spare anyone: only while no member is spared.
    if (driver?.killAll && spared.size === 0) {
      const pids = liveMembers();
      try {
        if (driver.killAll(path)) {
          for (const pid of pids) sentTo.SIGKILL.add(pid);
          signals.push({ signal: 'SIGKILL', at: now(), pids, via: 'cgroup.kill' });
        }
      } catch (err) {
        errors.push(`cgroup.kill: ${(err as Error).message}`);
      }
    }
    // Per-pid SIGKILL rounds until nothing is left: each round also catches
    // what the members forked before they died.
    for (;;) {
      const left = remaining();
      if (left.length === 0) return done(spared.size > 0 ? 'survived' : 'died', now());
      if (now() >= deadline) return done('survived');
      round('SIGKILL', left);
      await sleep(Math.min(pollMs, Math.max(0, deadline - now())));
    }
  }

  return {
    kill(decision, policy, triggeredAt) {
      return decision.kill?.among === 'cgroup'
        ? killCgroup(decision, policy, triggeredAt)
        : killProcess(decision, policy, triggeredAt);
    },
    killProcess,
    killCgroup,
  };
}
