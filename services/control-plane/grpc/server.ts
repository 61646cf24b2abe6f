// The agents' gRPC endpoint (DESIGN.md, "The agent protocol"): Enroll, and
// one Connect stream per agent, level-triggered like xDS. On every Hello and
// whenever the fan-out says a host's desired state changed, the host's
// desired version is read from PostgreSQL and sent as an Assignment with a
// fresh nonce; Ack/Nack with that nonce are recorded, stale ones ignored.
//
// Built for 10,000 streams per process: database writes from streams (hellos,
// acks, heartbeats, disconnects, report seqs) are batched into one statement
// every few ms; each policy version is encoded once and shared; there is no
// timer per stream (one sweep per server).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { tokenMatches } from '../auth/tokens.ts';
import { resolveDesired } from '../desired/resolve.ts';
import { ALL_HOSTS } from '../fanout/fanout.ts';
import {
  AgentServiceService,
  type AgentMessage,
  type EnrollRequest,
  type EnrollResponse,
  type Hello,
  type ReportBatch,
} from '../../proto/oomfleet/v1/agent.ts';
import { AssignmentCache, encodeAssignment, encodeControl } from './assignment-cache.ts';
import { UUID, parseHostAuthorization } from './auth.ts';
import { Batcher } from './batcher.ts';
import { checkLabels, enroll } from './enroll.ts';
import { GrpcError, toStatus } from './errors.ts';
import { serverCredentials } from './tls.ts';
import type { GrpcDeps, GrpcServer } from './types.ts';

export const AGENT_SERVICE_NAME = 'oomfleet.v1.AgentService';
/** A stream that has not said Hello by then is closed. */
const HELLO_TIMEOUT_MS = 30_000;
/** lastSeenAt is written at most this often per host from heartbeats. */
const LAST_SEEN_EVERY_MS = 15_000;
const SWEEP_EVERY_MS = 5_000;
const RECONCILE_EVERY_MS = 15_000;

type Call = grpc.ServerDuplexStream<AgentMessage, Buffer>;

interface Session {
  hostId: string;
  call: Call;
  openedAt: number;
  /** Hello received. */
  hello: boolean;
  /** Hello written and first Assignment sent: fan-out may push. */
  ready: boolean;
  /** A fan-out arrived before ready: refresh once ready. */
  refreshAfterHello: boolean;
  /** Version of the last Assignment sent on this stream ('' = none), null before any. */
  sentVersionId: string | null;
  sentDigest: string;
  sentNonce: string;
  sentAt: number;
  /** Nonce already answered (Ack or Nack): a repeat is stale. */
  answeredNonce: string;
  lastSeenWrite: number;
  closed: boolean;
  /**
   * Report batches are queued one after another: the agent takes an ack of
   * seq N for every batch up to N, so N must never be acked before N−1 is
   * queued.
   */
  reports: Promise<void>;
}

/**
 * The Connect method with responses passed as already-encoded Buffers, so one
 * encoding of a policy version serves every stream.
 */
const serviceDefinition = {
  enroll: AgentServiceService.enroll,
  connect: {
    ...AgentServiceService.connect,
    responseSerialize: (value: Buffer): Buffer => value,
    responseDeserialize: (value: Buffer): Buffer => value,
  },
};

const nullIfEmpty = (s: string): string | null => (s === '' ? null : s);
const uuidOrNull = (s: string): string | null => (UUID.test(s) ? s.toLowerCase() : null);

