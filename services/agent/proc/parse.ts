// Parsers for the /proc files the agent reads every tick. Pure functions on
// the files' text, written with indexOf and slices rather than regexes: on a
// host with thousands of processes they run thousands of times per tick.
import type { Pressure, PressureLine } from '../../policy/index.ts';

/** Which hierarchy holds the memory controller, as far as /proc/PID/cgroup is concerned. */
export type MemoryHierarchyMode = 'v1' | 'v2' | 'none';

/**
 * Clock ticks per second of /proc/PID/stat's starttime. USER_HZ is 100 on
 * every mainstream Linux architecture (x86_64, arm64: `getconf CLK_TCK`);
 * Node cannot call sysconf, so it is a constant here.
 */
export const CLK_TCK = 100;

/** The kernel's comm is 16 bytes, but stat shows up to 64 for workqueue workers ("kworker/0:1-events"). */
export const MAX_COMM = 64;

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** A non-negative decimal integer starting at `from` (leading spaces skipped); NaN when there is none. */
function uintAt(text: string, from: number): number {
  let i = from;
  while (text.charCodeAt(i) === 32) i++;
  let n = 0;
  const start = i;
  for (let c = text.charCodeAt(i); isDigit(c); c = text.charCodeAt(++i)) n = n * 10 + (c - 48);
  return i === start ? Number.NaN : n;
}

/** The value after `key` at the start of a line ("MemTotal:", "oom_kill ", "btime "). */
function fieldAfter(text: string, key: string): number {
  let at = 0;
  if (!text.startsWith(key)) {
    at = text.indexOf(`\n${key}`) + 1;
    if (at === 0) return Number.NaN;
  }
  return uintAt(text, at + key.length);
}

export interface Meminfo {
  memTotal: number;
  memAvailable: number;
  swapTotal: number;
  swapFree: number;
}

/** /proc/meminfo, kB → bytes. Missing fields are NaN: the caller decides whether that is fatal. */
export function parseMeminfo(text: string): Meminfo {
  const kb = (key: string): number => fieldAfter(text, `${key}:`) * 1024;
  let memAvailable = kb('MemAvailable');
  // Kernels before 3.14 have no MemAvailable; free + page cache is the usual estimate.
  if (Number.isNaN(memAvailable)) memAvailable = kb('MemFree') + kb('Buffers') + kb('Cached');
  return {
    memTotal: kb('MemTotal'),
    memAvailable,
    swapTotal: kb('SwapTotal'),
    swapFree: kb('SwapFree'),
  };
}

/** "avg10=1.23" etc. from one PSI line; undefined when malformed. */
function parsePressureLine(line: string): PressureLine | undefined {
  const out: Partial<Record<'avg10' | 'avg60' | 'avg300' | 'total', number>> = {};
  for (const part of line.split(' ')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq);
    if (key !== 'avg10' && key !== 'avg60' && key !== 'avg300' && key !== 'total') continue;
    const v = Number(part.slice(eq + 1));
    if (!Number.isFinite(v) || v < 0) return undefined;
    out[key] = key === 'total' ? Math.floor(v) : Math.min(100, v);
  }
  const { avg10, avg60, avg300, total } = out;
  if (avg10 === undefined || avg60 === undefined || avg300 === undefined) return undefined;
  return total === undefined ? { avg10, avg60, avg300 } : { avg10, avg60, avg300, total };
}

/** A PSI file (/proc/pressure/memory, v2 memory.pressure); undefined without a valid "some" line. */
export function parsePressure(text: string): Pressure | undefined {
  let some: PressureLine | undefined;
  let full: PressureLine | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('some ')) some = parsePressureLine(line);
    else if (line.startsWith('full ')) full = parsePressureLine(line);
  }
  if (!some) return undefined;
  return full ? { some, full } : { some };
}

