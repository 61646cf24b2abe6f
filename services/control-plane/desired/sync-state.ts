// A host's sync state, as the API shows it and rollouts read it.
export type SyncState = 'SYNCED' | 'STALE' | 'NACKED' | 'DISCONNECTED';

export interface SyncFields {
  connectedTo: string | null;
  desiredVersionId: string | null;
  appliedVersionId: string | null;
  lastNackVersionId: string | null;
}

/**
 * DISCONNECTED: no replica holds its stream. NACKED: it refused the version
 * it should run. SYNCED: it runs what it should. STALE: sent (or about to
 * be), not yet acknowledged.
 */
export function syncState(h: SyncFields): SyncState {
  if (h.connectedTo === null) return 'DISCONNECTED';
  if (h.appliedVersionId === h.desiredVersionId) return 'SYNCED';
  if (h.lastNackVersionId !== null && h.lastNackVersionId === h.desiredVersionId) return 'NACKED';
  return 'STALE';
}
