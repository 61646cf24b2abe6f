// The report shipper alone: batches, cumulative acks, the persisted cursor,
// and pending batches rebuilt with the same seq and events after a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEventLog, type EventLog } from '../events/index.ts';
import type { ReportBatch } from '../../proto/oomfleet/v1/agent.ts';
import { ReportShipper, toOutcomeEvent } from './reports.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function setup(): { dir: string; log: EventLog } {
  const dir = mkdtempSync(join(tmpdir(), 'oomfleet-reports-'));
  const log = createEventLog({ dir: join(dir, 'events'), host: 'h' });
  cleanups.push(() => {
    log.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, log };
}

const note = (log: EventLog, message: string): string =>
  log.record({
    kind: 'notify',
    rule: 'r',
    message,
    severity: 'info',
    dryRun: false,
    summary: message,
  }).id;

const ids = (b: ReportBatch): string[] => b.events.map((e) => e.id);

describe('report shipper', () => {
  it('batches after the cursor, keeps unacked batches, resends them, advances on ack', () => {
    const { dir, log } = setup();
    const all = Array.from({ length: 5 }, (_, i) => note(log, `e${i}`));
    const s = new ReportShipper({
      stateDir: dir,
      events: log,
      batchSize: 2,
      maxInFlight: 2,
      delayMs: 0,
      log: () => undefined,
    });
    cleanups.push(() => {
      s.close();
    });
    const sent: ReportBatch[] = [];
    s.attach((b) => sent.push(b));
    expect(sent.map((b) => b.seq)).toEqual([1, 2]);
    expect(sent.map(ids)).toEqual([all.slice(0, 2), all.slice(2, 4)]);
    // Disconnected before any ack: both are sent again, the same.
    s.detach();
    const again: ReportBatch[] = [];
    s.attach((b) => again.push(b));
    expect(again).toEqual(sent);
    // Cumulative ack of 1 opens the window for the last event.
    s.onAck(1);
    expect(s.snapshot()).toEqual({ cursor: all[1], nextSeq: 4, pending: [2, 3] });
    expect(again.at(-1)).toMatchObject({ seq: 3 });
    expect(ids(again.at(-1) as ReportBatch)).toEqual([all[4]]);
    s.onAck(3);
    expect(s.snapshot()).toEqual({ cursor: all[4], nextSeq: 4, pending: [] });
    s.onAck(3); // a duplicate ack changes nothing
    expect(s.snapshot().pending).toEqual([]);
  });

  it('ships new events from memory once caught up, after a short delay', async () => {
    const { dir, log } = setup();
    const s = new ReportShipper({ stateDir: dir, events: log, delayMs: 10, log: () => undefined });
    cleanups.push(() => {
      s.close();
    });
    const sent: ReportBatch[] = [];
    s.attach((b) => sent.push(b));
    expect(sent).toEqual([]);
    const a = note(log, 'a');
    const b = note(log, 'b');
    await new Promise((r) => setTimeout(r, 50));
    expect(sent.map(ids)).toEqual([[a, b]]);
    s.onAck(1);
    const c = note(log, 'c');
    await new Promise((r) => setTimeout(r, 50));
    expect(sent.map((x) => x.seq)).toEqual([1, 2]);
    expect(ids(sent[1] as ReportBatch)).toEqual([c]);
  });

  it('after a restart, resends unacked batches with their seq and events, then continues', () => {
    const { dir, log } = setup();
    const all = Array.from({ length: 5 }, (_, i) => note(log, `e${i}`));
    const first = new ReportShipper({
      stateDir: dir,
      events: log,
      batchSize: 2,
      maxInFlight: 3,
      delayMs: 0,
      log: () => undefined,
    });
    const sent: ReportBatch[] = [];
    first.attach((b) => sent.push(b));
    first.onAck(1);
    first.close();
    const late = note(log, 'late');
    // A new process: the same state directory.
    const second = new ReportShipper({
      stateDir: dir,
      events: log,
      batchSize: 2,
      maxInFlight: 3,
      delayMs: 0,
      log: () => undefined,
    });
    cleanups.push(() => {
      second.close();
    });
    expect(second.snapshot()).toMatchObject({ cursor: all[1], pending: [2, 3] });
    const resent: ReportBatch[] = [];
    second.attach((b) => resent.push(b));
    expect(resent.slice(0, 2)).toEqual(sent.slice(1, 3));
    expect(resent[2]?.seq).toBe(4);
    expect(ids(resent[2] as ReportBatch)).toEqual([late]);
  });

  it('carries the common fields, the rest as JSON', () => {
    const { log } = setup();
    const e = log.record({
      kind: 'oom',
      memcg: '/batch/a',
      handler: 'kernel',
      policy: { name: 'p', digest: 'sha256:ab' },
    });
    const o = toOutcomeEvent(e);
    expect(o).toMatchObject({
      id: e.id,
      timeMs: e.time,
      kind: 'oom',
      memcg: '/batch/a',
      policyDigest: 'sha256:ab',
    });
    expect(JSON.parse(o.dataJson)).toEqual({
      memcg: '/batch/a',
      handler: 'kernel',
      host: 'h',
      policy: { name: 'p', digest: 'sha256:ab' },
    });
  });
});
