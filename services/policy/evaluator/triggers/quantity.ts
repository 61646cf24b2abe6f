// Thresholds given as a size or a percentage of some base.
import { formatBytesApprox, formatPercent, type Quantity } from '../../units.ts';

export function thresholdBytes(q: Quantity, base: number): number {
  return 'percent' in q ? (q.percent / 100) * base : q.bytes;
}

export function describeQuantity(q: Quantity, baseName: string): string {
  return 'percent' in q ? `${formatPercent(q.percent)} of ${baseName}` : formatBytesApprox(q.bytes);
}

export function pct(part: number, whole: number): string {
  return whole > 0 ? `${((part / whole) * 100).toFixed(1)}%` : 'n/a';
}
