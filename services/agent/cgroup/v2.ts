// The memcg driver for cgroup v2 (the unified hierarchy). Every policy setting
// has its own file here, so this driver is a thin map from setting to file; the
// root is configurable so tests point it at a fixture tree shaped like the
// kernel's (test/fixtures/cgroup-v2).
//
// Decisions worth knowing:
// - A cgroup is a memcg only if its parent lists "memory" in
//   cgroup.subtree_control; list() does not descend below a parent that does not.
// - The root has no memory.current, memory.max or memory.events (they "exist on
//   non-root cgroups"); its usage is derived from its memory.stat and it has no limit.
// - underOom() is always false: v2 has no oom_kill_disable, so the kernel never
//   holds a memcg at its limit for user space. The agent acts earlier instead, on
//   memory.high and memory.pressure, and watches memory.events for OOMs.
import {
  CGROUP_PROCS,
  V2_FILES,
  cgroupDir,
  keepCgroupFilesOpen,
  onCgroupFs,
  childPath,
  exists,
  isVanished,
  optional,
  readInt,
  readIntOrMax,
  readKeyed,
  readPids,
  readPressure,
  readWords,
  subdirs,
  writeText,
} from './fs.ts';
import { Lister } from './listing.ts';
import { TreeWatch } from './watch.ts';
import { bytesValue, flagValue, unsupported } from './settings.ts';
import type {
  MemcgDriver,
  ReadOptions,
  SettingName,
  SettingSupport,
  SettingValue,
} from './types.ts';
import {
  globWalkDeeper,
  globWalkStart,
  globWalkStep,
  type CgroupGlob,
  type GlobWalkState,
  type Memcg,
} from '../../policy/index.ts';

const SUPPORT: Record<SettingName, SettingSupport> = {
  memoryMin: { supported: true, file: V2_FILES.min },
  memoryLow: { supported: true, file: V2_FILES.low },
  memoryHigh: { supported: true, file: V2_FILES.high },
  memoryMax: { supported: true, file: V2_FILES.max },
  swapMax: { supported: true, file: V2_FILES.swapMax },
  oomGroup: { supported: true, file: V2_FILES.oomGroup },
  oomKillDisable: {
    supported: false,
    note: 'cgroup v2 has no oom_kill_disable; user-space OOM handling acts on memory.high and pressure before the limit',
  },
};

/** The memory.events counters the snapshot knows; others (e.g. a future kernel's) are dropped. */
const EVENT_KEYS = ['low', 'high', 'max', 'oom', 'oom_kill', 'oom_group_kill'] as const;

/**
 * Usage of the root cgroup, which has no memory.current: the memory the kernel
 * charges to memcgs, from memory.stat. "kernel" sums kernel memory since 5.18;
 * before that its parts are listed separately.
 */
export function rootUsageFromStat(stat: Record<string, number>): number {
  const v = (k: string): number => stat[k] ?? 0;
  const kernel =
    stat.kernel ?? v('kernel_stack') + v('pagetables') + v('percpu') + v('slab') + v('vmalloc');
  return v('anon') + v('file') + kernel + v('sock');
}

const nullIfMax = (v: number | 'max'): number | null => (v === 'max' ? null : v);

