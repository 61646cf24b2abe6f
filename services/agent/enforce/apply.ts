// Applies desired memcg settings to the kernel, all or nothing.
//
// For each setting that is newly desired, changed, or no longer desired (the
// latter goes back to its ORIGINAL value): the value the kernel held before the
// agent first touched it is remembered in the state — and persisted — before
// the first write, so that a later policy, a removal or a restarted agent can
// restore the host; then the value is written and read back. The kernel keeps
// limits in pages, so a read-back equal to the value floored to 4096 bytes is
// accepted, and what the kernel holds is what is recorded. On any failure,
// every value this apply changed is written back in reverse order and an
// ApplyError names the memcg, setting, value and the kernel's errno.
//
// A memcg that vanishes mid-apply is skipped, not a failure (its originals
// are dropped: there is nothing left to restore). The kernel-OOM bookkeeping
// the supervisor relies on: a memcg's directory enters state.oomKillDisabled
// and is persisted BEFORE oom_kill_disable=1 is written, and leaves it only
// after 0 is written back, so a worker crash at any moment leaves no memcg
// with the kernel killer off that the supervisor does not know of.
//
// cgroup v1 (see the v1 driver): swapMax is memsw − limit, so memoryMax is
// written before swapMax (the driver keeps the swap allowance across memoryMax
// changes, ordering its own two files), and restores run in the same order.
// Writing memoryMax=max over a limited memsw lifts memsw too (v1 cannot limit
// swap without a memory limit); the swap allowance it had is then remembered
// as an original, held while memoryMax stays max, and put back after memoryMax
// when that is restored.
import { statSync } from 'node:fs';
import { cgroupDir, exists, isVanished } from '../cgroup/fs.ts';
import type { MemcgDriver, SettingName, SettingValue } from '../cgroup/types.ts';
import { TRUST_MS } from '../cgroup/watch.ts';
import { pageFloor, type DesiredState, type Settings } from './desired.ts';

/** The part of the agent's state the enforcer owns (see state/store.ts AgentState). */
export interface EnforcementState {
  /** memcg path → each setting's value before the agent first changed it. */
  originals: Record<string, Settings>;
  /** Absolute directories of memcgs where the agent set oom_kill_disable=1. */
  oomKillDisabled: string[];
}

export interface Change {
  memcg: string;
  setting: SettingName;
  /** The kernel's value before the write. */
  from: SettingValue;
  /** The kernel's value after it (read back). */
  to: SettingValue;
  /** set: the policy wants it; restore: back to the original. */
  kind: 'set' | 'restore';
}

export interface ApplyResult {
  changes: Change[];
  /** Memcgs that disappeared meanwhile and were skipped. */
  vanished: string[];
}

export interface ReconcileResult extends ApplyResult {
  /** Memcgs applied now, each all or nothing. */
  applied: string[];
  /** New memcgs whose settings could not be applied (rolled back, each on its own). */
  failed: ApplyError[];
}

export interface RemoveResult extends ApplyResult {
  failed: { memcg: string; setting: SettingName; value: SettingValue; error: string }[];
}

