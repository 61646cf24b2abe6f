// Host MemAvailable below a size or a share of MemTotal (earlyoom's -m / -M).
import { formatBytesApprox } from '../../units.ts';
import { describeQuantity, pct, thresholdBytes } from './quantity.ts';
import { marginTo, type TriggerFn } from './types.ts';

export const available: TriggerFn<'available'> = (cond, ctx) => {
  const { memAvailable, memTotal } = ctx.snapshot.host;
  return {
    trigger: 'available',
    fired: memAvailable < thresholdBytes(cond.below, memTotal),
    margin: marginTo(memAvailable, thresholdBytes(cond.below, memTotal), 'falling'),
    value: `${formatBytesApprox(memAvailable)} = ${pct(memAvailable, memTotal)} of MemTotal ${formatBytesApprox(memTotal)}`,
    threshold: `below ${describeQuantity(cond.below, 'MemTotal')}`,
  };
};