export function createV2Driver(root: string): MemcgDriver {
  const cgroupFs = onCgroupFs(root);
  if (cgroupFs) keepCgroupFilesOpen();
  const dirOf = (path: string): string => cgroupDir(root, path);
  const file = (path: string, name: string): string => `${dirOf(path)}/${name}`;

  const support = (setting: SettingName): SettingSupport => SUPPORT[setting];

  function readRoot(options: ReadOptions): Memcg {
    const stat = optional(() => readKeyed(file('/', V2_FILES.stat)));
    const m: Memcg = { path: '/', usage: stat ? rootUsageFromStat(stat) : 0, limit: null };
    if (options.stat && stat) m.stat = stat;
    if (options.pressure) {
      const p = optional(() => readPressure(file('/', V2_FILES.pressure)));
      if (p) m.pressure = p;
    }
    return m;
  }

  function readChild(path: string, options: ReadOptions): Memcg | undefined {
    let missingOptional = false;
    const opt = <T>(read: () => T): T | undefined => {
      const v = optional(read);
      if (v === undefined) missingOptional = true;
      return v;
    };
    const f = (name: string): string => file(path, name);
    const usage = readInt(f(V2_FILES.current));
    const m: Memcg = { path, usage, limit: nullIfMax(readIntOrMax(f(V2_FILES.max))) };
    m.high = nullIfMax(readIntOrMax(f(V2_FILES.high)));
    // memory.low/min hold bytes; "max" (protect everything) has no byte value, so it is left out.
    const low = readIntOrMax(f(V2_FILES.low));
    if (low !== 'max') m.low = low;
    const min = readIntOrMax(f(V2_FILES.min));
    if (min !== 'max') m.min = min;
    if (options.extras !== false) {
      // Swap files are absent when the kernel has no swap accounting.
      const swapUsage = opt(() => readInt(f(V2_FILES.swapCurrent)));
      if (swapUsage !== undefined) m.swapUsage = swapUsage;
      const swapMax = opt(() => readIntOrMax(f(V2_FILES.swapMax)));
      if (swapMax !== undefined) m.swapLimit = nullIfMax(swapMax);
    }
    if (options.oom !== false) {
      const raw = readKeyed(f(V2_FILES.events));
      const events: NonNullable<Memcg['events']> = {};
      for (const k of EVENT_KEYS) {
        const n = raw[k];
        if (n !== undefined) events[k] = n;
      }
      m.events = events;
    }
    if (options.pressure) {
      // Absent when the kernel runs without PSI (CONFIG_PSI off or psi=0).
      const p = opt(() => readPressure(f(V2_FILES.pressure)));
      if (p) m.pressure = p;
    }
    if (options.stat) m.stat = readKeyed(f(V2_FILES.stat));
    const group = opt(() => readInt(f(V2_FILES.oomGroup)));
    if (group !== undefined) m.oomGroup = group === 1;
    // A missing optional file may mean the whole memcg went away meanwhile.
    if (missingOptional && !exists(dirOf(path))) return undefined;
    return m;
  }

  function read(path: string, options: ReadOptions = {}): Memcg | undefined {
    try {
      return dirOf(path) === root ? readRoot(options) : readChild(path, options);
    } catch (err) {
      if (isVanished(err)) return undefined;
      throw err;
    }
  }

  function readSetting(path: string, setting: SettingName): SettingValue {
    const s = support(setting);
    if (!s.supported || s.file === undefined) return unsupported(s.note, setting, path);
    const target = file(path, s.file);
    return setting === 'oomGroup' ? readInt(target) === 1 : readIntOrMax(target);
  }

  function writeSetting(path: string, setting: SettingName, value: SettingValue): void {
    const s = support(setting);
    if (!s.supported || s.file === undefined) return unsupported(s.note, setting, path);
    const target = file(path, s.file);
    if (setting === 'oomGroup') {
      writeText(target, flagValue(setting, value, target) ? '1' : '0');
      return;
    }
    // v2 takes the bytes or the literal "max", exactly as it prints them.
    writeText(target, String(bytesValue(setting, value, target)));
  }

  function walkTree(globs?: readonly CgroupGlob[]): string[] {
    const out: string[] = [];
    // state undefined: no globs, the whole tree.
    const walk = (path: string, state: GlobWalkState | undefined): void => {
      out.push(path);
      if (state && !globWalkDeeper(state)) return;
      const enabled = optional(() => readWords(file(path, V2_FILES.subtreeControl))) ?? [];
      if (!enabled.includes('memory')) return;
      for (const name of subdirs(dirOf(path))) {
        const next = state && globWalkStep(state, name);
        if (!next || next.length > 0) walk(childPath(path, name), next);
      }
    };
    walk('/', globs && globWalkStart(globs));
    return out.sort();
  }
  // Walks again only once inotify saw a memcg made or removed (listing.ts);
  // not on a fixture tree, where tests make and remove directories at will.
  const lister = new Lister(
    root,
    walkTree,
    cgroupFs
      ? new TreeWatch(new Set([V2_FILES.max, V2_FILES.high, V2_FILES.low, V2_FILES.min]))
      : undefined,
  );

  function procs(path: string): number[] {
    return optional(() => readPids(file(path, CGROUP_PROCS))) ?? [];
  }

  function killAll(path: string): boolean {
    // cgroup.kill came with 5.14 and never exists on the root.
    const target = file(path, V2_FILES.kill);
    if (!exists(target)) return false;
    try {
      writeText(target, '1');
      return true;
    } catch (err) {
      if (isVanished(err)) return false;
      throw err;
    }
  }

  return {
    mode: 'v2',
    root,
    support,
    list: (globs) => lister.list(globs),
    treeVersion: () => lister.treeVersion(),
    limitsVersion: () => lister.limitsVersion(),
    read,
    readSetting,
    writeSetting,
    procs,
    underOom: () => false,
    killAll,
    limit: (path) => {
      if (dirOf(path) === root) return null;
      try {
        return nullIfMax(readIntOrMax(file(path, V2_FILES.max)));
      } catch {
        return undefined;
      }
    },
    usageIncludesChildren: (path) => dirOf(path) !== root,
  };
}
