// The numbers a step's gates are judged on, from the fleet's own data: which
// wave hosts acked, NACKed or went silent, and the kills, OOMs and kernel
// fallbacks the hosts reported over the bake, against a baseline.
//
// The wave is every host on the new version so far; the baseline is the
// group's hosts not yet on it, over the same window. The last step has none
// left, so its baseline is the wave's own hosts over a window as long before
// the rollout began. Host-hours count only time a host was enrolled.
import { isDisconnected } from '../desired/sync-state.ts';
import type { Prisma } from '../store/generated/client.ts';
import { answerTo } from './answers.ts';
import { RATE_KINDS, type BaselineStats, type RateKind, type WaveStats } from './gates.ts';

type Tx = Prisma.TransactionClient;

export interface StatsRollout {
  id: string;
  versionId: string;
  currentStep: number;
  createdAt: Date;
  /** The bake's start. */
  phaseStartedAt: Date | null;
}

interface HostRow {
  host_id: string;
  step: number;
  assigned_at: Date | null;
  enrolled_at: Date;
  applied_version_id: string | null;
  last_nack_version_id: string | null;
  connected_to: string | null;
  last_seen_at: Date | null;
}

const HOUR_MS = 3_600_000;

function hostHours(hosts: readonly HostRow[], from: number, to: number): number {
  let ms = 0;
  for (const h of hosts) ms += Math.max(0, to - Math.max(from, h.enrolled_at.getTime()));
  return ms / HOUR_MS;
}

async function counts(
  tx: Tx,
  hostIds: readonly string[],
  from: Date,
  to: Date,
): Promise<Record<RateKind, number>> {
  const out: Record<RateKind, number> = { kill: 0, oom: 0, fallback: 0 };
  if (hostIds.length === 0) return out;
  const rows = await tx.$queryRaw<{ kind: string; n: bigint }[]>`
    SELECT kind, count(*) AS n FROM outcome_events
     WHERE host_id = ANY(${hostIds}::uuid[]) AND kind = ANY(${[...RATE_KINDS]}::text[])
       AND time >= ${from} AND time < ${to}
     GROUP BY kind`;
  for (const r of rows) out[r.kind as RateKind] = Number(r.n);
  return out;
}

export interface GateInput {
  wave: WaveStats;
  baseline: BaselineStats;
  window: { from: string; to: string; baselineFrom: string; baselineTo: string };
}

export async function gateStats(tx: Tx, r: StatsRollout, now: Date): Promise<GateInput> {
  const hosts = await tx.$queryRaw<HostRow[]>`
    SELECT rh.host_id, rh.step, rh.assigned_at, h.enrolled_at, h.applied_version_id,
           h.last_nack_version_id, h.connected_to, h.last_seen_at
      FROM rollout_hosts rh JOIN hosts h ON h.id = rh.host_id
     WHERE rh.rollout_id = ${r.id}::uuid`;
  const wave = hosts.filter((h) => h.step <= r.currentStep);
  const rest = hosts.filter((h) => h.step > r.currentStep);
  const from = r.phaseStartedAt ?? now;
  const to = now;
  const acked = (h: HostRow): boolean => answerTo(h, r.versionId) === 'acked';
  const nacked = (h: HostRow): boolean => answerTo(h, r.versionId) === 'nacked';
  const gone = (h: HostRow): boolean =>
    isDisconnected({ connectedTo: h.connected_to, lastSeenAt: h.last_seen_at }, now.getTime());

  const span = to.getTime() - from.getTime();
  const [baselineHosts, bFrom, bTo] =
    rest.length > 0
      ? [rest, from, to]
      : [wave, new Date(r.createdAt.getTime() - span), r.createdAt];
  /** Hosts, their host-hours and their outcome counts over a window. */
  const sample = async (of: HostRow[], a: Date, b: Date) => ({
    hosts: of.length,
    hostHours: hostHours(of, a.getTime(), b.getTime()),
    counts: await counts(
      tx,
      of.map((h) => h.host_id),
      a,
      b,
    ),
  });
  return {
    wave: {
      ...(await sample(wave, from, to)),
      nacked: wave.filter(nacked).length,
      // No answer to the assignment, or no longer connected.
      silent: wave.filter((h) => !nacked(h) && (!acked(h) || gone(h))).length,
    },
    baseline: await sample(baselineHosts, bFrom, bTo),
    window: {
      from: from.toISOString(),
      to: to.toISOString(),
      baselineFrom: bFrom.toISOString(),
      baselineTo: bTo.toISOString(),
    },
  };
}
