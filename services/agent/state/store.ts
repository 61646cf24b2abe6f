// The agent's state directory: the last-known-good policy (enforced at start,
// before any control plane is reachable), the original value of every memcg
// setting the agent changed (so replacing or removing a policy restores the
// host), and the memcgs where it disabled the kernel OOM killer (so the
// supervisor can give them back after a crash).
//
// Durability: save() writes a temp file in the same directory, fsyncs it,
// renames it over state.json and fsyncs the directory, so a reader sees the
// old file or the new one, never a mix, across a crash or power loss. The file
// it replaces, if it was good, is kept as state.json.prev; load() falls back to
// it when state.json is unreadable, and a damaged state is reported and
// ignored rather than crashing the agent (it starts without last-known-good).
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { digestOf, type CanonicalPolicy } from '../../policy/index.ts';
import type { SettingName, SettingValue } from '../cgroup/types.ts';
import { PREVIOUS_FILE, STATE_FILE } from './kernel-oom.ts';

export {
  restoreKernelOom,
  STATE_FILE,
  PREVIOUS_FILE,
  type KernelOomRestore,
} from './kernel-oom.ts';

export const STATE_VERSION = 1;

export interface AppliedPolicy {
  name: string;
  digest: string;
  canonical: CanonicalPolicy;
  source: 'local' | 'control-plane';
  /** ms since the Unix epoch, like snapshot times. */
  appliedAt: number;
}

export interface AgentState {
  version: 1;
  policy?: AppliedPolicy;
  /** memcg path → the value each setting had before the agent first changed it. */
  originals: Record<string, Partial<Record<SettingName, SettingValue>>>;
  /** Absolute directories of memcgs where the agent set oom_kill_disable=1. */
  oomKillDisabled: string[];
  lastNack?: { digest: string; reason: string; at: number };
}

export function emptyState(): AgentState {
  return { version: 1, originals: {}, oomKillDisabled: [] };
}

export interface LoadReport {
  state?: AgentState;
  /** Which file it came from. */
  from?: 'current' | 'previous';
  /** Why a file was ignored, in words. */
  problems: string[];
}

const SETTING_NAMES: ReadonlySet<string> = new Set<SettingName>([
  'memoryMin',
  'memoryLow',
  'memoryHigh',
  'memoryMax',
  'swapMax',
  'oomGroup',
  'oomKillDisable',
]);

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function isSettingValue(v: unknown): v is SettingValue {
  return (
    v === 'max' ||
    typeof v === 'boolean' ||
    (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)
  );
}

/** The state in `text`, or why it is not one. Checks everything the agent relies on. */
export function parseState(text: string): { state: AgentState } | { problem: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return { problem: `not valid JSON (${(err as Error).message}); truncated or corrupt` };
  }
  if (!isObj(v)) return { problem: 'not a JSON object' };
  if (v.version !== STATE_VERSION)
    return {
      problem: `version ${JSON.stringify(v.version)} is not ${STATE_VERSION} (written by another agent version)`,
    };
  if (!isObj(v.originals)) return { problem: 'originals is not an object' };
  for (const [path, settings] of Object.entries(v.originals)) {
    if (!path.startsWith('/') || !isObj(settings))
      return { problem: `originals[${JSON.stringify(path)}] is malformed` };
    for (const [name, value] of Object.entries(settings)) {
      if (!SETTING_NAMES.has(name) || !isSettingValue(value))
        return { problem: `originals[${JSON.stringify(path)}].${name} is malformed` };
    }
  }
  if (!Array.isArray(v.oomKillDisabled) || !v.oomKillDisabled.every((p) => typeof p === 'string'))
    return { problem: 'oomKillDisabled is not a list of paths' };
  if (v.policy !== undefined) {
    const p = v.policy;
    if (
      !isObj(p) ||
      typeof p.name !== 'string' ||
      typeof p.digest !== 'string' ||
      !isObj(p.canonical) ||
      (p.source !== 'local' && p.source !== 'control-plane') ||
      !isTime(p.appliedAt)
    )
      return { problem: 'policy is malformed' };
    // A flipped bit inside a string still parses; the digest catches it, so a
    // damaged policy is never enforced as last-known-good.
    let digest: string;
    try {
      digest = digestOf(p.canonical as unknown as CanonicalPolicy);
    } catch {
      return { problem: 'policy.canonical is malformed' };
    }
    if (digest !== p.digest)
      return { problem: `policy.canonical does not match its digest ${p.digest}` };
  }
  if (v.lastNack !== undefined) {
    const n = v.lastNack;
    if (!isObj(n) || typeof n.digest !== 'string' || typeof n.reason !== 'string' || !isTime(n.at))
      return { problem: 'lastNack is malformed' };
  }
  return { state: v as unknown as AgentState };
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const defaultReport = (problem: string): void => {
  process.emitWarning(problem, { code: 'OOMFLEET_STATE' });
};

export class StateStore {
  readonly file: string;
  readonly previousFile: string;

  constructor(
    readonly dir: string,
    /** Where problems with the files go (the agent's log); a warning by default. */
    private readonly report: (problem: string) => void = defaultReport,
  ) {
    this.file = join(dir, STATE_FILE);
    this.previousFile = join(dir, PREVIOUS_FILE);
  }

  /** The state, from state.json or else state.json.prev, with what was wrong with either. */
  loadReport(): LoadReport {
    this.removeTempFiles();
    const problems: string[] = [];
    for (const [from, file] of [
      ['current', this.file],
      ['previous', this.previousFile],
    ] as const) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') problems.push(`${file}: cannot read (${code ?? String(err)})`);
        continue;
      }
      const parsed = parseState(text);
      if ('state' in parsed) return { state: parsed.state, from, problems };
      problems.push(`${file}: ${parsed.problem}; ignored`);
    }
    return { problems };
  }

  /** The last good state, or undefined (problems go to the report callback). */
  load(): AgentState | undefined {
    const { state, problems } = this.loadReport();
    for (const p of problems) this.report(p);
    return state;
  }

  /** Writes the state atomically; the replaced file, if good, becomes state.json.prev. */
  save(state: AgentState): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const suffix = `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const tmp = this.file + suffix;
    const text = `${JSON.stringify(state, null, 2)}\n`;
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      this.keepPrevious(suffix);
      renameSync(tmp, this.file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    fsyncPath(this.dir);
  }

  /**
   * Hard-links the current file as state.json.prev (through a temp name and a
   * rename, so .prev too is always whole) when it is a good state: a corrupt
   * state.json must not replace a good .prev. A link, not a rename, so that
   * state.json exists at every moment.
   */
  private keepPrevious(suffix: string): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return;
    }
    if (!('state' in parseState(text))) return;
    const tmp = this.previousFile + suffix;
    linkSync(this.file, tmp);
    renameSync(tmp, this.previousFile);
  }

  /** Temp files left by a crash in the middle of save(): never read, just removed. */
  private removeTempFiles(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith(`${STATE_FILE}.tmp-`) || name.startsWith(`${PREVIOUS_FILE}.tmp-`))
        rmSync(join(this.dir, name), { force: true });
    }
  }
}
