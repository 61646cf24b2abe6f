// Sizes, percentages and durations: strict parsing with messages that say how
// to fix the input, and the normal forms used by the canonical document.

/** The largest size we accept: 2^53 - 1 bytes (8 PiB), exact in a JS number. */
export const MAX_SIZE = Number.MAX_SAFE_INTEGER;
/** The longest duration we accept: 30 days. */
export const MAX_DURATION_MS = 30 * 24 * 3600 * 1000;

const UNITS: Record<string, number> = {
  '': 1,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
};

export type Quantity = { bytes: number } | { percent: number };
export type Limit = Quantity | 'max';

export class UnitError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'UnitError';
  }
}

const SIZE_HINT = 'write bytes as an integer, or a number with Ki, Mi, Gi, Ti or Pi, e.g. 512Mi';

/** Multiplies a decimal string by a unit exactly, using BigInt to avoid rounding. */
function exactBytes(num: string, unit: number, original: string): number {
  const [whole = '0', frac = ''] = num.split('.');
  const scale = 10n ** BigInt(frac.length);
  const scaled = BigInt(whole + frac) * BigInt(unit);
  if (scaled % scale !== 0n) {
    throw new UnitError(
      `${original} is not a whole number of bytes`,
      'use a smaller unit or fewer decimals, e.g. 1536Mi instead of 1.5001Gi',
    );
  }
  const bytes = scaled / scale;
  if (bytes > BigInt(MAX_SIZE)) {
    throw new UnitError(
      `${original} is too large`,
      'the largest size is 2^53-1 bytes, just under 8Pi',
    );
  }
  return Number(bytes);
}

export function parseSize(value: unknown): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value))
      throw new UnitError(`${value} is not a whole number of bytes`, SIZE_HINT);
    if (value < 0) throw new UnitError(`size ${value} is negative`, 'sizes are 0 or more bytes');
    if (value > MAX_SIZE)
      throw new UnitError(
        `${value} is too large`,
        'the largest size is 2^53-1 bytes, just under 8Pi',
      );
    return value;
  }
  if (typeof value !== 'string') throw new UnitError('expected a size', SIZE_HINT);
  // No trimming: the validator accepts exactly what the JSON Schema accepts.
  const s = value;
  if (s.startsWith('-')) throw new UnitError(`size ${s} is negative`, 'sizes are 0 or more bytes');
  const m = /^([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)$/.exec(s);
  if (!m) throw new UnitError(`${JSON.stringify(value)} is not a size`, SIZE_HINT);
  const num = m[1] ?? '';
  const unit = m[2] ?? '';
  const factor = UNITS[unit];
  if (factor === undefined) {
    const upper = unit.toUpperCase();
    const guess = ['K', 'M', 'G', 'T', 'P'].find((u) => upper.startsWith(u));
    const suggestion = guess ? `did you mean ${num}${guess}i? ` : '';
    throw new UnitError(
      `unknown size unit ${JSON.stringify(unit)} in ${JSON.stringify(value)}`,
      `${suggestion}oomfleet uses binary units only: Ki, Mi, Gi, Ti, Pi (1Ki = 1024 bytes)`,
    );
  }
  return exactBytes(num, factor, s);
}

export function parsePercent(value: unknown): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^[0-9]+(\.[0-9]+)?%$/.test(value))
    n = Number(value.slice(0, -1));
  else if (typeof value === 'string' && value.startsWith('-'))
    throw new UnitError(`percentage ${value} is negative`, 'use a value from 0% to 100%');
  else
    throw new UnitError(`${JSON.stringify(value)} is not a percentage`, 'write it as 30 or "30%"');
  if (!Number.isFinite(n) || n < 0 || n > 100)
    throw new UnitError(
      `percentage ${String(value)} is out of range`,
      'use a value from 0% to 100%',
    );
  return n;
}

export function isPercentString(value: unknown): value is string {
  return typeof value === 'string' && value.endsWith('%');
}

export function parseSizeOrPercent(value: unknown): Quantity {
  if (isPercentString(value)) return { percent: parsePercent(value) };
  return { bytes: parseSize(value) };
}

export function parseLimit(value: unknown): Limit {
  if (value === 'max') return 'max';
  return parseSizeOrPercent(value);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_HINT = 'write a duration such as 500ms, 10s, 1m30s or 2h';

export function parseDuration(value: unknown): number {
  if (typeof value !== 'string') throw new UnitError('expected a duration string', DURATION_HINT);
  const s = value;
  if (s.startsWith('-'))
    throw new UnitError(`duration ${s} is negative`, 'durations are 0 or more, e.g. 0s or 5s');
  if (!/^([0-9]+(ms|s|m|h))+$/.test(s))
    throw new UnitError(`${JSON.stringify(value)} is not a duration`, DURATION_HINT);
  let total = 0;
  for (const part of s.matchAll(/([0-9]+)(ms|s|m|h)/g)) {
    total += Number(part[1]) * (DURATION_UNITS[part[2] ?? ''] ?? NaN);
    if (!Number.isFinite(total) || total > MAX_DURATION_MS)
      throw new UnitError(`duration ${s} is too long`, 'the longest duration is 720h (30 days)');
  }
  return total;
}

/** Normal form of a duration: largest units first, no zero parts ("90s" → "1m30s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

/** Human form of a size: the largest binary unit that divides it exactly. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['Pi', 1024 ** 5],
    ['Ti', 1024 ** 4],
    ['Gi', 1024 ** 3],
    ['Mi', 1024 ** 2],
    ['Ki', 1024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

/** Approximate human form for reports (1.5Gi), never used where exactness matters. */
export function formatBytesApprox(bytes: number): string {
  const abs = Math.abs(bytes);
  for (const [unit, size] of [
    ['Ti', 1024 ** 4],
    ['Gi', 1024 ** 3],
    ['Mi', 1024 ** 2],
    ['Ki', 1024],
  ] as const) {
    if (abs >= size) return `${(bytes / size).toFixed(1).replace(/\.0$/, '')}${unit}`;
  }
  return `${bytes}B`;
}

export function formatPercent(p: number): string {
  return `${Number(p.toFixed(6))}%`;
}

export function formatQuantity(q: Quantity): string {
  return 'percent' in q ? formatPercent(q.percent) : formatSize(q.bytes);
}

export function formatLimit(l: Limit): string {
  return l === 'max' ? 'max' : formatQuantity(l);
}
