import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventRecord } from '../endpoint/api.ts';
import { createIdGenerator } from './id.ts';
import { createEventLog, type EventLog } from './log.ts';
import type { AgentEvent, AgentEventInput, KillEvent } from './types.ts';

const notify = (n: number): AgentEventInput => ({
  kind: 'notify',
  rule: 'r',
  message: `message ${n}`,
  severity: 'info',
  dryRun: false,
  summary: `event ${n}`,
});
const messages = (events: AgentEvent[]): string[] =>
  events.map((e) => (e.kind === 'notify' ? e.message : e.kind));

let dir: string;
const logs: EventLog[] = [];
const open = (opts: Parameters<typeof createEventLog>[0] = {}): EventLog => {
  const log = createEventLog({ dir, ...opts });
  logs.push(log);
  return log;
};
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'oomfleet-events-'));
});
afterEach(() => {
  for (const l of logs.splice(0)) l.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('event log in memory', () => {
  it('gives every event a unique sortable id, the time and the host', () => {
    const log = createEventLog({ now: () => 42, host: 'h1' });
    const a = log.record(notify(1));
    const b = log.record({ ...notify(2), time: 7 });
    expect(a).toMatchObject({ time: 42, host: 'h1', kind: 'notify' });
    expect(b.time).toBe(7);
    expect(b.id > a.id).toBe(true);
    // Every event fits the endpoint's loose record type.
    const rec: EventRecord = a;
    expect(rec.kind).toBe('notify');
  });

  it('is bounded: the ring keeps the newest events; since() reports the gap', () => {
    const log = createEventLog({ capacity: 5 });
    const all = Array.from({ length: 8 }, (_, i) => log.record(notify(i)));
    expect(messages(log.recent())).toEqual([
      'message 3',
      'message 4',
      'message 5',
      'message 6',
      'message 7',
    ]);
    expect(messages(log.recent(2))).toEqual(['message 6', 'message 7']);
    expect(log.since(all[5]?.id)).toEqual({ events: all.slice(6), truncated: false });
    expect(log.since(all[0]?.id).truncated).toBe(true);
    expect(log.since(undefined, 2).events).toEqual(all.slice(3, 5));
  });

  it('tells subscribers, until they unsubscribe; a throwing listener costs the others nothing', () => {
    const log = createEventLog();
    const seen: string[] = [];
    const bad = log.subscribe(() => {
      throw new Error('socket closed');
    });
    const off = log.subscribe((e) => seen.push(e.id));
    const a = log.record(notify(1));
    off();
    log.record(notify(2));
    bad();
    expect(seen).toEqual([a.id]);
  });

  it('appends events that come with their own id (kills are named when they start)', () => {
    const log = createEventLog();
    const kill: KillEvent = {
      id: log.nextId(),
      time: 1,
      kind: 'kill',
      rule: 'r',
      victim: { kind: 'process', pid: 10, comm: 'x', cmdline: 'x', cgroup: '/', startTime: 0 },
      signals: [],
      graceMs: 0,
      dryRun: true,
      outcome: 'dry-run',
      trace: { summary: 's', firing: ['global'] },
    };
    expect(log.append(kill)).toBe(kill);
    expect(log.recent()).toEqual([kill]);
  });
});

describe('event log on disk', () => {
  it('survives a restart: reopened, it shows the old events, since(id) reads on, ids keep sorting', () => {
    const first = open({ now: () => 1_000_000 });
    const old = Array.from({ length: 5 }, (_, i) => first.record(notify(i)));
    first.close();

    // The clock went back across the restart: ids must still sort after the old ones.
    const second = open({ now: () => 500 });
    expect(second.recent()).toEqual(old);
    const next = second.record(notify(5));
    expect(next.id > (old[4]?.id ?? '')).toBe(true);
    expect(second.since(old[2]?.id)).toEqual({ events: [...old.slice(3), next], truncated: false });
    expect(second.since(old[2]?.id, 1).events).toEqual([old[3]]);
    expect(second.since(next.id).events).toEqual([]);
    expect(second.since().events).toHaveLength(6);
  });

  it('skips a line torn by a crash and starts the next event on a line of its own', () => {
    const first = open();
    const a = first.record(notify(1));
    first.close();
    appendFileSync(join(dir, 'events.ndjson'), '{"id":"01J', 'utf8');
    const second = open();
    const b = second.record(notify(2));
    expect(second.since().events).toEqual([a, b]);
    const lines = readFileSync(join(dir, 'events.ndjson'), 'utf8').split('\n');
    expect(lines).toHaveLength(4); // a, the torn line, b, and the final ""
  });

  it('rotates at the size cap, keeps maxFiles old files, and reports what rotation deleted', () => {
    const log = open({ maxFileBytes: 2_000, maxFiles: 2 });
    const all = Array.from({ length: 60 }, (_, i) => log.record(notify(i)));
    const files = readdirSync(dir).sort();
    expect(files).toEqual([
      'events.1.ndjson',
      'events.2.ndjson',
      'events.dropped',
      'events.ndjson',
    ]);
    for (const f of files) expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(2_000);

    const kept = log.since();
    expect(kept.truncated).toBe(true);
    expect(kept.events.length).toBeLessThan(60);
    // What is kept is the newest events, in order, without a hole.
    expect(kept.events).toEqual(all.slice(60 - kept.events.length));
    const firstKept = 60 - kept.events.length;
    // Asking from just before the oldest kept event loses nothing; from earlier, it does.
    expect(log.since(all[firstKept - 1]?.id).truncated).toBe(false);
    expect(log.since(all[firstKept - 2]?.id).truncated).toBe(true);
    expect(log.since(all[50]?.id).events).toEqual(all.slice(51));
  });

  it('after a restart, the ring holds the newest events across rotated files', () => {
    const first = open({ maxFileBytes: 2_000, maxFiles: 3 });
    const all = Array.from({ length: 30 }, (_, i) => first.record(notify(i)));
    first.close();
    const second = open({ maxFileBytes: 2_000, maxFiles: 3, capacity: 20 });
    expect(second.recent()).toEqual(all.slice(10));
  });

  it('keeps an event in memory, and says so, when the disk write fails', () => {
    const errors: unknown[] = [];
    const log = open({ onError: (err) => errors.push(err) });
    // A foreign generator's id is fine; a non-serialisable field is what fails here.
    const bad = {
      ...notify(1),
      id: createIdGenerator()(),
      time: 1,
      extra: 1n,
    } as unknown as AgentEvent;
    log.append(bad);
    expect(errors).toHaveLength(1);
    expect(log.recent()).toEqual([bad]);
  });
});
