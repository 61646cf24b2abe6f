// Host identity on the agent stream: "authorization: Bearer <hostId>.<secret>",
// checked against hosts.secret_hash.
import type * as grpc from '@grpc/grpc-js';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface HostCredentials {
  hostId: string;
  secret: string;
}

/** The host id and secret presented, or null when malformed or absent. */
export function parseHostAuthorization(metadata: grpc.Metadata): HostCredentials | null {
  const values = metadata.get('authorization');
  if (values.length !== 1) return null;
  const v = values[0];
  if (typeof v !== 'string' || v.length > 512) return null;
  const m = /^Bearer ([^.\s]+)\.(\S+)$/.exec(v);
  if (!m) return null;
  const hostId = (m[1] ?? '').toLowerCase();
  const secret = m[2] ?? '';
  if (!UUID.test(hostId)) return null;
  return { hostId, secret };
}

export function bearer(hostId: string, secret: string): string {
  return `Bearer ${hostId}.${secret}`;
}
