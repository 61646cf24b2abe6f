// The audit log: every change made through the API, with who made it and the
// state before and after. Written in the same transaction as the change, so a
// change without its entry (or an entry without its change) cannot happen.
import { Prisma, type PrismaClient } from '../store/generated/client.ts';

export interface Actor {
  /** API token id. */
  id: string;
  /** API token name. */
  name: string;
}

export interface AuditInput {
  actor: Actor;
  /** What was done, e.g. "group.update", "policy.version.create". */
  action: string;
  targetType: string;
  targetId: string;
  before?: unknown;
  after?: unknown;
}

type Client = Pick<PrismaClient, 'auditEntry'> | Prisma.TransactionClient;

/** How an actor is written in audit_log.actor: "name (token id)". */
export function actorLabel(a: Actor): string {
  return `${a.name} (${a.id})`;
}

/** A value as JSON (dates as ISO strings, bigints as strings), or null for undefined. */
export function toAuditJson(value: unknown): Prisma.InputJsonValue | typeof Prisma.DbNull {
  if (value === undefined || value === null) return Prisma.DbNull;
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
  ) as Prisma.InputJsonValue;
}

export async function writeAudit(client: Client, entry: AuditInput): Promise<void> {
  await client.auditEntry.create({
    data: {
      actor: actorLabel(entry.actor),
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId,
      before: toAuditJson(entry.before),
      after: toAuditJson(entry.after),
    },
  });
}
