// The one module through which the memcg drivers touch cgroup files (oomd's
// util/Fs.h): every file name is a named constant here, every path is built
// from a configurable root, and every failure becomes a DriverError carrying
// the path and the kernel's errno code. Sync I/O on purpose: the agent reads a
// few small pseudo-files per memcg per tick, and a promise per file would cost
// more than the read itself.
import {
  closeSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { posix } from 'node:path';
import type { Pressure, PressureLine } from '../../policy/index.ts';
import { DriverError } from './types.ts';

/** Files common to both hierarchies. */
export const CGROUP_PROCS = 'cgroup.procs';

/** cgroup v2 files (Documentation/admin-guide/cgroup-v2.rst). */
export const V2_FILES = {
  controllers: 'cgroup.controllers',
  subtreeControl: 'cgroup.subtree_control',
  kill: 'cgroup.kill',
  current: 'memory.current',
  min: 'memory.min',
  low: 'memory.low',
  high: 'memory.high',
  max: 'memory.max',
  swapCurrent: 'memory.swap.current',
  swapMax: 'memory.swap.max',
  events: 'memory.events',
  pressure: 'memory.pressure',
  stat: 'memory.stat',
  oomGroup: 'memory.oom.group',
} as const;

/** cgroup v1 memory controller files (Documentation/admin-guide/cgroup-v1/memory.rst). */
export const V1_FILES = {
  usage: 'memory.usage_in_bytes',
  limit: 'memory.limit_in_bytes',
  softLimit: 'memory.soft_limit_in_bytes',
  failcnt: 'memory.failcnt',
  memswUsage: 'memory.memsw.usage_in_bytes',
  memswLimit: 'memory.memsw.limit_in_bytes',
  oomControl: 'memory.oom_control',
  stat: 'memory.stat',
  useHierarchy: 'memory.use_hierarchy',
} as const;

/** errno codes meaning "this memcg is gone": ENOENT after rmdir, ENODEV for a file opened before it. */
const VANISHED = new Set(['ENOENT', 'ENODEV']);

/** Did this error come from a memcg that was removed meanwhile? */
export function isVanished(err: unknown): boolean {
  return err instanceof DriverError && err.code !== undefined && VANISHED.has(err.code);
}

/**
 * The filesystem directory of a cgroup path ("/" or "/a/b") below root.
 * A path that climbs out of the root ("..") is refused: policy globs come from
 * the network, and the agent runs as root.
 */
export function cgroupDir(root: string, path: string): string {
  // Every read of every memcg names its directory: remember the answers.
  const key = `${root}\0${path}`;
  const known = dirs.get(key);
  if (known !== undefined) return known;
  const dir = checkedDir(root, path);
  if (dirs.size >= 65_536) dirs.clear();
  dirs.set(key, dir);
  return dir;
}
const dirs = new Map<string, string>();

function checkedDir(root: string, path: string): string {
  if (!path.startsWith('/')) throw new DriverError(`cgroup path must be absolute: ${path}`, path);
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw new DriverError(`cgroup path must not contain "..": ${path}`, path, 'EINVAL');
  if (parts.length === 0) return root;
  // Plain concatenation: path.join costs more than the read it names, for
  // every file of every memcg on every tick.
  return `${root.endsWith('/') ? root.slice(0, -1) : root}/${parts.join('/')}`;
}

/** The cgroup path of a child directory name below a cgroup path. */
export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

function wrap(err: unknown, what: string, file: string): DriverError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = err instanceof Error ? err.message : String(err);
  return new DriverError(`${what} ${file}: ${reason}`, file, code, { cause: err });
}

// One buffer for every cgroup file read. open + read into it costs much less
// than readFileSync (no fstat, no second read to find EOF, no allocation),
// which adds up over several files for each of hundreds of memcgs per tick.
const READ_BUF_SIZE = 64 * 1024;
const readBuf = Buffer.allocUnsafe(READ_BUF_SIZE);