function show(v: SettingValue): string {
  return typeof v === 'number' ? String(v) : JSON.stringify(v);
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export class ApplyError extends Error {
  constructor(
    readonly memcg: string,
    readonly setting: SettingName,
    readonly value: SettingValue,
    /** The kernel's errno ("EBUSY"), or EREADBACK when it kept another value. */
    readonly code: string | undefined,
    detail: string,
    /** How many earlier writes of this apply were undone. */
    readonly rolledBack: number,
    /** Undo writes that failed too (the host may be left partly changed). */
    readonly rollbackFailures: { memcg: string; setting: SettingName; error: string }[],
    options?: { cause?: unknown },
  ) {
    const undo =
      rollbackFailures.length > 0
        ? `; rolled back ${rolledBack} change(s), ${rollbackFailures.length} could not be undone`
        : `; rolled back ${rolledBack} change(s)`;
    super(
      `cannot set ${setting}=${show(value)} on ${memcg}: ${code ?? 'error'}: ${detail}${undo}`,
      options,
    );
    this.name = 'ApplyError';
  }
}

/** Does the kernel's value satisfy the wanted one (limits are floored to pages)? */
export function holds(kernel: SettingValue, wanted: SettingValue): boolean {
  if (kernel === wanted) return true;
  return typeof kernel === 'number' && typeof wanted === 'number' && kernel === pageFloor(wanted);
}

/** Write order within a memcg: v1 swapMax is relative to memoryMax, so memoryMax goes first. */
const ORDER: readonly SettingName[] = [
  'memoryMax',
  'swapMax',
  'memoryHigh',
  'memoryLow',
  'memoryMin',
  'oomGroup',
  'oomKillDisable',
];
const rank = (s: SettingName): number => ORDER.indexOf(s);

interface Step {
  memcg: string;
  setting: SettingName;
  value: SettingValue;
  kind: 'set' | 'restore';
}

interface Transaction extends ApplyResult {
  /** memcg → what the kernel holds of its desired settings afterwards. */
  held: Map<string, Settings>;
}

interface Done {
  memcg: string;
  setting: SettingName;
  before: SettingValue;
}

class Vanished extends Error {}

/** The settings without those `drop` selects. */
function omit(s: Settings, drop: (setting: SettingName) => boolean): Settings {
  return Object.fromEntries(Object.entries(s).filter(([k]) => !drop(k as SettingName)));
}

const clone = (s: EnforcementState): EnforcementState => ({
  originals: Object.fromEntries(Object.entries(s.originals).map(([k, v]) => [k, { ...v }])),
  oomKillDisabled: [...s.oomKillDisabled],
});

export interface EnforcerOptions {
  /** The originals and kernel-OOM list from the state directory (a previous run's). */
  state?: EnforcementState;
  /** Saves the state durably; called before writes that must survive a crash, and after. */
  persist?: (state: EnforcementState) => void;
}

export class Enforcer {
  private current: EnforcementState;
  /**
   * memcg → the settings the last apply left there, as the kernel holds them,
   * and the inode of its directory: a memcg removed and created again under
   * the same path (a restarted service) is a new memcg with default values.
   */
  private readonly applied = new Map<string, { settings: Settings; ino: number }>();
  private readonly persist: (state: EnforcementState) => void;
  /** The driver's tree version at the last look at every applied memcg's identity. */
  private identities: { version: number | undefined; at: number } = { version: undefined, at: 0 };

  constructor(
    readonly driver: MemcgDriver,
    options: EnforcerOptions = {},
  ) {
    this.current = clone(options.state ?? { originals: {}, oomKillDisabled: [] });
    this.persist = options.persist ?? (() => undefined);
  }

  /** A copy of the enforcement state (originals and kernel-OOM list). */
  get state(): EnforcementState {
    return clone(this.current);
  }

  /** The settings held per memcg since the last apply/reconcile. */
  appliedSettings(): ReadonlyMap<string, Readonly<Settings>> {
    return new Map([...this.applied].map(([m, a]) => [m, a.settings]));
  }

  /**
   * Makes the kernel hold `desired` on every memcg, and the originals on
   * every setting the agent changed that is no longer desired. All or
   * nothing: throws ApplyError after undoing its own writes.
   */
  apply(desired: DesiredState): ApplyResult {
    for (const m of desired.keys()) this.checkIdentity(m);
    const memcgs = [...desired.keys()];
    for (const m of Object.keys(this.current.originals)) if (!desired.has(m)) memcgs.push(m);
    const result = this.transaction(memcgs, desired);
    this.applied.clear();
    this.remember(result);
    return { changes: result.changes, vanished: result.vanished };
  }

  /**
   * Applies `desired` to the memcgs not applied yet — new since the last
   * apply, or removed and created again under the same path — each on its
   * own all or nothing, and forgets memcgs that are gone. Idempotent: for an
   * unchanged desired state it costs one stat per memcg and writes nothing.
   */
  reconcile(desired: DesiredState): ReconcileResult {
    const out: ReconcileResult = { changes: [], vanished: [], applied: [], failed: [] };
    // One stat per memcg tells whether it is still the memcg the agent
    // applied to; where the driver's inotify watch vouches that none was
    // made or removed since the last look, that look is skipped (up to TRUST_MS).
    const version = this.driver.treeVersion?.();
    const now = performance.now();
    if (
      version === undefined ||
      version !== this.identities.version ||
      now - this.identities.at >= TRUST_MS
    ) {
      for (const m of [...this.applied.keys()]) {
        if (this.checkIdentity(m) === 'gone') out.vanished.push(m);
      }
      this.identities = { version, at: now };
    }
    for (const m of desired.keys()) {
      if (this.applied.has(m)) continue;
      try {
        const r = this.transaction([m], desired);
        out.changes.push(...r.changes);
        out.vanished.push(...r.vanished);
        if (r.held.has(m)) out.applied.push(m);
        this.remember(r);
      } catch (err) {
        if (!(err instanceof ApplyError)) throw err;
        out.failed.push(err);
      }
    }
    if (out.vanished.length > 0) this.persist(this.state);
    return out;
  }

  /**
   * Restores every remembered original (or only those of `settings`: on
   * shutdown the agent gives OOM handling back to the kernel with
   * ['oomKillDisable']). Best effort, not atomic: the point is to leave the
   * host as it was, so one failure does not stop the others, and a failed
   * setting keeps its original for a later attempt.
   */
  removeAll(options: { settings?: readonly SettingName[] } = {}): RemoveResult {
    const only = options.settings ? new Set(options.settings) : undefined;
    const out: RemoveResult = { changes: [], vanished: [], failed: [] };
    for (const memcg of Object.keys(this.current.originals)) {
      const originals = this.current.originals[memcg] ?? {};
      const names = (Object.keys(originals) as SettingName[])
        .filter((s) => !only || only.has(s))
        .sort((a, b) => rank(a) - rank(b));
      for (const setting of names) {
        const value = originals[setting];
        if (value === undefined) continue;
        try {
          const change = this.write({ memcg, setting, value, kind: 'restore' });
          if (change) out.changes.push(change);
          this.restored(memcg, setting, value);
        } catch (err) {
          if (err instanceof Vanished) {
            out.vanished.push(memcg);
            this.forget(memcg);
            break;
          }
          out.failed.push({ memcg, setting, value, error: (err as Error).message });
        }
      }
      const held = this.applied.get(memcg);
      if (held) {
        const left = this.current.originals[memcg] ?? {};
        held.settings = omit(held.settings, (s) => names.includes(s) && !(s in left));
        if (!only || Object.keys(held.settings).length === 0) this.applied.delete(memcg);
      }
    }
    this.persist(this.state);
    return out;
  }

  /**
   * oom_kill_disable outside a policy change — the user-space OOM fallback
   * (0 after fallbackAfter) and re-arming (1) — with the same bookkeeping as
   * apply: listed and persisted before 1 is written, unlisted after 0 is.
   * Originals are untouched: the policy still wants 1 there. Kept here so that
   * one owner holds the list (a second writer's saves would overwrite it).
   */
  setOomKillDisable(memcg: string, on: boolean): void {
    const dir = this.dirOf(memcg);
    if (on && !this.current.oomKillDisabled.includes(dir)) {
      this.current.oomKillDisabled.push(dir);
      this.persist(this.state);
    }
    this.driver.writeSetting(memcg, 'oomKillDisable', on);
    if (!on && this.current.oomKillDisabled.includes(dir)) {
      this.current.oomKillDisabled = this.current.oomKillDisabled.filter((d) => d !== dir);
      this.persist(this.state);
    }
  }

  // ---- the transaction ----

  private inode(memcg: string): number | undefined {
    try {
      return statSync(this.dirOf(memcg)).ino;
    } catch {
      return undefined;
    }
  }

  private remember(t: Transaction): void {
    for (const [m, settings] of t.held) {
      const ino = this.inode(m);
      if (ino !== undefined) this.applied.set(m, { settings, ino });
    }
  }

  /**
   * Forgets an applied memcg that is gone, or that is another memcg now
   * (removed and created again): its originals were the old one's.
   */
  private checkIdentity(memcg: string): 'same' | 'gone' | 'new' {
    const known = this.applied.get(memcg);
    if (!known) return 'new';
    const ino = this.inode(memcg);
    if (ino === known.ino) return 'same';
    this.applied.delete(memcg);
    this.forget(memcg);
    return ino === undefined ? 'gone' : 'new';
  }

  private dirOf(memcg: string): string {
    return cgroupDir(this.driver.root, memcg);
  }

  /** A driver error on a memcg whose directory is gone means it vanished. */
  private gone(memcg: string, err: unknown): boolean {
    return isVanished(err) && !exists(this.dirOf(memcg));
  }

  private read(memcg: string, setting: SettingName): SettingValue {
    try {
      return this.driver.readSetting(memcg, setting);
    } catch (err) {
      if (this.gone(memcg, err)) throw new Vanished(memcg);
      throw err;
    }
  }

  /** Forgets everything about a memcg that no longer exists. */
  private forget(memcg: string): void {
    this.forgetOriginals(memcg);
    const dir = this.dirOf(memcg);
    this.current.oomKillDisabled = this.current.oomKillDisabled.filter((d) => d !== dir);
  }

  /** Bookkeeping after a setting is back at its original. */
  private restored(memcg: string, setting: SettingName, value: SettingValue): void {
    const o = this.current.originals[memcg];
    if (o) {
      const rest = omit(o, (s) => s === setting);
      if (Object.keys(rest).length === 0) this.forgetOriginals(memcg);
      else this.current.originals[memcg] = rest;
    }
    if (setting === 'oomKillDisable') this.untrackKernelOom(memcg, value);
  }

  private forgetOriginals(memcg: string): void {
    this.current.originals = Object.fromEntries(
      Object.entries(this.current.originals).filter(([m]) => m !== memcg),
    );
  }

  /** After writing oomKillDisable=value: the memcg leaves the list unless the agent holds it at 1. */
  private untrackKernelOom(memcg: string, value: SettingValue): void {
    if (value === true && this.current.originals[memcg]?.oomKillDisable === false) return;
    const dir = this.dirOf(memcg);
    this.current.oomKillDisabled = this.current.oomKillDisabled.filter((d) => d !== dir);
  }

  /**
   * Writes one step unless the kernel already holds it, and reads it back.
   * Returns the change, or undefined when nothing needed writing.
   */
  private write(step: Step, journal?: Done[]): Change | undefined {
    const { memcg, setting, value } = step;
    const before = this.read(memcg, setting);
    if (holds(before, value)) return undefined;
    // v1: memoryMax=max over a limited memsw lifts memsw too; journal the swap
    // allowance first so that a rollback (in reverse) puts it back after the limit.
    const coupled =
      journal !== undefined &&
      this.driver.mode === 'v1' &&
      setting === 'memoryMax' &&
      this.swapSupported();
    const swapBefore = coupled ? this.read(memcg, 'swapMax') : undefined;
    try {
      this.driver.writeSetting(memcg, setting, value);
    } catch (err) {
      if (this.gone(memcg, err)) throw new Vanished(memcg);
      throw err;
    }
    if (swapBefore !== undefined && journal) {
      const swapAfter = this.read(memcg, 'swapMax');
      if (swapAfter !== swapBefore) journal.push({ memcg, setting: 'swapMax', before: swapBefore });
    }
    journal?.push({ memcg, setting, before });
    const after = this.read(memcg, setting);
    if (!holds(after, value)) throw new ReadBackError(after);
    return { memcg, setting, from: before, to: after, kind: step.kind };
  }

  /** A read while planning: a failure other than vanishing refuses the apply, naming the setting. */
  private readFor(memcg: string, setting: SettingName, value: SettingValue): SettingValue {
    try {
      return this.read(memcg, setting);
    } catch (err) {
      if (err instanceof Vanished) throw err;
      throw new ApplyError(
        memcg,
        setting,
        value,
        errnoOf(err),
        `cannot read it: ${(err as Error).message}`,
        0,
        [],
        { cause: err },
      );
    }
  }

  private swapSupported(): boolean {
    return this.driver.support('swapMax').supported;
  }

  /**
   * The steps for one memcg: desired settings the kernel does not hold, and
   * originals no longer desired. Records (in `this.current`) the original of
   * every setting about to change for the first time.
   */
  private plan(memcg: string, want: Settings, held: Settings): Step[] {
    const originals = this.current.originals[memcg] ?? {};
    const recorded: Settings = {};
    const steps: Step[] = [];
    for (const [setting, value] of Object.entries(want) as [SettingName, SettingValue][]) {
      const now = this.readFor(memcg, setting, value);
      held[setting] = now;
      if (holds(now, value)) continue;
      if (!(setting in originals)) recorded[setting] = now;
      steps.push({ memcg, setting, value, kind: 'set' });
    }
    if (
      this.driver.mode === 'v1' &&
      want.memoryMax === 'max' &&
      want.swapMax === undefined &&
      !('swapMax' in originals) &&
      this.swapSupported()
    ) {
      // The companion original described in the header.
      const swap = this.readFor(memcg, 'swapMax', 'max');
      if (swap !== 'max') recorded.swapMax = swap;
    }
    const all: Settings = { ...recorded, ...originals };
    for (const [setting, value] of Object.entries(all) as [SettingName, SettingValue][]) {
      if (setting in want) continue;
      if (setting === 'swapMax' && this.driver.mode === 'v1') {
        // Held while the memory limit stays unlimited: v1 cannot express it.
        const finalMax = want.memoryMax ?? all.memoryMax ?? this.readFor(memcg, 'memoryMax', value);
        if (finalMax === 'max' && value !== 'max') continue;
      }
      steps.push({ memcg, setting, value, kind: 'restore' });
    }
    if (Object.keys(recorded).length > 0)
      this.current.originals[memcg] = { ...originals, ...recorded };
    return steps.sort((a, b) => rank(a.setting) - rank(b.setting));
  }

  /** Applies `desired` on `memcgs` (restoring originals there) all or nothing. */
  private transaction(memcgs: readonly string[], desired: DesiredState): Transaction {
    const before = clone(this.current);
    const result: Transaction = { changes: [], vanished: [], held: new Map() };
    const byMemcg = new Map<string, Step[]>();
    // 1. Plan: read every value about to change, remember originals, and list
    // the memcgs about to get oom_kill_disable=1 — then persist, before any write.
    try {
      for (const memcg of memcgs) {
        const held: Settings = {};
        try {
          byMemcg.set(memcg, this.plan(memcg, desired.get(memcg) ?? {}, held));
          result.held.set(memcg, held);
        } catch (err) {
          if (!(err instanceof Vanished)) throw err;
          result.vanished.push(memcg);
          this.forget(memcg);
        }
      }
      for (const [memcg, steps] of byMemcg) {
        const dir = this.dirOf(memcg);
        const disables = steps.some((s) => s.setting === 'oomKillDisable' && s.value === true);
        if (disables && !this.current.oomKillDisabled.includes(dir))
          this.current.oomKillDisabled.push(dir);
      }
      if (JSON.stringify(before) !== JSON.stringify(this.current)) this.persist(this.state);
    } catch (err) {
      // Nothing was written yet: only the state goes back (a read refused, or
      // the state could not be saved — then no write may happen either).
      this.current = before;
      throw err;
    }
    // 2. Write, in order, journalling what each write replaced.
    const journal: Done[] = [];
    for (const [memcg, steps] of byMemcg) {
      for (const step of steps) {
        try {
          const change = this.write(step, journal);
          if (change) result.changes.push(change);
        } catch (err) {
          if (err instanceof Vanished) {
            // Nothing to undo on a memcg that is gone.
            for (let i = journal.length - 1; i >= 0; i--)
              if (journal[i]?.memcg === memcg) journal.splice(i, 1);
            result.changes = result.changes.filter((c) => c.memcg !== memcg);
            result.vanished.push(memcg);
            result.held.delete(memcg);
            this.forget(memcg);
            break;
          }
          throw this.rollback(step, err, journal, before, result.vanished);
        }
      }
    }
    // 3. Success: restored settings leave the originals, and memcgs given back
    // to the kernel leave the kernel-OOM list.
    for (const [memcg, steps] of byMemcg) {
      if (result.vanished.includes(memcg)) continue;
      for (const s of steps) if (s.kind === 'restore') this.restored(memcg, s.setting, s.value);
      const want = desired.get(memcg);
      if (want?.oomKillDisable !== undefined) this.untrackKernelOom(memcg, want.oomKillDisable);
    }
    if (JSON.stringify(before) !== JSON.stringify(this.current)) this.persist(this.state);
    for (const c of result.changes) {
      const held = result.held.get(c.memcg);
      if (held && c.setting in held) held[c.setting] = c.to;
    }
    return result;
  }

  /** Undoes the journal in reverse; returns the ApplyError to throw. */
  private rollback(
    step: Step,
    err: unknown,
    journal: Done[],
    before: EnforcementState,
    vanished: readonly string[],
  ): ApplyError {
    const failures: { memcg: string; setting: SettingName; error: string }[] = [];
    const stuck: { memcg: string; setting: SettingName }[] = [];
    for (let i = journal.length - 1; i >= 0; i--) {
      const d = journal[i];
      if (!d) continue;
      try {
        this.driver.writeSetting(d.memcg, d.setting, d.before);
      } catch (e) {
        if (this.gone(d.memcg, e)) continue;
        failures.push({ memcg: d.memcg, setting: d.setting, error: (e as Error).message });
        stuck.push(d);
      }
    }
    // The state goes back to what it was, except where an undo failed: that
    // setting still holds our value, so its original and (for oom_kill_disable)
    // its list entry must stay for a later restore or the supervisor.
    const after = this.current;
    this.current = before;
    for (const memcg of vanished) this.forget(memcg);
    for (const { memcg, setting } of stuck) {
      const original = after.originals[memcg]?.[setting];
      if (original !== undefined)
        this.current.originals[memcg] = { ...this.current.originals[memcg], [setting]: original };
      const dir = this.dirOf(memcg);
      if (
        setting === 'oomKillDisable' &&
        after.oomKillDisabled.includes(dir) &&
        !this.current.oomKillDisabled.includes(dir)
      )
        this.current.oomKillDisabled.push(dir);
    }
    try {
      this.persist(this.state);
    } catch {
      // The kernel is back as it was; the state on disk still lists a superset
      // (persisted before the writes), which is safe to restore from.
    }
    const readBack = err instanceof ReadBackError;
    const detail = readBack
      ? `the kernel holds ${show(err.held)} after the write`
      : (err as Error).message;
    return new ApplyError(
      step.memcg,
      step.setting,
      step.value,
      readBack ? 'EREADBACK' : errnoOf(err),
      detail,
      journal.length,
      failures,
      { cause: err },
    );
  }
}

class ReadBackError extends Error {
  constructor(readonly held: SettingValue) {
    super(`read back ${show(held)}`);
    this.name = 'ReadBackError';
  }
}
