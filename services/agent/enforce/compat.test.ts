// checkSupport: a policy that needs a setting the hierarchy cannot express is
// refused whole, with a reason naming the entry, its glob, the setting and why;
// approximations are listed for `agent status`.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES_DIR } from '../../../test/helpers/cgroup-fixture.ts';
import { ownMemcgRoot } from '../../../test/helpers/memcg.ts';
import { loadPolicy, type CompiledPolicy } from '../../policy/index.ts';
import type { SettingName, SettingSupport } from '../cgroup/types.ts';
import { createV1Driver } from '../cgroup/v1.ts';
import { createV2Driver } from '../cgroup/v2.ts';
import { checkSupport, type SupportSource } from './compat.ts';

function policy(spec: string): CompiledPolicy {
  const r = loadPolicy(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: t }
spec:
${spec}`);
  if (!r.policy) throw new Error(r.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return r.policy;
}

/** Support as a v1 driver reports it (the mapping table of docs/policy.md). */
const V1: SupportSource = {
  mode: 'v1',
  support(setting: SettingName): SettingSupport {
    switch (setting) {
      case 'memoryMax':
        return { supported: true, file: 'memory.limit_in_bytes' };
      case 'swapMax':
        return { supported: true, file: 'memory.memsw.limit_in_bytes' };
      case 'oomKillDisable':
        // A note on a supported setting that is no approximation (the v1 driver explains several).
        return {
          supported: true,
          file: 'memory.oom_control',
          note: 'oom_kill_disable in memory.oom_control',
        };
      case 'memoryLow':
        return {
          supported: true,
          file: 'memory.soft_limit_in_bytes',
          note: 'approximation: the soft limit only steers reclaim under contention',
        };
      case 'memoryHigh':
        return { supported: false, note: 'cgroup v1 has no memory.high' };
      case 'memoryMin':
        return { supported: false, note: 'cgroup v1 has no memory.min' };
      case 'oomGroup':
        return { supported: false, note: 'cgroup v1 has no memory.oom.group' };
    }
  },
};

const V2: SupportSource = {
  mode: 'v2',
  support: (setting) =>
    setting === 'oomKillDisable'
      ? { supported: false, note: 'cgroup v2 has no oom_kill_disable' }
      : { supported: true, file: `memory.${setting}` },
};

const MEMCGS = ['/', '/batch', '/batch/a', '/batch/b', '/web/app'];

describe('checkSupport', () => {
  it('refuses memoryHigh on v1 with the reason in words', () => {
    const p = policy(`  cgroups:
    - match: /batch/*
      memoryMax: 8Gi
      memoryHigh: 90%
`);
    const r = checkSupport(p, V1, MEMCGS);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe(
      'cgroups[0] (/batch/*) sets memoryHigh, which cgroup v1 has no equivalent for (cgroup v1 has no memory.high)',
    );
    expect(r.unsupported).toHaveLength(1);
    expect(r.unsupported[0]).toMatchObject({
      source: 'cgroups[0]',
      glob: '/batch/*',
      setting: 'memoryHigh',
      memcgs: ['/batch/a', '/batch/b'],
    });
  });

  it('lists every unsupported requirement, cgroups[] and protect[] alike', () => {
    const p = policy(`  protect:
    - cgroup: /web/app
      memoryMin: 1Gi
  cgroups:
    - match: /batch/*
      memoryMax: 8Gi
      oomGroup: true
    - match: /web/**
      memoryMin: 64Mi
      memoryHigh: max
`);
    const r = checkSupport(p, V1, MEMCGS);
    expect(r.ok).toBe(false);
    expect(r.unsupported.map((f) => `${f.source} ${f.setting}`)).toEqual([
      'cgroups[0] oomGroup',
      'cgroups[1] memoryMin',
      'cgroups[1] memoryHigh',
      'protect[0] memoryMin',
    ]);
    expect(r.reason?.split('; ')).toHaveLength(4);
    expect(r.reason).toContain(
      'protect[0] (/web/app) sets memoryMin, which cgroup v1 has no equivalent for (cgroup v1 has no memory.min)',
    );
  });

  it('refuses even when no memcg matches now: memcgs come and go after the ACK', () => {
    const p = policy(`  cgroups:
    - match: /nothing-here/*
      memoryHigh: 1Gi
`);
    const r = checkSupport(p, V1, MEMCGS);
    expect(r.ok).toBe(false);
    expect(r.unsupported[0]?.memcgs).toEqual([]);
  });

  it('accepts what v1 can express, and lists memoryLow as approximate', () => {
    const p = policy(`  cgroups:
    - match: /batch/*
      memoryMax: 8Gi
      memoryLow: 1Gi
      swapMax: 0
      userspaceOom: { enabled: true }
`);
    const r = checkSupport(p, V1, MEMCGS);
    expect(r.ok).toBe(true);
    expect(r.reason).toBeUndefined();
    expect(r.unsupported).toEqual([]);
    expect(r.approximate.map((f) => f.message)).toEqual([
      'cgroups[0] (/batch/*) sets memoryLow, which cgroup v1 applies only approximately through memory.soft_limit_in_bytes (approximation: the soft limit only steers reclaim under contention)',
    ]);
  });

  it('checks userspaceOom as oomKillDisable on v1, and requires nothing for it on v2', () => {
    const p = policy(`  cgroups:
    - match: /batch/*
      memoryMax: 1Gi
      userspaceOom: { enabled: true }
`);
    const noOomControl: SupportSource = {
      mode: 'v1',
      support: (s) =>
        s === 'oomKillDisable'
          ? { supported: false, note: 'memory.oom_control is missing' }
          : V1.support(s),
    };
    const r = checkSupport(p, noOomControl, MEMCGS);
    expect(r.reason).toBe(
      'cgroups[0] (/batch/*) sets userspaceOom (oomKillDisable), which cgroup v1 has no equivalent for (memory.oom_control is missing)',
    );
    expect(checkSupport(p, V2, MEMCGS).ok).toBe(true);
  });

  it('accepts every v2 setting on v2', () => {
    const p = policy(`  protect:
    - cgroup: /web/app
      memoryMin: 1Gi
      memoryLow: 2Gi
  cgroups:
    - match: /batch/*
      memoryMax: 8Gi
      memoryHigh: 90%
      memoryLow: 1Gi
      memoryMin: 512Mi
      swapMax: max
      oomGroup: true
      userspaceOom: { enabled: true }
`);
    const r = checkSupport(p, V2, MEMCGS);
    expect(r).toEqual({ ok: true, unsupported: [], approximate: [] });
  });

  it('accepts a policy without cgroup settings anywhere', () => {
    const p = policy(`  protect:
    - process: '^sshd$'
`);
    expect(checkSupport(p, V1, MEMCGS).ok).toBe(true);
  });
});

describe("checkSupport with the drivers' own support tables", () => {
  const p = policy(`  protect:
    - cgroup: /web/app
      memoryLow: 1Gi
  cgroups:
    - match: /batch/*
      memoryMax: 8Gi
      memoryHigh: 90%
      swapMax: 0
      oomGroup: true
      userspaceOom: { enabled: true }
`);

  it('v1: refuses memoryHigh and oomGroup with the driver notes, memoryLow is approximate', () => {
    const r = checkSupport(p, createV1Driver(ownMemcgRoot()), MEMCGS);
    expect(r.unsupported.map((f) => f.setting)).toEqual(['memoryHigh', 'oomGroup']);
    expect(r.reason).toMatch(
      /^cgroups\[0\] \(\/batch\/\*\) sets memoryHigh, which cgroup v1 has no equivalent for \(cgroup v1 has no memory\.high/,
    );
    // swapMax and userspaceOom carry explanatory notes but are exact.
    expect(r.approximate.map((f) => `${f.source} ${f.setting}`)).toEqual(['protect[0] memoryLow']);
  });

  it('v2: accepts all of it', () => {
    expect(checkSupport(p, createV2Driver(join(FIXTURES_DIR, 'cgroup-v2')), MEMCGS)).toEqual({
      ok: true,
      unsupported: [],
      approximate: [],
    });
  });
});
