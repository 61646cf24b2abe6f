import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { DEFAULT_STEPS, orderHosts, waveCounts } from './waves.ts';

const fleet = (n: number, zones: string[]): { id: string; labels: Record<string, string> }[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `h${String(i).padStart(3, '0')}`,
    labels: { zone: zones[i % zones.length] ?? 'z' },
  }));

describe('waveCounts', () => {
  it('1 host → 5% → 25% → 100% of 200 hosts', () => {
    expect(waveCounts(DEFAULT_STEPS, 200)).toEqual([1, 10, 50, 200]);
  });
  it('drops steps that add nobody, and always ends with every host', () => {
    expect(waveCounts(DEFAULT_STEPS, 3)).toEqual([1, 3]);
    expect(waveCounts(DEFAULT_STEPS, 40)).toEqual([1, 2, 10, 40]);
    expect(waveCounts([{ hosts: 2 }, { percent: 10 }], 10)).toEqual([2, 10]);
    expect(waveCounts(DEFAULT_STEPS, 0)).toEqual([]);
  });
  test.prop([
    fc.array(
      fc.oneof(
        fc.record({ hosts: fc.integer({ min: 0, max: 50 }) }),
        fc.record({ percent: fc.integer({ min: 0, max: 100 }) }),
      ),
      { maxLength: 6 },
    ),
    fc.integer({ min: 1, max: 500 }),
  ])('strictly increasing, at least 1, ending at the total', (steps, total) => {
    const c = waveCounts(steps, total);
    expect(c.at(-1)).toBe(total);
    expect(c[0]).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < c.length; i++) expect(c[i]).toBeGreaterThan(c[i - 1] ?? 0);
  });
});

describe('orderHosts', () => {
  it('is the same for the same seed, and differs for another', () => {
    const hosts = fleet(40, ['a', 'b']);
    expect(orderHosts(hosts, 'r1')).toEqual(orderHosts([...hosts].reverse(), 'r1'));
    expect(orderHosts(hosts, 'r1')).not.toEqual(orderHosts(hosts, 'r2'));
  });
  it('spreads the first hosts across every zone before repeating one', () => {
    const hosts = fleet(60, ['a', 'b', 'c']);
    const zone = new Map(hosts.map((h) => [h.id, h.labels.zone]));
    const first = orderHosts(hosts, 'seed').slice(0, 3);
    expect(new Set(first.map((id) => zone.get(id)))).toEqual(new Set(['a', 'b', 'c']));
  });
  test.prop([fc.integer({ min: 0, max: 200 }), fc.string()])(
    'a permutation of the hosts',
    (n, seed) => {
      const hosts = fleet(n, ['a', 'b', 'c', 'd']);
      expect([...orderHosts(hosts, seed)].sort()).toEqual(hosts.map((h) => h.id).sort());
    },
  );
});
