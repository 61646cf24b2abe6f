// The agent's event log: every outcome event gets an id, goes into a bounded
// in-memory ring (recent history, `events --follow` listeners) and, when a
// state directory is given, onto disk (file.ts), where it survives restarts
// until the shipper has sent it (`since(id)`).
import { openEventFile, type EventFile, type EventFileOptions, type SinceResult } from './file.ts';
import { createIdGenerator, type IdGenerator } from './id.ts';
import { Ring } from './ring.ts';
import type { AgentEvent, AgentEventInput } from './types.ts';

/**
 * Events kept in memory. 2,000 rather than more: a kill event with its trace
 * is a few KB as a JS object, and the agent's RSS goal is 60 MB; the file keeps
 * the longer history.
 */
export const DEFAULT_RING_CAPACITY = 2_000;

export interface EventLogOptions extends Partial<EventFileOptions> {
  /** The agent's state directory; without it the log is memory-only (tests, dry runs). */
  dir?: string;
  capacity?: number;
  now?: () => number;
  /** Stamped on events that carry no host. */
  host?: string;
  /** A write to disk failed (ENOSPC…): the event stays in memory and listeners still get it. */
  onError?: (err: unknown, event: AgentEvent) => void;
}

export type EventListener = (event: AgentEvent) => void;

export interface EventLog {
  /** Ids in the log's order, seeded from the file so they keep sorting after a restart. */
  readonly nextId: IdGenerator;
  /** Gives the event an id (and the time, unless set) and appends it. */
  record(input: AgentEventInput): AgentEvent;
  /** Appends an event that already has its id (e.g. a kill, which is named when it starts). */
  append(event: AgentEvent): AgentEvent;
  /** The newest events in memory, oldest first. */
  recent(limit?: number): AgentEvent[];
  /** Events after `id`, oldest first: from disk when there is a file, else from memory. */
  since(id?: string, limit?: number): SinceResult;
  /** Called with each event as it is appended; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void;
  close(): void;
}

export function createEventLog(options: EventLogOptions = {}): EventLog {
  const now = options.now ?? Date.now;
  const file: EventFile | undefined =
    options.dir === undefined ? undefined : openEventFile({ ...options, dir: options.dir });
  const ring = new Ring<AgentEvent>(options.capacity ?? DEFAULT_RING_CAPACITY);
  // After a restart, `agent events` still shows what happened before it.
  if (file) for (const e of file.tail(ring.capacity)) ring.push(e);
  // (Events preloaded from the file that the ring cannot hold are still on disk: no gap.)
  const nextId = createIdGenerator(now, file?.lastId());
  const listeners = new Set<EventListener>();
  let closed = false;
  /** The newest event pushed out of the ring: memory-only `since` must report the gap. */
  let evictedId: string | undefined;

  const append = (event: AgentEvent): AgentEvent => {
    const e: AgentEvent =
      options.host !== undefined && event.host === undefined
        ? { ...event, host: options.host }
        : event;
    const evicted = ring.push(e);
    if (evicted) evictedId = evicted.id;
    if (file && !closed) {
      try {
        file.append(e);
      } catch (err) {
        options.onError?.(err, e);
      }
    }
    // A listener that throws (a closed socket) must not cost the others their event.
    for (const l of [...listeners]) {
      try {
        l(e);
      } catch {
        listeners.delete(l);
      }
    }
    return e;
  };

  return {
    nextId,
    record(input: AgentEventInput): AgentEvent {
      return append({ ...input, id: nextId(), time: input.time ?? now() });
    },
    append,
    recent(limit?: number): AgentEvent[] {
      return limit === undefined ? ring.toArray() : ring.last(limit);
    },
    since(id?: string, limit?: number): SinceResult {
      if (file && !closed) return file.since(id, limit);
      const all = ring.toArray();
      const after = id === undefined ? all : all.filter((e) => e.id > id);
      const truncated = evictedId !== undefined && (id === undefined || id < evictedId);
      return {
        events: limit !== undefined && after.length > limit ? after.slice(0, limit) : after,
        truncated,
      };
    },
    subscribe(listener: EventListener): () => void {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    close(): void {
      if (closed) return;
      closed = true;
      listeners.clear();
      file?.close();
    },
  };
}
