// A host's sync state, as the API shows it and rollouts read it.
export type SyncState = 'SYNCED' | 'STALE' | 'NACKED' | 'DISCONNECTED';

/**
 * A host whose stream has shown nothing for this long counts as disconnected,
 * whatever `connected_to` says: the replica that held it may have crashed
 * without clearing it. Agents send a heartbeat every 15 s and a replica
 * records one at most every 15 s, so a live host is never older than ~30 s.
 */
export const SILENT_AFTER_MS = 90_000;

export interface SyncFields {
  connectedTo: string | null;
  lastSeenAt?: Date | null;
  desiredVersionId: string | null;
  appliedVersionId: string | null;
  lastNackVersionId: string | null;
}

/**
 * No replica holds the host's stream, or none has heard from it for
 * SILENT_AFTER_MS: the API's DISCONNECTED, a rollout's silent host, and a
 * hostname another machine may enrol.
 */
export function isDisconnected(
  h: { connectedTo: string | null; lastSeenAt?: Date | null },
  now = Date.now(),
): boolean {
  return (
    h.connectedTo === null ||
    (h.lastSeenAt != null && now - h.lastSeenAt.getTime() > SILENT_AFTER_MS)
  );
}

/**
 * DISCONNECTED: no replica holds its stream. NACKED: it refused the version
 * it should run. SYNCED: it runs what it should. STALE: sent (or about to
 * be), not yet acknowledged.
 */
export function syncState(h: SyncFields, now = Date.now()): SyncState {
  if (isDisconnected(h, now)) return 'DISCONNECTED';
  if (h.appliedVersionId === h.desiredVersionId) return 'SYNCED';
  if (h.lastNackVersionId !== null && h.lastNackVersionId === h.desiredVersionId) return 'NACKED';
  return 'STALE';
}
