// desiredSettings: which settings a policy wants on which memcg, with
// percentages resolved as docs/policy.md says, pages floored, first entry wins.
import { describe, expect, it } from 'vitest';
import { loadPolicy, type CompiledPolicy } from '../../policy/index.ts';
import { desiredSettings, pageFloor, percentOf, PAGE_SIZE } from './desired.ts';

const GI = 1024 ** 3;
const MI = 1024 ** 2;
const HOST = { memTotal: 16 * GI, swapTotal: 4 * GI };

function policy(spec: string): CompiledPolicy {
  const r = loadPolicy(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: t }
spec:
${spec}`);
  if (!r.policy) throw new Error(r.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return r.policy;
}

describe('desiredSettings', () => {
  it('applies an entry to every memcg its glob matches, and to nothing else', () => {
    const p = policy(`  cgroups:
    - match: /batch/*
      memoryMax: 1Gi
`);
    const d = desiredSettings(p, ['/', '/batch', '/batch/a', '/batch/b', '/batch/a/x'], HOST, 'v2');
    expect([...d.keys()]).toEqual(['/batch/a', '/batch/b']);
    expect(d.get('/batch/a')).toEqual({ memoryMax: GI });
  });

  it('resolves memoryMax % of MemTotal and swapMax % of SwapTotal', () => {
    const p = policy(`  cgroups:
    - match: /a
      memoryMax: 25%
      swapMax: 50%
`);
    expect(desiredSettings(p, ['/a'], HOST, 'v2').get('/a')).toEqual({
      memoryMax: 4 * GI,
      swapMax: 2 * GI,
    });
  });

  it("resolves memoryHigh/Low/Min % of the same entry's memoryMax, in bytes or %", () => {
    const p = policy(`  cgroups:
    - match: /bytes
      memoryMax: 8Gi
      memoryHigh: 90%
      memoryLow: 50%
      memoryMin: 25%
    - match: /pct
      memoryMax: 50%
      memoryHigh: 50%
`);
    const d = desiredSettings(p, ['/bytes', '/pct'], HOST, 'v2');
    expect(d.get('/bytes')).toEqual({
      memoryMax: 8 * GI,
      memoryHigh: pageFloor(Math.floor(0.9 * 8 * GI)),
      memoryLow: 4 * GI,
      memoryMin: 2 * GI,
    });
    // 50% of (50% of 16Gi)
    expect(d.get('/pct')).toEqual({ memoryMax: 8 * GI, memoryHigh: 4 * GI });
  });

  it('falls back to MemTotal without a memoryMax in the entry, or with memoryMax: max', () => {
    const p = policy(`  cgroups:
    - match: /none
      memoryHigh: 50%
    - match: /max
      memoryMax: max
      memoryHigh: 25%
`);
    const d = desiredSettings(p, ['/none', '/max'], HOST, 'v2');
    expect(d.get('/none')).toEqual({ memoryHigh: 8 * GI });
    expect(d.get('/max')).toEqual({ memoryMax: 'max', memoryHigh: 4 * GI });
  });

  it("uses the same entry's memoryMax even when another entry's memoryMax wins", () => {
    const p = policy(`  cgroups:
    - match: /a
      memoryMax: 2Gi
    - match: /*
      memoryMax: 8Gi
      memoryHigh: 50%
`);
    // memoryMax from entry 0; memoryHigh from entry 1, as a share of entry 1's 8Gi.
    expect(desiredSettings(p, ['/a'], HOST, 'v2').get('/a')).toEqual({
      memoryMax: 2 * GI,
      memoryHigh: 4 * GI,
    });
  });

  it('takes each field from the first matching entry that sets it', () => {
    const p = policy(`  cgroups:
    - match: /batch/special
      memoryMax: 1Gi
    - match: /batch/*
      memoryMax: 4Gi
      swapMax: 0
      oomGroup: true
`);
    const d = desiredSettings(p, ['/batch/special', '/batch/other'], HOST, 'v2');
    expect(d.get('/batch/special')).toEqual({ memoryMax: GI, swapMax: 0, oomGroup: true });
    expect(d.get('/batch/other')).toEqual({ memoryMax: 4 * GI, swapMax: 0, oomGroup: true });
  });

  it('keeps max as max', () => {
    const p = policy(`  cgroups:
    - match: /a
      memoryMax: max
      memoryHigh: max
      swapMax: max
`);
    expect(desiredSettings(p, ['/a'], HOST, 'v2').get('/a')).toEqual({
      memoryMax: 'max',
      memoryHigh: 'max',
      swapMax: 'max',
    });
  });

  it('floors resolved percentages to whole pages and passes byte sizes through', () => {
    const p = policy(`  cgroups:
    - match: /a
      memoryMax: 33.333333%
    - match: /b
      memoryMax: 1000000
`);
    const host = { memTotal: 1_000_000_007, swapTotal: 0 };
    const d = desiredSettings(p, ['/a', '/b'], host, 'v2');
    const a = d.get('/a')?.memoryMax;
    expect(typeof a).toBe('number');
    expect((a as number) % PAGE_SIZE).toBe(0);
    expect(a).toBe(pageFloor(Math.floor((1_000_000_007 * 33_333_333) / 100_000_000)));
    expect(d.get('/b')).toEqual({ memoryMax: 1_000_000 });
  });

  it('resolves swapMax % to 0 on a host without swap', () => {
    const p = policy(`  cgroups:
    - match: /a
      swapMax: 10%
`);
    expect(desiredSettings(p, ['/a'], { memTotal: GI, swapTotal: 0 }, 'v1').get('/a')).toEqual({
      swapMax: 0,
    });
  });

  it('maps userspaceOom to oomKillDisable on v1 and to nothing on v2', () => {
    const p = policy(`  cgroups:
    - match: /on
      memoryMax: 1Gi
      userspaceOom: { enabled: true }
    - match: /off
      memoryMax: 1Gi
      userspaceOom: { enabled: false }
`);
    const v1 = desiredSettings(p, ['/on', '/off'], HOST, 'v1');
    expect(v1.get('/on')).toEqual({ memoryMax: GI, oomKillDisable: true });
    expect(v1.get('/off')).toEqual({ memoryMax: GI, oomKillDisable: false });
    const v2 = desiredSettings(p, ['/on', '/off'], HOST, 'v2');
    expect(v2.get('/on')).toEqual({ memoryMax: GI });
    expect(v2.get('/off')).toEqual({ memoryMax: GI });
  });

  it('lets protect[] fill memoryMin/memoryLow (as % of MemTotal) only where cgroups[] did not', () => {
    const p = policy(`  protect:
    - cgroup: /web/*
      memoryMin: 10%
      memoryLow: 1Gi
    - process: '^sshd$'
  cgroups:
    - match: /web/app
      memoryMax: 8Gi
      memoryLow: 50%
`);
    const d = desiredSettings(p, ['/web/app', '/web/db', '/web', '/other'], HOST, 'v2');
    // memoryLow from cgroups[] (50% of its 8Gi), memoryMin from protect (10% of 16Gi).
    expect(d.get('/web/app')).toEqual({
      memoryMax: 8 * GI,
      memoryLow: 4 * GI,
      memoryMin: pageFloor(Math.floor(1.6 * GI)),
    });
    expect(d.get('/web/db')).toEqual({ memoryMin: pageFloor(Math.floor(1.6 * GI)), memoryLow: GI });
    // protect covers processes below /web/*, but its settings go on the matching memcgs only.
    expect(d.has('/web')).toBe(false);
    expect(d.has('/other')).toBe(false);
  });

  it('gives nothing for a policy without cgroup settings', () => {
    const p = policy(`  protect:
    - process: '^sshd$'
`);
    expect(desiredSettings(p, ['/', '/a'], HOST, 'v1').size).toBe(0);
  });

  it('matches ** at any depth and the root itself', () => {
    const p = policy(`  cgroups:
    - match: /batch/**
      memoryMax: 64Mi
    - match: /
      swapMax: 0
`);
    const d = desiredSettings(p, ['/', '/batch', '/batch/a/b'], HOST, 'v2');
    expect(d.get('/')).toEqual({ swapMax: 0 });
    expect(d.get('/batch')).toEqual({ memoryMax: 64 * MI });
    expect(d.get('/batch/a/b')).toEqual({ memoryMax: 64 * MI });
  });
});

describe('percentOf', () => {
  it('is exact for large bases where float arithmetic is not', () => {
    const base = Number.MAX_SAFE_INTEGER; // 8 PiB - 1
    const exact = (BigInt(base) * 90n) / 100n;
    expect(percentOf(90, base)).toBe(Number(exact - (exact % 4096n)));
  });

  it('floors to pages and handles 0% and 100%', () => {
    expect(percentOf(0, 16 * GI)).toBe(0);
    expect(percentOf(100, 16 * GI)).toBe(16 * GI);
    expect(percentOf(100, 10_000)).toBe(8192);
    expect(percentOf(50, 4095)).toBe(0);
  });
});