/** oom_kill from /proc/vmstat (kernel 4.13+); undefined on older kernels. */
export function parseVmstatOomKill(text: string): number | undefined {
  const v = fieldAfter(text, 'oom_kill ');
  return Number.isNaN(v) ? undefined : v;
}

/** btime (seconds since the epoch) from /proc/stat. */
export function parseBtime(text: string): number | undefined {
  const v = fieldAfter(text, 'btime ');
  return Number.isNaN(v) ? undefined : v;
}

export interface PidStat {
  comm: string;
  ppid: number;
  /** task flags (field 9); PF_KTHREAD marks kernel threads. */
  flags: number;
  /** Clock ticks since boot (field 22). */
  startTicks: number;
}

/** PF_KTHREAD from include/linux/sched.h. */
export const PF_KTHREAD = 0x00200000;

/**
 * /proc/PID/stat. comm is "(...)" and may itself contain spaces and ')'
 * (a process can name itself anything), so it runs from the first '(' to the
 * LAST ')'; the numeric fields follow, space-separated.
 */
export function parsePidStat(text: string): PidStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  let comm = text.slice(open + 1, close);
  if (comm.length > MAX_COMM) comm = comm.slice(0, MAX_COMM);
  // After ") ": state is field 3, so field N is at index N - 3.
  const f = text.slice(close + 2).split(' ', 20);
  const ppid = Number(f[1]);
  const flags = Number(f[6]);
  const startTicks = Number(f[19]);
  if (!Number.isInteger(ppid) || !Number.isInteger(flags) || !Number.isInteger(startTicks))
    return undefined;
  return { comm, ppid, flags, startTicks };
}

/** VmRSS from /proc/PID/status in bytes; 0 when absent (kernel threads, zombies). */
export function parseStatusRss(text: string): number {
  const at = text.indexOf('\nVmRSS:');
  if (at < 0) return 0;
  let i = at + 7;
  while (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9) i++;
  const kb = uintAt(text, i);
  return Number.isNaN(kb) ? 0 : kb * 1024;
}

const utf8 = new TextDecoder('utf-8');

/**
 * /proc/PID/cmdline: NUL-separated argv. Trailing NULs are dropped (processes
 * that rewrite their title often pad with them); empty arguments in the middle
 * are real and kept. Empty for kernel threads and zombies.
 */
export function parseCmdline(buf: Uint8Array): string[] {
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end--;
  if (end === 0) return [];
  return utf8.decode(buf.subarray(0, end)).split('\0');
}

/**
 * The memory cgroup path from /proc/PID/cgroup: on v1 the line whose
 * controller list holds "memory" ("4:memory:/a/b", "5:cpu,memory:/x"); on v2
 * the unified "0::/path" line. "/" when there is none.
 */
export function parseCgroupPath(text: string, mode: MemoryHierarchyMode): string {
  if (mode === 'none') return '/';
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const a = text.indexOf(':', start);
    const b = a < 0 || a > end ? -1 : text.indexOf(':', a + 1);
    if (b >= 0 && b < end) {
      const controllers = text.slice(a + 1, b);
      const hit =
        mode === 'v2'
          ? controllers === '' && text.slice(start, a) === '0'
          : controllers === 'memory' || controllers.split(',').includes('memory');
      if (hit) return text.slice(b + 1, end) || '/';
    }
    start = end + 1;
  }
  return '/';
}

/**
 * /proc/cgroups: where the memory controller lives. A hierarchy id > 0 is a
 * v1 hierarchy; 0 with the controller enabled is the unified (v2) one.
 */
export function detectMemoryHierarchy(procCgroups: string): MemoryHierarchyMode {
  for (const line of procCgroups.split('\n')) {
    if (!line.startsWith('memory\t') && !line.startsWith('memory ')) continue;
    const [, hierarchy, , enabled] = line.split(/\s+/);
    if (enabled !== '1') return 'none';
    return hierarchy === '0' ? 'v2' : 'v1';
  }
  return 'none';
}