// Open files, kept between reads on a real cgroupfs. Opening a cgroup file
// costs several times reading it (a path walk through kernfs each time), and
// the agent reads the same few files of every memcg on every tick; a seq file
// read again at offset 0 is produced afresh. Off by default: on an ordinary
// filesystem (the v2 fixture trees) a file replaced by a new one would go on
// being read from the old inode.
interface OpenFile {
  fd: number;
  /** Read since the last sweep. */
  used: boolean;
}
const openFiles = new Map<string, OpenFile>();
let openFilesLimit = 0;
/** Files not read for this long are closed, so removed memcgs are not pinned. */
const SWEEP_MS = 10_000;
let lastSweep = Date.now();

/** statfs f_type of cgroup v1 and v2 (include/uapi/linux/magic.h). */
const CGROUP_SUPER_MAGIC = 0x27e0eb;
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** Is dir on a cgroup filesystem (v1 or v2)? */
export function onCgroupFs(dir: string): boolean {
  try {
    const type = statfsSync(dir).type;
    return type === CGROUP_SUPER_MAGIC || type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/** The soft limit on open files, from /proc/self/limits (1024 when unreadable). */
function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m?.[1] === 'unlimited') return 1 << 20;
    return m?.[1] ? Number(m[1]) : 1024;
  } catch {
    return 1024;
  }
}

/**
 * Keeps cgroup files open between reads, up to half the process's open-file
 * limit (and at most 16,384: four files each of 4,096 memcgs), leaving the rest
 * for processes, sockets and the event log. Drivers call this for a root on a
 * real cgroupfs.
 */
export function keepCgroupFilesOpen(): void {
  openFilesLimit = Math.min(16_384, Math.floor(openFileLimit() / 2));
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Nothing to do about a failed close of a read-only descriptor.
  }
}

/** Closes files not read since the last sweep. */
function sweepOpenFiles(now: number): void {
  lastSweep = now;
  for (const [file, f] of openFiles) {
    if (f.used) f.used = false;
    else {
      closeQuietly(f.fd);
      openFiles.delete(file);
    }
  }
}

/** Closes every file kept open (tests, and a driver's end). */
export function closeCgroupFiles(): void {
  for (const f of openFiles.values()) closeQuietly(f.fd);
  openFiles.clear();
}

/**
 * Reads fd from offset 0 into readBuf; returns its length, or -1 when it
 * fills the buffer (the caller then reads it whole). A short read is the end:
 * cgroup seq files produce their text at once, and regular files (test
 * fixtures) return all they have up to the request.
 */
function readFromStart(fd: number): number {
  let n = 0;
  while (n < READ_BUF_SIZE) {
    const want = READ_BUF_SIZE - n;
    const got = readSync(fd, readBuf, n, want, n);
    n += got;
    if (got < want) return n;
  }
  return -1;
}

/**
 * Only memory.* files are kept open: cgroup.procs, read again from the start
 * through the same descriptor, goes on listing the pids of its first read
 * (cgroup v1 keeps a pid list per open file).
 */
const keepable = (file: string): boolean => file.startsWith('memory.', file.lastIndexOf('/') + 1);

function readSmall(file: string): number {
  const cache = openFilesLimit > 0 && keepable(file);
  if (cache) {
    const now = Date.now();
    if (now - lastSweep > SWEEP_MS) sweepOpenFiles(now);
    const kept = openFiles.get(file);
    if (kept) {
      try {
        kept.used = true;
        return readFromStart(kept.fd);
      } catch {
        // The memcg was removed (ENODEV), perhaps made again under the same
        // name: open the path afresh, which tells which.
        closeQuietly(kept.fd);
        openFiles.delete(file);
      }
    }
  }
  const fd = openSync(file, 'r');
  let keep = false;
  try {
    const n = readFromStart(fd);
    keep = cache && openFiles.size < openFilesLimit;
    if (keep) openFiles.set(file, { fd, used: true });
    return n;
  } finally {
    if (!keep) closeSync(fd);
  }
}

export function readText(file: string): string {
  try {
    const n = readSmall(file);
    // Larger than any memcg file but cgroup.procs of a huge cgroup: start over.
    return n < 0 ? readFileSync(file, 'utf8') : readBuf.toString('utf8', 0, n);
  } catch (err) {
    throw wrap(err, 'cannot read', file);
  }
}

