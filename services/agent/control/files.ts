// What the control-plane client keeps in the state directory, under control/:
// - identity.json: the host id and secret from enrolment (0600: the secret
//   is the host's credential), so a restarted agent does not enrol again;
// - applied.json: the control-plane version of the policy in force, for Hello;
// - reports.json: the report cursor (the last event the control plane
//   acknowledged), the next batch number, and the batches sent but not yet
//   acknowledged (as event id ranges: the event log keeps their content).
// Every file is written atomically (temp file, fsync, rename, fsync of the
// directory), so a crash leaves the old file or the new one.
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export const CONTROL_DIR = 'control';
export const IDENTITY_FILE = 'identity.json';
export const APPLIED_FILE = 'applied.json';
export const REPORTS_FILE = 'reports.json';

export interface HostIdentity {
  hostId: string;
  hostSecret: string;
  /** The control plane that issued it. */
  address: string;
  enrolledAt: number;
}

export interface AppliedVersion {
  versionId: string;
  name: string;
  version: number;
  digest: string;
}

export interface ReportState {
  /** The id of the last event the control plane acknowledged; none yet: undefined. */
  cursor?: string;
  /** The seq the next new batch gets (the first is 1). */
  nextSeq: number;
  /** Batches sent and not acknowledged, oldest first: each holds the events after the previous one's lastId (the first: after cursor) up to its lastId. */
  pending: { seq: number; lastId?: string; count: number }[];
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

export function controlDir(stateDir: string): string {
  return join(stateDir, CONTROL_DIR);
}

/** Writes `value` as JSON atomically, readable by its owner only. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const dir = join(file, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  try {
    const d = openSync(dir, 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  } catch {
    // Some filesystems refuse to fsync a directory; the rename still happened.
  }
}

/** The parsed file, undefined when missing, or the problem with it. */
function readJson(file: string): { value?: unknown; problem?: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? {} : { problem: `${file}: cannot read (${code ?? String(err)})` };
  }
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    return { problem: `${file}: not valid JSON (${(err as Error).message})` };
  }
}

export function loadIdentity(
  stateDir: string,
  report: (problem: string) => void,
): HostIdentity | undefined {
  const file = join(controlDir(stateDir), IDENTITY_FILE);
  const { value, problem } = readJson(file);
  if (problem) report(problem);
  if (value === undefined) return undefined;
  if (
    !isObj(value) ||
    typeof value.hostId !== 'string' ||
    !value.hostId ||
    typeof value.hostSecret !== 'string' ||
    !value.hostSecret ||
    typeof value.address !== 'string'
  ) {
    report(`${file}: not a host identity; ignored`);
    return undefined;
  }
  return {
    hostId: value.hostId,
    hostSecret: value.hostSecret,
    address: value.address,
    enrolledAt: typeof value.enrolledAt === 'number' ? value.enrolledAt : 0,
  };
}

export function saveIdentity(stateDir: string, identity: HostIdentity): void {
  writeJsonAtomic(join(controlDir(stateDir), IDENTITY_FILE), identity);
}

export function loadApplied(
  stateDir: string,
  report: (problem: string) => void,
): AppliedVersion | undefined {
  const file = join(controlDir(stateDir), APPLIED_FILE);
  const { value, problem } = readJson(file);
  if (problem) report(problem);
  if (
    !isObj(value) ||
    typeof value.versionId !== 'string' ||
    typeof value.name !== 'string' ||
    typeof value.version !== 'number' ||
    typeof value.digest !== 'string'
  )
    return undefined;
  return {
    versionId: value.versionId,
    name: value.name,
    version: value.version,
    digest: value.digest,
  };
}

export function saveApplied(stateDir: string, applied: AppliedVersion | undefined): void {
  writeJsonAtomic(join(controlDir(stateDir), APPLIED_FILE), applied ?? {});
}

export function loadReportState(stateDir: string, report: (problem: string) => void): ReportState {
  const file = join(controlDir(stateDir), REPORTS_FILE);
  const fresh: ReportState = { nextSeq: 1, pending: [] };
  const { value, problem } = readJson(file);
  if (problem) report(problem);
  if (value === undefined) return fresh;
  const ok =
    isObj(value) &&
    (value.cursor === undefined || typeof value.cursor === 'string') &&
    typeof value.nextSeq === 'number' &&
    Number.isSafeInteger(value.nextSeq) &&
    value.nextSeq >= 1 &&
    Array.isArray(value.pending) &&
    value.pending.every(
      (b) =>
        isObj(b) &&
        typeof b.seq === 'number' &&
        Number.isSafeInteger(b.seq) &&
        typeof b.count === 'number' &&
        (b.lastId === undefined || typeof b.lastId === 'string'),
    );
  if (!ok) {
    report(`${file}: malformed; reports start again from the oldest event kept`);
    return fresh;
  }
  return value as unknown as ReportState;
}

export function saveReportState(stateDir: string, state: ReportState): void {
  writeJsonAtomic(join(controlDir(stateDir), REPORTS_FILE), state);
}
