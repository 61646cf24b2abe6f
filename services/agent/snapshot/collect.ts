// One tick's host snapshot: the host from /proc, the memcgs a policy needs
// from the driver, and the processes its kill rules may choose from. Nothing
// here may crash a tick: memcgs and processes that vanish meanwhile are left
// out, as the evaluator would never see them anyway.
import type { HostSnapshot, Memcg, ProcessInfo } from '../../policy/index.ts';
import { DriverError, type MemcgDriver } from '../cgroup/types.ts';
import { readHierarchyPath } from '../proc/mountinfo.ts';
import type { HostReader } from '../proc/types.ts';
import { needsProcessesIn, selectMemcgs, type SnapshotNeeds } from './needs.ts';

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

function collectMemcgs(driver: MemcgDriver, needs: SnapshotNeeds, list: string[]): Memcg[] {
  const out: Memcg[] = [];
  const opts = {
    stat: needs.stat,
    pressure: needs.pressure,
    oom: needs.oom,
    extras: needs.extras,
  };
  for (const path of selectMemcgs(needs, list)) {
    const m = perMemcg(() => driver.read(path, opts));
    if (m) out.push(m);
  }
  return out;
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
  list: () => string[],
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

export function collectSnapshot(deps: CollectDeps, needs: SnapshotNeeds): HostSnapshot {
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
    let cached: string[] | undefined;
    const list = (): string[] => (cached ??= perMemcg(() => driver.list()) ?? []);
    if (needs.memcgs.length > 0) {
      // Without processes to read, walk only where the globs can match (most
      // ticks); processes may be anywhere, so then one walk of the whole tree.
      const inScope =
        needs.processes.kind === 'none'
          ? (perMemcg(() => driver.list(needs.memcgs)) ?? [])
          : list();
      snap.memcgs = collectMemcgs(driver, needs, inScope);
    }
    if (needs.processes.kind !== 'none')
      snap.processes = collectProcesses(deps, driver, needs, list);
  } else if (needs.processes.kind === 'all') {
    // No memory controller: the whole host, cgroups as /proc shows them.
    snap.processes = deps.host.processes();
  }
  return snap;
}
