// What a host of a rollout has said, read from the hosts table (what the
// agent acked or NACKed, not what the rollout expects): one definition for
// the step machine, the gates' numbers and the API's view.
import { Prisma } from '../store/generated/client.ts';

export interface HostAnswer {
  applied_version_id: string | null;
  last_nack_version_id: string | null;
}

/** acked: it runs the version; nacked: it refused it (and runs something else). */
export function answerTo(h: HostAnswer, versionId: string): 'acked' | 'nacked' | undefined {
  if (h.applied_version_id === versionId) return 'acked';
  if (h.last_nack_version_id === versionId) return 'nacked';
  return undefined;
}

/**
 * SQL: host `h` of rollout host `rh` is back on the version it had before the
 * rollout. "No policy" counts only once acked after the rollback began
 * (`since`): a host that never had one shows none all along.
 */
export function rolledBackSql(since: Date | Prisma.Sql): Prisma.Sql {
  return Prisma.sql`(CASE WHEN rh.previous_version_id IS NULL
                          THEN h.applied_version_id IS NULL AND h.acked_at >= ${since}
                          ELSE h.applied_version_id = rh.previous_version_id END)`;
}
