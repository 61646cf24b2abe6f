// Memory use growing faster than a rate, measured against the newest
// snapshot at least `window` old. Without that much history there is no
// data, and the trigger does not fire.
import { formatBytesApprox, formatDuration } from '../../units.ts';
import type { HostSnapshot } from '../../snapshot.ts';
import { marginTo, type TriggerFn } from './types.ts';

export const growth: TriggerFn<'growth'> = (cond, ctx, target) => {
  const threshold = `above ${formatBytesApprox(cond.bytesPerSec)}/s over ${formatDuration(cond.windowMs)}`;
  const used = (s: HostSnapshot): number | undefined => {
    if (target.id === 'global') return s.host.memTotal - s.host.memAvailable;
    return s === ctx.snapshot ? target.memcg?.usage : ctx.past.memcg(s, target.id)?.usage;
  };
  const ref = ctx.past.atOrBefore(ctx.now - cond.windowMs);
  const now = used(ctx.snapshot);
  const then = ref ? used(ref) : undefined;
  if (!ref || now === undefined || then === undefined)
    return {
      trigger: 'growth',
      fired: false,
      value: 'no data',
      threshold,
      noData: `needs a snapshot from ${formatDuration(cond.windowMs)} ago`,
    };
  const rate = (now - then) / ((ctx.now - ref.time) / 1000);
  return {
    trigger: 'growth',
    fired: rate > cond.bytesPerSec,
    margin: marginTo(rate, cond.bytesPerSec, 'rising'),
    value: `${rate < 0 ? '-' : ''}${formatBytesApprox(Math.abs(rate))}/s (${formatBytesApprox(then)} → ${formatBytesApprox(now)} in ${formatDuration(ctx.now - ref.time)})`,
    threshold,
  };
};
