// Enroll: an enrolment token buys a host identity. The host row is created
// (or, for a hostname already enrolled, given a new secret); labels are the
// token's merged with the request's. The secret is returned once.
//
// Re-enrolling a hostname is how a re-imaged machine, which lost its state
// directory, gets back its identity. It is refused while that identity is
// live (a replica holds its stream and it was seen within SILENT_AFTER_MS):
// otherwise any holder of an enrolment token could lock a running host out and
// act as it. Every enrolment is audited, with the token as the actor.
import * as grpc from '@grpc/grpc-js';
import { hashToken, newToken } from '../auth/tokens.ts';
import { asLabels } from '../desired/selector.ts';
import type { Database } from '../store/db.ts';
import { writeAudit } from '../audit/audit.ts';
import { SILENT_AFTER_MS, isDisconnected } from '../desired/sync-state.ts';
import type { EnrollRequest, EnrollResponse } from '../../proto/oomfleet/v1/agent.ts';
import { GrpcError } from './errors.ts';
import { isUniqueViolation } from '../http/errors.ts';

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;
const MAX_LABELS = 64;

export function checkLabels(labels: Record<string, string>): string | null {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) return `at most ${MAX_LABELS} labels`;
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > 63) return `label key ${JSON.stringify(k)}: 1–63 characters`;
    if (v.length > 63) return `label ${JSON.stringify(k)}: value longer than 63 characters`;
  }
  return null;
}

export async function enroll(db: Database, req: EnrollRequest): Promise<EnrollResponse> {
  if (!HOSTNAME.test(req.hostname))
    throw new GrpcError(grpc.status.INVALID_ARGUMENT, 'hostname: 1–253 characters [A-Za-z0-9._-]');
  const bad = checkLabels(req.labels);
  if (bad) throw new GrpcError(grpc.status.INVALID_ARGUMENT, bad);
  if (req.enrollmentToken.length === 0 || req.enrollmentToken.length > 256)
    throw new GrpcError(grpc.status.UNAUTHENTICATED, 'invalid enrolment token');
  const secret = newToken('host');
  const secretHash = hashToken(secret);
  const enrolled = await db.prisma
    .$transaction(async (tx) => {
      const token = await tx.enrollmentToken.findUnique({
        where: { tokenHash: hashToken(req.enrollmentToken) },
      });
      const now = new Date();
      if (!token || token.revokedAt || (token.expiresAt && token.expiresAt <= now))
        throw new GrpcError(
          grpc.status.UNAUTHENTICATED,
          'invalid, expired or revoked enrolment token',
        );
      const labels = { ...asLabels(token.labels), ...req.labels };
      // Locked, so two machines enrolling one name at once cannot both pass the check.
      const [existing] = await tx.$queryRaw<
        {
          id: string;
          labels: unknown;
          agent_labels: unknown;
          labels_set_at: Date | null;
          connected_to: string | null;
          last_seen_at: Date | null;
        }[]
      >`SELECT id, labels, agent_labels, labels_set_at, connected_to, last_seen_at
        FROM hosts WHERE name = ${req.hostname} FOR UPDATE`;
      if (
        existing &&
        !isDisconnected({ connectedTo: existing.connected_to, lastSeenAt: existing.last_seen_at })
      )
        throw new GrpcError(
          grpc.status.ALREADY_EXISTS,
          `hostname ${JSON.stringify(req.hostname)} is enrolled and its agent is connected now; ` +
            `a second machine cannot take its identity. If this machine replaces it, stop the old ` +
            `agent: ${SILENT_AFTER_MS / 1000} s after it was last seen, this machine can enrol`,
        );
      const host = existing
        ? await tx.host.update({
            where: { id: existing.id },
            data: {
              secretHash,
              agentLabels: { ...asLabels(existing.agent_labels), ...labels },
              // Labels an operator set stay as they are.
              ...(existing.labels_set_at
                ? {}
                : { labels: { ...asLabels(existing.labels), ...labels } }),
            },
          })
        : await tx.host.create({
            data: { name: req.hostname, labels, agentLabels: labels, secretHash },
          });
      await writeAudit(tx, {
        actor: { id: token.id, name: `enrollment token ${token.name}` },
        action: existing ? 'host.reenroll' : 'host.enroll',
        targetType: 'host',
        targetId: host.id,
        before: existing ? { name: req.hostname, labels: existing.labels } : undefined,
        after: { name: host.name, labels: host.labels },
      });
      return { hostId: host.id, hostSecret: secret, tokenId: token.id };
    })
    .catch((err: unknown) => {
      // A name not yet in the table has no row to lock: two first enrolments
      // of one hostname race to insert it, and the second loses here.
      if (isUniqueViolation(err))
        throw new GrpcError(
          grpc.status.ALREADY_EXISTS,
          `hostname ${JSON.stringify(req.hostname)} was enrolled by another request at the same moment`,
        );
      throw err;
    });
  // After the commit, in a statement of its own: inside the transaction every
  // enrolment with this token would wait for the row lock until the others
  // commit. The count is informational: if this fails (or the process dies
  // just here) it is one short, and the host still gets the identity it has.
  await db.pool
    .query('UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = $1', [enrolled.tokenId])
    .catch(() => undefined);
  return { hostId: enrolled.hostId, hostSecret: enrolled.hostSecret };
}
