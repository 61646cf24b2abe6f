// The memcg driver for a cgroup v1 memory hierarchy (e.g. /sys/fs/cgroup/memory).
//
// How the snapshot and the policy settings map onto v1 (docs/policy.md, "cgroups"):
//   usage        memory.usage_in_bytes
//   limit        memory.limit_in_bytes; the kernel's "unlimited" is PAGE_COUNTER_MAX
//                in bytes rounded to pages (9223372036854771712 on x86-64), read as
//                null / "max"; "max" is written as -1, which the kernel accepts.
//   low          memory.soft_limit_in_bytes (only an approximation of memory.low)
//   swapUsage    memory.memsw.usage_in_bytes − memory.usage_in_bytes (memsw = mem + swap)
//   swapLimit    memory.memsw.limit_in_bytes − memory.limit_in_bytes
//   events       oom_kill of memory.oom_control is reported both as events.oom_kill
//                and as events.oom: v1 counts no "oom" events of its own, and the
//                evaluator's `oom: {on: event}` trigger reads events.oom first. So on v1
//                an "OOM event" means an OOM kill; an OOM held by user-space handling
//                (oom_kill_disable=1) shows as underOom instead. events.max is
//                memory.failcnt, the times usage hit the limit (v2's "max" event).
//   underOom, oomKillDisable   memory.oom_control
//   pressure     none: v1 has no per-cgroup PSI (memory.pressure_level is an
//                eventfd notification, not a file to read).
// Settings without a v1 equivalent (memoryMin, memoryHigh, oomGroup) are
// unsupported with a note, so that the agent can NACK a policy that needs them.
import { posix } from 'node:path';
import {
  CGROUP_PROCS,
  V1_FILES,
  cgroupDir,
  keepCgroupFilesOpen,
  onCgroupFs,
  childPath,
  exists,
  isVanished,
  readInt,
  readKeyed,
  readPids,
  readText,
  subdirs,
  writeText,
} from './fs.ts';
import { Lister } from './listing.ts';
import { bytesValue, flagValue, unsupported } from './settings.ts';
import { TRUST_MS, TreeWatch } from './watch.ts';
import {
  DriverError,
  type MemcgDriver,
  type ReadOptions,
  type SettingName,
  type SettingSupport,
  type SettingValue,
} from './types.ts';
import {
  globWalkDeeper,
  globWalkStart,
  globWalkStep,
  type CgroupGlob,
  type GlobWalkState,
  type Memcg,
} from '../../policy/index.ts';

/**
 * The kernel prints "no limit" as PAGE_COUNTER_MAX pages in bytes, which
 * depends on the page size (9223372036854771712 with 4 KiB pages). No real
 * limit comes near 2^62 bytes, so anything at or above it is "unlimited".
 */
export const V1_UNLIMITED_FROM = 2 ** 62;

/** A v1 limit file: bytes, or "max" for the kernel's "unlimited". */
function readLimit(file: string): number | 'max' {
  const n = readInt(file);
  return n >= V1_UNLIMITED_FROM ? 'max' : n;
}

/** How long read() trusts the limit files it read (they change only when written). */
const LIMITS_TTL_MS = 2000;
/** How often cache entries of memcgs no longer read are dropped. */
const LIMITS_SWEEP_MS = 10_000;

/** What to write for a limit: v1 takes -1 for "unlimited" (it does not know "max"). */
const limitText = (v: number | 'max'): string => (v === 'max' ? '-1' : String(v));

