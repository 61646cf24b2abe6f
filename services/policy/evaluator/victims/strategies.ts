// Victim strategies: each gives a sort key per candidate, larger = killed
// first. Ties fall to the candidate using more memory, then to the lower pid
// or path, so the choice is the same on every run.
import type { VictimStrategy } from '../../schema.ts';
import type { Memcg, ProcessInfo } from '../../snapshot.ts';
import { formatBytesApprox } from '../../units.ts';
import type { EvalContext } from '../context.ts';

/** How far back fastest-growing looks: the oldest snapshot within this window. */
export const GROWTH_LOOKBACK_MS = 60_000;

export interface Scored {
  key: number;
  /** The key in words: "RSS 3.2Gi", "growing 120Mi/s". */
  why: string;
}

function growthBase(ctx: EvalContext) {
  return ctx.past.snapshots.find((s) => s.time >= ctx.now - GROWTH_LOOKBACK_MS);
}

export function scoreProcess(strategy: VictimStrategy, p: ProcessInfo, ctx: EvalContext): Scored {
  switch (strategy) {
    case 'largest':
      return { key: p.rss, why: `RSS ${formatBytesApprox(p.rss)}` };
    case 'fastest-growing': {
      const base = growthBase(ctx);
      const old = base ? ctx.past.process(base, p) : undefined;
      if (!base || !old)
        return { key: 0, why: `no earlier sample (RSS ${formatBytesApprox(p.rss)})` };
      const rate = (p.rss - old.rss) / Math.max(0.001, (ctx.now - base.time) / 1000);
      return { key: rate, why: `RSS growing ${formatBytesApprox(rate)}/s` };
    }
    case 'lowest-priority':
      return {
        key: p.oomScoreAdj * 10_000 + Math.min(p.oomScore, 9_999),
        why: `oom_score_adj ${p.oomScoreAdj}, oom_score ${p.oomScore}`,
      };
    case 'newest':
      return { key: p.startTime, why: `started ${new Date(p.startTime).toISOString()}` };
    case 'oldest':
      return { key: -p.startTime, why: `started ${new Date(p.startTime).toISOString()}` };
  }
}

export function scoreCgroup(
  strategy: VictimStrategy,
  m: Memcg,
  procs: readonly ProcessInfo[],
  ctx: EvalContext,
): Scored {
  switch (strategy) {
    case 'largest':
      return { key: m.usage, why: `usage ${formatBytesApprox(m.usage)}` };
    case 'fastest-growing': {
      const base = growthBase(ctx);
      const old = base ? ctx.past.memcg(base, m.path) : undefined;
      if (!base || !old)
        return { key: 0, why: `no earlier sample (usage ${formatBytesApprox(m.usage)})` };
      const rate = (m.usage - old.usage) / Math.max(0.001, (ctx.now - base.time) / 1000);
      return { key: rate, why: `usage growing ${formatBytesApprox(rate)}/s` };
    }
    case 'lowest-priority': {
      const mean = procs.reduce((s, p) => s + p.oomScoreAdj, 0) / Math.max(1, procs.length);
      return { key: mean, why: `mean oom_score_adj ${mean.toFixed(0)}` };
    }
    case 'newest':
    case 'oldest': {
      const first = Math.min(...procs.map((p) => p.startTime));
      return {
        key: strategy === 'newest' ? first : -first,
        why: `oldest member started ${new Date(first).toISOString()}`,
      };
    }
  }
}
