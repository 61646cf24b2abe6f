// Test helpers for the gRPC server: a world (fresh schema, fan-out on a
// random Redis channel, metrics, an in-memory report sink), policy versions,
// enrolled hosts, and a scripted agent stream. Used by tests only.
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { hashToken, newToken } from '../auth/tokens.ts';
import { createFanout, type Fanout } from '../fanout/fanout.ts';
import { createMetrics, type Metrics } from '../metrics.ts';
import type { Database } from '../store/db.ts';
import {
  AgentServiceClient,
  type AgentMessage,
  type ControlMessage,
  type OutcomeEvent,
} from '../../proto/oomfleet/v1/agent.ts';
import { bearer } from './auth.ts';
import type { ReportSink } from './types.ts';
import { eventually as waitUntil } from '../../../test/helpers/wait.ts';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export class MemorySink implements ReportSink {
  batches: { hostId: string; seq: number; events: OutcomeEvent[] }[] = [];
  failing = false;
  /** How long queueing a batch takes (ms), by its seq: 0 unless set. */
  delay: (seq: number) => number = () => 0;
  async enqueue(hostId: string, batch: { seq: number; events: OutcomeEvent[] }): Promise<void> {
    const ms = this.delay(batch.seq);
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
    if (this.failing) throw new Error('queue down');
    this.batches.push({ hostId, ...batch });
  }
}

export function testFanout(
  channel = `oomfleet-test:${randomBytes(6).toString('hex')}`,
): Promise<Fanout> {
  return createFanout({ redisUrl: REDIS_URL, channel });
}

export function testMetrics(): Metrics {
  return createMetrics({ defaults: false });
}

let docSeq = 0;
/** A policy with `count` versions; returns their ids. */
export async function makePolicy(
  db: Database,
  count = 2,
): Promise<{ name: string; ids: string[] }> {
  const name = `p-${randomBytes(4).toString('hex')}`;
  const policy = await db.prisma.policy.create({ data: { name, createdBy: 'test' } });
  const ids: string[] = [];
  for (let v = 1; v <= count; v++) {
    const document = {
      apiVersion: 'oomfleet/v1',
      kind: 'OomPolicy',
      metadata: { name, description: `v${v} ${++docSeq}` },
      spec: { interval: 1000, dryRun: false },
    };
    const pv = await db.prisma.policyVersion.create({
      data: {
        policyId: policy.id,
        version: v,
        document,
        source: JSON.stringify(document),
        digest: `sha256:${hashToken(JSON.stringify(document))}`,
        author: 'test',
      },
    });
    ids.push(pv.id);
  }
  return { name, ids };
}

/** Hosts inserted directly (as an enrolment would leave them). */
export async function makeHosts(
  db: Database,
  n: number,
  labels: Record<string, string> = {},
): Promise<{ id: string; secret: string; name: string }[]> {
  const out: { id: string; secret: string; name: string }[] = [];
  for (let i = 0; i < n; i++) {
    const secret = newToken('host');
    const name = `h-${randomBytes(5).toString('hex')}`;
    const h = await db.prisma.host.create({
      data: { name, labels, secretHash: hashToken(secret) },
    });
    out.push({ id: h.id, secret, name });
  }
  return out;
}

/** Sets the desired version of hosts directly (what resolveDesired or a rollout does). */
export async function setDesired(
  db: Database,
  hostIds: string[],
  versionId: string | null,
): Promise<void> {
  await db.prisma.host.updateMany({
    where: { id: { in: hostIds } },
    data: { desiredVersionId: versionId },
  });
}

export function client(
  port: number,
  creds = grpc.credentials.createInsecure(),
  options: grpc.ClientOptions = {},
): AgentServiceClient {
  return new AgentServiceClient(`127.0.0.1:${port}`, creds, options);
}

type MsgValue<K> = Extract<NonNullable<ControlMessage['msg']>, { $case: K }>['value'];

/** One agent stream with a queue of what the server sent. */
export class TestAgent {
  readonly received: ControlMessage[] = [];
  status: grpc.StatusObject | undefined;
  error: grpc.ServiceError | undefined;
  private waiters: (() => void)[] = [];
  readonly stream: grpc.ClientDuplexStream<AgentMessage, ControlMessage>;

  constructor(c: AgentServiceClient, hostId: string, secret: string) {
    const md = new grpc.Metadata();
    md.set('authorization', bearer(hostId, secret));
    this.stream = c.connect(md);
    this.stream.on('data', (m: ControlMessage) => {
      this.received.push(m);
      this.wake();
    });
    this.stream.on('status', (s: grpc.StatusObject) => {
      this.status = s;
      this.wake();
    });
    this.stream.on('error', (e: grpc.ServiceError) => {
      this.error = e;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(m: AgentMessage['msg']): void {
    this.stream.write({ msg: m });
  }

  hello(extra: Partial<import('../../proto/oomfleet/v1/agent.ts').Hello> = {}): void {
    this.send({
      $case: 'hello',
      value: {
        hostname: 'x',
        labels: {},
        agentVersion: '1.0.0',
        kernel: '6.1.0',
        cgroupMode: 'v2',
        appliedVersionId: '',
        appliedDigest: '',
        ...extra,
      },
    });
  }

  async until<T>(pick: () => T | undefined, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pick();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The n-th message of a kind (0-based). */
  async nth<K extends NonNullable<ControlMessage['msg']>['$case']>(
    kind: K,
    n = 0,
  ): Promise<MsgValue<K>> {
    type V = MsgValue<K>;
    return this.until<V>((): V | undefined => {
      const all = this.received.filter((m) => m.msg?.$case === kind);
      return all[n]?.msg?.value as V | undefined;
    });
  }

  async ended(): Promise<grpc.StatusObject> {
    return this.until(() => this.status);
  }

  close(): void {
    this.stream.cancel();
  }
}

/** Polls until check returns a value other than undefined/false. */
export function eventually<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 5000,
): Promise<T> {
  return waitUntil('a condition', check, timeoutMs);
}
