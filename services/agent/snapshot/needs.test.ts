import { describe, expect, it } from 'vitest';
import { makePolicy, rule } from '../../../test/helpers/evaluator.ts';
import { ALL_NEEDS, needsProcessesIn, selectMemcgs, snapshotNeeds } from './needs.ts';

const kill = { kill: {} };
const usage = { usage: { of: 'limit', above: '90%' } };
const pressure = { pressure: { kind: 'full', window: 'avg10', above: '20%' } };
const tree = [
  '/',
  '/batch',
  '/batch/a',
  '/batch/a/worker',
  '/batch/b',
  '/system.slice',
  '/system.slice/sshd.service',
  '/web',
];

describe('snapshotNeeds', () => {
  it('global-only policies need no memcgs and, without kill rules, no processes', () => {
    const n = snapshotNeeds(
      makePolicy({ rules: [rule({ when: { available: { below: '5%' } } })] }),
    );
    expect(n.memcgs).toEqual([]);
    expect(n.processes).toEqual({ kind: 'none' });
    expect(n.pressure).toBe(false);
    expect(selectMemcgs(n, tree)).toEqual([]);
    expect(needsProcessesIn(n, '/batch')).toBe(false);
  });

  it('a global kill rule needs every process but no memcgs', () => {
    const n = snapshotNeeds(
      makePolicy({ rules: [rule({ when: { available: { below: '5%' } }, action: kill })] }),
    );
    expect(n.memcgs).toEqual([]);
    expect(n.processes).toEqual({ kind: 'all' });
    expect(needsProcessesIn(n, '/anything/at/all')).toBe(true);
  });

  it('rule scopes select their memcgs and their ancestors', () => {
    const n = snapshotNeeds(makePolicy({ rules: [rule({ scope: '/batch/*', when: usage })] }));
    expect(n.memcgs.map((g) => g.source)).toEqual(['/batch/*']);
    expect(selectMemcgs(n, tree)).toEqual(['/', '/batch', '/batch/a', '/batch/b']);
    expect(n.processes).toEqual({ kind: 'none' });
  });

  it('ancestors missing from the list are not invented', () => {
    const n = snapshotNeeds(makePolicy({ rules: [rule({ scope: '/batch/*', when: usage })] }));
    expect(selectMemcgs(n, ['/batch/a'])).toEqual(['/batch/a']);
  });

  it('cgroup settings and protected cgroups are read too', () => {
    const n = snapshotNeeds(
      makePolicy({
        protect: [{ cgroup: '/system.slice/sshd.service' }, { process: '^sshd$' }],
        cgroups: [{ match: '/web', memoryMax: '1Gi' }],
      }),
    );
    expect(selectMemcgs(n, tree)).toEqual([
      '/',
      '/system.slice',
      '/system.slice/sshd.service',
      '/web',
    ]);
    // Protections alone never need processes: nothing would be killed.
    expect(n.processes).toEqual({ kind: 'none' });
  });

  it('cgroup-scoped kill rules need the processes of their subtrees only', () => {
    const n = snapshotNeeds(
      makePolicy({
        rules: [
          rule({ name: 'a', scope: '/batch/*', when: usage, action: kill }),
          rule({ name: 'b', scope: '/batch/*', when: pressure, action: kill }),
        ],
      }),
    );
    expect(n.processes.kind).toBe('subtrees');
    if (n.processes.kind === 'subtrees')
      expect(n.processes.globs.map((g) => g.source)).toEqual(['/batch/*']);
    expect(needsProcessesIn(n, '/batch/a')).toBe(true);
    expect(needsProcessesIn(n, '/batch/a/worker')).toBe(true);
    expect(needsProcessesIn(n, '/batch')).toBe(false);
    expect(needsProcessesIn(n, '/web')).toBe(false);
  });

  it('a global kill rule beside cgroup-scoped ones needs all processes', () => {
    const n = snapshotNeeds(
      makePolicy({
        rules: [
          rule({ name: 'a', scope: '/batch/*', when: usage, action: kill }),
          rule({ name: 'g', when: { available: { below: '5%' } }, action: kill }),
        ],
      }),
    );
    expect(n.processes).toEqual({ kind: 'all' });
  });

  it('pressure is read only for pressure triggers on cgroup scopes', () => {
    const global = snapshotNeeds(makePolicy({ rules: [rule({ when: pressure })] }));
    expect(global.pressure).toBe(false);
    const nested = snapshotNeeds(
      makePolicy({
        rules: [rule({ scope: '/batch/*', when: { all: [usage, { any: [pressure] }] } })],
      }),
    );
    expect(nested.pressure).toBe(true);
    const noPsi = snapshotNeeds(makePolicy({ rules: [rule({ scope: '/batch/*', when: usage })] }));
    expect(noPsi.pressure).toBe(false);
    expect(noPsi.stat).toBe(false);
  });

  it('the OOM state is read only for oom triggers or user-space OOM handling; extras never on a tick', () => {
    const plain = snapshotNeeds(makePolicy({ rules: [rule({ scope: '/batch/*', when: usage })] }));
    expect(plain).toMatchObject({ oom: false, extras: false });
    const trigger = snapshotNeeds(
      makePolicy({
        rules: [rule({ scope: '/batch/*', when: { any: [usage, { oom: { on: 'stuck' } }] } })],
      }),
    );
    expect(trigger).toMatchObject({ oom: true, extras: false });
    const userspace = snapshotNeeds(
      makePolicy({
        cgroups: [{ match: '/batch/*', userspaceOom: { enabled: true, fallbackAfter: '2s' } }],
        rules: [rule({ scope: '/batch/*', when: usage })],
      }),
    );
    expect(userspace.oom).toBe(true);
    expect(ALL_NEEDS).toMatchObject({ oom: true, extras: true });
  });

  it('ALL_NEEDS reads everything', () => {
    expect(selectMemcgs(ALL_NEEDS, tree)).toEqual(tree);
    expect(needsProcessesIn(ALL_NEEDS, '/web')).toBe(true);
  });
});
