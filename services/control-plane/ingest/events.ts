// What an outcome event must look like before it is queued, and the compact
// form it travels in through Redis.
//
// Decision on invalid events (documented in README.md beside this file):
// - an event whose id is unusable (empty, longer than MAX_EVENT_ID, or holding
//   a NUL or a lone surrogate) is DROPPED and counted
//   (oomfleet_report_events_invalid_total{action="dropped"}): without an id it
//   cannot be stored once and only once, since a resent batch would store it
//   again;
// - any other fault (kind empty or malformed, time not finite or out of range,
//   dataJson not a JSON object, or too large, text PostgreSQL cannot hold) is
//   STORED as kind 'invalid', with the reason and what could be kept of the
//   original in data, and counted (…{action="stored"}): the operator sees that
//   an agent sends garbage, and the event still counts once.
import type { OutcomeEvent } from '../../proto/oomfleet/v1/agent.ts';

export const MAX_EVENT_ID = 64;
export const MAX_KIND = 64;
export const MAX_DIGEST = 128;
export const MAX_MEMCG = 4096;
/** dataJson of one event, in UTF-16 code units (about bytes for ASCII JSON). */
export const MAX_DATA_JSON = 16 * 1024;
/** Events in one job; a larger batch is queued as several jobs. */
export const MAX_JOB_EVENTS = 5_000;
/** The latest time accepted: 9999-12-31T23:59:59.999Z. */
export const MAX_TIME_MS = 253_402_300_799_999;
/** What is kept of a faulty field in an 'invalid' event. */
const KEEP = 1024;

export const INVALID_KIND = 'invalid';
const KIND = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// A NUL (PostgreSQL text cannot hold one) or a lone surrogate (not UTF-8).
const UNSTORABLE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * One event as queued: [eventId, timeMs, kind, policyDigest, memcg, dataJson].
 * A tuple, not an object: a job of 500 events is a third smaller in Redis.
 */
export type EventRow = [string, number, string, string, string, string];

/** The data of one queued job: one ReportBatch of one host. */
export interface ReportJobData {
  /** Format version. */
  v: 1;
  hostId: string;
  seq: number;
  /** ms since the epoch when the control plane received the batch. */
  receivedMs: number;
  events: EventRow[];
}

export const isUuid = (s: string): boolean => UUID.test(s);

// Fast test first: most text holds neither a NUL nor any surrogate.
const SUSPECT = /[\0\ud800-\udfff]/;
const storable = (s: string): boolean => !SUSPECT.test(s) || !UNSTORABLE.test(s);

/** Text PostgreSQL can hold, at most `max` code units long. */
function clean(s: string, max: number): string {
  let out = s.length > max ? s.slice(0, max) : s;
  if (!storable(out))
    out = out.replace(/\0/g, '').replace(/[\ud800-\udfff]/g, (c, i: number, all: string) => {
      const code = c.charCodeAt(0);
      const next = all.charCodeAt(i + 1);
      const prev = all.charCodeAt(i - 1);
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) return c;
      if (code >= 0xdc00 && prev >= 0xd800 && prev <= 0xdbff) return c;
      return '\ufffd';
    });
  return out;
}

/** Whether every string (keys too) in a parsed JSON value can be stored in jsonb. */
function jsonStorable(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (!storable(v)) return false;
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (!storable(k)) return false;
        stack.push(x);
      }
    }
  }
  return true;
}

