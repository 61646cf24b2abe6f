// The agent's connection to the control plane (DESIGN.md, "The agent
// protocol"). Enrols once (the identity is kept in the state directory),
// then holds one bidirectional stream: Hello first; every Assignment is
// checked (digest, then the policy-check child) and applied through the
// engine, answered with Ack, or with Nack and the reason while the previous
// policy stays; outcome events go out as numbered report batches until
// acknowledged (reports.ts); heartbeats keep the stream honest. When the
// stream fails the agent keeps enforcing what it has (fail-static) and
// reconnects after an exponential backoff with full jitter.
import { release } from 'node:os';
import {
  credentials,
  Metadata,
  status as grpcStatus,
  type ChannelCredentials,
} from '@grpc/grpc-js';
import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import type { LoadResult } from '../../policy/index.ts';
import {
  AgentServiceClient,
  type AgentMessage,
  type Assignment,
  type ControlMessage,
} from '../../proto/oomfleet/v1/agent.ts';
import type { ControlPlaneStatus, Engine } from '../engine/engine.ts';
import type { EventLog } from '../events/index.ts';
import { Backoff } from './backoff.ts';
import type { ResolvedControlPlane, ControlPlaneOptions } from './config.ts';
import {
  loadApplied,
  loadIdentity,
  saveApplied,
  saveIdentity,
  type AppliedVersion,
  type HostIdentity,
} from './files.ts';
import { ReportShipper } from './reports.ts';

export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;
export const DEFAULT_STABLE_MS = 30_000;
const ENROLL_DEADLINE_MS = 15_000;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface ControlClientDeps {
  stateDir: string;
  engine: Engine;
  events: EventLog;
  hostname: string;
  agentVersion: string;
  log: (line: string) => void;
  /** Checks a policy document (the policy-check child by default). */
  vet: (value: unknown) => Promise<LoadResult>;
  /** For tests: the jitter source. */
  random?: () => number;
}

export interface ControlPlaneClient {
  status(): ControlPlaneStatus;
  /** The report shipper's position (for tests and debugging). */
  reports(): { cursor?: string; nextSeq: number; pending: number[] };
  /** Closes the stream; the agent keeps its policy. */
  stop(): Promise<void>;
}

type Tuning = Pick<
  ControlPlaneOptions,
  | 'backoffBaseMs'
  | 'backoffCapMs'
  | 'heartbeatMs'
  | 'connectTimeoutMs'
  | 'stableMs'
  | 'reportDelayMs'
  | 'reportBatchSize'
>;

function channelCredentials(tls: ResolvedControlPlane['tls']): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  return credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}

function errorText(err: unknown): string {
  const e = err as Partial<ServiceError>;
  if (typeof e.code === 'number') {
    const name = grpcStatus[e.code] ?? String(e.code);
    return `${name}: ${e.details || e.message || ''}`.trim();
  }
  return (err as Error).message;
}

function issuesText(r: LoadResult): string {
  const errors = r.issues.filter((i) => i.severity !== 'warning');
  const shown = (errors.length > 0 ? errors : r.issues).slice(0, 5);
  return shown.map((i) => `${i.path || '/'}: ${i.message}`).join('; ') || 'invalid policy';
}

