// Real processes for the killer's tests: children of the test process that
// announce "ready" once their signal handlers are installed, a signal spy
// that records what the killer sent (and can swallow it), and decision
// builders. Every child is SIGKILLed and reaped by killAllChildren(), which
// the tests call in afterEach, whatever happened.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  loadPolicy,
  type CompiledPolicy,
  type Decision,
  type ProcessInfo,
} from '../../policy/index.ts';
import { createHostReader } from '../proc/index.ts';
import type { SignalName } from '../events/types.ts';

const children = new Set<ChildProcess>();

/** Child scripts. Each prints "ready" once it is set up. */
export const SCRIPTS = {
  /** Dies of SIGTERM, as a process without a handler does. */
  idle: `setInterval(() => {}, 1000); process.stdout.write('ready\\n');`,
  /** Ignores SIGTERM: only SIGKILL ends it. */
  ignoresTerm: `process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); process.stdout.write('ready\\n');`,
  /** Cleans up for 200 ms after SIGTERM, then exits. */
  slowExit: `process.on('SIGTERM', () => setTimeout(() => process.exit(0), 200)); setInterval(() => {}, 1000); process.stdout.write('ready\\n');`,
  /** Renames itself (comm and cmdline) to the given title. */
  titled: (title: string): string =>
    `process.title = ${JSON.stringify(title)}; setInterval(() => {}, 1000); process.stdout.write('ready\\n');`,
  /** Forks a grandchild (ignoring SIGTERM), prints its pid, then "ready". */
  forks: `const c = require('node:child_process').spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: 'ignore' }); process.stdout.write('child ' + c.pid + '\\n'); setInterval(() => {}, 1000); process.stdout.write('ready\\n');`,
};

export interface Child {
  child: ChildProcess;
  pid: number;
  /** Everything the child printed before "ready". */
  output: string;
  exited: Promise<void>;
}

/**
 * Starts `node -e script` and waits for "ready". `wrap`: run through another
 * command first (e.g. a shell that enters a memcg and execs node).
 */
export async function startChild(
  script: string,
  wrap?: (argv: string[]) => string[],
): Promise<Child> {
  const argv = [process.execPath, '-e', script];
  const [cmd, ...args] = wrap ? wrap(argv) : argv;
  if (cmd === undefined) throw new Error('empty command');
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else
      child.once('exit', () => {
        resolve();
      });
  });
  const output = await new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      reject(new Error(`child not ready after 10 s: ${text}`));
    }, 10_000);
    child.stdout?.on('data', (b: Buffer) => {
      text += b.toString('utf8');
      if (text.includes('ready\n')) {
        clearTimeout(timer);
        resolve(text);
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`child exited before ready (${String(code ?? sig)}): ${text}`));
    });
  });
  if (child.pid === undefined) throw new Error('child has no pid');
  return { child, pid: child.pid, output, exited };
}

export const isRunning = (c: Child): boolean =>
  c.child.exitCode === null && c.child.signalCode === null;

/** SIGKILLs every child still running and waits until each is reaped. */
export async function killAllChildren(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      waits.push(new Promise((resolve) => child.once('exit', resolve)));
      child.kill('SIGKILL');
    }
  }
  children.clear();
  await Promise.all(waits);
}

const reader = createHostReader();
/** The snapshot's view of one process, read the way the agent reads it. */
export function processInfo(pid: number): ProcessInfo {
  const p = reader.processes({ pids: [pid] })[0];
  if (!p) throw new Error(`pid ${pid} not found in /proc`);
  return p;
}
export const bootTimeMs = (): number => reader.bootTimeMs();

export interface SignalRecord {
  pid: number;
  sig: SignalName;
  at: number;
}

/**
 * A signal function that records every call. deliver: pass the signal on
 * (default), or swallow it; or throw this errno instead.
 */
export function signalSpy(
  options: { deliver?: boolean; errno?: string; now?: () => number } = {},
): { calls: SignalRecord[]; signal: (pid: number, sig: SignalName) => void } {
  const calls: SignalRecord[] = [];
  const now = options.now ?? Date.now;
  return {
    calls,
    signal(pid, sig) {
      calls.push({ pid, sig, at: now() });
      if (options.errno !== undefined)
        throw Object.assign(new Error(`kill ${pid}: ${options.errno}`), { code: options.errno });
      if (options.deliver ?? true) process.kill(pid, sig);
    },
  };
}

/** A fake clock whose sleep advances it (and yields 1 ms of real time, so children can run). */
export function fakeClock(start = 1_000_000): {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
} {
  let t = start;
  return {
    now: () => t,
    sleep: async (ms) => {
      t += ms;
      await new Promise((resolve) => setTimeout(resolve, 1));
    },
  };
}

export function compilePolicy(protect: string[] = []): CompiledPolicy {
  const text = `
apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: killer-test }
spec:
  protect: [${protect.join(', ')}]
  rules:
    - name: test-rule
      scope: global
      when: { available: { below: 5% } }
      action: { kill: { victim: largest, among: process } }
`;
  const r = loadPolicy(text);
  if (!r.policy) throw new Error(r.issues.map((i) => i.message).join('; '));
  return r.policy;
}

function baseDecision(enforce: boolean): Omit<Decision, 'kill'> {
  return {
    rule: 'test-rule',
    action: 'kill',
    dryRun: !enforce,
    enforce,
    firing: ['global'],
    trace: { conditions: [], summary: 'test kill' },
  };
}

export function processDecision(
  p: Pick<ProcessInfo, 'pid' | 'comm' | 'cmdline' | 'cgroup' | 'rss' | 'startTime'>,
  options: { graceMs?: number; enforce?: boolean } = {},
): Decision {
  return {
    ...baseDecision(options.enforce ?? true),
    kill: {
      among: 'process',
      pid: p.pid,
      comm: p.comm,
      cmdline: p.cmdline.join(' '),
      cgroup: p.cgroup,
      rss: p.rss,
      startTime: p.startTime,
      graceMs: options.graceMs ?? 0,
      repeat: 'once',
    },
  };
}

export function cgroupDecision(
  cgroup: string,
  pids: number[],
  options: { graceMs?: number; enforce?: boolean; usage?: number } = {},
): Decision {
  return {
    ...baseDecision(options.enforce ?? true),
    kill: {
      among: 'cgroup',
      cgroup,
      usage: options.usage ?? 0,
      pids,
      graceMs: options.graceMs ?? 0,
      repeat: 'once',
    },
  };
}
