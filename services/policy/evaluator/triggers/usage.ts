// Memory in use above a size or a share of a base: the memcg's effective
// limit (`of: limit`) or host RAM (`of: ram`). Global scope measures the host
// as MemTotal - MemAvailable.
import { formatBytesApprox } from '../../units.ts';
import { effectiveLimit } from '../context.ts';
import { describeQuantity, pct, thresholdBytes } from './quantity.ts';
import { marginTo, type TriggerFn } from './types.ts';

export const usage: TriggerFn<'usage'> = (cond, ctx, target) => {
  const host = ctx.snapshot.host;
  const used = target.memcg ? target.memcg.usage : host.memTotal - host.memAvailable;
  if (cond.of === 'ram') {
    const threshold = `above ${describeQuantity(cond.above, 'RAM')}`;
    const limit = thresholdBytes(cond.above, host.memTotal);
    return {
      trigger: 'usage',
      fired: used > limit,
      margin: marginTo(used, limit, 'rising'),
      value: `${formatBytesApprox(used)} = ${pct(used, host.memTotal)} of RAM ${formatBytesApprox(host.memTotal)}`,
      threshold,
    };
  }
  const threshold = `above ${describeQuantity(cond.above, 'limit')}`;
  const eff = target.memcg ? effectiveLimit(ctx, target.memcg.path) : undefined;
  if ('percent' in cond.above && !eff)
    return {
      trigger: 'usage',
      fired: false,
      value: `${formatBytesApprox(used)}, no limit`,
      threshold,
      noData: 'no memory limit on this memcg or its ancestors',
    };
  const base = eff?.limit ?? 0;
  const at = thresholdBytes(cond.above, base);
  const of = eff
    ? ` = ${pct(used, base)} of limit ${formatBytesApprox(base)}${eff.from === target.id ? '' : ` (set on ${eff.from})`}`
    : '';
  return {
    trigger: 'usage',
    fired: used > at,
    margin: marginTo(used, at, 'rising'),
    value: `${formatBytesApprox(used)}${of}`,
    threshold,
  };
};
