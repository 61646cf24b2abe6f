// The enforcer on REAL cgroup v1 memcgs beneath this test process's own memory
// cgroup (removed after each test whatever happened, test/helpers/memcg.ts),
// and on v2 fixture trees: settings written and read back, all-or-nothing
// rollback on a real kernel failure, originals restored when a policy is
// replaced or removed, the kernel-OOM list persisted before oom_kill_disable=1.
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCgroupFixture } from '../../../test/helpers/cgroup-fixture.ts';
import {
  makeTestMemcg,
  memcgProblem,
  ownMemcgRoot,
  startHog,
  useTestMemcgs,
  waitFor,
  type TestMemcg,
} from '../../../test/helpers/memcg.ts';
import { loadPolicy } from '../../policy/index.ts';
import type { MemcgDriver, SettingName, SettingValue } from '../cgroup/types.ts';
import { createV1Driver } from '../cgroup/v1.ts';
import { createV2Driver } from '../cgroup/v2.ts';
import { emptyState, StateStore } from '../state/store.ts';
import { ApplyError, Enforcer, type EnforcementState } from './apply.ts';
import { checkSupport } from './compat.ts';
import { desiredSettings, type DesiredState, type Settings } from './desired.ts';

const Mi = 1024 * 1024;
const UNLIMITED = '9223372036854771712';

type Write = [path: string, setting: SettingName, value: SettingValue];

/** The driver, with its writes recorded and an optional hook before each. */
function instrument(
  d: MemcgDriver,
  beforeWrite?: (...w: Write) => void,
): { driver: MemcgDriver; writes: Write[] } {
  const writes: Write[] = [];
  const driver: MemcgDriver = {
    ...d,
    writeSetting(path, setting, value) {
      beforeWrite?.(path, setting, value);
      writes.push([path, setting, value]);
      d.writeSetting(path, setting, value);
    },
  };
  return { driver, writes };
}

const desired = (entries: [string, Settings][]): DesiredState => new Map(entries);

function catchApplyError(fn: () => unknown): ApplyError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApplyError) return e;
    throw e;
  }
  throw new Error('expected an ApplyError, nothing was thrown');
}

/** The v1 files the enforcer may change, exactly as the kernel prints them. */
function v1Files(cg: TestMemcg): {
  limit: string;
  memsw: string;
  soft: string;
  oomKillDisable: string;
} {
  const f = (name: string): string => readFileSync(join(cg.dir, name), 'utf8').trim();
  return {
    limit: f('memory.limit_in_bytes'),
    memsw: f('memory.memsw.limit_in_bytes'),
    soft: f('memory.soft_limit_in_bytes'),
    oomKillDisable: /oom_kill_disable (\d)/.exec(f('memory.oom_control'))?.[1] ?? '?',
  };
}

const setFile = (cg: TestMemcg, name: string, text: string): void => {
  writeFileSync(join(cg.dir, name), text);
};

