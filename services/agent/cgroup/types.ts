// The one interface the agent's engine sees for memory cgroups, whichever
// hierarchy holds the memory controller. Paths are absolute below the
// driver's root ("/" is the root itself), as in policy globs and snapshots.
import type { CgroupGlob, Memcg } from '../../policy/index.ts';

export type CgroupMode = 'v1' | 'v2';

/** Policy settings, by the names the policy document uses. */
export type SettingName =
  | 'memoryMin'
  | 'memoryLow'
  | 'memoryHigh'
  | 'memoryMax'
  | 'swapMax'
  | 'oomGroup'
  | 'oomKillDisable';

/** A setting's value as the kernel holds it: bytes, "max" (no limit), or a flag. */
export type SettingValue = number | 'max' | boolean;

export interface SettingSupport {
  supported: boolean;
  /** The kernel file that holds it, e.g. "memory.limit_in_bytes". */
  file?: string;
  /** For unsupported or approximated settings: why, in words (shown by `agent status`). */
  note?: string;
}

export interface ReadOptions {
  /** Read memory.stat too (costly with many memcgs; only when a policy needs it). */
  stat?: boolean;
  /** Read memory.pressure (v2) too. */
  pressure?: boolean;
  /**
   * Read the OOM state (v1 memory.oom_control: under_oom, oom_kill_disable,
   * the oom_kill count). Default true; a tick leaves it out when no trigger
   * and no user-space OOM handling looks at it.
   */
  oom?: boolean;
  /**
   * Read what only people look at (v1: failcnt, soft limit, memsw; v2: swap).
   * Default true; ticks leave it out: with hundreds of memcgs every file
   * read per memcg per tick shows in the agent's CPU time.
   */
  extras?: boolean;
}

export interface MemcgDriver {
  readonly mode: CgroupMode;
  /** Absolute filesystem path of the memory hierarchy's root as the agent sees it. */
  readonly root: string;
  /** Which policy settings this hierarchy can express, and how. */
  support(setting: SettingName): SettingSupport;
  /**
   * Every memcg below the root (the root included), as cgroup paths, sorted.
   * With globs, the walk descends only where one of them can match: every
   * memcg they match and its ancestors are listed, some others may be.
   */
  list(globs?: readonly CgroupGlob[]): readonly string[];
  /**
   * Changes whenever a memcg may have been made or removed where list()
   * reaches, as far as the driver can tell without looking (inotify);
   * undefined when it cannot tell, and callers must look for themselves.
   */
  treeVersion?(): number | undefined;
  /** As treeVersion, and also changes whenever a limit that limit() reports is written. */
  limitsVersion?(): number | undefined;
  /** One memcg's snapshot entry; undefined when it vanished meanwhile. */
  read(path: string, options?: ReadOptions): Memcg | undefined;
  /** Current value of a setting; throws DriverError when unsupported or unreadable. */
  readSetting(path: string, setting: SettingName): SettingValue;
  /** Writes a setting; throws DriverError (with the kernel's errno) on failure. */
  writeSetting(path: string, setting: SettingName, value: SettingValue): void;
  /** pids directly in this memcg (cgroup.procs). */
  procs(path: string): number[];
  /** Is the memcg stuck at its limit under user-space OOM handling (v1 under_oom)? Cheap: the fast path reads it every 10 ms. */
  underOom(path: string): boolean;
  /** Kills every process in the memcg and below at once where the kernel can (v2 cgroup.kill); false when not available. */
  killAll?(path: string): boolean;
  /**
   * A memcg's own limit as read() reports it (bytes; null for none), cached
   * as read() caches limits; undefined when it vanished or is unreadable.
   * With usageIncludesChildren it lets a tick bound a whole subtree by one
   * usage read (services/agent/snapshot/prune.ts).
   */
  limit?(path: string): number | null | undefined;
  /**
   * Does this memcg's usage include all of its descendants' (a page counter
   * charged along the hierarchy)? v2: every memcg but the root; v1: those with
   * memory.use_hierarchy 1. Never the root, whose usage the kernel derives
   * from statistics that leave kernel memory out.
   */
  usageIncludesChildren?(path: string): boolean;
}

export class DriverError extends Error {
  constructor(
    message: string,
    readonly path: string,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DriverError';
  }
}
