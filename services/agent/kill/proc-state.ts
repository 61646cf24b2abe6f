// What the killer reads about one process at kill time, straight from /proc:
// the snapshot the evaluator judged may be a tick old, and a pid is only a
// name that the kernel hands out again once its owner is gone.
import { readFileSync } from 'node:fs';
import { MAX_CMDLINE } from '../../policy/index.ts';
import {
  parseBtime,
  parseCgroupPath,
  parseCmdline,
  parsePidStat,
  PF_KTHREAD,
} from '../proc/parse.ts';

export interface LiveProcess {
  pid: number;
  comm: string;
  ppid: number;
  /** stat field 3: R, S, D, Z (zombie), X (dead)… */
  state: string;
  flags: number;
  /** Clock ticks since boot: with the pid, the process's identity. */
  startTicks: number;
}

/**
 * gone: no such pid, or a zombie whose threads have all exited (its memory is released);
 * unreadable: stat exists but cannot be read or parsed — neither alive nor dead for sure.
 */
export type ProcState =
  { kind: 'gone' } | { kind: 'unreadable'; reason: string } | { kind: 'alive'; proc: LiveProcess };

const GONE: ProcState = { kind: 'gone' };

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/** ENOENT/ESRCH: the process exited while we looked. */
export const isGoneError = (err: unknown): boolean =>
  code(err) === 'ENOENT' || code(err) === 'ESRCH';

export function readProcState(procRoot: string, pid: number): ProcState {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isGoneError(err)) return GONE;
    // EACCES under a hardened procfs: the killer refuses what it cannot identify.
    return {
      kind: 'unreadable',
      reason: `cannot read ${procRoot}/${pid}/stat: ${code(err) ?? String(err)}`,
    };
  }
  // Empty: the process was reaped between open and read.
  if (text === '') return GONE;
  const stat = parsePidStat(text);
  const close = text.lastIndexOf(')');
  const state = close >= 0 ? text.charAt(close + 2) : '';
  if (!stat || state === '')
    return { kind: 'unreadable', reason: `malformed ${procRoot}/${pid}/stat` };
  if ((state === 'Z' || state === 'X' || state === 'x') && otherThreads(procRoot, pid) === 0)
    return GONE;
  return {
    kind: 'alive',
    proc: {
      pid,
      comm: stat.comm,
      ppid: stat.ppid,
      state,
      flags: stat.flags,
      startTicks: stat.startTicks,
    },
  };
}

/**
 * How many threads besides the leader are still there. A multi-threaded
 * process (Node, the JVM) shows its leader as a zombie while the other
 * threads are still exiting, and its memory is freed only when the last one
 * is gone; a leader may also exit on its own (pthread_exit) and leave the
 * process running. Either way a zombie leader with threads is not dead yet.
 */
function otherThreads(procRoot: string, pid: number): number {
  try {
    const m = /^Threads:\s*(\d+)/m.exec(readFileSync(`${procRoot}/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? 0 : Math.max(0, Number(m[1]) - 1);
  } catch {
    return 0;
  }
}

export const isKernelThreadFlag = (flags: number): boolean => (flags & PF_KTHREAD) !== 0;

/** The command line as the evaluator matches it: argv joined by spaces, capped. */
export function readCmdlineText(procRoot: string, pid: number): string {
  const buf = readFileSync(`${procRoot}/${pid}/cmdline`);
  const text = parseCmdline(buf).join(' ');
  return text.length > MAX_CMDLINE ? text.slice(0, MAX_CMDLINE) : text;
}

const V1_MEMORY_LINE = /^\d+:([^:\n]*,)?memory(,[^:\n]*)?:/m;

/**
 * The memory cgroup path from /proc/PID/cgroup, as the snapshot's processes
 * carry it. With no mode given: the v1 memory line when there is one (hybrid
 * hosts mount both), else the unified one.
 */
export function readCgroupPath(procRoot: string, pid: number, mode?: 'v1' | 'v2'): string {
  const text = readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8');
  return parseCgroupPath(text, mode ?? (V1_MEMORY_LINE.test(text) ? 'v1' : 'v2'));
}

export function readOomScoreAdj(procRoot: string, pid: number): number {
  return Number.parseInt(readFileSync(`${procRoot}/${pid}/oom_score_adj`, 'utf8'), 10);
}

/** btime from /proc/stat in ms: turns stat's start ticks into epoch ms, as the host reader does. */
export function readBootTimeMs(procRoot: string): number {
  const btime = parseBtime(readFileSync(`${procRoot}/stat`, 'utf8'));
  if (btime === undefined) throw new Error(`${procRoot}/stat has no btime line`);
  return btime * 1000;
}
