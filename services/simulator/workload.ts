// The simulator's workload model: how often a simulated host would see kills,
// kernel OOMs and fallbacks under a policy. Plainly a model, not the agent:
// each host runs batch jobs under /jobs/*, whose peak memory is log-normal
// around the workload's need. A job peaking above its memcg's limit is an
// OOM; a kill rule on usage below the limit catches most of those first (a
// kill instead of an OOM), and also kills jobs that peak between its
// threshold and the limit. So a memoryMax below the workload's need causes
// OOMs, and a trigger set too low causes kills: what a rollout's gates must
// catch.
import { compileGlob, type CanonicalPolicy } from '../policy/index.ts';

export interface Workload {
  /** Jobs started per host per hour. */
  jobsPerHour: number;
  /** Median peak memory of a job, bytes. */
  needBytes: number;
  /** Log-normal sigma of the peak (0.2: most jobs within ±40%). */
  spread: number;
  /** The host's memory, for percentages and "no limit". */
  hostMemoryBytes: number;
  /** Kills per host-hour that happen whatever the policy (other workloads). */
  backgroundKillsPerHour: number;
}

export const DEFAULT_WORKLOAD: Workload = {
  jobsPerHour: 60,
  needBytes: 2 * 1024 ** 3,
  spread: 0.2,
  hostMemoryBytes: 64 * 1024 ** 3,
  backgroundKillsPerHour: 0.2,
};

/** Events per host-hour. */
export interface Rates {
  kill: number;
  oom: number;
  fallback: number;
}

const JOB = '/jobs/job';
/** Share of OOMs a pre-OOM kill rule does not catch in time (fast growth). */
const MISSED_BY_KILL_RULE = 0.1;
/** Share of user-space OOM handling that falls back to the kernel. */
const FALLBACK_SHARE = 0.1;

/** Abramowitz–Stegun 7.1.26: erf to 1.5e-7, plenty for a model. */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-a * a);
  return s * y;
}

/** P(a job's peak > bytes). */
function exceeds(w: Workload, bytes: number): number {
  if (bytes <= 0) return 1;
  const z = (Math.log(bytes) - Math.log(w.needBytes)) / w.spread;
  return 0.5 * (1 - erf(z / Math.SQRT2));
}

function bytesOf(q: unknown, of: number): number | undefined {
  if (typeof q === 'number') return q;
  if (typeof q === 'string' && q.endsWith('%')) return (Number(q.slice(0, -1)) / 100) * of;
  return undefined;
}

/** The job memcg's limit and the lowest usage at which a kill rule acts. */
function jobSettings(
  policy: CanonicalPolicy | undefined,
  w: Workload,
): { limit: number; killAt?: number; userspaceOom: boolean } {
  let limit: number | undefined;
  let userspaceOom = false;
  for (const c of policy?.spec.cgroups ?? []) {
    if (!compileGlob(c.match).matches(JOB)) continue;
    if (limit === undefined && c.memoryMax !== undefined && c.memoryMax !== 'max')
      limit = bytesOf(c.memoryMax, w.hostMemoryBytes);
    if (c.userspaceOom?.enabled) userspaceOom = true;
  }
  const effective = limit ?? w.hostMemoryBytes;
  let killAt: number | undefined;
  for (const r of policy?.spec.rules ?? []) {
    if (!('kill' in r.action) || r.scope === 'global') continue;
    if (!compileGlob(r.scope).matches(JOB)) continue;
    const usage = 'usage' in r.when ? r.when.usage : undefined;
    if (!usage) continue;
    const at =
      typeof usage.above === 'string' && usage.above.endsWith('%')
        ? (Number(usage.above.slice(0, -1)) / 100) *
          (usage.of === 'ram' ? w.hostMemoryBytes : effective)
        : bytesOf(usage.above, effective);
    if (at !== undefined) killAt = Math.min(killAt ?? Infinity, at);
  }
  return { limit: effective, ...(killAt !== undefined ? { killAt } : {}), userspaceOom };
}

export function ratesFor(
  policy: CanonicalPolicy | undefined,
  w: Workload = DEFAULT_WORKLOAD,
): Rates {
  const s = jobSettings(policy, w);
  let oom = w.jobsPerHour * exceeds(w, s.limit);
  let kill = w.backgroundKillsPerHour;
  if (s.killAt !== undefined && s.killAt < s.limit) {
    kill +=
      w.jobsPerHour * (exceeds(w, s.killAt) - exceeds(w, s.limit)) +
      oom * (1 - MISSED_BY_KILL_RULE);
    oom *= MISSED_BY_KILL_RULE;
  }
  let fallback = 0;
  if (s.userspaceOom) {
    // The agent handles the memcg's OOMs itself; some fall back to the kernel.
    fallback = oom * FALLBACK_SHARE;
    kill += oom * (1 - FALLBACK_SHARE);
    oom = fallback;
  }
  return { kill, oom, fallback };
}