/** Writes exactly what the kernel prints back (value and newline, as `echo` does). */
export function writeText(file: string, text: string): void {
  try {
    writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
  } catch (err) {
    throw wrap(err, 'cannot write', file);
  }
}

export function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

function malformed(file: string, text: string, expected: string): DriverError {
  return new DriverError(
    `malformed ${posix.basename(file)}: expected ${expected}, got ${JSON.stringify(text.slice(0, 80))}`,
    file,
    'EBADMSG',
  );
}

function parseNonNegative(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** A single-value file holding a non-negative integer (memory.current, usage_in_bytes…). */
export function readInt(file: string): number {
  const text = readText(file).trim();
  const n = parseNonNegative(text);
  if (n === undefined) throw malformed(file, text, 'an integer');
  return n;
}

/** A v2 single-value limit file: an integer, or "max" for no limit (memory.max, memory.high…). */
export function readIntOrMax(file: string): number | 'max' {
  const text = readText(file).trim();
  if (text === 'max') return 'max';
  const n = parseNonNegative(text);
  if (n === undefined) throw malformed(file, text, 'an integer or "max"');
  return n;
}

/** A flat-keyed file: "key value" per line (memory.stat, memory.events, memory.oom_control). */
export function parseKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const value = Number(line.slice(sp + 1).trim());
    if (Number.isFinite(value)) out[line.slice(0, sp)] = value;
  }
  return out;
}

export function readKeyed(file: string): Record<string, number> {
  return parseKeyed(readText(file));
}

function parsePressureLine(fields: string[]): PressureLine | undefined {
  const v: Record<string, number> = {};
  for (const f of fields) {
    const eq = f.indexOf('=');
    if (eq <= 0) continue;
    const n = Number(f.slice(eq + 1));
    if (!Number.isFinite(n) || n < 0) return undefined;
    v[f.slice(0, eq)] = n;
  }
  const { avg10, avg60, avg300, total } = v;
  if (avg10 === undefined || avg60 === undefined || avg300 === undefined) return undefined;
  // The kernel never prints more than 100.00; clamp so a torn read cannot break the schema.
  const pct = (x: number): number => Math.min(100, x);
  const line: PressureLine = { avg10: pct(avg10), avg60: pct(avg60), avg300: pct(avg300) };
  if (total !== undefined) line.total = Math.floor(total);
  return line;
}

/**
 * A PSI file: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" and, for
 * memory, a "full ..." line of the same shape. Undefined without a valid
 * "some" line.
 */
export function parsePressure(text: string): Pressure | undefined {
  let some: PressureLine | undefined;
  let full: PressureLine | undefined;
  for (const line of text.split('\n')) {
    const [kind, ...fields] = line.trim().split(/\s+/);
    if (kind === 'some') some = parsePressureLine(fields);
    else if (kind === 'full') full = parsePressureLine(fields);
  }
  if (!some) return undefined;
  return full ? { some, full } : { some };
}

export function readPressure(file: string): Pressure {
  const text = readText(file);
  const p = parsePressure(text);
  if (!p) throw malformed(file, text, 'PSI lines ("some avg10=… avg60=… avg300=… total=…")');
  return p;
}

/** Pids, one per line (cgroup.procs). */
export function readPids(file: string): number[] {
  const pids: number[] = [];
  for (const line of readText(file).split('\n')) {
    const n = parseNonNegative(line.trim());
    if (n !== undefined && n > 0) pids.push(n);
  }
  return pids;
}

/** Space-separated names (cgroup.controllers, cgroup.subtree_control). */
export function readWords(file: string): string[] {
  return readText(file).split(/\s+/).filter(Boolean);
}

/** Names of the subdirectories of dir (child cgroups); [] when dir vanished. */
export function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch (err) {
    const e = wrap(err, 'cannot list', dir);
    if (isVanished(e)) return [];
    throw e;
  }
}

/**
 * Runs a read of one optional file: undefined when the file does not exist
 * (an older kernel, the root cgroup, swap accounting off). The caller checks
 * whether the whole memcg vanished.
 */
export function optional<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if (isVanished(err)) return undefined;
    throw err;
  }
}
