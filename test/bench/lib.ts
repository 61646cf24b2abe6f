// Shared pieces of the benchmarks (test/bench/*.ts, run with tsx, outside
// vitest): command-line flags, the agent as an operator runs it
// (`oomfleet agent run`, supervisor + worker), and cleanup that runs whatever
// happens — normal end, an error, SIGINT or SIGTERM. Memcgs come from
// test/helpers/memcg.ts, so they lie beneath this process's own memory cgroup
// and carry the same prefix the tests' sweep of stale memcgs knows.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentClient, type AgentClient } from '../../services/agent/endpoint/client.ts';
import { memcgProblem, removeTestMemcgs, waitFor } from '../helpers/memcg.ts';

const root = join(import.meta.dirname, '..', '..');
/**
 * What runs the agent: bin/oomfleet.js, or BENCH_AGENT_BIN — any script that
 * takes `agent run` and the same flags (a bundled build, say), so that a
 * change to how the agent is built can be measured with the same harness.
 */
const bin = process.env.BENCH_AGENT_BIN ?? join(root, 'bin/oomfleet.js');

/** A positive integer flag (`--runs 5`), or the default. */
export function intFlag(name: string, fallback: number): number {
  const { values } = parseArgs({
    options: { [name]: { type: 'string' } },
    strict: false,
    allowPositionals: true,
  });
  const raw = values[name];
  if (raw === undefined || typeof raw !== 'string') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1
    ? (s[mid] as number)
    : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export const round = (x: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export const read = (dir: string, file: string): string => readFileSync(join(dir, file), 'utf8');
export const readNum = (dir: string, file: string): number => Number(read(dir, file).trim());
export const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

// ---- cleanup ----

const cleanups: (() => Promise<void> | void)[] = [];
let cleaning: Promise<void> | undefined;
let interrupted = false;

/** Registers a cleanup step; steps run last-registered first. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/**
 * Runs every cleanup step once (last registered first: an agent before its
 * temporary directory), then removes every memcg and hog.
 */
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        log(`cleanup: ${(err as Error).message}`);
      }
    }
    // Every hog and memcg made through the helper, whatever registered them.
    try {
      await removeTestMemcgs();
    } catch (err) {
      log(`cleanup: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  })();
  return cleaning;
}

/**
 * Runs a benchmark: fails early without a writable memcg, and cleans up after
 * the normal end, an error, SIGINT or SIGTERM.
 */
export async function runBench(main: () => Promise<void>): Promise<void> {
  const problem = memcgProblem();
  if (problem) {
    log(`bench: no writable memcg: ${problem}`);
    process.exit(2);
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      interrupted = true;
      log(`bench: ${sig}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  try {
    await main();
  } catch (err) {
    // After a signal, the cleanup pulls processes and memcgs from under the
    // benchmark: what it fails on then is no news.
    if (!interrupted) log(`bench: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
  // Nothing of ours should keep the loop alive, but never hang after the JSON.
  process.exit();
}

// ---- the agent ----

export interface Agent {
  /** The supervisor: the `oomfleet agent run` process. */
  proc: ChildProcess;
  socket: string;
  stateDir: string;
  client: AgentClient;
  log: () => string;
  /** SIGTERM (the agent hands every memcg back to the kernel), SIGKILL after 8 s. */
  stop(): Promise<void>;
}

export function tmpDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => {
    rmSync(d, { recursive: true, force: true });
  });
  return d;
}

/** `oomfleet agent run --cgroup-mode v1 --cgroup-root <cgroupRoot> --policy <policy>`; resolves once it is running. */
export async function startAgent(cgroupRoot: string, policy: string): Promise<Agent> {
  const dir = tmpDir('oomfleet-bench-');
  const stateDir = join(dir, 'state');
  const socket = join(dir, 'agent.sock');
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, policy);
  const proc = spawn(
    process.execPath,
    [
      bin,
      'agent',
      'run',
      '--cgroup-mode',
      'v1',
      '--cgroup-root',
      cgroupRoot,
      '--state-dir',
      stateDir,
      '--socket',
      socket,
      '--policy',
      policyFile,
    ],
    // Its own process group: a Ctrl-C reaches the bench, which stops the agent in order.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  proc.stdout?.setEncoding('utf8').on('data', (s: string) => (output += s));
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => {
    output += s;
    if (process.env.BENCH_AGENT_LOG) process.stderr.write(s);
  });
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', () => {
      resolve();
    });
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(8000)]);
      if (proc.exitCode === null && proc.signalCode === null) {
        log('bench: the agent did not stop on SIGTERM: SIGKILL');
        proc.kill('SIGKILL');
        await exited;
      }
    })());
  // Registered after the tmp dir: it runs before the dir is removed.
  onCleanup(stop);
  await waitFor(
    () => output.includes('agent: running') || proc.exitCode !== null,
    `the agent to start; log:\n${output}`,
    20_000,
  );
  if (proc.exitCode !== null) throw new Error(`the agent exited (${proc.exitCode}):\n${output}`);
  return { proc, socket, stateDir, client: agentClient(socket), log: () => output, stop };
}
