// The control plane's Prometheus metrics, in one registry per process (so
// tests can run several control planes in one process). /metrics serves it.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  agentsConnected: Gauge;
  assignmentsPushed: Counter;
  /** Desired-state reads for pushing that failed (PostgreSQL unreachable); retried at the next reconciliation. */
  reconcileFailures: Counter;
  acks: Counter;
  nacks: Counter;
  /** Seconds from sending an assignment to its ack. */
  pushToAck: Histogram;
  reportEventsReceived: Counter;
  reportEventsIngested: Counter;
  httpRequests: Counter<'route' | 'method' | 'status'>;
}

export function createMetrics(options: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaults !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    agentsConnected: new Gauge({
      name: 'oomfleet_agents_connected',
      help: 'Agent streams open on this replica',
      registers,
    }),
    assignmentsPushed: new Counter({
      name: 'oomfleet_assignments_pushed_total',
      help: 'Assignments sent to agents',
      registers,
    }),
    reconcileFailures: new Counter({
      name: 'oomfleet_desired_read_failures_total',
      help: 'Reads of desired state for pushing to agents that failed; retried at the next reconciliation',
      registers,
    }),
    acks: new Counter({ name: 'oomfleet_acks_total', help: 'Assignments acknowledged', registers }),
    nacks: new Counter({ name: 'oomfleet_nacks_total', help: 'Assignments refused', registers }),
    pushToAck: new Histogram({
      name: 'oomfleet_push_to_ack_seconds',
      help: 'Time from sending an assignment to its ack',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    reportEventsReceived: new Counter({
      name: 'oomfleet_report_events_received_total',
      help: 'Outcome events received from agents and queued',
      registers,
    }),
    reportEventsIngested: new Counter({
      name: 'oomfleet_report_events_ingested_total',
      help: 'Outcome events written to PostgreSQL',
      registers,
    }),
    httpRequests: new Counter({
      name: 'oomfleet_http_requests_total',
      help: 'HTTP API requests',
      labelNames: ['route', 'method', 'status'] as const,
      registers,
    }),
  };
}
