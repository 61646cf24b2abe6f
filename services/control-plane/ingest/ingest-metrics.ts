// The ingest path's own counter, beside the two in metrics.ts: events that
// failed validation, by what was done with them. Registered once per registry.
import { Counter, type Registry } from 'prom-client';
import type { Metrics } from '../metrics.ts';

const INVALID = 'oomfleet_report_events_invalid_total';

export type InvalidAction = 'stored' | 'dropped';

const counters = new WeakMap<Registry, Counter<'action'>>();

export function invalidEvents(metrics: Metrics): Counter<'action'> {
  const existing = counters.get(metrics.registry);
  if (existing) return existing;
  const c = new Counter({
    name: INVALID,
    help: "Outcome events that failed validation: stored as kind 'invalid', or dropped (no usable event id)",
    labelNames: ['action'] as const,
    registers: [metrics.registry],
  });
  counters.set(metrics.registry, c);
  return c;
}