const SUPPORT_BASE: Record<Exclude<SettingName, 'swapMax'>, SettingSupport> = {
  memoryMax: { supported: true, file: V1_FILES.limit },
  memoryLow: {
    supported: true,
    file: V1_FILES.softLimit,
    note:
      'approximation: cgroup v1 has no memory.low; memory.soft_limit_in_bytes makes the memcg ' +
      'the first to be reclaimed under host-wide pressure once it is above that value, but gives ' +
      'no guarantee below it',
  },
  memoryMin: {
    supported: false,
    note: 'cgroup v1 has no memory.min (hard memory protection); memoryLow maps to the soft limit, which protects nothing for certain',
  },
  memoryHigh: {
    supported: false,
    note: 'cgroup v1 has no memory.high (throttling above a threshold without OOM); only the hard limit memory.limit_in_bytes exists',
  },
  oomGroup: {
    supported: false,
    note: 'cgroup v1 has no memory.oom.group: the kernel OOM killer kills single processes; use a kill rule with among: cgroup instead',
  },
  oomKillDisable: {
    supported: true,
    file: V1_FILES.oomControl,
    note: 'oom_kill_disable in memory.oom_control: a memcg at its limit stops (under_oom 1) instead of the kernel killing',
  },
};

const SWAP_SUPPORTED: SettingSupport = {
  supported: true,
  file: V1_FILES.memswLimit,
  note:
    'memory.memsw.limit_in_bytes limits memory + swap: written as memoryMax + swapMax and read ' +
    'back as memsw − limit, so it needs a memoryMax (write memoryMax first); changing memoryMax ' +
    'keeps the swap allowance',
};

const SWAP_UNSUPPORTED: SettingSupport = {
  supported: false,
  note: 'memory.memsw.* are absent: this kernel does not account swap per memcg (swapaccount=0 or CONFIG_MEMCG_SWAP off)',
};

