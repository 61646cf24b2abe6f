// Who may be killed. Every exclusion has a reason that the trace reports:
// pid 1, kernel threads, the agent, the kernel's never-kill (-1000),
// protections, and victims already chosen or still dying.
import type { CompiledPolicy, CompiledProtection } from '../model.ts';
import { MAX_CMDLINE } from '../regex.ts';
import type { Memcg, ProcessInfo } from '../snapshot.ts';
import { isUnder, type EvalContext } from './context.ts';

export function cmdlineText(p: ProcessInfo): string {
  const s = p.cmdline.join(' ');
  return s.length > MAX_CMDLINE ? s.slice(0, MAX_CMDLINE) : s;
}

export function isKernelThread(p: ProcessInfo): boolean {
  return p.kernelThread === true || p.pid === 2 || (p.ppid === 2 && p.cmdline.length === 0);
}

function protectionOf(protect: readonly CompiledProtection[], p: ProcessInfo): string | undefined {
  for (const pr of protect) {
    if (pr.kind === 'process' && pr.re.test(p.comm))
      return `protected: comm matches ${pr.re.source}`;
    if (pr.kind === 'cmdline' && pr.re.test(cmdlineText(p)))
      return `protected: command line matches ${pr.re.source}`;
    if (pr.kind === 'cgroup' && pr.glob.matchesSelfOrAncestor(p.cgroup))
      return `protected: cgroup ${p.cgroup} is under ${pr.glob.source}`;
  }
  return undefined;
}

export interface Exclusions {
  /** pids chosen earlier in this evaluation, or still dying from an earlier kill. */
  takenPids: ReadonlySet<number>;
  takenCgroups: ReadonlySet<string>;
}

/** Why this process may not be killed, or undefined when it may. */
export function processExclusion(
  policy: CompiledPolicy,
  ctx: EvalContext,
  p: ProcessInfo,
  ex: Exclusions,
): string | undefined {
  if (p.pid === 1) return 'pid 1 (init)';
  if (isKernelThread(p)) return 'kernel thread';
  if (ctx.snapshot.agentPids?.includes(p.pid)) return 'the oomfleet agent';
  if (p.oomScoreAdj === -1000) return 'oom_score_adj -1000 (the kernel never kills it either)';
  const prot = protectionOf(policy.protect, p);
  if (prot) return prot;
  if (ex.takenPids.has(p.pid)) return 'already being killed';
  if (p.rss === 0) return 'no resident memory to free';
  return undefined;
}

/** Why this whole memcg may not be killed, or undefined when it may. */
export function cgroupExclusion(
  policy: CompiledPolicy,
  ctx: EvalContext,
  m: Memcg,
  ex: Exclusions,
): string | undefined {
  if (m.path === '/') return 'the root cgroup';
  for (const pr of policy.protect)
    if (pr.kind === 'cgroup' && pr.glob.matchesSelfOrAncestor(m.path))
      return `protected: under ${pr.glob.source}`;
  const procs = ctx.processesUnder(m.path);
  if (
    [...ex.takenCgroups].some((c) => isUnder(m.path, c) || isUnder(c, m.path)) ||
    procs.some((p) => ex.takenPids.has(p.pid))
  )
    return 'already being killed';
  if (procs.length === 0) return 'no processes';
  // Killing a group kills every member: one member that may not die shields the group.
  for (const p of procs) {
    const why = processExclusion(policy, ctx, p, { takenPids: new Set(), takenCgroups: new Set() });
    if (why && why !== 'no resident memory to free')
      return `contains pid ${p.pid} (${p.comm}): ${why}`;
  }
  return undefined;
}
