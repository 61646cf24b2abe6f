// Tests on REAL cgroup v1 memcgs. Every memcg a test makes lies beneath the
// test process's own memory cgroup (never elsewhere in the host's tree), has a
// unique name, and is removed afterwards whatever happened: remaining
// processes are SIGKILLed, cgroup.procs is waited on until empty, and the
// directories are removed children first. Memcgs left behind by a test process
// that died (its pid is in the name) are swept on the next run.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from './wait.ts';
import { afterEach } from 'vitest';
import { detectMemoryHierarchy } from '../../services/agent/cgroup/detect.ts';
import { CGROUP_PROCS, V1_FILES } from '../../services/agent/cgroup/fs.ts';

const PREFIX = 'oomfleet-test-';

/** The v1 memory hierarchy's mount point when detection finds none. */
export const V1_MEMORY_MOUNT = '/sys/fs/cgroup/memory';

/**
 * This process's own v1 memory cgroup as a filesystem path: the memory
 * hierarchy's mount point plus the "N:memory:/path" line of /proc/self/cgroup.
 */
export function ownMemcgRoot(): string {
  const h = detectMemoryHierarchy();
  if (h.mode !== 'v1' || h.ownPath === undefined)
    throw new Error(
      `no cgroup v1 memory controller for this process (detected ${h.mode}; /proc/self/cgroup has no memory line)`,
    );
  return join(h.mountPoint ?? V1_MEMORY_MOUNT, h.ownPath);
}

let problem: string | null | undefined;

/** Why real-memcg tests cannot run here; undefined when they can. Probed once. */
export function memcgProblem(): string | undefined {
  if (problem === undefined) problem = probe() ?? null;
  return problem ?? undefined;
}

