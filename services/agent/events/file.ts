// The event log on disk: append-only NDJSON in the agent's state directory,
// so that events survive an agent restart (and the supervisor's restarts of a
// crashed worker) until they are shipped to the control plane.
//
// Layout and rotation:
//   events.ndjson        the file being written, one event per line
//   events.1.ndjson …    rotated files, .1 the newest, .<maxFiles> the oldest
//   events.dropped       the last id of the newest file rotation ever deleted
// When a write would take events.ndjson past maxFileBytes it is renamed to
// events.1.ndjson (the others shift by one) and a new one is started; the
// oldest file beyond maxFiles is deleted. Disk use is therefore bounded by
// about (maxFiles + 1) × maxFileBytes (40 MiB by default): a full disk would
// hurt the host more than lost history. Deleting is the one way events are
// lost, and it is never silent: `since(id)` reports `truncated` when events
// after `id` were deleted, so the shipper can report the gap.
//
// Writes are synchronous appends (O_APPEND): once append() returns, the event
// is in the kernel's page cache and survives the agent being SIGKILLed.
// `sync: true` also fdatasyncs each event, to survive a host crash, at the cost
// of a disk flush inside the kill path; off by default because under memory
// pressure writeback can stall for seconds.
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { isEventId } from './id.ts';
import type { AgentEvent } from './types.ts';

export const DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_FILES = 4;
const CURRENT = 'events.ndjson';
const DROPPED = 'events.dropped';
/** How much of a file's end is read to find its last event. */
const TAIL_BYTES = 64 * 1024;

export interface EventFileOptions {
  /** The agent's state directory; created when missing. */
  dir: string;
  /** Rotate once the current file would exceed this (default 8 MiB). */
  maxFileBytes?: number;
  /** Rotated files kept besides the current one (default 4). */
  maxFiles?: number;
  /** fdatasync after every event (default false, see above). */
  sync?: boolean;
}

export interface SinceResult {
  /** Events with an id greater than the one given, oldest first. */
  events: AgentEvent[];
  /** True when rotation deleted events that came after the id given. */
  truncated: boolean;
}

export interface EventFile {
  readonly dir: string;
  /** The id of the last event written, here or by an earlier agent. */
  lastId(): string | undefined;
  append(event: AgentEvent): void;
  /** Events after `id` (all retained ones when absent), oldest first, at most `limit`. */
  since(id?: string, limit?: number): SinceResult;
  /** The newest `n` events, oldest first. */
  tail(n: number): AgentEvent[];
  close(): void;
}

/** One line → an event, or undefined for a torn or foreign line (never fatal). */
function parseLine(line: string): AgentEvent | undefined {
  if (line === '') return undefined;
  try {
    const v: unknown = JSON.parse(line);
    if (typeof v !== 'object' || v === null) return undefined;
    const e = v as Partial<AgentEvent>;
    if (typeof e.id !== 'string' || !isEventId(e.id)) return undefined;
    if (typeof e.time !== 'number' || typeof e.kind !== 'string') return undefined;
    return v as AgentEvent;
  } catch {
    return undefined;
  }
}

function readEvents(path: string): AgentEvent[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: AgentEvent[] = [];
  for (const line of text.split('\n')) {
    const e = parseLine(line);
    if (e) out.push(e);
  }
  return out;
}

/** The last whole event of a file, reading only its end when that suffices. */
function lastEventIn(path: string): AgentEvent | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    // The first line may be cut by the window; it is only trusted when the window is the whole file.
    for (let i = lines.length - 1; i >= (len === size ? 0 : 1); i--) {
      const e = parseLine(lines[i] ?? '');
      if (e) return e;
    }
  } finally {
    closeSync(fd);
  }
  const all = readEvents(path);
  return all[all.length - 1];
}

