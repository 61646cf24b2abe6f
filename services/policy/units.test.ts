// Sizes, percentages and durations: what is accepted, what is refused and with
// which hint, and the normal forms the canonical document uses.
import { describe, it, expect } from 'vitest';
import {
  MAX_DURATION_MS,
  MAX_SIZE,
  UnitError,
  formatDuration,
  formatLimit,
  formatPercent,
  formatQuantity,
  formatSize,
  isPercentString,
  parseDuration,
  parseLimit,
  parsePercent,
  parseSize,
  parseSizeOrPercent,
} from './units.ts';

const Ki = 1024;
const Mi = 1024 ** 2;
const Gi = 1024 ** 3;
const Ti = 1024 ** 4;
const Pi = 1024 ** 5;

/** The UnitError thrown by `fn`, so a test can look at its message and hint. */
function unitError(fn: () => unknown): UnitError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UnitError) return e;
    throw new Error(`expected a UnitError, got ${String(e)}`);
  }
  throw new Error('expected a UnitError, nothing was thrown');
}

describe('parseSize', () => {
  it.each([
    [0, 0],
    [4096, 4096],
    ['0', 0],
    ['1', 1],
    ['1Ki', Ki],
    ['512Mi', 512 * Mi],
    ['1Gi', Gi],
    ['8Gi', 8 * Gi],
    ['2Ti', 2 * Ti],
    ['1Pi', Pi],
    ['1024Mi', Gi],
    ['1073741824', Gi],
  ] as const)('reads %j as %d bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it('accepts fractions that come to a whole number of bytes', () => {
    expect(parseSize('1.5Gi')).toBe(1.5 * Gi);
    expect(parseSize('0.5Ki')).toBe(512);
    expect(parseSize('0.25Mi')).toBe(256 * Ki);
    expect(parseSize('1.000Gi')).toBe(Gi);
    expect(parseSize('2.0')).toBe(2);
  });

  it('refuses fractions that leave a fraction of a byte', () => {
    for (const s of ['0.3Ki', '1.5', '1.0000000001Gi', '0.1']) {
      const e = unitError(() => parseSize(s));
      expect(e.message).toMatch(/not a whole number of bytes/);
      expect(e.hint).toMatch(/smaller unit|fewer decimals/);
    }
    expect(unitError(() => parseSize(1.5)).message).toMatch(/not a whole number of bytes/);
  });

  it('refuses decimal units with a "did you mean" for the binary one', () => {
    const e = unitError(() => parseSize('1G'));
    expect(e.message).toBe('unknown size unit "G" in "1G"');
    expect(e.hint).toMatch(/^did you mean 1Gi\?/);
    expect(e.hint).toMatch(/binary units only/);
    expect(unitError(() => parseSize('500M')).hint).toMatch(/^did you mean 500Mi\?/);
    expect(unitError(() => parseSize('4GB')).hint).toMatch(/^did you mean 4Gi\?/);
    expect(unitError(() => parseSize('2k')).hint).toMatch(/^did you mean 2Ki\?/);
    expect(unitError(() => parseSize('1gi')).hint).toMatch(/^did you mean 1Gi\?/);
    expect(unitError(() => parseSize('3T')).hint).toMatch(/^did you mean 3Ti\?/);
    expect(unitError(() => parseSize('1.5G')).hint).toMatch(/^did you mean 1\.5Gi\?/);
  });

  it('gives no guess for a unit that is not a size at all', () => {
    const e = unitError(() => parseSize('10s'));
    expect(e.message).toMatch(/unknown size unit "s"/);
    expect(e.hint).not.toMatch(/did you mean/);
  });

  it('refuses negative sizes, as numbers and as strings', () => {
    expect(unitError(() => parseSize(-1)).message).toMatch(/negative/);
    expect(unitError(() => parseSize('-1Gi')).message).toMatch(/negative/);
    expect(unitError(() => parseSize('-0')).message).toMatch(/negative/);
    expect(unitError(() => parseSize(-1)).hint).toMatch(/0 or more/);
  });

  it('accepts the largest exact size and refuses anything above it', () => {
    expect(parseSize(MAX_SIZE)).toBe(MAX_SIZE);
    expect(parseSize(String(MAX_SIZE))).toBe(MAX_SIZE);
    expect(parseSize('7Pi')).toBe(7 * Pi);
    for (const s of [MAX_SIZE + 1, 2 ** 60, '8Pi', '9007199254740992', '100000Pi', '1e400']) {
      const e = unitError(() => parseSize(s));
      expect(e.message).toMatch(/too large|not a size/);
    }
    expect(unitError(() => parseSize('8Pi')).message).toBe('8Pi is too large');
    // The hint must not name 8Pi as allowed: 8Pi is 2^53, one byte too many.
    expect(unitError(() => parseSize('8Pi')).hint).toMatch(/2\^53-1 bytes, just under 8Pi/);
    expect(unitError(() => parseSize(2 ** 53)).hint).toMatch(/just under 8Pi/);
    expect(unitError(() => parseSize(Number.MAX_VALUE)).message).toMatch(/too large/);
  });

  it('does not lose precision on long digit strings', () => {
    // 2^53 + 1 cannot be represented; it must be refused, not rounded to 2^53.
    expect(() => parseSize('9007199254740993')).toThrow(UnitError);
    expect(parseSize('9007199254740991')).toBe(MAX_SIZE);
    expect(() => parseSize(`${'9'.repeat(400)}Pi`)).toThrow(/too large/);
  });

  it('refuses things that are not sizes', () => {
    for (const v of ['', 'Gi', 'lots', '1 2', '0x10', '1e3', '.5Gi', '1.Gi', '∞', NaN, Infinity]) {
      expect(() => parseSize(v)).toThrow(UnitError);
    }
    for (const v of [null, undefined, true, {}, [], ['1Gi']]) {
      const e = unitError(() => parseSize(v));
      expect(e.message).toBe('expected a size');
      expect(e.hint).toMatch(/512Mi/);
    }
  });

  it('refuses a percentage where only a size is allowed', () => {
    expect(() => parseSize('90%')).toThrow(UnitError);
  });
});

