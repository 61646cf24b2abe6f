import { describe, expect, it } from 'vitest';
import { Backoff, fullJitterDelay } from './backoff.ts';

describe('full-jitter backoff', () => {
  it('draws uniformly below min(cap, base·2^attempt)', () => {
    const o = { baseMs: 100, capMs: 1_000 };
    expect(fullJitterDelay(0, { ...o, random: () => 0 })).toBe(0);
    expect(fullJitterDelay(0, { ...o, random: () => 0.999 })).toBe(99);
    expect(fullJitterDelay(2, { ...o, random: () => 0.5 })).toBe(200);
    expect(fullJitterDelay(3, { ...o, random: () => 0.999 })).toBe(799);
    // Capped, however many failures.
    expect(fullJitterDelay(4, { ...o, random: () => 0.999 })).toBe(999);
    expect(fullJitterDelay(10_000, { ...o, random: () => 0.999 })).toBe(999);
  });

  it('spreads retries over the whole window (not around a mean)', () => {
    const delays = Array.from({ length: 2_000 }, () =>
      fullJitterDelay(3, { baseMs: 100, capMs: 10_000 }),
    );
    expect(Math.min(...delays)).toBeLessThan(80);
    expect(Math.max(...delays)).toBeGreaterThan(720);
    expect(delays.every((d) => d >= 0 && d < 800)).toBe(true);
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    expect(mean).toBeGreaterThan(350);
    expect(mean).toBeLessThan(450);
  });

  it('grows with each failure and starts again after reset()', () => {
    const b = new Backoff({ baseMs: 10, capMs: 10_000, random: () => 0.999 });
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([9, 19, 39, 79]);
    expect(b.attempts).toBe(4);
    b.reset();
    expect(b.next()).toBe(9);
  });
});
