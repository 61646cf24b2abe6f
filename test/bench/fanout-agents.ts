// The simulated agents of the fan-out benchmark (forked by test/bench/fanout.ts):
// N real gRPC streams, each with its own connection by default as real agents
// have, that say Hello and acknowledge every Assignment at once. Driven over
// IPC: {type:'connect', address, hosts, perConnection} → 'progress' reports
// → {type:'close'} → 'closed'.
import * as grpc from '@grpc/grpc-js';
import {
  AgentServiceClient,
  type AgentMessage,
  type ControlMessage,
} from '../../services/proto/oomfleet/v1/agent.ts';

interface ConnectCommand {
  type: 'connect';
  address: string;
  hosts: { id: string; secret: string }[];
  /** Streams sharing one HTTP/2 connection; 1 = one connection per agent. */
  perConnection: number;
}
type Command = ConnectCommand | { type: 'close' } | { type: 'exit' };

const send = (m: object): void => {
  process.send?.(m);
};

let clients: AgentServiceClient[] = [];
let streams: grpc.ClientDuplexStream<AgentMessage, ControlMessage>[] = [];
let assignments = 0;
let acks = 0;
let ended = 0;
let firstAssigned = 0;
let progressTimer: NodeJS.Timeout | undefined;

let closing = false;
const assigned = new Set<string>();

/**
 * One agent's stream. Like a real agent, it opens a new one after a pause
 * when the stream ends (a refused Hello in a connect storm, say): without
 * that, one lost stream left the run waiting for an ack that never came.
 */
function open(client: AgentServiceClient, h: { id: string; secret: string }): void {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${h.id}.${h.secret}`);
  const stream = client.connect(md);
  streams.push(stream);
  stream.on('data', (m: ControlMessage) => {
    if (m.msg?.$case !== 'assignment') return;
    assignments++;
    if (!assigned.has(h.id)) {
      assigned.add(h.id);
      firstAssigned++;
    }
    const a = m.msg.value;
    stream.write({
      msg: { $case: 'ack', value: { versionId: a.versionId, nonce: a.nonce, digest: a.digest } },
    });
    acks++;
  });
  stream.on('error', () => {});
  stream.on('status', () => {
    ended++;
    if (closing) return;
    setTimeout(
      () => {
        if (!closing) open(client, h);
      },
      200 + Math.random() * 800,
    );
  });
  stream.write({
    msg: {
      $case: 'hello',
      value: {
        hostname: h.id,
        labels: {},
        agentVersion: 'bench',
        kernel: 'bench',
        cgroupMode: 'v2',
        appliedVersionId: '',
        appliedDigest: '',
      },
    },
  });
}

function connect(cmd: ConnectCommand): void {
  closing = false;
  assigned.clear();
  assignments = 0;
  acks = 0;
  ended = 0;
  firstAssigned = 0;
  let client: AgentServiceClient | undefined;
  cmd.hosts.forEach((h, i) => {
    if (i % cmd.perConnection === 0 || !client) {
      client = new AgentServiceClient(cmd.address, grpc.credentials.createInsecure(), {
        // a connection of its own (no sharing of subchannels between clients)
        'grpc.use_local_subchannel_pool': 1,
        'grpc.max_receive_message_length': 16 * 1024 * 1024,
      });
      clients.push(client);
    }
    open(client, h);
  });
  progressTimer ??= setInterval(() => {
    send({ type: 'progress', assignments, acks, firstAssigned, ended, streams: streams.length });
  }, 100);
}

function closeAll(): void {
  closing = true;
  for (const s of streams) s.cancel();
  for (const c of clients) c.close();
  streams = [];
  clients = [];
}

process.on('message', (cmd: Command) => {
  switch (cmd.type) {
    case 'connect':
      connect(cmd);
      break;
    case 'close':
      closeAll();
      setTimeout(() => {
        send({ type: 'closed' });
      }, 200);
      break;
    case 'exit':
      closeAll();
      if (progressTimer) clearInterval(progressTimer);
      process.disconnect();
      break;
  }
});
process.on('disconnect', () => {
  closeAll();
  process.exit(0);
});
send({ type: 'ready' });
