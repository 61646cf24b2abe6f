// What one tick must read for a policy, and nothing more: a host with 500
// memcgs and thousands of processes should not pay for the ones no rule
// looks at. The host's own numbers (/proc/meminfo, PSI, oom_kill) are a few
// small files and are always read.
import {
  compileGlob,
  type CgroupGlob,
  type CompiledCondition,
  type CompiledPolicy,
} from '../../policy/index.ts';

export type ProcessNeeds =
  | { kind: 'none' }
  /** Every process on the host (global kill rules). */
  | { kind: 'all' }
  /** Processes in memcgs that a glob matches, or below one (cgroup-scoped kill rules). */
  | { kind: 'subtrees'; globs: CgroupGlob[] };

export interface SnapshotNeeds {
  /** Memcgs to read: those the globs match, plus their ancestors. Empty: no memcgs. */
  memcgs: CgroupGlob[];
  processes: ProcessNeeds;
  /** Read memory.stat. */
  stat: boolean;
  /** Read each memcg's memory.pressure (v2 only; v1 has no per-cgroup PSI). */
  pressure: boolean;
  /** Read each memcg's OOM state (v1 memory.oom_control, v2 memory.events). */
  oom: boolean;
  /** Read what no trigger uses, only people (failcnt, soft limit, swap). */
  extras: boolean;
}

/** Everything there is: for `agent explain`, `dry-run` and recorded snapshots. */
export const ALL_NEEDS: SnapshotNeeds = {
  memcgs: [compileGlob('/**')],
  processes: { kind: 'all' },
  stat: true,
  pressure: true,
  oom: true,
  extras: true,
};

function uses(c: CompiledCondition, kind: CompiledCondition['kind']): boolean {
  if (c.kind === 'any' || c.kind === 'all') return c.children.some((x) => uses(x, kind));
  return c.kind === kind;
}

function uniqueGlobs(globs: CgroupGlob[]): CgroupGlob[] {
  const seen = new Map<string, CgroupGlob>();
  for (const g of globs) if (!seen.has(g.source)) seen.set(g.source, g);
  return [...seen.values()];
}

export function snapshotNeeds(policy: CompiledPolicy): SnapshotNeeds {
  const memcgs: CgroupGlob[] = [];
  const killScopes: CgroupGlob[] = [];
  let globalKill = false;
  let pressure = false;
  let oom = false;
  for (const r of policy.rules) {
    const kill = r.action.kind === 'kill';
    if (r.scope.kind === 'global') {
      globalKill ||= kill;
      continue;
    }
    memcgs.push(r.scope.glob);
    if (kill) killScopes.push(r.scope.glob);
    pressure ||= uses(r.when, 'pressure');
    oom ||= uses(r.when, 'oom');
  }
  // Settings and protected memcgs: the enforcer and `status` show them, and
  // memoryMin/memoryLow percentages resolve against their limits.
  for (const s of policy.cgroups) memcgs.push(s.match);
  for (const p of policy.protect) if (p.kind === 'cgroup') memcgs.push(p.glob);

  // Processes matter only to victim choice: without a kill rule nothing reads
  // them, and process/cmdline protections only narrow the kill candidates.
  const processes: ProcessNeeds = globalKill
    ? { kind: 'all' }
    : killScopes.length > 0
      ? { kind: 'subtrees', globs: uniqueGlobs(killScopes) }
      : { kind: 'none' };
  // No trigger or victim strategy reads memory.stat today; it costs one
  // large file per memcg, so only ALL_NEEDS asks for it.
  // User-space OOM handling and memory.oom.group act on the OOM state; v2
  // reads memory.oom.group with the limits, whatever this says.
  oom ||= policy.cgroups.some((s) => s.userspaceOom?.enabled === true);
  return { memcgs: uniqueGlobs(memcgs), processes, stat: false, pressure, oom, extras: false };
}

/** The parent of a cgroup path; undefined for the root. */
export function parentOf(path: string): string | undefined {
  if (path === '/') return undefined;
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The memcgs of `paths` (a driver's list) that a tick must read: the matches and their ancestors, sorted. */
export function selectMemcgs(needs: SnapshotNeeds, paths: readonly string[]): string[] {
  if (needs.memcgs.length === 0) return [];
  const present = new Set(paths);
  const chosen = new Set<string>();
  for (const path of paths) {
    if (!needs.memcgs.some((g) => g.matches(path))) continue;
    for (let p: string | undefined = path; p !== undefined; p = parentOf(p)) {
      if (chosen.has(p)) break;
      if (present.has(p)) chosen.add(p);
    }
  }
  return [...chosen].sort();
}

/** Must the processes of the memcg at `path` be read? */
export function needsProcessesIn(needs: SnapshotNeeds, path: string): boolean {
  const p = needs.processes;
  if (p.kind === 'all') return true;
  if (p.kind === 'none') return false;
  return p.globs.some((g) => g.matchesSelfOrAncestor(path));
}
