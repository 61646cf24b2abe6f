// One tick's host snapshot: the host from /proc, the memcgs a policy needs
// from the driver, and the processes its kill rules may choose from. Nothing
// here may crash a tick: memcgs and processes that vanish meanwhile are left
// out, as the evaluator would never see them anyway.
import { marginTo, type HostSnapshot, type Memcg, type ProcessInfo } from '../../policy/index.ts';
import { DriverError, type MemcgDriver } from '../cgroup/types.ts';
import { TRUST_MS } from '../cgroup/watch.ts';
import { readHierarchyPath } from '../proc/mountinfo.ts';
import type { HostReader } from '../proc/types.ts';
import { needsProcessesIn, parentOf, selectMemcgs, type SnapshotNeeds } from './needs.ts';
import { nearestUsageThreshold, usageFloor, type PrunePlan } from './prune.ts';

export interface CollectDeps {
  /** Absent on hosts without a memory controller: global policies only. */
  driver?: MemcgDriver;
  /** Created with the driver's mode as its memoryHierarchy, so /proc/PID/cgroup is read from the same hierarchy. */
  host: HostReader;
  /** The agent and its supervisor: never killed. */
  agentPids: number[];
  now?: () => number;
  hostname?: string;
  /**
   * Where the driver's root sits in its hierarchy, as /proc/PID/cgroup
   * names it ("/process_api/abc"). Found from /proc/self/mountinfo when
   * absent; "/" when the root is on no cgroup mount (a fixture tree).
   */
  rootPath?: string;
}

// The mount table does not change under a running agent; read it once per driver.
const rootPaths = new WeakMap<MemcgDriver, string>();

function rootPathOf(deps: CollectDeps, driver: MemcgDriver): string {
  if (deps.rootPath !== undefined) return deps.rootPath;
  let p = rootPaths.get(driver);
  if (p === undefined) {
    p = readHierarchyPath(deps.host.procRoot, driver.root, driver.mode) ?? '/';
    rootPaths.set(driver, p);
  }
  return p;
}

/**
 * A hierarchy path made relative to the driver's root: "/" for the root
 * itself, undefined for cgroups outside it.
 */
export function relativeCgroup(path: string, root: string): string | undefined {
  if (root === '/') return path;
  if (path === root) return '/';
  return path.startsWith(`${root}/`) ? path.slice(root.length) : undefined;
}

/** Runs a driver call for one memcg; undefined when it fails (vanished, unreadable). */
function perMemcg<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    if (err instanceof DriverError) return undefined;
    throw err;
  }
}

/** What a tick read, and what it could leave unread (services/agent/snapshot/prune.ts). */
export interface CollectStats {
  /** memcgs read. */
  read: number;
  /** memcgs left unread: beneath a memcg whose usage is at or below every rule's floor in its subtree. */
  skipped: number;
  /**
   * The least margin between such a parent's usage and the floor it was
   * held to: no unread memcg is nearer its threshold, so the adaptive
   * interval may take it for theirs. 1 when none was left unread.
   */
  skippedMargin: number;
}

export interface PruneInput {
  plan: PrunePlan;
  stats: CollectStats;
}

export function emptyStats(): CollectStats {
  return { read: 0, skipped: 0, skippedMargin: 1 };
}

/** A listing's memcgs for a policy's globs, as a tree; kept while the driver returns the same listing. */
interface Selection {
  globs: SnapshotNeeds['memcgs'];
  paths: string[];
  roots: string[];
  children: Map<string, string[]>;
  /** Subtree floors (see visit), while no limit is written and no memcg made or removed. */
  floors: Map<string, SubtreeFloor>;
}
interface Bound {
  /** The least usage at which anything beneath could fire. */
  floor: number;
  /** The lowest threshold of any usage trigger beneath (for the adaptive interval). */
  nearest: number;
  /** How many memcgs are beneath. */
  count: number;
}
interface SubtreeFloor extends Bound {
  limitsVersion: number;
  at: number;
  effAbove: number | undefined;
  memTotal: number;
}
const selections = new WeakMap<readonly string[], Selection>();

function selection(needs: SnapshotNeeds, list: readonly string[]): Selection {
  const known = selections.get(list);
  if (known?.globs === needs.memcgs) return known;
  const paths = selectMemcgs(needs, list);
  // selectMemcgs lists every ancestor present, so each path's parent is in it, but for the roots.
  const children = new Map<string, string[]>();
  const roots: string[] = [];
  const selected = new Set(paths);
  for (const p of paths) {
    const parent = parentOf(p);
    if (parent === undefined || !selected.has(parent)) roots.push(p);
    else {
      const siblings = children.get(parent);
      if (siblings) siblings.push(p);
      else children.set(parent, [p]);
    }
  }
  const s = { globs: needs.memcgs, paths, roots, children, floors: new Map() };
  selections.set(list, s);
  return s;
}

