// memory.oom.group (cgroup v2) says a memcg's tasks live and die together:
// the kernel kills the whole group rather than one task. The agent honours
// it the same way: a process kill whose victim sits in a memcg with
// oom.group set (or below one, up to the memcg the rule fired on) becomes a
// kill of that whole memcg.
import type { Decision, Evaluation, HostSnapshot, Memcg } from '../../policy/index.ts';

function parent(path: string): string | undefined {
  if (path === '/') return undefined;
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The highest memcg with oom.group set between the victim's memcg and the firing target. */
function groupOf(
  victimCgroup: string,
  firing: readonly string[],
  memcgs: ReadonlyMap<string, Memcg>,
): Memcg | undefined {
  let found: Memcg | undefined;
  for (let p: string | undefined = victimCgroup; p !== undefined; p = parent(p)) {
    const m = memcgs.get(p);
    if (m?.oomGroup) found = m;
    if (firing.includes(p)) break;
  }
  return found;
}

export function honourOomGroup(e: Evaluation, snapshot: HostSnapshot): Evaluation {
  if (!snapshot.memcgs.some((m) => m.oomGroup)) return e;
  const memcgs = new Map(snapshot.memcgs.map((m) => [m.path, m]));
  const decisions = e.decisions.map((d): Decision => {
    const k = d.kill;
    if (d.action !== 'kill' || k?.among !== 'process') return d;
    const group = groupOf(k.cgroup, d.firing, memcgs);
    if (!group) return d;
    const pids = snapshot.processes
      .filter((p) => p.cgroup === group.path || p.cgroup.startsWith(`${group.path}/`))
      .map((p) => p.pid)
      .sort((a, b) => a - b);
    return {
      ...d,
      kill: {
        among: 'cgroup',
        cgroup: group.path,
        usage: group.usage,
        pids,
        graceMs: k.graceMs,
        repeat: k.repeat,
      },
      trace: {
        ...d.trace,
        summary: `${d.trace.summary}; memory.oom.group is set on ${group.path}, so the whole group goes`,
      },
    };
  });
  return { ...e, decisions };
}
