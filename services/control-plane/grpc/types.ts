import type { Database } from '../store/db.ts';
import type { Metrics } from '../metrics.ts';
import type { Fanout } from '../fanout/fanout.ts';
import type { OutcomeEvent } from '../../proto/oomfleet/v1/agent.ts';

/** Where report batches go (BullMQ in production). */
export interface ReportSink {
  /** Resolves only once the batch is durably queued; the agent gets its ReportAck then. */
  enqueue(hostId: string, batch: { seq: number; events: OutcomeEvent[] }): Promise<void>;
}

export interface TlsOptions {
  cert: Buffer;
  key: Buffer;
  /** CA for client certificates (mutual TLS). */
  ca?: Buffer;
  requireClientCert?: boolean;
}

export interface GrpcDeps {
  db: Database;
  metrics: Metrics;
  reports: ReportSink;
  fanout: Fanout;
  /** This replica's id, stored in hosts.connected_to. */
  replicaId: string;
  /** host:port; 127.0.0.1:0 unless given. */
  address?: string;
  tls?: TlsOptions;
  /** Largest message accepted from an agent; 4 MiB unless given. */
  maxMessageBytes?: number;
  /**
   * How often every stream is compared with the desired state in PostgreSQL
   * and sent what it lacks, whatever the fan-out delivered; 15 s unless given.
   */
  reconcileEveryMs?: number;
}

export interface GrpcServer {
  port: number;
  /** Agent streams open on this replica. */
  connectedHosts(): number;
  /** GoAway to every agent, health NOT_SERVING, streams closed after graceMs, hosts marked disconnected. */
  close(options?: { graceMs?: number }): Promise<void>;
}