export function startControlPlaneClient(
  config: ResolvedControlPlane,
  deps: ControlClientDeps,
  tuning: Tuning = {},
): ControlPlaneClient {
  const { engine, log, stateDir } = deps;
  const address = config.address;
  const heartbeatMs = tuning.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const connectTimeoutMs = tuning.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const stableMs = tuning.stableMs ?? DEFAULT_STABLE_MS;
  const backoff = new Backoff({
    ...(tuning.backoffBaseMs !== undefined ? { baseMs: tuning.backoffBaseMs } : {}),
    ...(tuning.backoffCapMs !== undefined ? { capMs: tuning.backoffCapMs } : {}),
    ...(deps.random ? { random: deps.random } : {}),
  });
  const report = (p: string): void => {
    log(`agent: control plane: ${p}`);
  };
  const creds = channelCredentials(config.tls);

  let identity: HostIdentity | undefined = loadIdentity(stateDir, report);
  if (identity && identity.address !== address)
    log(
      `agent: control plane: identity ${identity.hostId} was issued by ${identity.address}; using it with ${address}`,
    );
  let applied: AppliedVersion | undefined = loadApplied(stateDir, report);
  // After a restart the engine enforces the last-known-good policy again;
  // name its control-plane version, so that Hello tells the truth.
  if (applied) engine.noteOrigin(applied.digest, applied);

  let status: ControlPlaneStatus = { state: 'connecting', address, since: Date.now() };
  /** lastError: undefined keeps the last one, null clears it. */
  const setStatus = (state: ControlPlaneStatus['state'], lastError?: string | null): void => {
    const error = lastError === null ? undefined : (lastError ?? status.lastError);
    const next: ControlPlaneStatus = {
      state,
      address,
      // Since it connected, or since it has been without a connection
      // (connecting and disconnected alternate while it retries).
      since:
        (state === 'connected') === (status.state === 'connected')
          ? (status.since ?? Date.now())
          : Date.now(),
      ...(identity ? { hostId: identity.hostId } : {}),
      ...(error !== undefined ? { lastError: error } : {}),
    };
    status = next;
    engine.setControlPlaneStatus(next);
  };
  setStatus('connecting');

  const shipper = new ReportShipper({
    stateDir,
    events: deps.events,
    log,
    ...(tuning.reportDelayMs !== undefined ? { delayMs: tuning.reportDelayMs } : {}),
    ...(tuning.reportBatchSize !== undefined ? { batchSize: tuning.reportBatchSize } : {}),
  });

  let stopped = false;
  let client: AgentServiceClient | undefined;
  let call: ClientDuplexStream<AgentMessage, ControlMessage> | undefined;
  let wake: (() => void) | undefined;
  /** Streams this side cancelled: their CANCELLED status is no error. */
  const cancelledByUs = new WeakSet<object>();

  const newClient = (): AgentServiceClient =>
    new AgentServiceClient(address, creds, {
      // A fresh channel per attempt, with its own subchannel: our backoff,
      // not a shared subchannel's, decides when the next attempt happens.
      'grpc.use_local_subchannel_pool': 1,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 0,
    });

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  let enrolling: { cancel(): void } | undefined;
  const enroll = (c: AgentServiceClient, token: string): Promise<HostIdentity> =>
    new Promise((resolve, reject) => {
      enrolling = c.enroll(
        { enrollmentToken: token, hostname: deps.hostname, labels: config.labels },
        new Metadata(),
        { deadline: Date.now() + ENROLL_DEADLINE_MS },
        (err, res) => {
          enrolling = undefined;
          if (err) {
            reject(new Error(`enrolment failed: ${errorText(err)}`));
            return;
          }
          if (!res.hostId || !res.hostSecret) {
            reject(new Error('enrolment failed: the control plane gave no host identity'));
            return;
          }
          resolve({
            hostId: res.hostId,
            hostSecret: res.hostSecret,
            address,
            enrolledAt: Date.now(),
          });
        },
      );
    });

  // Assignments are applied one at a time; one that arrives while another is
  // being checked replaces any still waiting (the control plane is
  // level-triggered: only the newest matters).
  let waiting: { a: Assignment; on: ClientDuplexStream<AgentMessage, ControlMessage> } | undefined;
  let applying = false;

  const answer = async (a: Assignment): Promise<AgentMessage> => {
    const nack = (reason: string): AgentMessage => {
      log(`agent: control plane: refused version ${a.versionId || '(none)'}: ${reason}`);
      return { msg: { $case: 'nack', value: { versionId: a.versionId, nonce: a.nonce, reason } } };
    };
    /** Refused before the engine saw it: recorded here (the engine records its own refusals). */
    const refuse = (reason: string): AgentMessage => {
      deps.events.record({
        kind: 'policy-refused',
        ...(a.policyName ? { name: a.policyName } : {}),
        ...(a.digest ? { digest: a.digest } : {}),
        version: a.version,
        reason,
      });
      return nack(reason);
    };
    const ack = (digest: string): AgentMessage => ({
      msg: { $case: 'ack', value: { versionId: a.versionId, nonce: a.nonce, digest } },
    });
    if (!a.versionId) {
      const r = engine.clearPolicy();
      if (!r.ok) return nack(r.reason);
      applied = undefined;
      saveApplied(stateDir, undefined);
      return ack('');
    }
    if (!a.digest) return refuse('the assignment carries no digest');
    if (!DIGEST.test(a.digest))
      return refuse(`the assignment's digest ${a.digest} is not sha256:<64 hex>`);
    const origin = { versionId: a.versionId, name: a.policyName, version: a.version };
    const remember = (): void => {
      applied = { ...origin, digest: a.digest };
      saveApplied(stateDir, applied);
    };
    // Already enforced (a reconnect re-sends the desired state): only answer.
    if (engine.noteOrigin(a.digest, origin)) {
      remember();
      return ack(a.digest);
    }
    let document: unknown;
    try {
      document = JSON.parse(a.documentJson);
    } catch (err) {
      return refuse(`document_json is not JSON: ${(err as Error).message}`);
    }
    const checked = await deps.vet(document);
    // Stopping while the child checked it: the agent applies nothing more.
    if (stopped) throw new Error('the agent is stopping');
    if (!checked.ok || !checked.canonical || !checked.digest)
      return refuse(`invalid policy: ${issuesText(checked)}`);
    if (checked.digest !== a.digest)
      return refuse(
        `digest mismatch: the document's canonical form is ${checked.digest}, the assignment says ${a.digest}`,
      );
    const r = engine.applyControlPlanePolicy(checked.canonical, origin);
    if (!r.ok) return nack(r.reason);
    remember();
    log(`agent: control plane: applied ${a.policyName} v${a.version} (${a.versionId})`);
    return ack(a.digest);
  };

  const drainAssignments = async (): Promise<void> => {
    applying = true;
    try {
      for (let next = waiting; next; next = waiting) {
        waiting = undefined;
        let reply: AgentMessage;
        try {
          reply = await answer(next.a);
        } catch (err) {
          reply = {
            msg: {
              $case: 'nack',
              value: {
                versionId: next.a.versionId,
                nonce: next.a.nonce,
                reason: `could not apply: ${(err as Error).message}`,
              },
            },
          };
        }
        // The answer belongs to the stream that asked; a new stream gets the
        // assignment again and is answered from what is applied by then.
        if (next.on === call && !stopped) next.on.write(reply);
      }
    } finally {
      applying = false;
    }
  };

  const hello = (): AgentMessage => {
    const digest = engine.appliedDigest();
    const origin = engine.appliedOrigin();
    return {
      msg: {
        $case: 'hello',
        value: {
          hostname: deps.hostname,
          labels: config.labels,
          agentVersion: deps.agentVersion,
          kernel: release(),
          cgroupMode: engine.status().cgroup.mode,
          appliedVersionId: origin && digest ? origin.versionId : '',
          appliedDigest: digest ?? '',
        },
      },
    };
  };

  /** One stream, from Hello to its end; resolves with whether it held long enough to reset the backoff. */
  const runStream = (c: AgentServiceClient, id: HostIdentity): Promise<boolean> =>
    new Promise((resolve) => {
      const md = new Metadata();
      md.set('authorization', `Bearer ${id.hostId}.${id.hostSecret}`);
      const stream = c.connect(md);
      call = stream;
      let connectedAt: number | undefined;
      let goAway = false;
      let heartbeat: NodeJS.Timeout | undefined;
      const connectTimer = setTimeout(() => {
        if (connectedAt === undefined) {
          setStatus('connecting', `no answer from ${address} within ${connectTimeoutMs} ms`);
          cancelledByUs.add(stream);
          stream.cancel();
        }
      }, connectTimeoutMs);
      const send = (m: AgentMessage): void => {
        if (call === stream) stream.write(m);
      };
      const onConnected = (): void => {
        if (connectedAt !== undefined) return;
        connectedAt = Date.now();
        clearTimeout(connectTimer);
        setStatus('connected', null);
        log(`agent: control plane: connected to ${address} as ${id.hostId}`);
        heartbeat = setInterval(() => {
          send({ msg: { $case: 'heartbeat', value: { timeMs: Date.now() } } });
        }, heartbeatMs);
        shipper.attach((batch) => {
          send({ msg: { $case: 'reports', value: batch } });
        });
      };
      let ended = false;
      const end = (why: string | undefined): void => {
        if (ended) return;
        ended = true;
        clearTimeout(connectTimer);
        if (heartbeat) clearInterval(heartbeat);
        shipper.detach();
        if (call === stream) call = undefined;
        if (why !== undefined) setStatus(stopped ? 'disconnected' : status.state, why);
        resolve(goAway || (connectedAt !== undefined && Date.now() - connectedAt >= stableMs));
      };
      stream.on('data', (m: ControlMessage) => {
        onConnected();
        const msg = m.msg;
        if (!msg) return;
        switch (msg.$case) {
          case 'assignment':
            waiting = { a: msg.value, on: stream };
            if (!applying) void drainAssignments();
            break;
          case 'reportAck':
            shipper.onAck(msg.value.seq);
            break;
          case 'heartbeat':
            break;
          case 'goAway':
            goAway = true;
            setStatus(
              status.state,
              `server going away${msg.value.reason ? `: ${msg.value.reason}` : ''}`,
            );
            log(
              `agent: control plane: ${address} is going away (${msg.value.reason}); reconnecting`,
            );
            stream.end();
            cancelledByUs.add(stream);
            stream.cancel();
            break;
        }
      });
      stream.on('error', (err: ServiceError) => {
        // Cancelled by us (GoAway, timeout, stop): keep the reason given then.
        end(cancelledByUs.has(stream) ? undefined : errorText(err));
      });
      stream.on('status', (s: { code: grpcStatus; details: string }) => {
        end(
          s.code === grpcStatus.OK
            ? goAway
              ? undefined
              : 'the control plane closed the stream'
            : cancelledByUs.has(stream)
              ? undefined
              : `${grpcStatus[s.code] ?? s.code}: ${s.details}`,
        );
      });
      stream.on('end', () => {
        // The server finished its side: nothing more is written; finishing
        // ours ends the call.
        if (call === stream) call = undefined;
        stream.end();
      });
      stream.write(hello());
    });

  const loop = async (): Promise<void> => {
    while (!stopped) {
      setStatus('connecting');
      client = newClient();
      let stable = false;
      try {
        if (!identity) {
          if (!config.enrollmentToken)
            throw new Error('not enrolled: give --enrollment-token (or --enrollment-token-file)');
          const id = await enroll(client, config.enrollmentToken);
          saveIdentity(stateDir, id);
          identity = id;
          log(`agent: control plane: enrolled at ${address} as host ${id.hostId}`);
        }
        if (stopped) break;
        stable = await runStream(client, identity);
      } catch (err) {
        setStatus('connecting', (err as Error).message);
      } finally {
        client.close();
        client = undefined;
      }
      if (stopped) break;
      if (stable) backoff.reset();
      const delay = backoff.next();
      setStatus('disconnected');
      log(
        `agent: control plane: ${status.lastError ?? 'disconnected'}; retrying in ${(delay / 1000).toFixed(1)} s`,
      );
      await sleep(delay);
    }
  };
  const running = loop();

  return {
    status: () => status,
    reports: () => shipper.snapshot(),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (call) {
        cancelledByUs.add(call);
        call.end();
        call.cancel();
      }
      enrolling?.cancel();
      wake?.();
      await running;
      shipper.close();
      setStatus('disconnected', status.lastError);
    },
  };
}
