// A small control plane for the client's tests: the AgentService as the
// protocol describes it, over real gRPC on loopback. Not the real server
// (services/control-plane): just enough to hold the agent to the protocol.
import { randomBytes } from 'node:crypto';
import {
  Server,
  ServerCredentials,
  status,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  AgentServiceService,
  type AgentMessage,
  type Assignment,
  type ControlMessage,
  type EnrollRequest,
  type EnrollResponse,
  type Hello,
  type OutcomeEvent,
} from '../../proto/oomfleet/v1/agent.ts';

export type Desired = Omit<Assignment, 'nonce'>;

export interface Recorded {
  enrolments: EnrollRequest[];
  connections: number;
  rejected: number;
  hellos: Hello[];
  acks: { versionId: string; nonce: string; digest: string }[];
  nacks: { versionId: string; nonce: string; reason: string }[];
  /** Every batch as it arrived, resends included. */
  batches: { seq: number; ids: string[] }[];
  /** Events by id, first arrival kept: the server's dedup. */
  events: Map<string, OutcomeEvent>;
  /** How many times each event id arrived. */
  arrivals: Map<string, number>;
  heartbeats: number;
}

export interface FakeControlPlane {
  readonly address: string;
  readonly port: number;
  readonly got: Recorded;
  /** The nonce of the last assignment sent. */
  lastNonce(): string | undefined;
  /** Changes the desired state and pushes it to every connected agent. */
  setDesired(d: Desired | undefined): void;
  /** Whether report batches are acknowledged (default true). */
  ackReports(on: boolean): void;
  goAway(reason: string): void;
  /** Gone at once, as a crash would (streams fail). */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  waitFor<T>(what: () => T | undefined | false, timeoutMs?: number): Promise<T>;
}

export const TEST_TOKEN = 'enrol-me';

export async function startFakeControlPlane(port = 0): Promise<FakeControlPlane> {
  const got: Recorded = {
    enrolments: [],
    connections: 0,
    rejected: 0,
    hellos: [],
    acks: [],
    nacks: [],
    batches: [],
    events: new Map(),
    arrivals: new Map(),
    heartbeats: 0,
  };
  const hosts = new Map<string, string>(); // id → secret
  let desired: Desired | undefined;
  let nonceN = 0;
  let nonce: string | undefined;
  let acking = true;
  let server: Server | undefined;
  let boundPort = port;
  const streams = new Set<ServerDuplexStream<AgentMessage, ControlMessage>>();

  const assignment = (): ControlMessage => {
    nonce = `n${++nonceN}`;
    const d = desired ?? {
      versionId: '',
      policyName: '',
      version: 0,
      digest: '',
      documentJson: '',
    };
    return { msg: { $case: 'assignment', value: { ...d, nonce } } };
  };

  const impl = {
    enroll(
      call: ServerUnaryCall<EnrollRequest, EnrollResponse>,
      cb: sendUnaryData<EnrollResponse>,
    ): void {
      got.enrolments.push(call.request);
      if (call.request.enrollmentToken !== TEST_TOKEN) {
        cb({ code: status.PERMISSION_DENIED, details: 'unknown enrolment token' });
        return;
      }
      const hostId = `host-${got.enrolments.length}`;
      const hostSecret = randomBytes(16).toString('hex');
      hosts.set(hostId, hostSecret);
      cb(null, { hostId, hostSecret });
    },
    connect(call: ServerDuplexStream<AgentMessage, ControlMessage>): void {
      const auth = String(call.metadata.get('authorization')[0] ?? '');
      const m = /^Bearer ([^.]+)\.(.+)$/.exec(auth);
      if (!m || hosts.get(m[1] ?? '') !== m[2]) {
        got.rejected++;
        call.emit('error', { code: status.UNAUTHENTICATED, details: 'bad host credentials' });
        return;
      }
      got.connections++;
      let helloSeen = false;
      call.on('data', (msg: AgentMessage) => {
        const x = msg.msg;
        if (!x) return;
        if (!helloSeen && x.$case !== 'hello') {
          call.emit('error', { code: status.FAILED_PRECONDITION, details: 'hello first' });
          return;
        }
        switch (x.$case) {
          case 'hello':
            helloSeen = true;
            got.hellos.push(x.value);
            streams.add(call);
            call.write(assignment());
            break;
          case 'ack':
            got.acks.push(x.value);
            break;
          case 'nack':
            got.nacks.push(x.value);
            break;
          case 'reports': {
            const ids = x.value.events.map((e) => e.id);
            got.batches.push({ seq: x.value.seq, ids });
            for (const e of x.value.events) {
              if (!got.events.has(e.id)) got.events.set(e.id, e);
              got.arrivals.set(e.id, (got.arrivals.get(e.id) ?? 0) + 1);
            }
            if (acking) call.write({ msg: { $case: 'reportAck', value: { seq: x.value.seq } } });
            break;
          }
          case 'heartbeat':
            got.heartbeats++;
            break;
        }
      });
      const drop = (): void => {
        streams.delete(call);
      };
      call.on('end', () => {
        drop();
        call.end();
      });
      call.on('error', drop);
      call.on('cancelled', drop);
    },
  };

  const listen = async (): Promise<void> => {
    const s = new Server();
    s.addService(AgentServiceService, impl);
    boundPort = await new Promise<number>((resolve, reject) => {
      s.bindAsync(`127.0.0.1:${boundPort}`, ServerCredentials.createInsecure(), (err, p) => {
        if (err) reject(err);
        else resolve(p);
      });
    });
    server = s;
  };
  await listen();

  return {
    get address() {
      return `127.0.0.1:${boundPort}`;
    },
    get port() {
      return boundPort;
    },
    got,
    lastNonce: () => nonce,
    setDesired(d) {
      desired = d;
      for (const s of streams) s.write(assignment());
    },
    ackReports(on) {
      acking = on;
    },
    goAway(reason) {
      for (const s of [...streams]) {
        s.write({ msg: { $case: 'goAway', value: { reason } } });
        s.end();
      }
      streams.clear();
    },
    async kill() {
      streams.clear();
      server?.forceShutdown();
      server = undefined;
      await new Promise((r) => setTimeout(r, 20));
    },
    async restart() {
      // The port may take a moment to be free again.
      for (let i = 0; ; i++) {
        try {
          await listen();
          return;
        } catch (err) {
          if (i > 50) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    async waitFor(what, timeoutMs = 45_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const v = what();
        if (v !== undefined && v !== false) return v;
        if (Date.now() > deadline) throw new Error('waitFor: timed out');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
