// The memcg is stuck at its limit (v1 under_oom: user-space OOM handling is
// holding it) or its OOM counter rose since the previous snapshot. Global
// scope watches the host's oom_kill count from /proc/vmstat.
import type { TriggerFn } from './types.ts';

export const oom: TriggerFn<'oom'> = (cond, ctx, target) => {
  const threshold =
    cond.on === 'any'
      ? 'stuck at limit or new OOM event'
      : cond.on === 'stuck'
        ? 'stuck at limit'
        : 'new OOM event';
  const prev = ctx.past.previous();
  if (target.id === 'global') {
    const now = ctx.snapshot.host.oomKills;
    const before = prev?.host.oomKills;
    if (now === undefined)
      return {
        trigger: 'oom',
        fired: false,
        value: 'no data',
        threshold,
        noData: 'no oom_kill count in /proc/vmstat',
      };
    const rose = before !== undefined && now > before;
    return {
      trigger: 'oom',
      fired: cond.on !== 'stuck' && rose,
      ...(before === undefined && cond.on !== 'stuck'
        ? { noData: 'no earlier snapshot to compare oom_kill with' }
        : {}),
      value:
        before === undefined
          ? `oom_kill ${now} (no earlier snapshot)`
          : `oom_kill ${before} → ${now}`,
      threshold,
    };
  }
  const m = target.memcg;
  const stuck = m?.underOom === true;
  const count = (x: typeof m): number | undefined =>
    x?.events ? (x.events.oom ?? x.events.oom_kill) : undefined;
  const now = count(m);
  const before = prev ? count(ctx.past.memcg(prev, target.id)) : undefined;
  const rose = now !== undefined && before !== undefined && now > before;
  const fired = (cond.on !== 'event' && stuck) || (cond.on !== 'stuck' && rose);
  const parts = [stuck ? 'under_oom' : 'not stuck'];
  if (now !== undefined)
    parts.push(before === undefined ? `oom events ${now}` : `oom events ${before} → ${now}`);
  const noData =
    !fired && cond.on !== 'stuck' && before === undefined
      ? now === undefined
        ? 'no OOM counter (memory.events) for this memcg'
        : 'no earlier snapshot to compare the OOM counter with'
      : undefined;
  return {
    trigger: 'oom',
    fired,
    value: parts.join(', '),
    threshold,
    ...(noData ? { noData } : {}),
  };
};