describe('parsePercent', () => {
  it.each([
    [30, 30],
    [0, 0],
    [100, 100],
    [12.5, 12.5],
    ['30%', 30],
    ['0%', 0],
    ['100%', 100],
    ['99.5%', 99.5],
  ] as const)('reads %j as %d', (input, value) => {
    expect(parsePercent(input)).toBe(value);
  });

  it('refuses percentages above 100 and below 0', () => {
    for (const v of [101, '101%', '150%', 100.0001, 1e9]) {
      const e = unitError(() => parsePercent(v));
      expect(e.message).toMatch(/out of range/);
      expect(e.hint).toBe('use a value from 0% to 100%');
    }
    expect(unitError(() => parsePercent(-1)).message).toMatch(/out of range/);
    expect(unitError(() => parsePercent('-5%')).message).toBe('percentage -5% is negative');
  });

  it('refuses what is not a percentage', () => {
    for (const v of ['30', 'thirty', '30 %%', '%', '1e2%', NaN, Infinity, null, true, {}]) {
      expect(() => parsePercent(v)).toThrow(UnitError);
    }
    expect(unitError(() => parsePercent('30')).hint).toMatch(/30 or "30%"/);
  });
});

describe('parseSizeOrPercent and parseLimit', () => {
  it('tells sizes and percentages apart', () => {
    expect(parseSizeOrPercent('90%')).toEqual({ percent: 90 });
    expect(parseSizeOrPercent('8Gi')).toEqual({ bytes: 8 * Gi });
    expect(parseSizeOrPercent(95)).toEqual({ bytes: 95 });
    expect(isPercentString('5%')).toBe(true);
    expect(isPercentString('5')).toBe(false);
    expect(isPercentString(5)).toBe(false);
  });

  it('reads max only as a limit', () => {
    expect(parseLimit('max')).toBe('max');
    expect(parseLimit('50%')).toEqual({ percent: 50 });
    expect(parseLimit('1Gi')).toEqual({ bytes: Gi });
    expect(() => parseSizeOrPercent('max')).toThrow(UnitError);
    expect(() => parseLimit('MAX')).toThrow(UnitError);
    expect(() => parseLimit('101%')).toThrow(/out of range/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['0s', 0],
    ['0ms', 0],
    ['500ms', 500],
    ['10s', 10_000],
    ['90s', 90_000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['1h1m1s1ms', 3_661_001],
    ['1s500ms', 1500],
    ['1m1m', 120_000],
    ['720h', MAX_DURATION_MS],
  ] as const)('reads %s as %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it('refuses negative durations', () => {
    const e = unitError(() => parseDuration('-5s'));
    expect(e.message).toBe('duration -5s is negative');
    expect(e.hint).toMatch(/0 or more/);
  });

  it('refuses durations longer than 30 days, also when the digits overflow', () => {
    for (const s of ['721h', '720h1ms', '43201m', `${'9'.repeat(30)}h`, `${'9'.repeat(400)}s`]) {
      const e = unitError(() => parseDuration(s));
      expect(e.message).toMatch(/too long/);
      expect(e.hint).toMatch(/720h/);
    }
  });

  it('refuses what is not a duration, with a hint showing the form', () => {
    for (const v of ['', '5', '5d', '1.5s', '5 s', 's', '1m30', 'PT5S', '5sec', '5S']) {
      const e = unitError(() => parseDuration(v));
      expect(e.message).toMatch(/is not a duration/);
      expect(e.hint).toMatch(/1m30s/);
    }
    for (const v of [5, null, undefined, true, {}, []]) {
      expect(unitError(() => parseDuration(v)).message).toBe('expected a duration string');
    }
  });
});

describe('formatDuration (normal form)', () => {
  it.each([
    [0, '0s'],
    [1, '1ms'],
    [500, '500ms'],
    [1000, '1s'],
    [1500, '1s500ms'],
    [60_000, '1m'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [3_661_001, '1h1m1s1ms'],
    [MAX_DURATION_MS, '720h'],
  ] as const)('writes %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('gives one normal form to every way of writing a duration', () => {
    for (const [a, b] of [
      ['90s', '1m30s'],
      ['60m', '1h'],
      ['1000ms', '1s'],
      ['0h', '0s'],
      ['30s30s', '1m'],
      ['1h60m', '2h'],
    ] as const) {
      expect(formatDuration(parseDuration(a))).toBe(formatDuration(parseDuration(b)));
    }
  });

  it('round-trips: the normal form parses back to the same duration', () => {
    for (const ms of [0, 1, 999, 1000, 59_999, 61_001, 86_399_999, MAX_DURATION_MS]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});

describe('formatSize, formatPercent, formatQuantity, formatLimit', () => {
  it('writes sizes with the largest unit that divides them', () => {
    expect(formatSize(0)).toBe('0');
    expect(formatSize(1023)).toBe('1023');
    expect(formatSize(Ki)).toBe('1Ki');
    expect(formatSize(1536 * Mi)).toBe('1536Mi');
    expect(formatSize(Gi)).toBe('1Gi');
    expect(formatSize(MAX_SIZE)).toBe(String(MAX_SIZE));
    for (const b of [0, 1, Ki, 3 * Mi, 1536 * Mi, 5 * Ti, 7 * Pi, MAX_SIZE])
      expect(parseSize(formatSize(b))).toBe(b);
  });

  it('writes percentages without trailing zeros', () => {
    expect(formatPercent(90)).toBe('90%');
    expect(formatPercent(12.5)).toBe('12.5%');
    expect(formatPercent(1 / 3)).toBe('0.333333%');
    expect(formatQuantity({ percent: 5 })).toBe('5%');
    expect(formatQuantity({ bytes: 8 * Gi })).toBe('8Gi');
    expect(formatLimit('max')).toBe('max');
    expect(formatLimit({ bytes: 64 * Mi })).toBe('64Mi');
  });
});