function collectMemcgs(
  driver: MemcgDriver,
  needs: SnapshotNeeds,
  list: readonly string[],
  memTotal: number,
  prune?: PruneInput,
): Memcg[] {
  const out: Memcg[] = [];
  const opts = {
    stat: needs.stat,
    pressure: needs.pressure,
    oom: needs.oom,
    extras: needs.extras,
  };
  const chosen = selection(needs, list);
  const { paths, roots, children } = chosen;
  const limit = driver.limit?.bind(driver);
  const usageIncludesChildren = driver.usageIncludesChildren?.bind(driver);
  if (!prune || !limit || !usageIncludesChildren) {
    for (const path of paths) {
      const m = perMemcg(() => driver.read(path, opts));
      if (m) out.push(m);
    }
    if (prune) prune.stats.read += out.length;
    return out;
  }
  const { plan, stats } = prune;
  const min = (a: number | undefined, b: number | null | undefined): number | undefined =>
    b === null || b === undefined ? a : a === undefined ? b : Math.min(a, b);
  /** The bound on the memcgs `kids` and beneath them; undefined when a limit is unknown. */
  const subtreeFloor = (kids: readonly string[], eff: number | undefined): Bound | undefined => {
    let floor = Infinity;
    let nearest = Infinity;
    let count = 0;
    for (const k of kids) {
      const own = limit(k);
      if (own === undefined) return undefined;
      const x = { effectiveLimit: min(eff, own), memTotal };
      floor = Math.min(floor, usageFloor(plan, k, x));
      nearest = Math.min(nearest, nearestUsageThreshold(plan, k, x));
      count++;
      const below = children.get(k);
      if (below) {
        const sub = subtreeFloor(below, x.effectiveLimit);
        if (!sub) return undefined;
        floor = Math.min(floor, sub.floor);
        nearest = Math.min(nearest, sub.nearest);
        count += sub.count;
      }
    }
    return { floor, nearest, count };
  };
  const visit = (path: string, effAbove: number | undefined): void => {
    const m = perMemcg(() => driver.read(path, opts));
    // Gone: so is everything beneath it (a memcg with children cannot be removed).
    if (!m) return;
    out.push(m);
    stats.read++;
    const eff = min(effAbove, m.limit);
    const kids = children.get(path);
    if (!kids) return;
    if (usageIncludesChildren(path)) {
      // The floor beneath a memcg changes only with limits (and RAM): with
      // hundreds of memcgs beneath one, working it out again every tick
      // costs more than the reads it saves, unless the driver cannot tell.
      const version = driver.limitsVersion?.();
      const now = performance.now();
      const known = chosen.floors.get(path);
      let bound: Bound | undefined;
      if (
        version !== undefined &&
        known?.limitsVersion === version &&
        known.effAbove === eff &&
        known.memTotal === memTotal &&
        now - known.at < TRUST_MS
      )
        bound = known;
      else {
        bound = subtreeFloor(kids, eff);
        if (bound && version !== undefined)
          chosen.floors.set(path, {
            limitsVersion: version,
            at: now,
            effAbove: eff,
            memTotal,
            ...bound,
          });
      }
      if (bound && m.usage <= bound.floor) {
        stats.skipped += bound.count;
        const margin = bound.nearest === Infinity ? 1 : marginTo(m.usage, bound.nearest, 'rising');
        stats.skippedMargin = Math.min(stats.skippedMargin, margin);
        return;
      }
    }
    for (const k of kids) visit(k, eff);
  };
  for (const r of roots) visit(r, undefined);
  // In the order selectMemcgs gives, as an unpruned tick has them.
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Processes with `cgroup` relative to the driver's root. Processes outside
 * the root are left out, even for global rules: the driver's root is the
 * agent's domain (a delegated subtree, or the whole hierarchy in production,
 * where nothing is outside), and a delegated agent must not kill its
 * neighbours'.
 */
function collectProcesses(
  deps: CollectDeps,
  driver: MemcgDriver,
  needs: SnapshotNeeds,
  list: () => readonly string[],
): ProcessInfo[] {
  let procs: ProcessInfo[];
  if (needs.processes.kind === 'all') procs = deps.host.processes();
  else {
    // Read only the members of the subtrees in scope, not all of /proc.
    const pids = new Set<number>();
    for (const path of list())
      if (needsProcessesIn(needs, path))
        for (const pid of perMemcg(() => driver.procs(path)) ?? []) pids.add(pid);
    procs = deps.host.processes({ pids: [...pids].sort((a, b) => a - b) });
  }
  const root = rootPathOf(deps, driver);
  const out: ProcessInfo[] = [];
  for (const p of procs) {
    const rel = relativeCgroup(p.cgroup, root);
    if (rel === undefined) continue;
    // A process may have moved between cgroup.procs and /proc/PID/cgroup: /proc has the last word.
    if (!needsProcessesIn(needs, rel)) continue;
    p.cgroup = rel;
    out.push(p);
  }
  return out;
}

/**
 * One snapshot of what `needs` names. With `prune`, subtrees that cannot
 * fire this tick are left unread and counted in prune.stats.
 */
export function collectSnapshot(
  deps: CollectDeps,
  needs: SnapshotNeeds,
  prune?: PruneInput,
): HostSnapshot {
  const time = (deps.now ?? Date.now)();
  const { driver } = deps;
  const snap: HostSnapshot = {
    time,
    ...(deps.hostname !== undefined ? { hostname: deps.hostname } : {}),
    cgroupMode: driver?.mode ?? 'none',
    host: deps.host.host(),
    memcgs: [],
    processes: [],
    agentPids: deps.agentPids.filter((p) => Number.isInteger(p) && p > 0),
  };
  if (driver) {
    let cached: readonly string[] | undefined;
    const list = (): readonly string[] => (cached ??= perMemcg(() => driver.list()) ?? []);
    if (needs.memcgs.length > 0) {
      // Without processes to read, walk only where the globs can match (most
      // ticks); processes may be anywhere, so then one walk of the whole tree.
      const inScope =
        needs.processes.kind === 'none'
          ? (perMemcg(() => driver.list(needs.memcgs)) ?? [])
          : list();
      snap.memcgs = collectMemcgs(driver, needs, inScope, snap.host.memTotal, prune);
    }
    if (needs.processes.kind !== 'none')
      snap.processes = collectProcesses(deps, driver, needs, list);
  } else if (needs.processes.kind === 'all') {
    // No memory controller: the whole host, cgroups as /proc shows them.
    snap.processes = deps.host.processes();
  }
  return snap;
}
