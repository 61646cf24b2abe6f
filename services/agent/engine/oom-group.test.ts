// memory.oom.group turns a process kill into a whole-group kill, as the kernel does.
import { describe, expect, it } from 'vitest';
import { emptyHistory, evaluate, loadPolicy, type HostSnapshot } from '../../policy/index.ts';
import { honourOomGroup } from './oom-group.ts';

const MiB = 1024 ** 2;

function run(oomGroup: boolean) {
  const r = loadPolicy(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: g }
spec:
  rules:
    - name: batch
      scope: /batch.slice/*
      when: { usage: { above: 50% } }
      action: { kill: { victim: largest } }
`);
  if (!r.policy) throw new Error('invalid');
  const snap: HostSnapshot = {
    time: 1,
    cgroupMode: 'v2',
    host: { memTotal: 1024 * MiB, memAvailable: 512 * MiB, swapTotal: 0, swapFree: 0 },
    memcgs: [
      { path: '/batch.slice', usage: 300 * MiB, limit: null },
      { path: '/batch.slice/job-a.scope', usage: 300 * MiB, limit: 400 * MiB, oomGroup },
    ],
    processes: [
      {
        pid: 10,
        comm: 'main',
        cmdline: ['main'],
        rss: 200 * MiB,
        oomScore: 1,
        oomScoreAdj: 0,
        startTime: 1,
        cgroup: '/batch.slice/job-a.scope',
      },
      {
        pid: 11,
        comm: 'helper',
        cmdline: ['helper'],
        rss: 90 * MiB,
        oomScore: 1,
        oomScoreAdj: 0,
        startTime: 1,
        cgroup: '/batch.slice/job-a.scope',
      },
    ],
  };
  return honourOomGroup(evaluate(r.policy, snap, emptyHistory()), snap);
}

describe('memory.oom.group', () => {
  it('set: the process kill becomes a kill of the whole memcg, with every member', () => {
    const d = run(true).decisions[0];
    expect(d?.kill).toMatchObject({
      among: 'cgroup',
      cgroup: '/batch.slice/job-a.scope',
      pids: [10, 11],
    });
    expect(d?.trace.summary).toMatch(/memory.oom.group is set on \/batch.slice\/job-a.scope/);
  });

  it('not set: one process, the largest', () => {
    expect(run(false).decisions[0]?.kill).toMatchObject({ among: 'process', pid: 10 });
  });
});