export function openEventFile(options: EventFileOptions): EventFile {
  const { dir } = options;
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const maxFiles = options.maxFiles ?? DEFAULT_MAX_FILES;
  const sync = options.sync ?? false;
  const current = join(dir, CURRENT);
  const rotated = (n: number): string => join(dir, `events.${n}.ndjson`);
  const droppedPath = join(dir, DROPPED);

  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let fd = openSync(current, 'a', 0o600);
  let size = fstatSync(fd).size;

  // A crash mid-write leaves a torn last line: end it, so the next event
  // starts on a line of its own (the torn one is skipped when read).
  if (size > 0) {
    const last = Buffer.alloc(1);
    const rfd = openSync(current, 'r');
    try {
      readSync(rfd, last, 0, 1, size - 1);
    } finally {
      closeSync(rfd);
    }
    if (last[0] !== 0x0a) size += writeSync(fd, '\n');
  }

  let lastId: string | undefined;
  for (const path of [current, ...Array.from({ length: maxFiles }, (_, i) => rotated(i + 1))]) {
    lastId = lastEventIn(path)?.id;
    if (lastId !== undefined) break;
  }

  const droppedUpTo = (): string | undefined => {
    try {
      const id = readFileSync(droppedPath, 'utf8').trim();
      return isEventId(id) ? id : undefined;
    } catch {
      return undefined;
    }
  };

  const noteDropped = (path: string): void => {
    const id = lastEventIn(path)?.id;
    if (id === undefined) return;
    const prev = droppedUpTo();
    if (prev !== undefined && prev >= id) return;
    // Atomic replace: a crash here must not leave a half-written marker.
    const tmp = `${droppedPath}.tmp`;
    writeFileSync(tmp, `${id}\n`, { mode: 0o600 });
    renameSync(tmp, droppedPath);
  };

  const rotate = (): void => {
    closeSync(fd);
    const doomed = maxFiles > 0 ? rotated(maxFiles) : current;
    if (existsSync(doomed)) {
      noteDropped(doomed);
      rmSync(doomed, { force: true });
    }
    for (let n = maxFiles - 1; n >= 1; n--)
      if (existsSync(rotated(n))) renameSync(rotated(n), rotated(n + 1));
    if (maxFiles > 0 && existsSync(current)) renameSync(current, rotated(1));
    fd = openSync(current, 'a', 0o600);
    size = 0;
  };

  /** Files newest first: the current one, then .1, .2 … */
  const filesNewestFirst = (): string[] => [
    current,
    ...Array.from({ length: maxFiles }, (_, i) => rotated(i + 1)),
  ];

  return {
    dir,
    lastId: () => lastId,
    append(event: AgentEvent): void {
      const line = Buffer.from(`${JSON.stringify(event)}\n`, 'utf8');
      if (size > 0 && size + line.length > maxFileBytes) rotate();
      let off = 0;
      while (off < line.length) off += writeSync(fd, line, off, line.length - off);
      size += line.length;
      if (sync) fdatasyncSync(fd);
      if (lastId === undefined || event.id > lastId) lastId = event.id;
    },
    since(id?: string, limit = Number.POSITIVE_INFINITY): SinceResult {
      // Newest file first, stopping at the first file that starts at or before
      // `id`: files are in id order, so nothing older can come after `id`.
      const chunks: AgentEvent[][] = [];
      for (const path of filesNewestFirst()) {
        const events = readEvents(path);
        chunks.unshift(id === undefined ? events : events.filter((e) => e.id > id));
        const first = events[0];
        if (id !== undefined && first !== undefined && first.id <= id) break;
      }
      const events = chunks.flat();
      const dropped = droppedUpTo();
      return {
        events: events.length > limit ? events.slice(0, limit) : events,
        truncated: dropped !== undefined && (id === undefined || id < dropped),
      };
    },
    tail(n: number): AgentEvent[] {
      const chunks: AgentEvent[][] = [];
      let count = 0;
      for (const path of filesNewestFirst()) {
        if (count >= n) break;
        const events = readEvents(path);
        chunks.unshift(events);
        count += events.length;
      }
      const all = chunks.flat();
      return all.length > n ? all.slice(all.length - n) : all;
    },
    close(): void {
      closeSync(fd);
    },
  };
}
