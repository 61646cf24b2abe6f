// Which hierarchy holds the memory controller, where it is mounted, and which
// memcg the agent itself is in. A controller is bound to one hierarchy at a
// time: on a hybrid host (v1 controllers plus an empty cgroup2 at
// /sys/fs/cgroup/unified) the v1 "memory" mount wins, and a cgroup2 mount
// counts only when its cgroup.controllers lists "memory".
import { posix } from 'node:path';
import { V2_FILES, readText, readWords } from './fs.ts';
import type { CgroupMode, MemcgDriver } from './types.ts';
import { createV1Driver } from './v1.ts';
import { createV2Driver } from './v2.ts';

export interface MemoryHierarchy {
  mode: CgroupMode | 'none';
  /** Where the memory hierarchy is mounted, e.g. /sys/fs/cgroup/memory (v1) or /sys/fs/cgroup (v2). */
  mountPoint?: string;
  /** This process's memory cgroup, as a path below mountPoint ("/" for the root). */
  ownPath?: string;
}

export interface DetectOptions {
  /** Defaults to /proc/self/mounts. */
  mountsFile?: string;
  /** Defaults to /proc/self/cgroup. */
  cgroupFile?: string;
}

export interface MountEntry {
  source: string;
  mountPoint: string;
  fsType: string;
  options: string[];
}

/** /proc/mounts escapes space, tab, newline and backslash as octal (\040 …). */
const unescapeMount = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [source, mountPoint, fsType, options] = line.trim().split(/\s+/);
    if (!source || !mountPoint || !fsType || options === undefined) continue;
    out.push({
      source,
      mountPoint: unescapeMount(mountPoint),
      fsType,
      options: options.split(','),
    });
  }
  return out;
}

/**
 * The memory cgroup path from /proc/PID/cgroup: the "N:…memory…:/path" line
 * for v1 (controllers may be co-mounted, "4:cpu,memory:/x"), the "0::/path"
 * line for v2. Undefined when there is no such line.
 */
export function parseOwnCgroup(text: string, mode: CgroupMode): string | undefined {
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const id = line.slice(0, a);
    const controllers = line.slice(a + 1, b);
    const path = line.slice(b + 1).trim() || '/';
    if (
      mode === 'v2' ? id === '0' && controllers === '' : controllers.split(',').includes('memory')
    )
      return path;
  }
  return undefined;
}

const tryRead = (file: string): string | undefined => {
  try {
    return readText(file);
  } catch {
    return undefined;
  }
};

export function detectMemoryHierarchy(opts: DetectOptions = {}): MemoryHierarchy {
  const mounts = parseMounts(tryRead(opts.mountsFile ?? '/proc/self/mounts') ?? '');
  const cgroupText = tryRead(opts.cgroupFile ?? '/proc/self/cgroup') ?? '';
  const found = (mode: CgroupMode, mountPoint: string): MemoryHierarchy => {
    const ownPath = parseOwnCgroup(cgroupText, mode);
    return ownPath === undefined ? { mode, mountPoint } : { mode, mountPoint, ownPath };
  };
  const v1 = mounts.find((m) => m.fsType === 'cgroup' && m.options.includes('memory'));
  if (v1) return found('v1', v1.mountPoint);
  for (const m of mounts) {
    if (m.fsType !== 'cgroup2') continue;
    let controllers: string[];
    try {
      controllers = readWords(posix.join(m.mountPoint, V2_FILES.controllers));
    } catch {
      continue;
    }
    if (controllers.includes('memory')) return found('v2', m.mountPoint);
  }
  return { mode: 'none' };
}

export function createDriver(mode: CgroupMode, root: string): MemcgDriver {
  return mode === 'v1' ? createV1Driver(root) : createV2Driver(root);
}
