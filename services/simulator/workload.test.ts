import { describe, expect, it } from 'vitest';
import { loadPolicy } from '../policy/load-text.ts';
import type { CanonicalPolicy } from '../policy/index.ts';
import { DEFAULT_WORKLOAD, ratesFor } from './workload.ts';

function policy(cgroups: string, rules = ''): CanonicalPolicy {
  const r = loadPolicy(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: sim }
spec:
  cgroups:
${cgroups}
  rules:
${
  rules ||
  `    - name: notify
      scope: /jobs/*
      when: { usage: { of: limit, above: 99% } }
      action: { notify: {} }`
}
`);
  if (!r.canonical) throw new Error(JSON.stringify(r.issues));
  return r.canonical;
}

describe('the simulator’s workload model (need: 2 GiB per job)', () => {
  it('a memoryMax below the need causes OOMs; one well above it almost none', () => {
    const tight = ratesFor(policy('    - { match: /jobs/*, memoryMax: 1536Mi }'));
    const roomy = ratesFor(policy('    - { match: /jobs/*, memoryMax: 4Gi }'));
    expect(tight.oom).toBeGreaterThan(DEFAULT_WORKLOAD.jobsPerHour * 0.9);
    expect(roomy.oom).toBeLessThan(0.05);
  });

  it('a pre-OOM kill rule turns most OOMs into kills, and kills more when set low', () => {
    const limit = '    - { match: /jobs/*, memoryMax: 2Gi }';
    const none = ratesFor(policy(limit));
    const kill = (above: string): string => `    - name: pre-oom
      scope: /jobs/*
      when: { usage: { of: limit, above: ${above} } }
      action: { kill: {} }`;
    const at95 = ratesFor(policy(limit, kill('95%')));
    const at50 = ratesFor(policy(limit, kill('50%')));
    expect(at95.oom).toBeCloseTo(none.oom * 0.1, 5);
    expect(at95.kill).toBeGreaterThan(none.oom * 0.9);
    // Set at half the need, nearly every job ends killed (or, missed, in an OOM).
    expect(at50.kill + at50.oom).toBeGreaterThan(DEFAULT_WORKLOAD.jobsPerHour * 0.99);
    expect(at50.kill).toBeGreaterThan(at95.kill * 1.5);
  });

  it('user-space OOM handling turns OOMs into agent kills and some fallbacks', () => {
    const r = ratesFor(
      policy('    - { match: /jobs/*, memoryMax: 1536Mi, userspaceOom: { enabled: true } }'),
    );
    expect(r.fallback).toBeGreaterThan(0);
    expect(r.kill).toBeGreaterThan(r.fallback * 5);
  });

  it('no policy: the host’s memory is the limit, only background kills', () => {
    expect(ratesFor(undefined)).toEqual({
      kill: DEFAULT_WORKLOAD.backgroundKillsPerHour,
      oom: expect.any(Number) as number,
      fallback: 0,
    });
    expect(ratesFor(undefined).oom).toBeLessThan(1e-6);
  });
});
