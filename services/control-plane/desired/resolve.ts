// Desired state: which policy version each host should run. Assignments give
// a version to a host group; a host in several groups takes the assignment
// with the highest priority, then the newest. The result is stored per host
// (hosts.desired_version_id), so that pushing to an agent is one row read,
// and so that rollouts can set it host by host.
import type { Database } from '../store/db.ts';
import { asLabels, matchesSelector, type Selector } from './selector.ts';

interface Rule {
  selector: Selector;
  versionId: string;
  priority: number;
  createdAt: Date;
}

async function loadRules(db: Database): Promise<Rule[]> {
  const assignments = await db.prisma.assignment.findMany({ include: { group: true } });
  return assignments
    .map((a) => ({
      selector: a.group.selector as Selector,
      versionId: a.policyVersionId,
      priority: a.priority,
      createdAt: a.createdAt,
    }))
    .sort((a, b) => b.priority - a.priority || b.createdAt.getTime() - a.createdAt.getTime());
}

/** The version a host with these labels should run under these rules, or null. */
function desiredFor(rules: readonly Rule[], labels: Record<string, string>): string | null {
  for (const r of rules) if (matchesSelector(r.selector, labels)) return r.versionId;
  return null;
}

/**
 * Recomputes the desired version of the given hosts (all by default) and
 * stores it; returns the ids of hosts whose desired version changed, for the
 * caller to publish (fan-out to the replicas holding their streams).
 */
export async function resolveDesired(
  db: Database,
  options: { hostIds?: readonly string[] } = {},
): Promise<string[]> {
  const rules = await loadRules(db);
  // A host held by a rollout takes its desired version from the rollout alone.
  const hosts = await db.prisma.host.findMany({
    where: {
      activeRolloutId: null,
      ...(options.hostIds ? { id: { in: [...options.hostIds] } } : {}),
    },
    select: { id: true, labels: true, desiredVersionId: true },
  });
  const changes = new Map<string | null, string[]>();
  for (const h of hosts) {
    const want = desiredFor(rules, asLabels(h.labels));
    if (want === h.desiredVersionId) continue;
    const list = changes.get(want) ?? [];
    list.push(h.id);
    changes.set(want, list);
  }
  const changed: string[] = [];
  for (const [versionId, ids] of changes) {
    await db.prisma.host.updateMany({
      where: { id: { in: ids }, activeRolloutId: null },
      data: { desiredVersionId: versionId },
    });
    changed.push(...ids);
  }
  return changed;
}
