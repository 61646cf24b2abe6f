// Many simulated hosts against one control plane: enrolled a bounded number
// at a time (an enrolment is a database transaction; a thousand at once
// would only queue on the pool), their streams multiplexed over a few shared
// HTTP/2 connections (as many agents behind one NAT would not be, but a
// thousand sockets in one test process buys nothing), labels spread over
// zones, kernels and hardware so that group selectors and rollout stages
// have something to pick from.
import type { ChannelCredentials } from '@grpc/grpc-js';
import type { AgentServiceClient, Assignment } from '../proto/oomfleet/v1/agent.ts';
import { newAgentClient, SimulatedHost, type SimulatedHostOptions } from './host.ts';
import type { Workload } from './workload.ts';

export interface SimulatedFleetOptions {
  count: number;
  address: string;
  enrollmentToken: string;
  /** Labels of host i (0-based); defaultFleetLabels unless given. */
  labels?: (i: number) => Record<string, string>;
  /** Hostname of host i; sim-0001… unless given (must be unique per control plane). */
  hostname?: (i: number) => string;
  /** Streams per shared gRPC connection (default 50). */
  hostsPerConnection?: number;
  /** Enrolments in flight at once (default 50). */
  enrollConcurrency?: number;
  credentials?: ChannelCredentials;
  timeScale?: number;
  workload?: Workload;
  /** The fleet's seed; each host's is derived from it and its index. */
  seed?: number;
  reportEveryMs?: number;
  heartbeatEveryMs?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** A refusal hook for every host (host i's own `nack` can be set later too). */
  nack?: (assignment: Assignment, i: number) => string | undefined;
  log?: (line: string) => void;
}

export interface SimulatedFleet {
  hosts: SimulatedHost[];
  /** Stops every host and closes the shared connections. */
  stop(): Promise<void>;
  /** Resolves once pred holds for every host; rejects after timeoutMs, naming how many lag. */
  waitForAll(pred: (h: SimulatedHost) => boolean, timeoutMs?: number): Promise<void>;
  /** Sums over the hosts: events generated and acknowledged. */
  totals(): { generated: number; acknowledged: number; unacknowledged: number };
}

const ZONES = ['a', 'b', 'c'];
const KERNELS = ['6.1', '6.6'];
const HARDWARE = ['x', 'y'];

/** zone a|b|c, kernel 6.1|6.6, hardware x|y: every combination within 12 consecutive hosts. */
export function defaultFleetLabels(i: number): Record<string, string> {
  return {
    zone: ZONES[i % 3] ?? 'a',
    kernel: KERNELS[Math.floor(i / 3) % 2] ?? '6.1',
    hardware: HARDWARE[Math.floor(i / 6) % 2] ?? 'x',
  };
}

/** A per-host seed: the fleet seed and the index mixed, so neighbours do not draw alike. */
function hostSeed(seed: number, i: number): number {
  return (Math.imul(seed >>> 0, 0x85ebca6b) ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
}

/** Runs fn over items with at most `limit` in flight; rejects with the first failure. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

export async function startSimulatedFleet(o: SimulatedFleetOptions): Promise<SimulatedFleet> {
  const perConnection = Math.max(1, o.hostsPerConnection ?? 50);
  const width = Math.max(4, String(o.count).length);
  const clients: AgentServiceClient[] = [];
  const hosts: SimulatedHost[] = [];
  for (let i = 0; i < o.count; i++) {
    if (i % perConnection === 0) clients.push(newAgentClient(o.address, o.credentials));
    const client = clients[clients.length - 1];
    const nack = o.nack;
    const options: SimulatedHostOptions = {
      address: o.address,
      enrollmentToken: o.enrollmentToken,
      hostname: o.hostname?.(i) ?? `sim-${String(i + 1).padStart(width, '0')}`,
      labels: (o.labels ?? defaultFleetLabels)(i),
      ...(client ? { client } : {}),
      seed: hostSeed(o.seed ?? 1, i),
      ...(o.workload ? { workload: o.workload } : {}),
      ...(o.timeScale !== undefined ? { timeScale: o.timeScale } : {}),
      ...(o.reportEveryMs !== undefined ? { reportEveryMs: o.reportEveryMs } : {}),
      ...(o.heartbeatEveryMs !== undefined ? { heartbeatEveryMs: o.heartbeatEveryMs } : {}),
      ...(o.backoffBaseMs !== undefined ? { backoffBaseMs: o.backoffBaseMs } : {}),
      ...(o.backoffCapMs !== undefined ? { backoffCapMs: o.backoffCapMs } : {}),
      ...(nack ? { nack: (a: Assignment) => nack(a, i) } : {}),
      ...(o.log ? { log: o.log } : {}),
    };
    hosts.push(new SimulatedHost(options));
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all(hosts.map((h) => h.stop()));
      for (const c of clients) c.close();
    })());

  try {
    await eachLimited(hosts, o.enrollConcurrency ?? 50, (h) => h.start());
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    hosts,
    stop,
    async waitForAll(pred, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const lagging = hosts.filter((h) => !pred(h));
        if (lagging.length === 0) return;
        if (Date.now() > deadline)
          throw new Error(
            `${lagging.length} of ${hosts.length} hosts not there after ${timeoutMs} ms (first: ${
              lagging[0]?.hostname ?? '?'
            }, last error: ${lagging[0]?.lastError ?? 'none'})`,
          );
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    totals() {
      let generated = 0;
      let acknowledged = 0;
      let unacknowledged = 0;
      for (const h of hosts) {
        generated += h.generated;
        acknowledged += h.acknowledged;
        unacknowledged += h.unacknowledged;
      }
      return { generated, acknowledged, unacknowledged };
    },
  };
}
