// May this pid be signalled now? Re-checked from /proc right before every
// signal, with the same exclusions as the evaluator's candidates.ts (pid 1,
// kernel threads, the agent and its supervisor, oom_score_adj -1000, the
// policy's protect list), plus the process's identity: a pid whose start
// time differs from the victim's belongs to an innocent process that was
// handed the pid after the victim exited.
import type { CompiledProtection } from '../../policy/index.ts';
import { CLK_TCK } from '../proc/parse.ts';
import {
  isGoneError,
  isKernelThreadFlag,
  readCgroupPath,
  readCmdlineText,
  readOomScoreAdj,
  readProcState,
  type LiveProcess,
} from './proc-state.ts';

/** One clock tick: start times are ticks since boot, shown to the evaluator as epoch ms. */
export const START_TIME_TOLERANCE_MS = 1000 / CLK_TCK;

export interface VerifyContext {
  procRoot: string;
  protect: readonly CompiledProtection[];
  /** The agent, its supervisor, and this process. */
  agentPids: ReadonlySet<number>;
  /** Which line of /proc/PID/cgroup to read (the memcg driver's mode); guessed when absent. */
  cgroupMode?: 'v1' | 'v2';
  /**
   * Where the memcg driver's root sits in its hierarchy, as /proc/PID/cgroup
   * names it ("/" for the hierarchy's root). Snapshots, and so the policy's
   * globs, name cgroups relative to it (services/agent/snapshot/collect.ts).
   */
  cgroupRoot: string;
}

/** A hierarchy path relative to the driver's root; undefined outside it. */
export function relativeToRoot(path: string, root: string): string | undefined {
  if (root === '/') return path;
  if (path === root) return '/';
  return path.startsWith(`${root}/`) ? path.slice(root.length) : undefined;
}

/**
 * Who the victim must be. startTime: ms since the epoch, from the snapshot
 * (bootTimeMs converts the live start ticks the same way the host reader
 * did); startTicks: raw, for pids the killer itself saw earlier.
 */
export type Identity = { startTime: number; bootTimeMs: number } | { startTicks: number };

export type Verdict =
  /** cgroup: relative to the driver's root, as snapshots name it. */
  | { ok: true; proc: LiveProcess; cmdline: string; cgroup: string }
  | { ok: false; gone: true }
  | { ok: false; gone: false; reason: string };

const GONE: Verdict = { ok: false, gone: true };
const refuse = (reason: string): Verdict => ({ ok: false, gone: false, reason });

function protection(
  protect: readonly CompiledProtection[],
  comm: string,
  cmdline: string,
  cgroup: string,
): string | undefined {
  // Same wording as the evaluator, so a refusal reads like an exclusion in the trace.
  for (const pr of protect) {
    if (pr.kind === 'process' && pr.re.test(comm)) return `protected: comm matches ${pr.re.source}`;
    if (pr.kind === 'cmdline' && pr.re.test(cmdline))
      return `protected: command line matches ${pr.re.source}`;
    if (pr.kind === 'cgroup' && pr.glob.matchesSelfOrAncestor(cgroup))
      return `protected: cgroup ${cgroup} is under ${pr.glob.source}`;
  }
  return undefined;
}

function identityMismatch(proc: LiveProcess, identity: Identity | undefined): string | undefined {
  if (!identity) return undefined;
  if ('startTicks' in identity)
    return proc.startTicks === identity.startTicks
      ? undefined
      : `pid ${proc.pid} was reused: start tick ${proc.startTicks}, expected ${identity.startTicks}`;
  const live = identity.bootTimeMs + (proc.startTicks * 1000) / CLK_TCK;
  return Math.abs(live - identity.startTime) <= START_TIME_TOLERANCE_MS
    ? undefined
    : `pid ${proc.pid} was reused: it started at ${new Date(live).toISOString()}, the victim at ${new Date(identity.startTime).toISOString()}`;
}

/**
 * Reads one per-process file (a string or number: an object result is the
 * verdict): GONE when the process exited meanwhile, a refusal when unreadable.
 */
function readOr<T extends string | number>(read: () => T, what: string): T | Verdict {
  try {
    return read();
  } catch (err) {
    if (isGoneError(err)) return GONE;
    return refuse(`cannot read ${what}: ${(err as Error).message}`);
  }
}

export function verifyKillable(ctx: VerifyContext, pid: number, identity?: Identity): Verdict {
  // pid 0 and negative pids would signal process groups; never let one through.
  if (!Number.isInteger(pid) || pid < 1) return refuse(`invalid pid ${pid}`);
  if (pid === 1) return refuse('pid 1 (init)');
  if (ctx.agentPids.has(pid)) return refuse('the oomfleet agent');

  const first = readProcState(ctx.procRoot, pid);
  if (first.kind === 'gone') return GONE;
  if (first.kind === 'unreadable') return refuse(first.reason);
  const proc = first.proc;

  const reused = identityMismatch(proc, identity);
  if (reused) return refuse(reused);

  const cmdline = readOr(() => readCmdlineText(ctx.procRoot, pid), `/proc/${pid}/cmdline`);
  if (typeof cmdline === 'object') return cmdline;
  if (isKernelThreadFlag(proc.flags) || pid === 2 || (proc.ppid === 2 && cmdline === ''))
    return refuse('kernel thread');

  const adj = readOr(() => readOomScoreAdj(ctx.procRoot, pid), `/proc/${pid}/oom_score_adj`);
  if (typeof adj === 'object') return adj;
  if (adj === -1000) return refuse('oom_score_adj -1000 (the kernel never kills it either)');

  const cgroup = readOr(
    () => readCgroupPath(ctx.procRoot, pid, ctx.cgroupMode),
    `/proc/${pid}/cgroup`,
  );
  if (typeof cgroup === 'object') return cgroup;
  const rel = relativeToRoot(cgroup, ctx.cgroupRoot);
  // Snapshots leave out whatever lies outside the agent's tree: it was not the victim.
  if (rel === undefined)
    return refuse(`in ${cgroup}, outside the agent's cgroup root ${ctx.cgroupRoot}`);
  const prot = protection(ctx.protect, proc.comm, cmdline, rel);
  if (prot) return refuse(prot);

  // The files above were read one by one: make sure they all described the
  // same process, not partly its successor under the same pid.
  const again = readProcState(ctx.procRoot, pid);
  if (again.kind === 'gone') return GONE;
  if (again.kind === 'unreadable') return refuse(again.reason);
  if (again.proc.startTicks !== proc.startTicks)
    return refuse(`pid ${pid} was reused while it was being checked`);
  return { ok: true, proc: again.proc, cmdline, cgroup: rel };
}
