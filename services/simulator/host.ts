// One simulated host: speaks the agent protocol (Enroll, then one Connect
// stream: Hello, Ack/Nack by nonce, numbered report batches, heartbeats) the
// way the real agent does, but enforces nothing. What it "runs" only sets the
// rates at which it reports outcome events, from the workload model. Built for
// rollout tests with many hosts: no files, no child processes, a shared gRPC
// client, and a seeded RNG so that a run's event counts are reproducible.
//
// Kept apart from services/agent on purpose: the simulator is a second,
// independent implementation of the protocol, so it also checks the control
// plane against the protocol as written rather than against the agent's
// reading of it.
import { randomUUID } from 'node:crypto';
import {
  credentials as grpcCredentials,
  Metadata,
  status as grpcStatus,
  type ChannelCredentials,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadPolicyValue, type CanonicalPolicy } from '../policy/index.ts';
import {
  AgentServiceClient,
  type AgentMessage,
  type Assignment,
  type ControlMessage,
  type OutcomeEvent,
} from '../proto/oomfleet/v1/agent.ts';
import { DEFAULT_WORKLOAD, ratesFor, type Rates, type Workload } from './workload.ts';

export const SIMULATOR_AGENT_VERSION = 'oomfleet-simulator/1';
const HOUR_MS = 3_600_000;
const ENROLL_DEADLINE_MS = 10_000;
/** Enroll is retried on these (a control plane starting or restarting), not on a bad token. */
const RETRYABLE = new Set<number>([
  grpcStatus.UNAVAILABLE,
  grpcStatus.DEADLINE_EXCEEDED,
  grpcStatus.RESOURCE_EXHAUSTED,
]);

export type OutcomeKind = 'kill' | 'oom' | 'fallback';
const KINDS: readonly OutcomeKind[] = ['kill', 'oom', 'fallback'];

export interface HostIdentity {
  hostId: string;
  secret: string;
}

export interface AppliedPolicy {
  /** '' never appears here: running no policy is `applied === undefined`. */
  versionId: string;
  digest: string;
  policyName: string;
  version: number;
}

export interface SimulatedHostOptions {
  /** "127.0.0.1:PORT". */
  address: string;
  /** Needed unless `identity` is given. */
  enrollmentToken?: string;
  /** An identity from an earlier enrolment: Enroll is skipped. */
  identity?: HostIdentity;
  hostname: string;
  labels?: Record<string, string>;
  /** Insecure unless given; ignored when `client` is given. */
  credentials?: ChannelCredentials;
  /** A client shared by many hosts (one HTTP/2 connection for all their streams). */
  client?: AgentServiceClient;
  workload?: Workload;
  /** Simulated hours per real hour: 3600 makes one real second a simulated hour. */
  timeScale?: number;
  /** Seed of the host's RNG (event counts); the same seed gives the same draws. */
  seed?: number;
  reportEveryMs?: number;
  heartbeatEveryMs?: number;
  /** Reconnect backoff (full jitter): first ceiling and cap. Small, so tests stay fast. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Events per ReportBatch at most. */
  maxBatchEvents?: number;
  /** A stream silent this long after Hello is abandoned and retried. */
  connectTimeoutMs?: number;
  /** Return a reason to refuse an assignment (tests of NACK gates). */
  nack?: (assignment: Assignment) => string | undefined;
  log?: (line: string) => void;
}

// ---- randomness: seeded, so a fleet's run is reproducible ----

/** mulberry32: a tiny, good-enough 32-bit PRNG; [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A Poisson draw. Knuth's product method is exact but costs O(λ) and
 * underflows exp(-λ) for large λ, so beyond 30 a rounded normal stands in:
 * at that size the difference is far below what any test could notice.
 */
export function poisson(random: () => number, lambda: number): number {
  if (!(lambda > 0)) return 0;
  if (lambda < 30) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = random();
    while (p > limit) {
      k++;
      p *= random();
    }
    return k;
  }
  // Box–Muller; 1 - random() keeps log() away from 0.
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * z));
}

/** Full jitter (as the real agent): uniform in [0, min(cap, base·2^attempt)). */
function fullJitter(random: () => number, attempt: number, baseMs: number, capMs: number): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30)));
}

