// Host SwapFree below a size or a share of SwapTotal (earlyoom's -s / -S).
// On a host without swap the trigger has no data and does not hold, unless
// the policy says `noSwap: fire`: then no swap counts as 0% free, which is
// earlyoom's reading and lets `all: [available, swap]` fire on swapless hosts.
import { formatBytesApprox } from '../../units.ts';
import { describeQuantity, pct, thresholdBytes } from './quantity.ts';
import { marginTo, type TriggerFn } from './types.ts';

export const swap: TriggerFn<'swap'> = (cond, ctx) => {
  const { swapFree, swapTotal } = ctx.snapshot.host;
  const threshold = `below ${describeQuantity(cond.below, 'SwapTotal')}`;
  if (swapTotal === 0) {
    if (cond.noSwap === 'fire')
      return { trigger: 'swap', fired: true, value: 'no swap (counts as 0 free)', threshold };
    return {
      trigger: 'swap',
      fired: false,
      value: 'no swap',
      threshold,
      noData: 'the host has no swap (noSwap: ignore)',
    };
  }
  return {
    trigger: 'swap',
    fired: swapFree < thresholdBytes(cond.below, swapTotal),
    margin: marginTo(swapFree, thresholdBytes(cond.below, swapTotal), 'falling'),
    value: `${formatBytesApprox(swapFree)} free = ${pct(swapFree, swapTotal)} of ${formatBytesApprox(swapTotal)}`,
    threshold,
  };
};