function probe(): string | undefined {
  let root: string;
  try {
    root = ownMemcgRoot();
  } catch (err) {
    return (err as Error).message;
  }
  if (!existsSync(join(root, V1_FILES.limit)))
    return `${root} is not a v1 memory cgroup (no ${V1_FILES.limit})`;
  const dir = join(root, `${PREFIX}probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(dir);
    rmdirSync(dir);
    return undefined;
  } catch (err) {
    return `cannot create a memcg beneath ${root}: ${(err as Error).message}`;
  }
}

/** Can this process create memcgs beneath its own memory cgroup? */
export function hasWritableMemcg(): boolean {
  return memcgProblem() === undefined;
}

export interface TestMemcg {
  /** Directory name, unique per test run. */
  name: string;
  /** Filesystem path of the memcg. */
  dir: string;
  /** Cgroup path for a driver whose root is ownMemcgRoot(), e.g. "/oomfleet-test-…". */
  path: string;
}

// One registry per process, not per module instance: vitest may import this
// module again for each test file in a reused worker, and the exit hook below
// must see every memcg and hog of them all.
interface Registry {
  created: Set<string>;
  hogs: Set<ChildProcess>;
  swept: boolean;
}
const REGISTRY = Symbol.for('oomfleet.test-memcgs');
const registry = ((globalThis as { [REGISTRY]?: Registry })[REGISTRY] ??= newRegistry());
const { created, hogs } = registry;

function newRegistry(): Registry {
  const r: Registry = { created: new Set(), hogs: new Set(), swept: false };
  // Last resort if the worker exits with memcgs still there (a crash, a
  // timeout): kill their processes now; the directories go on the next run's sweep.
  process.once('exit', () => {
    for (const h of r.hogs) h.kill('SIGKILL');
    for (const dir of r.created) {
      killAllSync(dir);
      try {
        rmTreeSync(dir);
      } catch {
        // Processes still dying: swept next time.
      }
    }
  });
  return r;
}

/** A new memcg beneath the own memcg (or beneath `parent`), with a unique name. */
export function makeTestMemcg(label: string, parent?: TestMemcg): TestMemcg {
  const root = ownMemcgRoot();
  if (!registry.swept) {
    registry.swept = true;
    sweepStale(root);
  }
  const safe = label.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 40);
  const name = `${PREFIX}${process.pid}-${safe}-${randomBytes(4).toString('hex')}`;
  const dir = join(parent?.dir ?? root, name);
  mkdirSync(dir);
  // Only top-level memcgs are tracked: removal takes their subtrees.
  if (!parent) created.add(dir);
  const path = parent ? `${parent.path}/${name}` : `/${name}`;
  return { name, dir, path };
}

/** Removes leftovers of earlier test processes that died before their cleanup ran. */
function sweepStale(root: string): void {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    const pid = Number(m?.[1]);
    if (!m || pid === process.pid || isAlive(pid)) continue;
    killAllSync(join(root, name));
    try {
      rmTreeSync(join(root, name));
    } catch {
      // Still busy (a process is dying): the next run sweeps it.
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Directories of the tree at dir, deepest first. */
function treeDeepestFirst(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(join(d, e.name));
    out.push(d);
  };
  walk(dir);
  return out;
}

function pidsIn(dir: string): number[] {
  try {
    return readFileSync(join(dir, CGROUP_PROCS), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

/** Hands OOM back to the kernel and SIGKILLs every process of the tree; returns how many were left. */
function killAllSync(dir: string): number {
  let n = 0;
  for (const d of treeDeepestFirst(dir)) {
    try {
      // A task stuck under user-space OOM handling dies on SIGKILL anyway;
      // this also stops new tasks from getting stuck while we clean up.
      writeFileSync(join(d, V1_FILES.oomControl), '0');
    } catch {
      // Not writable or gone: the kill below is what matters.
    }
    for (const pid of pidsIn(d)) {
      n++;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
  }
  return n;
}

function rmTreeSync(dir: string): void {
  for (const d of treeDeepestFirst(dir)) rmdirSync(d);
}

/**
 * Removes a memcg tree: SIGKILL whatever is still in it, wait until every
 * cgroup.procs is empty (awaiting, so that Node can reap its own children),
 * then rmdir children first. Throws when the tree cannot be removed in time,
 * so a leak fails the test run instead of passing silently.
 */
export async function removeMemcgTree(dir: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (existsSync(dir)) {
    const left = killAllSync(dir);
    if (left === 0) {
      try {
        rmTreeSync(dir);
        return;
      } catch (err) {
        // EBUSY while a killed task is still exiting: retry below.
        if (Date.now() > deadline)
          throw new Error(`cannot remove test memcg ${dir}`, { cause: err });
      }
    }
    if (Date.now() > deadline)
      throw new Error(`test memcg ${dir} still has ${left} process(es) after SIGKILL`);
    await sleep(10);
  }
}

/** Kills every hog started here and removes every memcg made here. */
export async function removeTestMemcgs(): Promise<void> {
  for (const h of hogs) h.kill('SIGKILL');
  hogs.clear();
  const errors: unknown[] = [];
  for (const dir of [...created]) {
    try {
      await removeMemcgTree(dir);
      created.delete(dir);
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'test memcgs left behind');
}

/** Registers an afterEach that removes every memcg (and hog) the test made. */
export function useTestMemcgs(): void {
  afterEach(removeTestMemcgs);
}

/** Runs fn with a maker of test memcgs; removes them all afterwards, even when fn throws. */
export async function withTestMemcgs<T>(
  fn: (make: (label: string, parent?: TestMemcg) => TestMemcg) => Promise<T> | T,
): Promise<T> {
  try {
    return await fn(makeTestMemcg);
  } finally {
    await removeTestMemcgs();
  }
}

export interface HogOptions {
  /** MiB allocated (and touched) per step; 8 by default. */
  stepMiB?: number;
  /** Delay between steps; 10 ms by default. */
  intervalMs?: number;
  /** Stop allocating (and keep holding) at this many MiB; 1024 by default. */
  maxMiB?: number;
}

export interface Hog {
  pid: number;
  child: ChildProcess;
  /** MiB allocated so far, by the hog's last progress line. */
  allocatedMiB(): number;
  /** When the last progress line arrived (Date.now()). */
  lastProgressAt(): number;
  /** Resolves once the hog reports at least mib allocated; rejects if it dies or times out first. */
  waitForAllocated(mib: number, timeoutMs?: number): Promise<void>;
  /** How it ended: exit code or the signal that killed it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
}

// Waits for a line on stdin, so that its pid can be moved into the memcg
// before it allocates anything; then allocates stepMiB per step with
// Buffer.alloc(…, 1), which writes every page (an untouched allocation would
// not be charged), and reports the running total. At maxMiB it holds on.
const HOG_SCRIPT = `
const stepMiB = Number(process.env.HOG_STEP_MIB);
const intervalMs = Number(process.env.HOG_INTERVAL_MS);
const maxMiB = Number(process.env.HOG_MAX_MIB);
const held = [];
let mib = 0;
process.stdout.write('ready ' + process.pid + '\\n');
process.stdin.once('data', () => {
  const step = () => {
    if (mib >= maxMiB) {
      process.stdout.write('done ' + mib + '\\n');
      setInterval(() => held.length, 1 << 30);
      return;
    }
    held.push(Buffer.alloc(stepMiB * 1048576, 1));
    mib += stepMiB;
    process.stdout.write('allocated ' + mib + '\\n');
    setTimeout(step, intervalMs);
  };
  step();
});
`;

/** Starts a memory hog inside the memcg at memcgDir; it allocates only once it is in there. */
export async function startHog(memcgDir: string, opts: HogOptions = {}): Promise<Hog> {
  const child = spawn(process.execPath, ['-e', HOG_SCRIPT], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HOG_STEP_MIB: String(opts.stepMiB ?? 8),
      HOG_INTERVAL_MS: String(opts.intervalMs ?? 10),
      HOG_MAX_MIB: String(opts.maxMiB ?? 1024),
    },
  });
  hogs.add(child);
  let allocated = 0;
  let progressAt = Date.now();
  let stderr = '';
  let buffered = '';
  const listeners = new Set<() => void>();
  let readyResolve: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));

  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    buffered += s;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const [word, n] = buffered.slice(0, nl).split(' ');
      buffered = buffered.slice(nl + 1);
      if (word === 'ready') readyResolve?.();
      else if (word === 'allocated') {
        allocated = Number(n);
        progressAt = Date.now();
      }
      for (const l of listeners) l();
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      hogs.delete(child);
      resolve({ code, signal });
      for (const l of listeners) l();
    }),
  );

  const died = exited.then(({ code, signal }) => {
    throw new Error(`hog exited before it was ready (code ${code}, signal ${signal}): ${stderr}`);
  });
  await Promise.race([ready, died]);
  // Silence the rejection of `died` once it no longer matters.
  died.catch(() => undefined);
  const pid = child.pid;
  if (pid === undefined) throw new Error('hog has no pid');
  writeFileSync(join(memcgDir, CGROUP_PROCS), String(pid));
  child.stdin.write('go\n');

  return {
    pid,
    child,
    allocatedMiB: () => allocated,
    lastProgressAt: () => progressAt,
    waitForAllocated: (mib, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (allocated >= mib) done(resolve);
          else if (child.exitCode !== null || child.signalCode !== null)
            done(() => {
              reject(new Error(`hog died at ${allocated} MiB before reaching ${mib} MiB`));
            });
        };
        const timer = setTimeout(() => {
          done(() => {
            reject(new Error(`hog at ${allocated} MiB, not ${mib} MiB, after ${timeoutMs} ms`));
          });
        }, timeoutMs);
        const done = (then: () => void): void => {
          clearTimeout(timer);
          listeners.delete(check);
          then();
        };
        listeners.add(check);
        check();
      }),
    exited,
    kill: () => child.kill('SIGKILL'),
  };
}

/** Polls cond every intervalMs until it holds; throws with `what` after timeoutMs. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 10,
): Promise<void> {
  await eventually(what, cond, timeoutMs, intervalMs);
}
