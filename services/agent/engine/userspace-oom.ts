// Which memcgs the agent handles OOM for in user space (cgroup v1:
// oom_kill_disable=1), and how long each may stay stuck before the kernel's
// OOM killer gets it back.
import type { CompiledPolicy } from '../../policy/index.ts';

export interface UserspaceOomTarget {
  path: string;
  fallbackAfterMs: number;
}

/** The first cgroups[] entry that sets userspaceOom decides, as for every other setting. */
export function userspaceOomTargets(
  policy: CompiledPolicy,
  memcgs: readonly string[],
): UserspaceOomTarget[] {
  const out: UserspaceOomTarget[] = [];
  for (const path of memcgs) {
    const entry = policy.cgroups.find((c) => c.userspaceOom !== undefined && c.match.matches(path));
    if (entry?.userspaceOom?.enabled)
      out.push({ path, fallbackAfterMs: entry.userspaceOom.fallbackAfterMs });
  }
  return out;
}