export function createV1Driver(root: string): MemcgDriver {
  const cgroupFs = onCgroupFs(root);
  if (cgroupFs) keepCgroupFilesOpen();
  // inotify tells of memcgs made and removed and of limits written by others
  // (watch.ts); not on a fixture tree, where tests rewrite files at will.
  const watch = cgroupFs
    ? new TreeWatch(new Set([V1_FILES.limit, V1_FILES.softLimit, V1_FILES.memswLimit]))
    : undefined;
  // Swap accounting is a property of the kernel, so the root tells for every memcg.
  const hasMemsw = exists(posix.join(root, V1_FILES.memswLimit));
  const file = (path: string, name: string): string => `${cgroupDir(root, path)}/${name}`;

  const support = (setting: SettingName): SettingSupport =>
    setting === 'swapMax' ? (hasMemsw ? SWAP_SUPPORTED : SWAP_UNSUPPORTED) : SUPPORT_BASE[setting];

  const oomControl = (path: string): Record<string, number> =>
    readKeyed(file(path, V1_FILES.oomControl));

  /**
   * The limit files change only when written, so read() reads them at most
   * once per LIMITS_TTL_MS per memcg; the agent's own writes drop the entry.
   * Counters (usage, failcnt, oom_control) are read every time.
   */
  interface Limits {
    at: number;
    /** The watch's count of writes to the memcg's files when read; undefined: not watched. */
    writes: number | undefined;
    limit: number | 'max';
    /** Read when a caller wants the extras. */
    soft?: number | 'max';
    memswLimit?: number | 'max';
  }
  const limitsCache = new Map<string, Limits>();
  let lastSweep = performance.now();

  function limitsOf(key: string, path: string, extras: boolean): Limits {
    const now = performance.now();
    if (now - lastSweep > LIMITS_SWEEP_MS) {
      // Forget memcgs no longer read (removed, or out of the policy's scope).
      for (const [p, e] of limitsCache) if (now - e.at > TRUST_MS) limitsCache.delete(p);
      lastSweep = now;
    }
    let e = limitsCache.get(key);
    // Watched: good until a file of the memcg is written (or TRUST_MS);
    // otherwise for LIMITS_TTL_MS.
    const fresh =
      e !== undefined &&
      (e.writes !== undefined
        ? e.writes === watch?.writes(key) && now - e.at < TRUST_MS
        : now - e.at < LIMITS_TTL_MS);
    if (!e || !fresh) {
      const writes = watch?.writes(key);
      e = { at: now, writes, limit: readLimit(file(path, V1_FILES.limit)) };
      limitsCache.set(key, e);
    }
    if (extras && e.soft === undefined) {
      e.soft = readLimit(file(path, V1_FILES.softLimit));
      e.memswLimit = hasMemsw ? readLimit(file(path, V1_FILES.memswLimit)) : 'max';
    }
    return e;
  }

  function read(path: string, options: ReadOptions = {}): Memcg | undefined {
    let key: string | undefined;
    try {
      key = cgroupDir(root, path);
      const usage = readInt(file(path, V1_FILES.usage));
      const extras = options.extras !== false;
      const { limit, soft, memswLimit } = limitsOf(key, path, extras);
      const m: Memcg = { path, usage, limit: limit === 'max' ? null : limit };
      // An unlimited soft limit is v1's default, "no soft limit": nothing to report as low.
      if (soft !== undefined && soft !== 'max') m.low = soft;
      if (extras) {
        if (hasMemsw) {
          const memswUsage = readInt(file(path, V1_FILES.memswUsage));
          // Two reads are not atomic: usage may have grown in between, never report < 0.
          m.swapUsage = Math.max(0, memswUsage - usage);
          m.swapLimit =
            memswLimit === undefined || memswLimit === 'max' || limit === 'max'
              ? null
              : memswLimit - limit;
        }
        m.events = { max: readInt(file(path, V1_FILES.failcnt)) };
      }
      if (options.oom !== false) {
        const oc = oomControl(path);
        // oom_kill appeared in memory.oom_control in 4.13; older kernels have no count.
        if (oc.oom_kill !== undefined)
          m.events = { ...m.events, oom: oc.oom_kill, oom_kill: oc.oom_kill };
        m.underOom = oc.under_oom === 1;
        m.oomKillDisable = oc.oom_kill_disable === 1;
      }
      if (options.stat) m.stat = readKeyed(file(path, V1_FILES.stat));
      return m;
    } catch (err) {
      if (key !== undefined) limitsCache.delete(key);
      if (isVanished(err)) return undefined;
      throw err;
    }
  }

  function readSetting(path: string, setting: SettingName): SettingValue {
    const s = support(setting);
    if (!s.supported) unsupported(s.note, setting, path);
    switch (setting) {
      case 'memoryMax':
        return readLimit(file(path, V1_FILES.limit));
      case 'memoryLow':
        return readLimit(file(path, V1_FILES.softLimit));
      case 'swapMax': {
        const memsw = readLimit(file(path, V1_FILES.memswLimit));
        const limit = readLimit(file(path, V1_FILES.limit));
        return memsw === 'max' || limit === 'max' ? 'max' : memsw - limit;
      }
      case 'oomKillDisable':
        return oomControl(path).oom_kill_disable === 1;
      default:
        return unsupported(s.note, setting, path);
    }
  }

  /**
   * memory.limit_in_bytes, keeping the swap allowance (memsw − limit) when
   * memsw is limited. The kernel refuses limit > memsw and memsw < limit
   * (EINVAL), so raising writes memsw first and lowering writes the limit
   * first; if the second write fails the first is put back, so the setting
   * changes whole or not at all.
   */
  function writeMemoryMax(path: string, value: number | 'max'): void {
    const limitFile = file(path, V1_FILES.limit);
    const memswFile = file(path, V1_FILES.memswLimit);
    const memsw = hasMemsw ? readLimit(memswFile) : 'max';
    if (memsw === 'max') {
      writeText(limitFile, limitText(value));
      return;
    }
    const oldLimit = readLimit(limitFile);
    // memsw is limited, so the kernel keeps limit ≤ memsw: oldLimit is a number.
    const swap = oldLimit === 'max' ? 0 : memsw - oldLimit;
    // v1 cannot express "no memory limit but a swap limit": memsw ≥ limit = unlimited.
    const newMemsw = value === 'max' ? 'max' : value + swap;
    const raising = value === 'max' || oldLimit === 'max' || value > oldLimit;
    const [first, firstOld, firstNew, second, secondNew] = raising
      ? ([memswFile, memsw, newMemsw, limitFile, value] as const)
      : ([limitFile, oldLimit, value, memswFile, newMemsw] as const);
    writeText(first, limitText(firstNew));
    try {
      writeText(second, limitText(secondNew));
    } catch (err) {
      try {
        writeText(first, limitText(firstOld));
      } catch {
        // The original error says what went wrong; a failed restore leaves a
        // looser or tighter first file that the enforcer's read-back reports.
      }
      throw err;
    }
  }

  function writeSwapMax(path: string, value: number | 'max'): void {
    const memswFile = file(path, V1_FILES.memswLimit);
    if (value === 'max') {
      writeText(memswFile, '-1');
      return;
    }
    const limit = readLimit(file(path, V1_FILES.limit));
    if (limit === 'max')
      throw new DriverError(
        `swapMax needs a memoryMax on cgroup v1: memory.memsw.limit_in_bytes = memoryMax + swapMax, ` +
          `and memory.limit_in_bytes of ${path} is unlimited`,
        memswFile,
        'EINVAL',
      );
    // memsw = limit + swap ≥ limit, so this single write is always in order.
    writeText(memswFile, String(limit + value));
  }

  function writeSetting(path: string, setting: SettingName, value: SettingValue): void {
    const s = support(setting);
    if (!s.supported) unsupported(s.note, setting, path);
    const target = file(path, s.file ?? '');
    // Even a failed write may have changed a file (a partly restored pair): read afresh.
    limitsCache.delete(cgroupDir(root, path));
    switch (setting) {
      case 'memoryMax':
        writeMemoryMax(path, bytesValue(setting, value, target));
        break;
      case 'memoryLow':
        writeText(target, limitText(bytesValue(setting, value, target)));
        break;
      case 'swapMax':
        writeSwapMax(path, bytesValue(setting, value, target));
        break;
      case 'oomKillDisable':
        writeText(target, flagValue(setting, value, target) ? '1' : '0');
        break;
      default:
        unsupported(s.note, setting, path);
    }
  }

  function walkTree(globs?: readonly CgroupGlob[]): string[] {
    const out: string[] = [];
    // state undefined: no globs, the whole tree.
    const walk = (path: string, state: GlobWalkState | undefined): void => {
      out.push(path);
      if (state && !globWalkDeeper(state)) return;
      for (const name of subdirs(cgroupDir(root, path))) {
        const next = state && globWalkStep(state, name);
        if (!next || next.length > 0) walk(childPath(path, name), next);
      }
    };
    walk('/', globs && globWalkStart(globs));
    return out.sort();
  }
  const lister = new Lister(root, walkTree, watch);

  function procs(path: string): number[] {
    try {
      return readPids(file(path, CGROUP_PROCS));
    } catch (err) {
      if (isVanished(err)) return [];
      throw err;
    }
  }

  function underOom(path: string): boolean {
    // The 10 ms fast path: one small read, one indexOf, no object built.
    let text: string;
    try {
      text = readText(file(path, V1_FILES.oomControl));
    } catch (err) {
      if (isVanished(err)) return false;
      throw err;
    }
    return text.includes('\nunder_oom 1\n');
  }

  function limit(path: string): number | null | undefined {
    try {
      const l = limitsOf(cgroupDir(root, path), path, false).limit;
      return l === 'max' ? null : l;
    } catch {
      return undefined;
    }
  }

  // use_hierarchy can change only while a memcg has no children (and is
  // always 1 since Linux 5.x), so one read per memcg serves while it has any.
  const hierarchical = new Map<string, boolean>();
  function usageIncludesChildren(path: string): boolean {
    if (path === '/') return false;
    const dir = cgroupDir(root, path);
    let h = hierarchical.get(dir);
    if (h === undefined) {
      try {
        h = readInt(file(path, V1_FILES.useHierarchy)) === 1;
      } catch {
        return false;
      }
      if (hierarchical.size > 65_536) hierarchical.clear();
      hierarchical.set(dir, h);
    }
    return h;
  }

  return {
    mode: 'v1',
    root,
    support,
    list: (globs) => lister.list(globs),
    treeVersion: () => lister.treeVersion(),
    limitsVersion: () => lister.limitsVersion(),
    read,
    readSetting,
    writeSetting,
    procs,
    underOom,
    limit,
    usageIncludesChildren,
  };
}