export async function startGrpcServer(deps: GrpcDeps): Promise<GrpcServer> {
  const { db, metrics, replicaId } = deps;
  const pool = db.pool;
  const sessions = new Map<string, Session>();
  const assignments = new AssignmentCache(pool);
  const noncePrefix = randomBytes(4).toString('hex');
  let nonceCounter = 0;
  let closing = false;

  // ---- batched writes ----

  const authBatch = new Batcher<string, string | null>(async (ids) => {
    const { rows } = await pool.query<{ id: string; secret_hash: string }>(
      'SELECT id, secret_hash FROM hosts WHERE id = ANY($1::uuid[])',
      [[...new Set(ids)]],
    );
    const byId = new Map(rows.map((r) => [r.id, r.secret_hash]));
    return ids.map((id) => byId.get(id) ?? null);
  }, 2);

  const helloBatch = new Batcher<{ hostId: string; hello: Hello }, string | null>(async (items) => {
    const last = new Map<string, Hello>();
    for (const i of items) last.set(i.hostId, i.hello);
    const ids = [...last.keys()];
    const hs = [...last.values()];
    await pool.query(
      `UPDATE hosts h SET agent_version = v.av, kernel = v.k, cgroup_mode = v.cm,
              agent_labels = h.agent_labels || v.labels,
              labels = CASE WHEN h.labels_set_at IS NULL THEN h.labels || v.labels ELSE h.labels END,
              last_seen_at = now(), connected_to = $8,
              applied_version_id = pv.id, applied_digest = pv.digest
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::uuid[], $7::text[])
                AS v(id, av, k, cm, labels, applied, digest)
              -- A claim is believed only with the version's own digest: an agent
              -- running something else under that id is sent the version again.
              LEFT JOIN policy_versions pv ON pv.id = v.applied AND pv.digest = v.digest
        WHERE h.id = v.id`,
      [
        ids,
        hs.map((h) => h.agentVersion.slice(0, 200)),
        hs.map((h) => h.kernel.slice(0, 200)),
        hs.map((h) => h.cgroupMode.slice(0, 20)),
        hs.map((h) => JSON.stringify(h.labels)),
        hs.map((h) => uuidOrNull(h.appliedVersionId)),
        hs.map((h) => h.appliedDigest.slice(0, 200)),
        replicaId,
      ],
    );
    await resolveDesired(db, { hostIds: ids });
    const desired = await readDesired(ids);
    return items.map((i) => desired.get(i.hostId) ?? null);
  }, 5);

  const ackBatch = new Batcher<{ hostId: string; versionId: string; digest: string }>(
    async (items) => {
      const last = new Map<string, { versionId: string; digest: string }>();
      for (const i of items) last.set(i.hostId, i);
      const vs = [...last.values()];
      await pool.query(
        `UPDATE hosts h SET applied_version_id = v.ver, applied_digest = v.digest,
                acked_at = now(), last_seen_at = now(),
                last_nack_version_id = NULL, last_nack_reason = NULL, last_nack_at = NULL
           FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS v(id, ver, digest)
          WHERE h.id = v.id`,
        [
          [...last.keys()],
          vs.map((v) => nullIfEmpty(v.versionId)),
          vs.map((v) => nullIfEmpty(v.digest)),
        ],
      );
      return items.map(() => undefined);
    },
    3,
  );

  const sentBatch = new Batcher<{ hostId: string; nonce: string }>(async (items) => {
    const last = new Map<string, string>();
    for (const i of items) last.set(i.hostId, i.nonce);
    await pool.query(
      `UPDATE hosts h SET sent_nonce = v.nonce, sent_at = now()
         FROM unnest($1::uuid[], $2::text[]) AS v(id, nonce) WHERE h.id = v.id`,
      [[...last.keys()], [...last.values()]],
    );
    return items.map(() => undefined);
  }, 5);

  const seenBatch = new Batcher<string>(async (ids) => {
    await pool.query('UPDATE hosts SET last_seen_at = now() WHERE id = ANY($1::uuid[])', [
      [...new Set(ids)],
    ]);
    return ids.map(() => undefined);
  }, 50);

  const reportSeqBatch = new Batcher<{ hostId: string; seq: number }>(async (items) => {
    const max = new Map<string, number>();
    for (const i of items) max.set(i.hostId, Math.max(i.seq, max.get(i.hostId) ?? 0));
    await pool.query(
      `UPDATE hosts h SET report_seq = GREATEST(h.report_seq, v.seq), last_seen_at = now()
         FROM unnest($1::uuid[], $2::bigint[]) AS v(id, seq) WHERE h.id = v.id`,
      [[...max.keys()], [...max.values()]],
    );
    return items.map(() => undefined);
  }, 20);

  const disconnectBatch = new Batcher<string>(async (ids) => {
    // A host that reconnected here meanwhile stays connected.
    const gone = [...new Set(ids)].filter((id) => !sessions.has(id));
    if (gone.length > 0)
      await pool.query(
        `UPDATE hosts SET connected_to = NULL, last_seen_at = now()
          WHERE id = ANY($1::uuid[]) AND connected_to = $2`,
        [gone, replicaId],
      );
    return ids.map(() => undefined);
  }, 20);

  const batchers = [authBatch, helloBatch, ackBatch, sentBatch, seenBatch, reportSeqBatch];

  async function readDesired(ids: readonly string[]): Promise<Map<string, string | null>> {
    const { rows } = await pool.query<{ id: string; desired_version_id: string | null }>(
      'SELECT id, desired_version_id FROM hosts WHERE id = ANY($1::uuid[])',
      [ids],
    );
    return new Map(rows.map((r) => [r.id, r.desired_version_id]));
  }

  // ---- sessions ----

  function fail(s: Session, code: grpc.status, details: string): void {
    endSession(s);
    failCall(s.call, code, details);
  }

  function failCall(call: Call, code: grpc.status, details: string): void {
    const err = Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
    try {
      call.emit('error', err);
    } catch {
      // already closed
    }
  }

  function endSession(s: Session): void {
    if (s.closed) return;
    s.closed = true;
    metrics.agentsConnected.dec();
    if (sessions.get(s.hostId) === s) {
      sessions.delete(s.hostId);
      disconnectBatch.add(s.hostId).catch(() => {
        // PostgreSQL down: the host stays marked connected until it reconnects somewhere.
      });
    }
  }

  function send(s: Session, bytes: Buffer): void {
    if (s.closed) return;
    try {
      s.call.write(bytes);
    } catch {
      endSession(s);
    }
  }

  /** Sends each session the Assignment for its desired version (unless already sent, when !force). */
  async function push(
    targets: readonly { s: Session; desired: string | null }[],
    force: boolean,
  ): Promise<void> {
    const versions = await assignments.get(new Set(targets.map((t) => t.desired)));
    const sent: Promise<void>[] = [];
    for (const { s, desired } of targets) {
      if (s.closed) continue;
      if (!force && s.sentVersionId === (desired ?? '')) continue;
      const v = versions.get(desired);
      if (!v) continue; // deleted meanwhile; nothing sensible to send
      const nonce = `${noncePrefix}${(++nonceCounter).toString(36)}`;
      s.sentVersionId = v.versionId;
      s.sentDigest = v.digest;
      s.sentNonce = nonce;
      s.sentAt = performance.now();
      send(s, encodeAssignment(v, nonce));
      metrics.assignmentsPushed.inc();
      sent.push(sentBatch.add({ hostId: s.hostId, nonce }));
    }
    await Promise.all(sent);
  }

  async function onHello(s: Session, hello: Hello): Promise<void> {
    const bad = checkLabels(hello.labels);
    if (bad) throw new GrpcError(grpc.status.INVALID_ARGUMENT, `hello: ${bad}`);
    const desired = await helloBatch.add({ hostId: s.hostId, hello });
    await push([{ s, desired }], true);
    s.ready = true;
    if (s.refreshAfterHello) notify([s.hostId]);
  }

  function onAck(s: Session, versionId: string, nonce: string, digest: string): void {
    if (nonce === '' || nonce !== s.sentNonce || nonce === s.answeredNonce) return;
    if (versionId !== s.sentVersionId) return;
    s.answeredNonce = nonce;
    metrics.acks.inc();
    metrics.pushToAck.observe((performance.now() - s.sentAt) / 1000);
    s.lastSeenWrite = Date.now();
    ackBatch.add({ hostId: s.hostId, versionId, digest: s.sentDigest || digest }).catch(() => {
      fail(s, grpc.status.UNAVAILABLE, 'could not record the ack, reconnect');
    });
  }

  async function onNack(
    s: Session,
    versionId: string,
    nonce: string,
    reason: string,
  ): Promise<void> {
    if (nonce === '' || nonce !== s.sentNonce || nonce === s.answeredNonce) return;
    if (versionId !== s.sentVersionId) return;
    s.answeredNonce = nonce;
    metrics.nacks.inc();
    await pool.query(
      `UPDATE hosts SET last_nack_version_id = $2, last_nack_reason = $3, last_nack_at = now(),
              last_seen_at = now() WHERE id = $1`,
      [s.hostId, nullIfEmpty(versionId), reason.slice(0, 2000)],
    );
  }

  async function onReports(s: Session, batch: ReportBatch): Promise<void> {
    if (s.closed) return;
    try {
      await deps.reports.enqueue(s.hostId, { seq: batch.seq, events: batch.events });
    } catch {
      // Not acknowledged, and no later batch may be: the agent reconnects and
      // sends every unacknowledged batch again, in order.
      fail(
        s,
        grpc.status.UNAVAILABLE,
        'could not queue the reports; reconnect and send them again',
      );
      return;
    }
    metrics.reportEventsReceived.inc(batch.events.length);
    send(s, encodeControl({ msg: { $case: 'reportAck', value: { seq: batch.seq } } }));
    reportSeqBatch.add({ hostId: s.hostId, seq: batch.seq }).catch(() => {});
  }

  function onMessage(s: Session, m: AgentMessage): void {
    if (s.closed) return;
    const msg = m.msg;
    if (!s.hello) {
      if (msg?.$case !== 'hello') {
        fail(s, grpc.status.INVALID_ARGUMENT, 'the first message must be Hello');
        return;
      }
      s.hello = true;
      onHello(s, msg.value).catch((err: unknown) => {
        const st = toStatus(err);
        fail(s, st.code, st.details);
      });
      return;
    }
    switch (msg?.$case) {
      case 'ack':
        onAck(s, msg.value.versionId, msg.value.nonce, msg.value.digest);
        break;
      case 'nack':
        onNack(s, msg.value.versionId, msg.value.nonce, msg.value.reason).catch(() => {
          fail(s, grpc.status.UNAVAILABLE, 'could not record the nack, reconnect');
        });
        break;
      case 'reports': {
        const batch = msg.value;
        s.reports = s.reports.then(() => onReports(s, batch));
        break;
      }
      case 'heartbeat': {
        send(s, encodeControl({ msg: { $case: 'heartbeat', value: { timeMs: Date.now() } } }));
        const now = Date.now();
        if (now - s.lastSeenWrite >= LAST_SEEN_EVERY_MS) {
          s.lastSeenWrite = now;
          seenBatch.add(s.hostId).catch(() => {});
        }
        break;
      }
      default:
        break; // a second Hello, or a message kind this server does not know
    }
  }

  function connect(call: Call): void {
    if (closing) {
      failCall(call, grpc.status.UNAVAILABLE, 'server shutting down');
      return;
    }
    const creds = parseHostAuthorization(call.metadata);
    if (!creds) {
      failCall(
        call,
        grpc.status.UNAUTHENTICATED,
        'authorization: Bearer <hostId>.<secret> required',
      );
      return;
    }
    let gone = false;
    const early = (): void => {
      gone = true;
    };
    call.on('cancelled', early);
    call.on('error', early);
    authBatch.add(creds.hostId).then(
      (hash) => {
        if (gone) return;
        if (hash === null || !tokenMatches(creds.secret, hash)) {
          failCall(call, grpc.status.UNAUTHENTICATED, 'unknown host or wrong secret');
          return;
        }
        if (closing) {
          failCall(call, grpc.status.UNAVAILABLE, 'server shutting down');
          return;
        }
        open(call, creds.hostId);
      },
      () => {
        if (!gone) failCall(call, grpc.status.UNAVAILABLE, 'control plane unavailable, retry');
      },
    );
  }

  function open(call: Call, hostId: string): void {
    const s: Session = {
      hostId,
      call,
      openedAt: Date.now(),
      hello: false,
      ready: false,
      refreshAfterHello: false,
      sentVersionId: null,
      sentDigest: '',
      sentNonce: '',
      sentAt: 0,
      answeredNonce: '',
      lastSeenWrite: Date.now(),
      reports: Promise.resolve(),
      closed: false,
    };
    const previous = sessions.get(hostId);
    sessions.set(hostId, s);
    metrics.agentsConnected.inc();
    if (previous) {
      previous.closed = true; // its end must not mark the host disconnected
      metrics.agentsConnected.dec();
      failCall(previous.call, grpc.status.ABORTED, 'replaced by a newer stream for this host');
    }
    call.on('data', (m: AgentMessage) => {
      onMessage(s, m);
    });
    call.on('end', () => {
      endSession(s);
      try {
        call.end();
      } catch {
        // already ended
      }
    });
    call.on('cancelled', () => {
      endSession(s);
    });
    call.on('error', () => {
      endSession(s);
    });
    call.on('close', () => {
      endSession(s);
    });
  }

  // ---- fan-out ----

  let pending: Set<string> | 'all' | null = null;
  let refreshing = false;

  function notify(ids: readonly string[]): void {
    if (closing) return;
    if (ids.includes(ALL_HOSTS)) pending = 'all';
    else if (pending !== 'all') {
      pending ??= new Set();
      for (const id of ids) if (sessions.has(id)) pending.add(id);
    }
    if (!refreshing) void refresh();
  }

  async function refresh(): Promise<void> {
    refreshing = true;
    try {
      while (pending !== null && !closing) {
        const p: Set<string> | 'all' = pending;
        pending = null;
        const targets: Session[] = [];
        for (const id of p === 'all' ? sessions.keys() : p) {
          const s = sessions.get(id);
          if (!s) continue;
          if (s.ready) targets.push(s);
          else s.refreshAfterHello = true;
        }
        if (targets.length === 0) continue;
        try {
          const desired = await readDesired(targets.map((s) => s.hostId));
          await push(
            targets.map((s) => ({ s, desired: desired.get(s.hostId) ?? null })),
            false,
          );
        } catch {
          // Cannot read the truth now. The agents keep their streams (sent
          // away, they would only reconnect into the same outage); the next
          // reconciliation sends them what they lack.
          metrics.reconcileFailures.inc();
        }
      }
    } finally {
      refreshing = false;
    }
  }

  // ---- the server ----

  const server = new grpc.Server({
    'grpc.max_receive_message_length': deps.maxMessageBytes ?? 4 * 1024 * 1024,
  });
  const health = new HealthImplementation({ '': 'SERVING', [AGENT_SERVICE_NAME]: 'SERVING' });
  health.addToServer(server);
  server.addService(serviceDefinition, {
    enroll: (
      call: grpc.ServerUnaryCall<EnrollRequest, EnrollResponse>,
      callback: grpc.sendUnaryData<EnrollResponse>,
    ) => {
      if (closing) {
        callback({ code: grpc.status.UNAVAILABLE, details: 'server shutting down' });
        return;
      }
      enroll(db, call.request).then(
        (r) => {
          callback(null, r);
        },
        (err: unknown) => {
          callback(toStatus(err));
        },
      );
    },
    connect,
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(deps.address ?? '127.0.0.1:0', serverCredentials(deps.tls), (err, p) => {
      if (err) reject(err);
      else resolve(p);
    });
  });

  const unsubscribe = deps.fanout.subscribe(notify);
  const sweep = setInterval(() => {
    const deadline = Date.now() - HELLO_TIMEOUT_MS;
    for (const s of sessions.values())
      if (!s.hello && s.openedAt < deadline)
        fail(s, grpc.status.DEADLINE_EXCEEDED, 'no Hello received');
  }, SWEEP_EVERY_MS);
  sweep.unref();
  // A change whose publish failed (Redis unreachable at that moment) would
  // otherwise reach the agents only at their next reconnect. Comparing every
  // stream with the truth now and then bounds that: one query over this
  // replica's hosts, and a push only where the version sent differs.
  const reconcile = setInterval(() => {
    notify([ALL_HOSTS]);
  }, deps.reconcileEveryMs ?? RECONCILE_EVERY_MS);
  reconcile.unref();

  let closed: Promise<void> | undefined;
  async function close(options: { graceMs?: number } = {}): Promise<void> {
    closing = true;
    unsubscribe();
    clearInterval(sweep);
    clearInterval(reconcile);
    health.setStatus('', 'NOT_SERVING');
    health.setStatus(AGENT_SERVICE_NAME, 'NOT_SERVING');
    const goAway = encodeControl({
      msg: { $case: 'goAway', value: { reason: 'server shutting down' } },
    });
    for (const s of sessions.values()) send(s, goAway);
    const until = Date.now() + (options.graceMs ?? 2000);
    while (sessions.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const rest = [...sessions.values()];
    sessions.clear();
    for (const s of rest) {
      s.closed = true;
      metrics.agentsConnected.dec();
      failCall(s.call, grpc.status.UNAVAILABLE, 'server shutting down, reconnect');
    }
    await Promise.allSettled(batchers.map((b) => b.drain()));
    await disconnectBatch.drain().catch(() => {});
    if (rest.length > 0)
      await pool
        .query(
          'UPDATE hosts SET connected_to = NULL WHERE id = ANY($1::uuid[]) AND connected_to = $2',
          [rest.map((s) => s.hostId), replicaId],
        )
        .catch(() => {});
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 1000);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  return {
    port,
    connectedHosts: () => sessions.size,
    close: (options) => (closed ??= close(options)),
  };
}
