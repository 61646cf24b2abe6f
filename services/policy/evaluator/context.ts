// What every trigger and victim strategy can see on one evaluation: the
// snapshot, the history, and indexes built once per call.
import type { HistorySnapshotIndex } from './history-index.ts';
import type { History, HostSnapshot, Memcg, ProcessInfo } from '../snapshot.ts';

export interface Target {
  /** A memcg path, or "global" for the whole host. */
  id: string;
  memcg?: Memcg;
}

export interface EvalContext {
  now: number;
  snapshot: HostSnapshot;
  history: History;
  memcgs: ReadonlyMap<string, Memcg>;
  /** Processes per memcg path, including those of descendant memcgs. */
  processesUnder(path: string): ProcessInfo[];
  past: HistorySnapshotIndex;
}

export function parentPath(path: string): string | undefined {
  if (path === '/' || path === '') return undefined;
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function isUnder(path: string, ancestor: string): boolean {
  if (ancestor === '/') return true;
  return path === ancestor || path.startsWith(`${ancestor}/`);
}

/** The tightest limit on a memcg: its own, or the smallest of its limited ancestors'. */
export function effectiveLimit(
  ctx: EvalContext,
  path: string,
): { limit: number; from: string } | undefined {
  let best: { limit: number; from: string } | undefined;
  for (let p: string | undefined = path; p !== undefined; p = parentPath(p)) {
    const m = ctx.memcgs.get(p);
    if (m && m.limit !== null && (best === undefined || m.limit < best.limit))
      best = { limit: m.limit, from: p };
  }
  return best;
}
