// Ships the agent's outcome events to the control plane, none lost and none
// required twice: events are read from the event log after a persisted
// cursor and sent in batches numbered by `seq` (one more per batch over the
// host's life). A batch stays pending until the control plane acknowledges
// it (ReportAck, cumulative); then the cursor advances past its last event
// and is saved. After a reconnect every pending batch is sent again, same
// seq, same events; after a restart pending batches are rebuilt from the
// event log by their saved id ranges. The control plane deduplicates by
// event id, so a batch it had already queued costs nothing.
import type { AgentEvent, EventLog } from '../events/index.ts';
import type { OutcomeEvent, ReportBatch } from '../../proto/oomfleet/v1/agent.ts';
import { loadReportState, saveReportState, type ReportState } from './files.ts';

export const DEFAULT_REPORT_BATCH_SIZE = 200;
export const DEFAULT_REPORT_DELAY_MS = 1_000;
export const DEFAULT_REPORT_MAX_IN_FLIGHT = 4;
/** Events held in memory while caught up; beyond this the shipper reads the file again. */
const MAX_QUEUED = 10_000;

export interface ReportShipperOptions {
  stateDir: string;
  events: EventLog;
  /** Events per batch at most. */
  batchSize?: number;
  /** New events are gathered this long before a batch goes out. */
  delayMs?: number;
  /** Batches sent and not yet acknowledged, at most. */
  maxInFlight?: number;
  log: (line: string) => void;
}

interface PendingBatch {
  seq: number;
  lastId?: string;
  events: OutcomeEvent[];
}

/** An agent event as the protocol carries it: the common fields, the rest as JSON. */
export function toOutcomeEvent(e: AgentEvent): OutcomeEvent {
  const { id, time, kind, ...rest } = e;
  const r = e as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const victim = r.victim as { cgroup?: unknown } | undefined;
  const policyDigest =
    e.policy?.digest ??
    (kind === 'policy-applied' || kind === 'policy-refused' ? str(r.digest) : undefined);
  const memcg = str(r.memcg) ?? str(r.cgroup) ?? str(victim?.cgroup);
  return {
    id,
    timeMs: time,
    kind,
    policyDigest: policyDigest ?? '',
    memcg: memcg ?? '',
    dataJson: JSON.stringify(rest),
  };
}

export class ReportShipper {
  private readonly state: ReportState;
  private readonly pending: PendingBatch[] = [];
  private readonly batchSize: number;
  private readonly delayMs: number;
  private readonly maxInFlight: number;
  private readonly unsubscribe: () => void;
  /** Events appended since the shipper caught up with the file, in order. */
  private queue: AgentEvent[] = [];
  private caughtUp = false;
  private send?: (batch: ReportBatch) => void;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly o: ReportShipperOptions) {
    this.batchSize = Math.max(1, o.batchSize ?? DEFAULT_REPORT_BATCH_SIZE);
    this.delayMs = o.delayMs ?? DEFAULT_REPORT_DELAY_MS;
    this.maxInFlight = Math.max(1, o.maxInFlight ?? DEFAULT_REPORT_MAX_IN_FLIGHT);
    this.state = loadReportState(o.stateDir, (p) => {
      o.log(`agent: control plane: ${p}`);
    });
    // Subscribe before reading the file, so that nothing falls between the two.
    this.unsubscribe = o.events.subscribe((e) => {
      this.onEvent(e);
    });
    this.rebuildPending();
  }

  /** Batches sent before a restart and never acknowledged: the same events again. */
  private rebuildPending(): void {
    const saved = this.state.pending;
    if (saved.length === 0) return;
    const total = saved.reduce((n, b) => n + b.count, 0);
    const r = this.o.events.since(this.state.cursor, total);
    if (r.truncated)
      this.o.log('agent: control plane: some unreported events were rotated out of the event log');
    let rest = r.events;
    for (const b of saved) {
      const upTo = b.lastId;
      const mine = upTo === undefined ? [] : rest.filter((e) => e.id <= upTo);
      rest = upTo === undefined ? rest : rest.filter((e) => e.id > upTo);
      this.pending.push({ seq: b.seq, lastId: b.lastId, events: mine.map(toOutcomeEvent) });
    }
  }

  /** The id after which the next new batch starts. */
  private tail(): string | undefined {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const id = this.pending[i]?.lastId;
      if (id !== undefined) return id;
    }
    return this.state.cursor;
  }

  private onEvent(e: AgentEvent): void {
    if (this.closed) return;
    this.queue.push(e);
    if (this.queue.length > MAX_QUEUED) {
      // Too far behind (a long disconnection): read from the file again.
      this.queue = [];
      this.caughtUp = false;
    }
    if (this.send && !this.timer)
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, this.delayMs);
  }

  /** The next events to ship, after the tail, oldest first. */
  private takeNext(): AgentEvent[] {
    const tail = this.tail();
    if (!this.caughtUp) {
      const r = this.o.events.since(tail, this.batchSize);
      if (r.truncated)
        this.o.log(
          'agent: control plane: some unreported events were rotated out of the event log',
        );
      const last = r.events.at(-1)?.id ?? tail;
      if (r.events.length < this.batchSize) {
        this.caughtUp = true;
        this.queue = last === undefined ? this.queue : this.queue.filter((e) => e.id > last);
      }
      return r.events;
    }
    if (tail !== undefined) this.queue = this.queue.filter((e) => e.id > tail);
    return this.queue.splice(0, this.batchSize);
  }

  private persist(): void {
    this.state.pending = this.pending.map((b) => ({
      seq: b.seq,
      ...(b.lastId !== undefined ? { lastId: b.lastId } : {}),
      count: b.events.length,
    }));
    try {
      saveReportState(this.o.stateDir, this.state);
    } catch (err) {
      this.o.log(`agent: control plane: cannot save the report cursor: ${(err as Error).message}`);
    }
  }

  /** Sends new batches while the window allows. */
  pump(): void {
    if (!this.send || this.closed) return;
    while (this.pending.length < this.maxInFlight) {
      const events = this.takeNext();
      if (events.length === 0) break;
      const batch: PendingBatch = {
        seq: this.state.nextSeq,
        lastId: events.at(-1)?.id,
        events: events.map(toOutcomeEvent),
      };
      this.state.nextSeq++;
      this.pending.push(batch);
      // Saved before it leaves: a seq is never used twice, even across a crash.
      this.persist();
      this.send({ seq: batch.seq, events: batch.events });
    }
  }

  /** A stream is up: sends every pending batch again, in order, then new ones. */
  attach(send: (batch: ReportBatch) => void): void {
    this.send = send;
    for (const b of this.pending) send({ seq: b.seq, events: b.events });
    this.pump();
  }

  /** The stream is gone: batches stay pending until the next one. */
  detach(): void {
    this.send = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The control plane has queued every batch up to `seq`. */
  onAck(seq: number): void {
    let acked = false;
    for (let b = this.pending[0]; b && b.seq <= seq; b = this.pending[0]) {
      this.pending.shift();
      acked = true;
      if (b.lastId !== undefined) this.state.cursor = b.lastId;
    }
    if (!acked) return;
    this.persist();
    this.pump();
  }

  /** For status and tests: the cursor, the next seq, the pending seqs. */
  snapshot(): { cursor?: string; nextSeq: number; pending: number[] } {
    return {
      ...(this.state.cursor !== undefined ? { cursor: this.state.cursor } : {}),
      nextSeq: this.state.nextSeq,
      pending: this.pending.map((b) => b.seq),
    };
  }

  close(): void {
    this.closed = true;
    this.detach();
    this.unsubscribe();
  }
}
