// Lookups into earlier snapshots: the latest one before a time, a memcg's or
// a process's value then. Snapshots are indexed lazily, once per call.
import type { History, HostSnapshot, Memcg, ProcessInfo } from '../snapshot.ts';

export interface HistorySnapshotIndex {
  /** Snapshots oldest first, the current one excluded. */
  readonly snapshots: readonly HostSnapshot[];
  /** The newest snapshot taken at or before `time`. */
  atOrBefore(time: number): HostSnapshot | undefined;
  /** The newest earlier snapshot (the previous tick). */
  previous(): HostSnapshot | undefined;
  memcg(snapshot: HostSnapshot, path: string): Memcg | undefined;
  /** The same process (pid and start time) in an earlier snapshot. */
  process(snapshot: HostSnapshot, p: ProcessInfo): ProcessInfo | undefined;
}

export function indexHistory(history: History, now: number): HistorySnapshotIndex {
  const snapshots = history.snapshots.filter((s) => s.time < now).sort((a, b) => a.time - b.time);
  const memcgIdx = new WeakMap<HostSnapshot, Map<string, Memcg>>();
  const procIdx = new WeakMap<HostSnapshot, Map<number, ProcessInfo>>();
  return {
    snapshots,
    atOrBefore(time) {
      let found: HostSnapshot | undefined;
      for (const s of snapshots) {
        if (s.time <= time) found = s;
        else break;
      }
      return found;
    },
    previous() {
      return snapshots[snapshots.length - 1];
    },
    memcg(snapshot, path) {
      let m = memcgIdx.get(snapshot);
      if (!m) {
        m = new Map(snapshot.memcgs.map((x) => [x.path, x]));
        memcgIdx.set(snapshot, m);
      }
      return m.get(path);
    },
    process(snapshot, p) {
      let m = procIdx.get(snapshot);
      if (!m) {
        m = new Map(snapshot.processes.map((x) => [x.pid, x]));
        procIdx.set(snapshot, m);
      }
      const old = m.get(p.pid);
      return old && old.startTime === p.startTime ? old : undefined;
    },
  };
}