function dataProblem(dataJson: string): string | undefined {
  if (dataJson.length > MAX_DATA_JSON) return `dataJson longer than ${MAX_DATA_JSON}`;
  if (dataJson === '') return undefined; // no data: {}
  let parsed: unknown;
  try {
    parsed = JSON.parse(dataJson);
  } catch {
    return 'dataJson is not JSON';
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return 'dataJson is not a JSON object';
  // Without a \u escape, a string in the JSON holds only characters of the
  // text itself (JSON.parse refuses a raw NUL): the walk is needed only then.
  if ((dataJson.includes('\\u') || SUSPECT.test(dataJson)) && !jsonStorable(parsed))
    return 'dataJson holds a NUL or a lone surrogate';
  return undefined;
}

export type Checked = { row: EventRow; invalid?: string } | { dropped: string };

/**
 * Checks one event as received: a row to queue (kind 'invalid' when faulty,
 * with `invalid` set to the reason), or why it is dropped.
 */
export function checkEvent(e: OutcomeEvent, receivedMs: number): Checked {
  const id = typeof e.id === 'string' ? e.id : '';
  if (id === '') return { dropped: 'empty event id' };
  if (id.length > MAX_EVENT_ID) return { dropped: `event id longer than ${MAX_EVENT_ID}` };
  if (!storable(id)) return { dropped: 'event id holds a NUL or a lone surrogate' };

  const kind = typeof e.kind === 'string' ? e.kind : '';
  const timeMs = e.timeMs;
  const digest = typeof e.policyDigest === 'string' ? e.policyDigest : '';
  const memcg = typeof e.memcg === 'string' ? e.memcg : '';
  const dataJson = typeof e.dataJson === 'string' ? e.dataJson : '';

  const problems: string[] = [];
  if (kind === '') problems.push('empty kind');
  else if (kind.length > MAX_KIND || !KIND.test(kind)) problems.push('malformed kind');
  else if (kind === INVALID_KIND) problems.push(`kind '${INVALID_KIND}' is reserved`);
  const timeOk =
    typeof timeMs === 'number' && Number.isFinite(timeMs) && timeMs >= 0 && timeMs <= MAX_TIME_MS;
  if (!timeOk) problems.push('time not finite or out of range');
  if (digest.length > MAX_DIGEST || !storable(digest)) problems.push('malformed policyDigest');
  if (memcg.length > MAX_MEMCG || !storable(memcg)) problems.push('malformed memcg');
  const dp = dataProblem(dataJson);
  if (dp) problems.push(dp);

  if (problems.length === 0)
    return {
      row: [id, Math.trunc(timeMs), kind, digest, memcg, dataJson === '' ? '{}' : dataJson],
    };

  const reason = problems.join('; ');
  const data: Record<string, unknown> = { reason, kind: clean(kind, KEEP) };
  if (!timeOk) data.timeMs = typeof timeMs === 'number' ? String(timeMs) : null;
  if (dp) data.dataJson = clean(dataJson, KEEP);
  else if (dataJson !== '') data.data = JSON.parse(dataJson) as unknown;
  return {
    row: [
      id,
      timeOk ? Math.trunc(timeMs) : receivedMs,
      INVALID_KIND,
      clean(digest, MAX_DIGEST),
      clean(memcg, MAX_MEMCG),
      JSON.stringify(data),
    ],
    invalid: reason,
  };
}

/**
 * Checks a job's data as read back from Redis: a job this module did not
 * write (another version, a hand-made job) is refused whole.
 * Returns the reason it is malformed, or undefined.
 */
export function jobDataProblem(d: unknown): string | undefined {
  if (d === null || typeof d !== 'object') return 'job data is not an object';
  const j = d as Partial<ReportJobData>;
  if (j.v !== 1) return `unknown job format ${JSON.stringify(j.v)}`;
  if (typeof j.hostId !== 'string' || !isUuid(j.hostId)) return 'hostId is not a UUID';
  if (typeof j.receivedMs !== 'number' || !Number.isFinite(j.receivedMs))
    return 'receivedMs is not a number';
  if (!Array.isArray(j.events)) return 'events is not an array';
  if (j.events.length > MAX_JOB_EVENTS) return 'too many events';
  if (typeof j.seq !== 'number' || !Number.isSafeInteger(j.seq)) return 'seq is not an integer';
  for (const [i, r] of (j.events as unknown[]).entries()) {
    if (!Array.isArray(r) || r.length !== 6) return `event ${i} is not a 6-tuple`;
    const [id, t, kind, digest, memcg, data] = r as unknown[];
    if (typeof id !== 'string' || id === '' || id.length > MAX_EVENT_ID || !storable(id))
      return `event ${i}: bad id`;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > MAX_TIME_MS)
      return `event ${i}: bad time`;
    if (typeof kind !== 'string' || kind === '' || kind.length > MAX_KIND || !KIND.test(kind))
      return `event ${i}: bad kind`;
    if (typeof digest !== 'string' || digest.length > MAX_DIGEST || !storable(digest))
      return `event ${i}: bad policyDigest`;
    if (typeof memcg !== 'string' || memcg.length > MAX_MEMCG || !storable(memcg))
      return `event ${i}: bad memcg`;
    if (typeof data !== 'string') return `event ${i}: bad data`;
    // The producer checked the JSON; parsing it again for every event would
    // double the ingester's CPU. A JSON fault PostgreSQL finds fails the job
    // alone (see ingester.ts) instead.
    if (data.length > MAX_DATA_JSON + 16 * KEEP + 1024) return `event ${i}: bad data`;
  }
  return undefined;
}
