// What the agent reads from /proc: host memory, PSI, the OOM-kill counter and
// processes. Works without cgroups, which is what `global` policies run on.
import type { HostInfo, ProcessInfo } from '../../policy/index.ts';

export interface ProcessReadOptions {
  /** Only these pids (e.g. the members of the memcgs in scope); all when absent. */
  pids?: readonly number[];
}

export interface HostReader {
  /** Root of the proc filesystem, "/proc" unless pointed at a fixture. */
  readonly procRoot: string;
  /** /proc/meminfo, /proc/pressure/memory (when present) and /proc/vmstat oom_kill. */
  host(): HostInfo;
  /**
   * Processes from /proc/PID/{stat,status,cmdline,oom_score,oom_score_adj,cgroup}.
   * A process that exits while being read is skipped, never an error.
   * `cgroup` is the memory cgroup path relative to the memory hierarchy root.
   */
  processes(options?: ProcessReadOptions): ProcessInfo[];
  /** Boot time in ms since the epoch, to turn /proc/PID/stat start times into epoch ms. */
  bootTimeMs(): number;
}
