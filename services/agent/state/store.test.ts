// The state directory: atomic saves, corrupt or truncated files reported and
// ignored with a fallback to state.json.prev, and restoreKernelOom.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPolicy, type CanonicalPolicy } from '../../policy/index.ts';
import {
  makeTestMemcg,
  memcgProblem,
  startHog,
  useTestMemcgs,
  waitFor,
  type TestMemcg,
} from '../../../test/helpers/memcg.ts';
import { emptyState, parseState, restoreKernelOom, StateStore, type AgentState } from './store.ts';

let dir: string;
let problems: string[];
let store: StateStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'oomfleet-state-'));
  problems = [];
  store = new StateStore(dir, (p) => problems.push(p));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function canonicalPolicy(name: string): { canonical: CanonicalPolicy; digest: string } {
  const r = loadPolicy(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: ${name} }
spec:
  cgroups:
    - match: /batch/*
      memoryMax: 1Gi
`);
  if (!r.canonical || !r.digest) throw new Error('test policy invalid');
  return { canonical: r.canonical, digest: r.digest };
}

function stateWith(name: string): AgentState {
  const { canonical, digest } = canonicalPolicy(name);
  return {
    version: 1,
    policy: { name, digest, canonical, source: 'local', appliedAt: 1_700_000_000_000 },
    originals: { '/batch/a': { memoryMax: 'max', oomKillDisable: false } },
    oomKillDisabled: ['/sys/fs/cgroup/memory/batch/a'],
    lastNack: { digest: 'sha256:00', reason: 'cgroups[0] sets memoryHigh', at: 1_700_000_000_001 },
  };
}

describe('StateStore', () => {
  it('loads nothing, and reports nothing, from an empty directory', () => {
    expect(store.load()).toBeUndefined();
    expect(problems).toEqual([]);
  });

  it('creates the directory and round-trips a state', () => {
    const nested = new StateStore(join(dir, 'a', 'b'));
    const s = stateWith('one');
    nested.save(s);
    expect(nested.load()).toEqual(s);
    expect(JSON.parse(readFileSync(join(dir, 'a', 'b', 'state.json'), 'utf8'))).toMatchObject({
      version: 1,
    });
  });

  it('keeps the replaced good file as state.json.prev, and leaves no temp file', () => {
    store.save(stateWith('one'));
    expect(existsSync(store.previousFile)).toBe(false);
    store.save(stateWith('two'));
    expect(store.load()?.policy?.name).toBe('two');
    expect(parseState(readFileSync(store.previousFile, 'utf8'))).toMatchObject({
      state: { policy: { name: 'one' } },
    });
    expect(readdirSync(dir).sort()).toEqual(['state.json', 'state.json.prev']);
  });

  it('ignores and removes a temp file left by a crash in the middle of a save', () => {
    store.save(stateWith('one'));
    // A crash after writing part of the temp file, before the rename.
    const torn = `${store.file}.tmp-999-abc`;
    writeFileSync(torn, JSON.stringify(stateWith('two')).slice(0, 40));
    expect(store.load()?.policy?.name).toBe('one');
    expect(problems).toEqual([]);
    expect(existsSync(torn)).toBe(false);
  });

  it('never shows a partial file: state.json parses after every save', () => {
    // Readers between saves see the old or the new state, whole.
    for (let i = 0; i < 20; i++) {
      store.save({
        ...emptyState(),
        oomKillDisabled: Array.from({ length: i }, (_, j) => `/m/${j}`),
      });
      const parsed = parseState(readFileSync(store.file, 'utf8'));
      expect('state' in parsed && parsed.state.oomKillDisabled.length).toBe(i);
    }
  });

  it('falls back to state.json.prev when state.json is truncated, and reports it', () => {
    store.save(stateWith('one'));
    store.save(stateWith('two'));
    const text = readFileSync(store.file, 'utf8');
    writeFileSync(store.file, text.slice(0, text.length / 2));
    const r = store.loadReport();
    expect(r.from).toBe('previous');
    expect(r.state?.policy?.name).toBe('one');
    expect(store.load()?.policy?.name).toBe('one');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/state\.json: not valid JSON .*truncated or corrupt; ignored/);
  });

  it('does not let a corrupt state.json replace a good state.json.prev', () => {
    store.save(stateWith('one'));
    store.save(stateWith('two'));
    writeFileSync(store.file, '{"version":1,');
    store.save(stateWith('three'));
    // .prev is still "one": the corrupt file was not promoted.
    expect(parseState(readFileSync(store.previousFile, 'utf8'))).toMatchObject({
      state: { policy: { name: 'one' } },
    });
    expect(store.load()?.policy?.name).toBe('three');
  });

  it('starts without state (no crash) when both files are damaged', () => {
    writeFileSync(store.file, '\0\0\0');
    writeFileSync(store.previousFile, '[]');
    expect(store.load()).toBeUndefined();
    expect(problems).toHaveLength(2);
  });

  it('refuses a policy whose canonical form no longer matches its digest', () => {
    const s = stateWith('one');
    const text = JSON.stringify(s).replace('"memoryMax":1073741824', '"memoryMax":1073741825');
    expect(parseState(text)).toEqual({
      problem: expect.stringContaining('does not match its digest') as unknown,
    });
  });

  it.each([
    ['another version', { ...emptyState(), version: 2 }, /version 2 is not 1/],
    ['bad originals', { ...emptyState(), originals: { '/a': { memoryMax: -1 } } }, /originals/],
    ['unknown setting', { ...emptyState(), originals: { '/a': { nope: 1 } } }, /originals/],
    ['relative memcg', { ...emptyState(), originals: { a: {} } }, /originals/],
    ['bad oomKillDisabled', { ...emptyState(), oomKillDisabled: [1] }, /oomKillDisabled/],
    ['bad lastNack', { ...emptyState(), lastNack: { digest: 'x' } }, /lastNack/],
    ['bad policy source', { ...stateWith('x'), policy: { source: 'web' } }, /policy is malformed/],
  ])('refuses %s', (_name, value, problem) => {
    const r = parseState(JSON.stringify(value));
    expect('problem' in r && r.problem).toMatch(problem);
  });
});

describe('restoreKernelOom on real cgroup v1 memcgs', () => {
  useTestMemcgs();
  const oomControl = (cg: TestMemcg): string =>
    readFileSync(join(cg.dir, 'memory.oom_control'), 'utf8');
  const disable = (cg: TestMemcg): void => {
    writeFileSync(join(cg.dir, 'memory.oom_control'), '1');
    expect(oomControl(cg)).toContain('oom_kill_disable 1\n');
  };

  it('writes oom_kill_disable=0 on every listed memcg, from state.json and state.json.prev', () => {
    expect(memcgProblem()).toBeUndefined();
    const a = makeTestMemcg('restore-a');
    const b = makeTestMemcg('restore-b');
    const c = makeTestMemcg('restore-c');
    for (const cg of [a, b, c]) disable(cg);
    store.save({ ...emptyState(), oomKillDisabled: [c.dir] });
    const gone = join(a.dir, '..', 'oomfleet-test-gone');
    const climbing = `${a.dir}/../${b.name}`; // not normalised: refused, even though it names b
    const notMemcg = dir; // a directory without memory.oom_control
    store.save({
      ...emptyState(),
      oomKillDisabled: [a.dir, b.dir, climbing, 'relative/path', gone, notMemcg],
    });
    const started = performance.now();
    const r = restoreKernelOom(store.file);
    // The supervisor has 1 s for all of it; a loaded machine must not fail this.
    expect(performance.now() - started).toBeLessThan(500);
    expect(r.restored.sort()).toEqual([a.dir, b.dir, c.dir].sort());
    for (const cg of [a, b, c]) expect(oomControl(cg)).toContain('oom_kill_disable 0\n');
    expect(r.vanished).toEqual([gone]);
    expect(r.failed.map((f) => f.path).sort()).toEqual(
      [climbing, 'relative/path', notMemcg].sort(),
    );
    // Nothing created in a directory that is not a memcg.
    expect(existsSync(join(notMemcg, 'memory.oom_control'))).toBe(false);
  });

  it('takes the state directory too, and survives a corrupt state.json', () => {
    const a = makeTestMemcg('restore-dir');
    disable(a);
    store.save({ ...emptyState(), oomKillDisabled: [a.dir] });
    store.save({ ...emptyState(), oomKillDisabled: [a.dir] });
    writeFileSync(store.file, '{"oomKill');
    expect(restoreKernelOom(dir).restored).toEqual([a.dir]);
    expect(oomControl(a)).toContain('oom_kill_disable 0\n');
  });

  it('returns nothing to do without a state file', () => {
    expect(restoreKernelOom(dir)).toEqual({ restored: [], vanished: [], failed: [] });
  });

  it('unsticks a memcg held at its limit: the kernel OOM killer then kills the hog', async () => {
    const a = makeTestMemcg('restore-stuck');
    writeFileSync(join(a.dir, 'memory.limit_in_bytes'), String(32 * 1024 * 1024));
    disable(a);
    const hog = await startHog(a.dir, { stepMiB: 8, intervalMs: 2, maxMiB: 256 });
    await waitFor(() => oomControl(a).includes('under_oom 1'), 'under_oom 1');
    store.save({ ...emptyState(), oomKillDisabled: [a.dir] });
    const started = Date.now();
    expect(restoreKernelOom(dir).restored).toEqual([a.dir]);
    const end = await hog.exited;
    expect(end.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
