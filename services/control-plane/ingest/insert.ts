// The one statement that writes outcome events: a multi-row insert from
// parallel arrays (unnest), so a batch of any size is one round trip and one
// plan. A batch sent twice is stored once (ON CONFLICT … DO NOTHING on
// (host_id, event_id)); events of a host that no longer exists are skipped
// (the EXISTS), not failed. The ORDER BY keeps the given order in the ids
// (the semi-join may be planned as a hash join, which would not). The benchmark's floor runs this same statement.
import type pg from 'pg';
import type { EventRow } from './events.ts';

export const INSERT_EVENTS_SQL = `INSERT INTO outcome_events
  (host_id, event_id, kind, time, policy_digest, memcg, data, received_at)
SELECT u.host_id, u.event_id, u.kind, to_timestamp(u.t / 1000.0),
       NULLIF(u.digest, ''), NULLIF(u.memcg, ''), u.data::jsonb, to_timestamp(u.r / 1000.0)
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::float8[], $5::text[], $6::text[],
            $7::text[], $8::float8[]) WITH ORDINALITY
     AS u(host_id, event_id, kind, t, digest, memcg, data, r, n)
WHERE EXISTS (SELECT 1 FROM hosts h WHERE h.id = u.host_id)
ORDER BY u.n
ON CONFLICT (host_id, event_id) DO NOTHING`;

/** Events as the statement's parallel arrays. */
export interface EventColumns {
  hostIds: string[];
  eventIds: string[];
  kinds: string[];
  times: number[];
  digests: string[];
  memcgs: string[];
  data: string[];
  received: number[];
}

interface Item {
  hostId: string;
  seq: number;
  receivedMs: number;
  row: EventRow;
}

/** One host's batch, as queued. */
export interface EventBatch {
  hostId: string;
  seq: number;
  receivedMs: number;
  events: readonly EventRow[];
}

/**
 * The columns for a set of batches, ordered by host, then batch seq, then the
 * agent's order within the batch: the bigserial ids follow the agent's order,
 * and concurrent inserts of the same batch take the unique index's locks in
 * the same order (no deadlock when a resent batch is ingested twice at once).
 */
export function toColumns(batches: readonly EventBatch[]): EventColumns {
  const items: Item[] = [];
  for (const b of batches)
    for (const row of b.events)
      items.push({ hostId: b.hostId, seq: b.seq, receivedMs: b.receivedMs, row });
  // Array.prototype.sort is stable: the order within a batch is kept.
  items.sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : a.seq - b.seq));
  const n = items.length;
  const c: EventColumns = {
    hostIds: new Array<string>(n),
    eventIds: new Array<string>(n),
    kinds: new Array<string>(n),
    times: new Array<number>(n),
    digests: new Array<string>(n),
    memcgs: new Array<string>(n),
    data: new Array<string>(n),
    received: new Array<number>(n),
  };
  for (let i = 0; i < n; i++) {
    const { hostId, receivedMs, row } = items[i] as Item;
    c.hostIds[i] = hostId;
    c.eventIds[i] = row[0];
    c.times[i] = row[1];
    c.kinds[i] = row[2];
    c.digests[i] = row[3];
    c.memcgs[i] = row[4];
    c.data[i] = row[5];
    c.received[i] = receivedMs;
  }
  return c;
}

const QUOTE_OR_BACKSLASH = /["\\]/g;

/**
 * A PostgreSQL array literal of text: every element quoted (so "NULL" stays
 * text), " and \ escaped. What pg would build, with one pass per element
 * instead of two: the ingester's busiest loop.
 */
export function textArray(xs: readonly string[]): string {
  let out = '{';
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i] as string;
    if (i > 0) out += ',';
    out += '"';
    out += x.includes('"') || x.includes('\\') ? x.replace(QUOTE_OR_BACKSLASH, '\\$&') : x;
    out += '"';
  }
  return out + '}';
}

/** A PostgreSQL array literal of finite numbers. */
const numberArray = (xs: readonly number[]): string => `{${xs.join(',')}}`;

/** Inserts the events; resolves to how many rows were new. */
export async function insertEvents(db: pg.Pool | pg.ClientBase, c: EventColumns): Promise<number> {
  if (c.eventIds.length === 0) return 0;
  const res = await db.query({
    // A named statement: parsed and planned once per connection.
    name: 'oomfleet_insert_outcome_events',
    text: INSERT_EVENTS_SQL,
    values: [
      textArray(c.hostIds),
      textArray(c.eventIds),
      textArray(c.kinds),
      numberArray(c.times),
      textArray(c.digests),
      textArray(c.memcgs),
      textArray(c.data),
      numberArray(c.received),
    ],
  });
  return res.rowCount ?? 0;
}
