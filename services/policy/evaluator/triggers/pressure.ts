// PSI memory pressure above a threshold, optionally held for a duration. The
// cgroup's memory.pressure for cgroup scopes, /proc/pressure/memory for global.
// "Held for" is the length of the unbroken run of snapshots above the
// threshold that ends now.
import { formatDuration, formatPercent } from '../../units.ts';
import type { HostSnapshot, Pressure } from '../../snapshot.ts';
import type { EvalContext, Target } from '../context.ts';
import { marginTo, type TriggerFn } from './types.ts';

function pressureOf(ctx: EvalContext, s: HostSnapshot, target: Target): Pressure | undefined {
  if (target.id === 'global') return s.host.pressure;
  return s === ctx.snapshot ? target.memcg?.pressure : ctx.past.memcg(s, target.id)?.pressure;
}

export const pressure: TriggerFn<'pressure'> = (cond, ctx, target) => {
  const threshold = `${cond.pressureKind} ${cond.window} above ${formatPercent(cond.above)}${cond.forMs > 0 ? ` for ${formatDuration(cond.forMs)}` : ''}`;
  const read = (s: HostSnapshot): number | undefined => {
    const p = pressureOf(ctx, s, target);
    const line = cond.pressureKind === 'full' ? p?.full : p?.some;
    return line?.[cond.window];
  };
  const now = read(ctx.snapshot);
  if (now === undefined) {
    const why =
      target.id === 'global'
        ? 'the host has no /proc/pressure/memory (PSI disabled?)'
        : 'no memory.pressure for this memcg (cgroup v1 has no per-cgroup PSI)';
    return { trigger: 'pressure', fired: false, value: 'no data', threshold, noData: why };
  }
  const value = `${cond.pressureKind} ${cond.window} = ${formatPercent(now)}`;
  const margin = marginTo(now, cond.above, 'rising');
  if (now <= cond.above) return { trigger: 'pressure', fired: false, value, threshold, margin };
  if (cond.forMs === 0) return { trigger: 'pressure', fired: true, value, threshold, margin };
  let runStart = ctx.now;
  let broken = false;
  const past = ctx.past.snapshots;
  for (let i = past.length - 1; i >= 0; i--) {
    const s = past[i];
    if (!s) break;
    const v = read(s);
    if (v === undefined || v <= cond.above) {
      broken = true;
      break;
    }
    runStart = s.time;
  }
  const held = ctx.now - runStart;
  const heldText = `${value}, above for ${formatDuration(Math.max(0, Math.round(held)))}`;
  if (!broken && held < cond.forMs)
    return {
      trigger: 'pressure',
      fired: false,
      value: heldText,
      threshold,
      noData: `history covers ${formatDuration(Math.max(0, Math.round(held)))}, needs ${formatDuration(cond.forMs)}`,
    };
  return { trigger: 'pressure', fired: held >= cond.forMs, value: heldText, threshold };
};