function errorText(err: unknown): string {
  const e = err as Partial<ServiceError>;
  if (typeof e.code === 'number')
    return `${grpcStatus[e.code] ?? String(e.code)}: ${e.details ?? e.message ?? ''}`;
  return err instanceof Error ? err.message : String(err);
}

/** A new client with short reconnect backoffs (grpc-js defaults grow to 2 minutes). */
export function newAgentClient(
  address: string,
  creds: ChannelCredentials = grpcCredentials.createInsecure(),
): AgentServiceClient {
  return new AgentServiceClient(address, creds, {
    // A connection of its own: hosts given different clients do not share one.
    'grpc.use_local_subchannel_pool': 1,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1000,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
}

type Stream = ClientDuplexStream<AgentMessage, ControlMessage>;

export class SimulatedHost {
  /** Settable at any time: refuse assignments with this reason. */
  nack: ((assignment: Assignment) => string | undefined) | undefined;

  private readonly o: SimulatedHostOptions;
  private readonly random: () => number;
  private readonly workload: Workload;
  private readonly timeScale: number;
  private readonly client: AgentServiceClient;
  private readonly ownClient: boolean;

  private identity: HostIdentity | undefined;
  private current: AppliedPolicy | undefined;
  private rates: Rates;

  /** Events not yet cut into a batch. */
  private buffer: OutcomeEvent[] = [];
  /** Batches sent (or cut while offline) and not acknowledged, by seq, in seq order. */
  private readonly pending = new Map<number, OutcomeEvent[]>();
  private nextSeq = 1;

  private stream: Stream | undefined;
  /** The stream has answered our Hello: reports and answers may go out. */
  private ready = false;
  private silentMode = false;
  private generating = true;
  /** An assignment that arrived while silent: answered when speaking again. */
  private unanswered: { a: Assignment; on: Stream } | undefined;

  private started = false;
  private stopped = false;
  private running: Promise<void> | undefined;
  private tick: NodeJS.Timeout | undefined;
  private lastTick = 0;
  private wake: (() => void) | undefined;
  private enrolling: { cancel(): void } | undefined;

  // Counters for tests.
  private generatedByKind: Record<OutcomeKind, number> = { kill: 0, oom: 0, fallback: 0 };
  private acked = 0;
  private readonly seen: Assignment[] = [];
  private answers = { acks: 0, nacks: 0 };
  private resent = 0;
  private streamsOpened = 0;
  private streamsReady = 0;
  private lastErrorText: string | undefined;

  constructor(options: SimulatedHostOptions) {
    this.o = options;
    this.nack = options.nack;
    this.identity = options.identity;
    this.random = mulberry32(options.seed ?? 1);
    this.workload = options.workload ?? DEFAULT_WORKLOAD;
    this.timeScale = options.timeScale ?? 1;
    this.rates = ratesFor(undefined, this.workload);
    this.ownClient = options.client === undefined;
    this.client = options.client ?? newAgentClient(options.address, options.credentials);
  }

  // ---- accessors ----

  get hostname(): string {
    return this.o.hostname;
  }
  /** Set once enrolled (or given). */
  get hostId(): string | undefined {
    return this.identity?.hostId;
  }
  get hostIdentity(): HostIdentity | undefined {
    return this.identity ? { ...this.identity } : undefined;
  }
  /** The policy it runs now; undefined: none. */
  get applied(): AppliedPolicy | undefined {
    return this.current ? { ...this.current } : undefined;
  }
  /** Its current event rates per simulated host-hour. */
  get currentRates(): Rates {
    return { ...this.rates };
  }
  /** A stream is up and has answered Hello. */
  get connected(): boolean {
    return this.ready;
  }
  get silent(): boolean {
    return this.silentMode;
  }
  get generated(): number {
    return this.generatedByKind.kill + this.generatedByKind.oom + this.generatedByKind.fallback;
  }
  get generatedKinds(): Record<OutcomeKind, number> {
    return { ...this.generatedByKind };
  }
  /** Events in batches the control plane acknowledged. */
  get acknowledged(): number {
    return this.acked;
  }
  /** Events generated and not yet acknowledged (buffered or in pending batches). */
  get unacknowledged(): number {
    let n = this.buffer.length;
    for (const b of this.pending.values()) n += b.length;
    return n;
  }
  get pendingBatches(): number[] {
    return [...this.pending.keys()];
  }
  /** Every Assignment received, oldest first. */
  get assignments(): readonly Assignment[] {
    return this.seen;
  }
  get acks(): number {
    return this.answers.acks;
  }
  get nacks(): number {
    return this.answers.nacks;
  }
  /** Streams opened, and those that got as far as an answer to Hello. */
  get connections(): { opened: number; ready: number } {
    return { opened: this.streamsOpened, ready: this.streamsReady };
  }
  /** Batches sent again on a new stream (not acknowledged on the one before). */
  get resentBatches(): number {
    return this.resent;
  }
  /** An assignment received while silent, not answered yet. */
  get unansweredAssignment(): Assignment | undefined {
    return this.unanswered?.a;
  }
  get lastError(): string | undefined {
    return this.lastErrorText;
  }

  // ---- control ----

  /**
   * Enrols (unless given an identity), then runs: the stream loop and the
   * event timer go on in the background until stop(). Resolves once enrolled.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('already started');
    this.started = true;
    if (!this.identity) this.identity = await this.enroll();
    if (this.stopped) return;
    this.lastTick = Date.now();
    this.tick = setInterval(() => {
      this.onTick();
    }, this.o.reportEveryMs ?? 200);
    this.running = this.loop();
  }

  /**
   * Silent: no heartbeats, no answers to assignments, no reports (events
   * still happen and wait). What a hung agent looks like to the control
   * plane, for silent-agent gates. Leaving it answers what is waiting.
   */
  setSilent(on: boolean): void {
    this.silentMode = on;
    if (on) return;
    const u = this.unanswered;
    this.unanswered = undefined;
    if (u && u.on === this.stream && this.ready) this.answer(u.on, u.a);
    this.flush();
  }

  /** Pauses (or resumes) the workload: no new events, so tests can wait for a fixed total. */
  setGenerating(on: boolean): void {
    if (on && !this.generating) this.lastTick = Date.now();
    this.generating = on;
  }

  /**
   * A network fault, for tests: ships what has happened so far and cuts the
   * stream at once, so those batches are certainly unacknowledged; the host
   * reconnects after its backoff and must send them again.
   */
  dropStream(): void {
    const s = this.stream;
    if (!s) return;
    this.generate(Date.now());
    this.flush();
    this.lastErrorText = 'stream dropped (simulated fault)';
    s.cancel();
  }

  /** Ends the timers and the stream; resolves once the stream loop has ended. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tick) clearInterval(this.tick);
    this.tick = undefined;
    this.enrolling?.cancel();
    const s = this.stream;
    if (s) {
      s.end();
      s.cancel();
    }
    this.wake?.();
    await this.running;
    if (this.ownClient) this.client.close();
  }

  // ---- enrolment ----

  private async enroll(): Promise<HostIdentity> {
    const token = this.o.enrollmentToken;
    if (!token) throw new Error(`${this.o.hostname}: no identity and no enrolment token`);
    // A control plane still starting refuses or times out: retry for a while.
    const until = Date.now() + 30_000;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.enrollOnce(token);
      } catch (err) {
        const code = (err as Partial<ServiceError>).code;
        if (this.stopped || code === undefined || !RETRYABLE.has(code) || Date.now() > until)
          throw new Error(`${this.o.hostname}: enrolment failed: ${errorText(err)}`, {
            cause: err,
          });
        await this.sleep(this.backoff(attempt));
      }
    }
  }

  private enrollOnce(token: string): Promise<HostIdentity> {
    return new Promise((resolve, reject) => {
      this.enrolling = this.client.enroll(
        { enrollmentToken: token, hostname: this.o.hostname, labels: this.o.labels ?? {} },
        new Metadata(),
        { deadline: Date.now() + ENROLL_DEADLINE_MS },
        (err, res) => {
          this.enrolling = undefined;
          if (err) reject(err);
          else if (!res.hostId || !res.hostSecret)
            reject(new Error('the control plane gave no host identity'));
          else resolve({ hostId: res.hostId, secret: res.hostSecret });
        },
      );
    });
  }

  // ---- the stream ----

  private backoff(attempt: number): number {
    return fullJitter(
      this.random,
      attempt,
      this.o.backoffBaseMs ?? 100,
      this.o.backoffCapMs ?? 2000,
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      const held = await this.runStream();
      if (this.stopped) break;
      // A stream that was up (or told us to go) starts the backoff afresh;
      // repeated failures to connect spread the fleet out more each time.
      attempt = held ? 0 : attempt + 1;
      await this.sleep(this.backoff(attempt));
    }
  }

  private hello(): AgentMessage {
    return {
      msg: {
        $case: 'hello',
        value: {
          hostname: this.o.hostname,
          labels: this.o.labels ?? {},
          agentVersion: SIMULATOR_AGENT_VERSION,
          kernel: 'simulated',
          cgroupMode: 'v2',
          appliedVersionId: this.current?.versionId ?? '',
          appliedDigest: this.current?.digest ?? '',
        },
      },
    };
  }

  /** One stream from Hello to its end; resolves with whether it counted as up. */
  private runStream(): Promise<boolean> {
    const id = this.identity;
    if (!id) return Promise.resolve(false);
    return new Promise((resolve) => {
      const md = new Metadata();
      md.set('authorization', `Bearer ${id.hostId}.${id.secret}`);
      const stream = this.client.connect(md);
      this.stream = stream;
      this.streamsOpened++;
      let up = false;
      let goAway = false;
      let heartbeat: NodeJS.Timeout | undefined;
      const connectTimer = setTimeout(() => {
        if (!up) {
          this.lastErrorText = 'no answer to Hello';
          stream.cancel();
        }
      }, this.o.connectTimeoutMs ?? 10_000);

      /** Nothing more is written on this stream. */
      const detach = (): void => {
        if (this.stream === stream) {
          this.stream = undefined;
          this.ready = false;
        }
      };
      let ended = false;
      const end = (why?: string): void => {
        if (ended) return;
        ended = true;
        clearTimeout(connectTimer);
        if (heartbeat) clearInterval(heartbeat);
        detach();
        if (why !== undefined && !this.stopped) this.lastErrorText = why;
        resolve(up || goAway);
      };

      const onUp = (): void => {
        if (up) return;
        up = true;
        this.ready = true;
        this.streamsReady++;
        clearTimeout(connectTimer);
        heartbeat = setInterval(() => {
          if (!this.silentMode && this.stream === stream)
            stream.write({ msg: { $case: 'heartbeat', value: { timeMs: Date.now() } } });
        }, this.o.heartbeatEveryMs ?? 5000);
        // Whatever was never acknowledged goes again, same seq, same events:
        // the control plane stores each event id once.
        if (!this.silentMode) {
          for (const [seq, events] of this.pending) {
            this.resent++;
            this.sendBatch(stream, seq, events);
          }
          this.flush();
        }
      };

      stream.on('data', (m: ControlMessage) => {
        onUp();
        const msg = m.msg;
        switch (msg?.$case) {
          case 'assignment':
            this.seen.push(msg.value);
            if (this.silentMode) this.unanswered = { a: msg.value, on: stream };
            else this.answer(stream, msg.value);
            break;
          case 'reportAck': {
            // Acknowledged per batch: the server answers each batch when it
            // is queued, and those answers may come out of order.
            const events = this.pending.get(msg.value.seq);
            if (events) {
              this.pending.delete(msg.value.seq);
              this.acked += events.length;
            }
            break;
          }
          case 'goAway':
            goAway = true;
            this.lastErrorText = `go away: ${msg.value.reason}`;
            detach();
            stream.end();
            stream.cancel();
            break;
          default:
            break; // heartbeat answers need nothing
        }
      });
      // Every end comes with a status; an error also comes for a non-OK one
      // and must have a listener.
      stream.on('error', (err: ServiceError) => {
        end(err.code === grpcStatus.CANCELLED ? undefined : errorText(err));
      });
      stream.on('status', (s: { code: grpcStatus; details: string }) => {
        end(
          s.code === grpcStatus.OK || s.code === grpcStatus.CANCELLED
            ? undefined
            : `${grpcStatus[s.code] ?? s.code}: ${s.details}`,
        );
      });
      stream.on('end', () => {
        // The server finished its side; finishing ours ends the call.
        detach();
        stream.end();
      });
      stream.write(this.hello());
    });
  }

  private send(on: Stream, m: AgentMessage): void {
    if (this.stream === on && !this.stopped) on.write(m);
  }

  // ---- assignments ----

  private answer(on: Stream, a: Assignment): void {
    const reply = this.decide(a);
    if (reply.msg?.$case === 'ack') this.answers.acks++;
    else this.answers.nacks++;
    this.send(on, reply);
  }

  /** Applies an assignment if it is sound; the answer to send. Refused: the previous policy stays. */
  private decide(a: Assignment): AgentMessage {
    const nack = (reason: string): AgentMessage => ({
      msg: { $case: 'nack', value: { versionId: a.versionId, nonce: a.nonce, reason } },
    });
    const ack = (digest: string): AgentMessage => ({
      msg: { $case: 'ack', value: { versionId: a.versionId, nonce: a.nonce, digest } },
    });
    const forced = this.nack?.(a);
    if (forced !== undefined) return nack(forced);
    if (a.versionId === '') {
      this.run(undefined, undefined);
      return ack('');
    }
    // Re-sent on every reconnect: nothing to do if it already runs.
    if (this.current?.versionId === a.versionId && this.current.digest === a.digest)
      return ack(a.digest);
    let document: unknown;
    try {
      document = JSON.parse(a.documentJson);
    } catch (err) {
      return nack(`document_json is not JSON: ${(err as Error).message}`);
    }
    const loaded = loadPolicyValue(document);
    if (!loaded.ok || !loaded.canonical || !loaded.digest) {
      const first = loaded.issues.find((i) => i.severity !== 'warning');
      return nack(`invalid policy: ${first ? `${first.path || '/'}: ${first.message}` : '?'}`);
    }
    if (loaded.digest !== a.digest)
      return nack(
        `digest mismatch: the document's canonical form is ${loaded.digest}, the assignment says ${a.digest}`,
      );
    this.run(
      { versionId: a.versionId, digest: a.digest, policyName: a.policyName, version: a.version },
      loaded.canonical,
    );
    return ack(a.digest);
  }

  private run(p: AppliedPolicy | undefined, canonical: CanonicalPolicy | undefined): void {
    // Events so far happened under the old policy: account for them first.
    this.generate(Date.now());
    this.current = p;
    this.rates = ratesFor(canonical, this.workload);
    this.o.log?.(`${this.o.hostname}: runs ${p ? `${p.policyName} v${p.version}` : 'no policy'}`);
  }

  // ---- outcome events ----

  private onTick(): void {
    this.generate(Date.now());
    this.flush();
  }

  /** Draws the events of the time since the last draw, at the current rates. */
  private generate(now: number): void {
    const elapsed = Math.max(0, now - this.lastTick);
    this.lastTick = now;
    if (!this.generating || elapsed === 0) return;
    const hours = (elapsed / HOUR_MS) * this.timeScale;
    const digest = this.current?.digest ?? '';
    const data = JSON.stringify({
      simulated: true,
      ...(this.current ? { policy: `${this.current.policyName}@${this.current.version}` } : {}),
    });
    for (const kind of KINDS) {
      const n = poisson(this.random, this.rates[kind] * hours);
      for (let i = 0; i < n; i++)
        this.buffer.push({
          id: randomUUID(),
          timeMs: now,
          kind,
          policyDigest: digest,
          memcg: '/jobs/job',
          dataJson: data,
        });
      this.generatedByKind[kind] += n;
    }
  }

  /** Cuts the buffer into batches and sends them, when a stream is up. */
  private flush(): void {
    const s = this.stream;
    if (!s || !this.ready || this.silentMode || this.buffer.length === 0) return;
    const max = this.o.maxBatchEvents ?? 500;
    while (this.buffer.length > 0) {
      const events = this.buffer.splice(0, max);
      const seq = this.nextSeq++;
      this.pending.set(seq, events);
      this.sendBatch(s, seq, events);
    }
  }

  private sendBatch(on: Stream, seq: number, events: OutcomeEvent[]): void {
    this.send(on, { msg: { $case: 'reports', value: { seq, events } } });
  }
}
