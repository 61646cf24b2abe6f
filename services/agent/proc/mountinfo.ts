// Where a cgroup directory sits in its hierarchy. /proc/PID/cgroup names
// cgroups by their path in the hierarchy (as seen from our cgroup namespace),
// while a memcg driver is configured with a filesystem directory, which may
// be a delegated subtree (/sys/fs/cgroup/memory/process_api/abc). The mount
// table ties the two: hierarchy path = the mount's root + the directory's
// path below the mount point.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';

export interface CgroupMount {
  /** Path within the hierarchy that is mounted (field 4; "/" unless bind-mounted or namespaced). */
  root: string;
  mountPoint: string;
  fsType: 'cgroup' | 'cgroup2';
  /** Super options: for v1, the controllers ("rw,memory"). */
  superOptions: string[];
}

/** Mount points escape space, tab, newline and backslash as octal (\040). */
const unescape = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fsType, , superOpts = ''] = line.slice(sep + 3).split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const f = line.slice(0, sep).split(' ');
    const root = f[3];
    const mountPoint = f[4];
    if (root === undefined || mountPoint === undefined) continue;
    out.push({
      root: unescape(root),
      mountPoint: unescape(mountPoint),
      fsType,
      superOptions: superOpts.split(','),
    });
  }
  return out;
}

/**
 * The hierarchy path of the memory cgroup directory `dir`, or undefined when
 * `dir` is on no cgroup mount of that mode (a fixture tree): callers then
 * take the directory as the hierarchy's root.
 */
export function hierarchyPathOf(
  mounts: readonly CgroupMount[],
  dir: string,
  mode: 'v1' | 'v2',
): string | undefined {
  const abs = posix.resolve(dir);
  let best: CgroupMount | undefined;
  for (const m of mounts) {
    if (
      mode === 'v1'
        ? m.fsType !== 'cgroup' || !m.superOptions.includes('memory')
        : m.fsType !== 'cgroup2'
    )
      continue;
    const mp = m.mountPoint === '/' ? '' : m.mountPoint;
    if (abs !== m.mountPoint && !abs.startsWith(`${mp}/`)) continue;
    if (!best || m.mountPoint.length > best.mountPoint.length) best = m;
  }
  if (!best) return undefined;
  const below = abs.slice(best.mountPoint === '/' ? 0 : best.mountPoint.length);
  return posix.join(best.root, below || '/');
}

/** hierarchyPathOf for this process's mount table under procRoot; undefined when unreadable. */
export function readHierarchyPath(
  procRoot: string,
  dir: string,
  mode: 'v1' | 'v2',
): string | undefined {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/self/mountinfo`, 'utf8');
  } catch {
    return undefined;
  }
  return hierarchyPathOf(parseCgroupMounts(text), dir, mode);
}
