import { describe, expect, it } from 'vitest';
import { SILENT_AFTER_MS, syncState } from './sync-state.ts';

const now = Date.parse('2026-11-28T12:00:00Z');
const host = {
  connectedTo: 'replica-a',
  lastSeenAt: new Date(now - 1000),
  desiredVersionId: 'v2',
  appliedVersionId: 'v2',
  lastNackVersionId: null,
};

describe('syncState', () => {
  it('SYNCED, STALE, NACKED, DISCONNECTED from the host row', () => {
    expect(syncState(host, now)).toBe('SYNCED');
    expect(syncState({ ...host, appliedVersionId: 'v1' }, now)).toBe('STALE');
    expect(syncState({ ...host, appliedVersionId: 'v1', lastNackVersionId: 'v2' }, now)).toBe(
      'NACKED',
    );
    expect(syncState({ ...host, connectedTo: null }, now)).toBe('DISCONNECTED');
  });

  it('a host silent for too long is DISCONNECTED even if a crashed replica never cleared it', () => {
    const silent = { ...host, lastSeenAt: new Date(now - SILENT_AFTER_MS - 1) };
    expect(syncState(silent, now)).toBe('DISCONNECTED');
    expect(syncState({ ...host, lastSeenAt: new Date(now - 30_000) }, now)).toBe('SYNCED');
  });
});