describe('Enforcer on real cgroup v1 memcgs', () => {
  useTestMemcgs();
  let v1: MemcgDriver;
  beforeAll(() => {
    // Required, never skipped: on a machine without a writable v1 memcg this says why.
    expect(memcgProblem()).toBeUndefined();
    v1 = createV1Driver(ownMemcgRoot());
    expect(v1.support('swapMax').supported).toBe(true);
  });

  it('applies a policy end to end: desired settings written, read back, originals remembered', () => {
    const a = makeTestMemcg('apply-a');
    const b = makeTestMemcg('apply-b');
    const loaded = loadPolicy(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: t }
spec:
  cgroups:
    - match: /oomfleet-test-${process.pid}-apply-*
      memoryMax: 64Mi
      memoryLow: 1000000 # not whole pages: the kernel floors it
      swapMax: 0
      userspaceOom: { enabled: true }
`);
    const policy = loaded.policy;
    if (!policy) throw new Error(JSON.stringify(loaded.issues));
    const memcgs = v1.list();
    expect(checkSupport(policy, v1, memcgs).ok).toBe(true);
    const want = desiredSettings(policy, memcgs, { memTotal: 1024 * Mi, swapTotal: 0 }, 'v1');
    expect([...want.keys()].sort()).toEqual([a.path, b.path].sort());

    const persisted: EnforcementState[] = [];
    const enforcer = new Enforcer(v1, { persist: (s) => persisted.push(s) });
    const r = enforcer.apply(want);
    expect(r.vanished).toEqual([]);
    expect(r.changes).toHaveLength(8);
    for (const cg of [a, b]) {
      expect(v1Files(cg)).toEqual({
        limit: String(64 * Mi),
        memsw: String(64 * Mi),
        soft: String(999424), // 1000000 floored to 4096-byte pages
        oomKillDisable: '1',
      });
      expect(r.changes.find((c) => c.memcg === cg.path && c.setting === 'memoryLow')?.to).toBe(
        999424,
      );
      expect(enforcer.state.originals[cg.path]).toEqual({
        memoryMax: 'max',
        memoryLow: 'max',
        swapMax: 'max',
        oomKillDisable: false,
      });
    }
    expect(enforcer.state.oomKillDisabled.sort()).toEqual([a.dir, b.dir].sort());
    expect(persisted.at(-1)).toEqual(enforcer.state);
    expect(enforcer.appliedSettings().get(a.path)).toEqual({
      memoryMax: 64 * Mi,
      memoryLow: 999424,
      swapMax: 0,
      oomKillDisable: true,
    });
  });

  it('is idempotent: applying the same desired state again writes and persists nothing', () => {
    const a = makeTestMemcg('idem');
    const { driver, writes } = instrument(v1);
    let saves = 0;
    const enforcer = new Enforcer(driver, { persist: () => saves++ });
    const want = desired([[a.path, { memoryMax: 32 * Mi + 100, memoryLow: 8 * Mi }]]);
    enforcer.apply(want);
    const [w, s] = [writes.length, saves];
    expect(w).toBe(2);
    expect(enforcer.apply(want).changes).toEqual([]);
    expect(enforcer.reconcile(want)).toMatchObject({ changes: [], applied: [], failed: [] });
    expect([writes.length, saves]).toEqual([w, s]);
  });

  it('rolls back every change of the apply when the kernel refuses a write (EBUSY below usage)', async () => {
    const a = makeTestMemcg('rb-a');
    const b = makeTestMemcg('rb-b');
    // Non-default originals on a, so "restored" cannot mean "reset to defaults".
    setFile(a, 'memory.limit_in_bytes', String(256 * Mi));
    setFile(a, 'memory.soft_limit_in_bytes', String(64 * Mi));
    setFile(b, 'memory.soft_limit_in_bytes', String(4 * Mi));
    const before = { a: v1Files(a), b: v1Files(b) };
    // A hog holds 40 MiB in b: with no swap the kernel cannot reclaim it, so
    // lowering b's limit to 16 MiB fails with EBUSY.
    const hog = await startHog(b.dir, { stepMiB: 8, intervalMs: 1, maxMiB: 40 });
    await hog.waitForAllocated(40);

    const dir = mkdtempSync(join(tmpdir(), 'oomfleet-apply-'));
    try {
      const store = new StateStore(dir);
      const enforcer = new Enforcer(v1, {
        persist: (s) => {
          store.save({ ...emptyState(), ...s });
        },
      });
      const want = desired([
        [a.path, { memoryMax: 128 * Mi, swapMax: 0, memoryLow: 32 * Mi, oomKillDisable: true }],
        [b.path, { memoryLow: 2 * Mi, memoryMax: 16 * Mi, oomKillDisable: true }],
      ]);
      const err = catchApplyError(() => enforcer.apply(want));
      expect(err).toMatchObject({
        memcg: b.path,
        setting: 'memoryMax',
        value: 16 * Mi,
        code: 'EBUSY',
        rolledBack: 4, // a: memoryMax, swapMax, memoryLow, oomKillDisable (b's memoryMax comes first in b)
        rollbackFailures: [],
      });
      expect(err.message).toContain(`cannot set memoryMax=${16 * Mi} on ${b.path}: EBUSY`);
      expect({ a: v1Files(a), b: v1Files(b) }).toEqual(before);
      // The state is back as it was too, in memory and on disk.
      expect(enforcer.state).toEqual({ originals: {}, oomKillDisabled: [] });
      expect(store.load()).toMatchObject({ originals: {}, oomKillDisabled: [] });
      expect(hog.child.exitCode).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rolls back when the read-back differs from what was written', () => {
    const a = makeTestMemcg('readback');
    const liar: MemcgDriver = {
      ...v1,
      readSetting: (path, setting) =>
        setting === 'memoryLow' && v1.readSetting(path, 'memoryLow') !== 'max'
          ? 4096
          : v1.readSetting(path, setting),
    };
    const before = v1Files(a);
    const enforcer = new Enforcer(liar);
    const err = catchApplyError(() =>
      enforcer.apply(desired([[a.path, { memoryMax: 64 * Mi, memoryLow: 16 * Mi }]])),
    );
    expect(err).toMatchObject({ setting: 'memoryLow', code: 'EREADBACK', rolledBack: 2 });
    expect(err.message).toContain('the kernel holds 4096 after the write');
    expect(v1Files(a)).toEqual(before);
  });

  it('replacing a policy restores settings no longer desired to their originals', () => {
    const a = makeTestMemcg('replace');
    setFile(a, 'memory.soft_limit_in_bytes', String(12 * Mi));
    const enforcer = new Enforcer(v1);
    enforcer.apply(
      desired([[a.path, { memoryMax: 64 * Mi, memoryLow: 16 * Mi, oomKillDisable: true }]]),
    );
    expect(enforcer.state.oomKillDisabled).toEqual([a.dir]);
    const r = enforcer.apply(desired([[a.path, { memoryMax: 32 * Mi }]]));
    expect(r.changes.map((c) => `${c.kind} ${c.setting} ${String(c.to)}`)).toEqual([
      `set memoryMax ${32 * Mi}`,
      `restore memoryLow ${12 * Mi}`,
      'restore oomKillDisable false',
    ]);
    expect(v1Files(a)).toEqual({
      limit: String(32 * Mi),
      memsw: UNLIMITED,
      soft: String(12 * Mi),
      oomKillDisable: '0',
    });
    // memoryMax keeps its original from before the first policy, not the first policy's value.
    expect(enforcer.state).toEqual({
      originals: { [a.path]: { memoryMax: 'max' } },
      oomKillDisabled: [],
    });
    // A memcg the new policy no longer mentions at all goes back whole.
    enforcer.apply(desired([]));
    expect(v1Files(a).limit).toBe(UNLIMITED);
    expect(enforcer.state).toEqual({ originals: {}, oomKillDisabled: [] });
  });

  it('removeAll restores the host exactly', () => {
    const a = makeTestMemcg('remove-a');
    const b = makeTestMemcg('remove-b');
    setFile(a, 'memory.limit_in_bytes', String(256 * Mi));
    setFile(a, 'memory.memsw.limit_in_bytes', String(384 * Mi));
    setFile(a, 'memory.soft_limit_in_bytes', String(100 * Mi));
    const before = { a: v1Files(a), b: v1Files(b) };
    const enforcer = new Enforcer(v1);
    const want: Settings = {
      memoryMax: 64 * Mi,
      swapMax: 0,
      memoryLow: 8 * Mi,
      oomKillDisable: true,
    };
    enforcer.apply(
      desired([
        [a.path, want],
        [b.path, want],
      ]),
    );
    expect(v1Files(a)).toEqual({
      limit: String(64 * Mi),
      memsw: String(64 * Mi),
      soft: String(8 * Mi),
      oomKillDisable: '1',
    });
    const r = enforcer.removeAll();
    expect(r.failed).toEqual([]);
    expect({ a: v1Files(a), b: v1Files(b) }).toEqual(before);
    expect(enforcer.state).toEqual({ originals: {}, oomKillDisabled: [] });
    expect(enforcer.appliedSettings().size).toBe(0);
  });

  it('removeAll of oomKillDisable only (agent shutdown) gives OOM back to the kernel and keeps the limits', () => {
    const a = makeTestMemcg('shutdown');
    const enforcer = new Enforcer(v1);
    enforcer.apply(desired([[a.path, { memoryMax: 64 * Mi, oomKillDisable: true }]]));
    enforcer.removeAll({ settings: ['oomKillDisable'] });
    expect(v1Files(a)).toMatchObject({ limit: String(64 * Mi), oomKillDisable: '0' });
    expect(enforcer.state).toEqual({
      originals: { [a.path]: { memoryMax: 'max' } },
      oomKillDisabled: [],
    });
  });

  it('orders memoryMax and swapMax (memsw ≥ limit) so raising, lowering and lifting all work', () => {
    const a = makeTestMemcg('memsw');
    setFile(a, 'memory.limit_in_bytes', String(64 * Mi));
    setFile(a, 'memory.memsw.limit_in_bytes', String(64 * Mi));
    const before = v1Files(a);
    const enforcer = new Enforcer(v1);
    const step = (s: Settings): Record<string, string> => {
      enforcer.apply(desired([[a.path, s]]));
      return v1Files(a);
    };
    // Raising the limit above memsw: memsw must move first.
    expect(step({ memoryMax: 256 * Mi, swapMax: 64 * Mi })).toMatchObject({
      limit: String(256 * Mi),
      memsw: String(320 * Mi),
    });
    // Lowering both below the old limit: the limit must move first.
    expect(step({ memoryMax: 32 * Mi, swapMax: 0 })).toMatchObject({
      limit: String(32 * Mi),
      memsw: String(32 * Mi),
    });
    // No swap setting: the allowance is kept (restored to the original 0).
    expect(step({ memoryMax: 128 * Mi })).toMatchObject({
      limit: String(128 * Mi),
      memsw: String(128 * Mi),
    });
    // memoryMax: max lifts memsw too; the swap allowance is remembered...
    expect(step({ memoryMax: 'max' })).toMatchObject({ limit: UNLIMITED, memsw: UNLIMITED });
    expect(enforcer.state.originals[a.path]).toEqual({ memoryMax: 64 * Mi, swapMax: 0 });
    // ...held while the limit stays max (idempotent)...
    expect(enforcer.apply(desired([[a.path, { memoryMax: 'max' }]])).changes).toEqual([]);
    // ...and put back with the limit.
    enforcer.removeAll();
    expect(v1Files(a)).toEqual(before);
  });

  it('rolls back a memoryMax=max that lifted memsw, memsw included', () => {
    const a = makeTestMemcg('lift-rb');
    const b = makeTestMemcg('lift-rb-b');
    setFile(a, 'memory.limit_in_bytes', String(64 * Mi));
    setFile(a, 'memory.memsw.limit_in_bytes', String(96 * Mi));
    const before = v1Files(a);
    // b's write fails: memoryLow must be bytes, the driver refuses true with EINVAL.
    const enforcer = new Enforcer(v1);
    const err = catchApplyError(() =>
      enforcer.apply(
        desired([
          [a.path, { memoryMax: 'max' }],
          [b.path, { memoryLow: true }],
        ]),
      ),
    );
    expect(err).toMatchObject({ memcg: b.path, setting: 'memoryLow', code: 'EINVAL' });
    expect(v1Files(a)).toEqual(before);
  });

  it('records a memcg in oomKillDisabled, persisted, before writing oom_kill_disable=1', () => {
    const a = makeTestMemcg('okd');
    const dir = mkdtempSync(join(tmpdir(), 'oomfleet-apply-'));
    try {
      const store = new StateStore(dir);
      const seen: { persisted: string[]; kernel: string }[] = [];
      const { driver } = instrument(v1, (_path, setting, value) => {
        if (setting === 'oomKillDisable' && value === true)
          seen.push({
            persisted: store.load()?.oomKillDisabled ?? [],
            kernel: v1Files(a).oomKillDisable,
          });
      });
      const enforcer = new Enforcer(driver, {
        persist: (s) => {
          store.save({ ...emptyState(), ...s });
        },
      });
      enforcer.apply(desired([[a.path, { oomKillDisable: true }]]));
      expect(seen).toEqual([{ persisted: [a.dir], kernel: '0' }]);
      expect(v1Files(a).oomKillDisable).toBe('1');
      // Back to 0: the entry leaves the list only after the write.
      enforcer.removeAll();
      expect(store.load()?.oomKillDisabled).toEqual([]);
      expect(v1Files(a).oomKillDisable).toBe('0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('setOomKillDisable (fallback and re-arm) keeps the list in step, persisted before a 1', () => {
    const a = makeTestMemcg('fallback');
    const persisted: string[][] = [];
    const kernelAtPersist: string[] = [];
    const enforcer = new Enforcer(v1, {
      persist: (s) => {
        persisted.push(s.oomKillDisabled);
        kernelAtPersist.push(v1Files(a).oomKillDisable);
      },
    });
    enforcer.apply(desired([[a.path, { memoryMax: 64 * Mi, oomKillDisable: true }]]));
    enforcer.setOomKillDisable(a.path, false);
    expect(v1Files(a).oomKillDisable).toBe('0');
    expect(persisted.at(-1)).toEqual([]);
    expect(kernelAtPersist.at(-1)).toBe('0');
    // The original stays: removing the policy later restores it.
    expect(enforcer.state.originals[a.path]).toEqual({ memoryMax: 'max', oomKillDisable: false });
    enforcer.setOomKillDisable(a.path, true);
    expect(persisted.at(-1)).toEqual([a.dir]);
    expect(kernelAtPersist.at(-1)).toBe('0'); // saved while the kernel still had 0
    expect(v1Files(a).oomKillDisable).toBe('1');
    enforcer.removeAll();
    expect(v1Files(a)).toMatchObject({ limit: UNLIMITED, oomKillDisable: '0' });
    expect(enforcer.state.oomKillDisabled).toEqual([]);
  });

  it('restores the originals of a previous run (state from disk) after a restart', () => {
    const a = makeTestMemcg('restart');
    const first = new Enforcer(v1);
    first.apply(desired([[a.path, { memoryMax: 64 * Mi, oomKillDisable: true }]]));
    // The worker dies; the supervisor gives OOM back to the kernel.
    setFile(a, 'memory.oom_control', '0');
    const second = new Enforcer(v1, { state: first.state });
    const r = second.apply(desired([[a.path, { memoryMax: 64 * Mi, oomKillDisable: true }]]));
    expect(r.changes.map((c) => c.setting)).toEqual(['oomKillDisable']);
    expect(second.state).toEqual(first.state);
    second.removeAll();
    expect(v1Files(a)).toMatchObject({ limit: UNLIMITED, oomKillDisable: '0' });
  });

  it('skips a memcg that vanishes mid-apply, and drops its originals', () => {
    const a = makeTestMemcg('vanish-a');
    const b = makeTestMemcg('vanish-b');
    const { driver } = instrument(v1, (path) => {
      if (path === b.path) rmdirSync(b.dir);
    });
    const enforcer = new Enforcer(driver);
    const r = enforcer.apply(
      desired([
        [a.path, { memoryMax: 64 * Mi }],
        [b.path, { memoryMax: 64 * Mi, oomKillDisable: true }],
      ]),
    );
    expect(r.vanished).toEqual([b.path]);
    expect(r.changes.map((c) => c.memcg)).toEqual([a.path]);
    expect(Object.keys(enforcer.state.originals)).toEqual([a.path]);
    expect(enforcer.state.oomKillDisabled).toEqual([]);
    expect(v1Files(a).limit).toBe(String(64 * Mi));
  });

  it('reconcile applies to new memcgs only, and again to one removed and created anew', async () => {
    const a = makeTestMemcg('rec-a');
    const { driver, writes } = instrument(v1);
    const enforcer = new Enforcer(driver);
    const want: Settings = { memoryMax: 64 * Mi };
    enforcer.apply(desired([[a.path, want]]));
    const b = makeTestMemcg('rec-b');
    writes.length = 0;
    const r = enforcer.reconcile(
      desired([
        [a.path, want],
        [b.path, want],
      ]),
    );
    expect(r).toMatchObject({ applied: [b.path], failed: [], vanished: [] });
    expect(writes.map((w) => w[0])).toEqual([b.path]);
    expect(v1Files(b).limit).toBe(String(64 * Mi));

    // b is removed and created again under the same path: a new memcg, unlimited.
    const version = driver.treeVersion?.();
    rmdirSync(b.dir);
    mkdirSync(b.dir);
    expect(v1Files(b).limit).toBe(UNLIMITED);
    // Where the driver's inotify watch vouches for the tree, the enforcer
    // trusts it: the change counts once its event has arrived.
    if (version !== undefined)
      await waitFor(() => driver.treeVersion?.() !== version, 'the watch to see b made again');
    writes.length = 0;
    expect(
      enforcer.reconcile(
        desired([
          [a.path, want],
          [b.path, want],
        ]),
      ).applied,
    ).toEqual([b.path]);
    expect(v1Files(b).limit).toBe(String(64 * Mi));
    expect(enforcer.state.originals[b.path]).toEqual({ memoryMax: 'max' });

    // Gone for good: forgotten.
    const before = driver.treeVersion?.();
    rmdirSync(b.dir);
    if (before !== undefined)
      await waitFor(() => driver.treeVersion?.() !== before, 'the watch to see b removed');
    expect(enforcer.reconcile(desired([[a.path, want]])).vanished).toEqual([b.path]);
    expect(Object.keys(enforcer.state.originals)).toEqual([a.path]);
  });

  it('reconcile applies each new memcg all or nothing and reports the failures', async () => {
    const a = makeTestMemcg('rec-fail-a');
    const b = makeTestMemcg('rec-fail-b');
    const hog = await startHog(b.dir, { stepMiB: 8, intervalMs: 1, maxMiB: 40 });
    await hog.waitForAllocated(40);
    const before = v1Files(b);
    const enforcer = new Enforcer(v1);
    const r = enforcer.reconcile(
      desired([
        [a.path, { memoryMax: 16 * Mi }],
        [b.path, { memoryLow: 8 * Mi, memoryMax: 16 * Mi }],
      ]),
    );
    expect(r.applied).toEqual([a.path]);
    expect(r.failed.map((e) => [e.memcg, e.code])).toEqual([[b.path, 'EBUSY']]);
    expect(v1Files(b)).toEqual(before);
    expect(v1Files(a).limit).toBe(String(16 * Mi));
  });
});

describe('Enforcer on a cgroup v2 fixture tree', () => {
  const fixture = useCgroupFixture();
  let driver: MemcgDriver;
  const SSHD = '/system.slice/sshd.service';
  const JOB_A = '/batch.slice/job-a.scope';
  const JOB_B = '/batch.slice/job-b.scope';
  const text = (path: string, file: string): string =>
    readFileSync(join(fixture().root, path, file), 'utf8');
  const texts = (path: string): Record<string, string> =>
    Object.fromEntries(
      [
        'memory.max',
        'memory.high',
        'memory.low',
        'memory.min',
        'memory.swap.max',
        'memory.oom.group',
      ].map((f) => [f, text(path, f)]),
    );

  it('applies, then restores every file on removeAll', () => {
    driver = createV2Driver(fixture().root);
    const before = { sshd: texts(SSHD), a: texts(JOB_A) };
    const enforcer = new Enforcer(driver);
    enforcer.apply(
      desired([
        [SSHD, { memoryMin: 32 * Mi, memoryLow: 256 * Mi }],
        [JOB_A, { memoryMax: 512 * Mi, memoryHigh: 460 * Mi, swapMax: 0, oomGroup: false }],
      ]),
    );
    expect(texts(JOB_A)).toMatchObject({
      'memory.max': `${512 * Mi}\n`,
      'memory.high': `${460 * Mi}\n`,
      'memory.swap.max': '0\n',
      'memory.oom.group': '0\n',
    });
    expect(text(SSHD, 'memory.min')).toBe(`${32 * Mi}\n`);
    enforcer.removeAll();
    expect({ sshd: texts(SSHD), a: texts(JOB_A) }).toEqual(before);
  });

  it('rolls back every change when a write fails (memory.high replaced by a directory: EISDIR)', () => {
    driver = createV2Driver(fixture().root);
    // As root, a read-only mode does not stop a write, and a removed file is
    // simply created again; a directory in its place fails the write for real.
    // Any earlier read of it must still work, so it is replaced just before the write.
    const { driver: d } = instrument(driver, (path, setting) => {
      if (path === JOB_B && setting === 'memoryHigh') {
        const f = join(fixture().root, JOB_B, 'memory.high');
        rmSync(f);
        mkdirSync(f);
      }
    });
    const before = { sshd: texts(SSHD), a: texts(JOB_A) };
    const enforcer = new Enforcer(d);
    const err = catchApplyError(() =>
      enforcer.apply(
        desired([
          [SSHD, { memoryMin: 32 * Mi }],
          [JOB_A, { memoryMax: 512 * Mi, oomGroup: false }],
          [JOB_B, { memoryMax: 256 * Mi, memoryHigh: 200 * Mi }],
        ]),
      ),
    );
    expect(err).toMatchObject({
      memcg: JOB_B,
      setting: 'memoryHigh',
      code: 'EISDIR',
      rolledBack: 4,
    });
    expect({ sshd: texts(SSHD), a: texts(JOB_A) }).toEqual(before);
    expect(text(JOB_B, 'memory.max')).toBe('max\n');
    expect(enforcer.state).toEqual({ originals: {}, oomKillDisabled: [] });
  });

  it('refuses before writing anything when a setting cannot be read', () => {
    driver = createV2Driver(fixture().root);
    writeFileSync(join(fixture().root, JOB_B, 'memory.low'), 'garbage\n');
    const { driver: d, writes } = instrument(driver);
    const err = catchApplyError(() =>
      new Enforcer(d).apply(
        desired([
          [JOB_A, { memoryLow: Mi }],
          [JOB_B, { memoryLow: Mi }],
        ]),
      ),
    );
    expect(err).toMatchObject({
      memcg: JOB_B,
      setting: 'memoryLow',
      code: 'EBADMSG',
      rolledBack: 0,
    });
    expect(writes).toEqual([]);
  });

  it('skips a memcg removed mid-apply', () => {
    driver = createV2Driver(fixture().root);
    const { driver: d } = instrument(driver, (path) => {
      if (path === JOB_B) rmSync(join(fixture().root, JOB_B), { recursive: true });
    });
    const enforcer = new Enforcer(d);
    const r = enforcer.apply(
      desired([
        [JOB_A, { memoryMax: 64 * Mi }],
        [JOB_B, { memoryMax: 64 * Mi }],
      ]),
    );
    expect(r.vanished).toEqual([JOB_B]);
    expect(Object.keys(enforcer.state.originals)).toEqual([JOB_A]);
  });
});
