// What changed in the memcg tree, from inotify instead of looking: a memcg
// made or removed (mkdir/rmdir in a watched directory) and a setting file
// written by anyone (systemd, kubelet, a person with echo). With that, a
// tick need not walk the tree, stat every memcg, or re-read every limit to
// learn that nothing changed, which on a host with hundreds of memcgs was
// most of the agent's CPU time.
//
// inotify loses events when its queue overflows, and events arrive between
// ticks, not during them; so what the watch vouches for is also looked at
// afresh every TRUST_MS, and a cache entry it guards is never older than that.
import { watch, type FSWatcher } from 'node:fs';

/** How long an answer the watch vouches for is trusted before it is looked at again. */
export const TRUST_MS = 30_000;
/** Beyond this many directories the drivers look for themselves, as without a watch. */
export const MAX_WATCHED = 4096;

export class TreeWatch {
  private readonly watchers = new Map<string, FSWatcher>();
  /**
   * Bumped whenever an entry appears in or leaves a watched directory, and
   * whenever directories begin to be watched (what happened in them before
   * went unseen).
   */
  private version = 0;
  /** Directory → bumped whenever one of its setting files is written. */
  private readonly written = new Map<string, number>();
  /** Bumped with version and whenever any setting file is written. */
  private settings = 0;
  private working = true;

  /**
   * `settingFiles`: the names of the files whose writes count (limits);
   * writes to others (cgroup.procs, as processes start) do not.
   */
  constructor(
    private readonly settingFiles: ReadonlySet<string>,
    private readonly max = MAX_WATCHED,
  ) {}

  /** Changes whenever a memcg may have been made or removed, or a setting file written. */
  settingsVersion(): number {
    return this.settings;
  }

  /** Changes whenever a memcg may have been made or removed in a watched directory. */
  treeVersion(): number {
    return this.version;
  }

  /** Changes whenever a file of `dir` may have been written (undefined: dir is not watched). */
  writes(dir: string): number | undefined {
    return this.watchers.has(dir) ? (this.written.get(dir) ?? 0) : undefined;
  }

  /** Is the watch still in use (not given up)? */
  get active(): boolean {
    return this.working;
  }

  /**
   * Watches exactly `dirs` (the directories walks found), dropping the rest.
   * Returns how many were newly watched. -1 when watching is not possible
   * (too many directories, or inotify refused): then nothing is watched and
   * callers look for themselves.
   */
  watchOnly(dirs: ReadonlySet<string>): number {
    if (!this.working) return -1;
    if (dirs.size > this.max) {
      this.stop();
      return -1;
    }
    for (const [d, w] of this.watchers)
      if (!dirs.has(d)) {
        w.close();
        this.watchers.delete(d);
        this.written.delete(d);
      }
    let added = 0;
    for (const d of dirs) {
      if (this.watchers.has(d)) continue;
      let w: FSWatcher;
      try {
        w = watch(d, { persistent: false }, (event, name) => {
          if (event === 'rename') this.bump();
          else if (name !== null && this.settingFiles.has(name)) {
            this.written.set(d, (this.written.get(d) ?? 0) + 1);
            this.settings++;
          }
        });
      } catch (err) {
        // Removed since the walk: the next walk will not find it.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          this.bump();
          continue;
        }
        // Out of inotify watches (ENOSPC) or none at all: rather than watch
        // part of the tree, look for ourselves as before.
        this.stop();
        return -1;
      }
      // The directory went away, taking its watch with it.
      w.on('error', () => {
        w.close();
        if (this.watchers.get(d) === w) this.watchers.delete(d);
        this.bump();
      });
      this.watchers.set(d, w);
      added++;
    }
    if (added > 0) this.bump();
    return added;
  }

  /** Stops watching for good (inotify refused, or the driver is done). */
  stop(): void {
    this.working = false;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.written.clear();
    this.bump();
  }

  private bump(): void {
    this.version++;
    this.settings++;
  }
}
