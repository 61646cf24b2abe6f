// Can this host's memory hierarchy express what a policy asks for? A policy
// that requires a setting the hierarchy has no equivalent for (memory.high,
// memory.min or memory.oom.group on cgroup v1) is refused whole — the agent
// NACKs it with the reason and writes nothing — because enforcing part of a
// policy would leave the host in a state nobody wrote down.
//
// A requirement counts whether or not a memcg matches its glob right now:
// memcgs come and go, and a policy accepted today must not become
// unenforceable when /batch/job-7 appears tomorrow, long after the ACK. The
// memcgs matching now are listed with each finding for `agent status`.
import type { CompiledPolicy } from '../../policy/index.ts';
import type { MemcgDriver, SettingName, SettingSupport } from '../cgroup/types.ts';

/** What checkSupport needs from a driver (a driver is one; tests pass a plain object). */
export type SupportSource = Pick<MemcgDriver, 'mode' | 'support'>;

export interface SupportFinding {
  /** Where in the policy: "cgroups[0]" or "protect[2]". */
  source: string;
  /** The entry's glob. */
  glob: string;
  /** The policy field as written ("userspaceOom" for oomKillDisable). */
  field: string;
  setting: SettingName;
  /** The driver's explanation. */
  note: string;
  /** Memcgs the glob matches now. */
  memcgs: string[];
  /** The whole finding in words. */
  message: string;
}

export interface SupportReport {
  ok: boolean;
  /** Settings the hierarchy cannot express: any of these refuses the policy. */
  unsupported: SupportFinding[];
  /** Settings applied by an approximate equivalent (v1 memoryLow → soft limit). */
  approximate: SupportFinding[];
  /** The NACK reason when not ok: every unsupported finding, joined. */
  reason?: string;
}

interface Requirement {
  source: string;
  glob: { source: string; matches(path: string): boolean };
  field: string;
  setting: SettingName;
}

/** Every (entry, setting) the policy writes on this hierarchy, in document order. */
export function requirements(policy: CompiledPolicy, mode: MemcgDriver['mode']): Requirement[] {
  const out: Requirement[] = [];
  policy.cgroups.forEach((e, i) => {
    const add = (field: string, setting: SettingName): void => {
      out.push({ source: `cgroups[${i}]`, glob: e.match, field, setting });
    };
    if (e.memoryMin !== undefined) add('memoryMin', 'memoryMin');
    if (e.memoryLow !== undefined) add('memoryLow', 'memoryLow');
    if (e.memoryHigh !== undefined) add('memoryHigh', 'memoryHigh');
    if (e.memoryMax !== undefined) add('memoryMax', 'memoryMax');
    if (e.swapMax !== undefined) add('swapMax', 'swapMax');
    if (e.oomGroup !== undefined) add('oomGroup', 'oomGroup');
    // On v2 user-space OOM handling writes nothing (it acts before the limit).
    if (e.userspaceOom !== undefined && mode === 'v1') add('userspaceOom', 'oomKillDisable');
  });
  policy.protect.forEach((p, i) => {
    if (p.kind !== 'cgroup') return;
    const add = (setting: SettingName): void => {
      out.push({ source: `protect[${i}]`, glob: p.glob, field: setting, setting });
    };
    if (p.memoryMin !== undefined) add('memoryMin');
    if (p.memoryLow !== undefined) add('memoryLow');
  });
  return out;
}

function describe(
  r: Requirement,
  support: SettingSupport,
  mode: MemcgDriver['mode'],
  approximate: boolean,
): string {
  const what = r.field === r.setting ? `sets ${r.field}` : `sets ${r.field} (${r.setting})`;
  const hierarchy = `cgroup ${mode}`;
  const why = support.note ? ` (${support.note})` : '';
  return approximate
    ? `${r.source} (${r.glob.source}) ${what}, which ${hierarchy} applies only approximately${
        support.file ? ` through ${support.file}` : ''
      }${why}`
    : `${r.source} (${r.glob.source}) ${what}, which ${hierarchy} has no equivalent for${why}`;
}

/**
 * Drivers attach notes to supported settings too (v1 explains how swapMax is
 * computed), so a note alone does not make an approximation: the note must
 * say so, as the v1 driver's memoryLow note ("approximation: …") does.
 */
export function isApproximation(support: SettingSupport): boolean {
  return support.supported && /\bapproximat/i.test(support.note ?? '');
}

/**
 * Lists every setting the policy requires that the hierarchy cannot express
 * (refusal) or expresses only approximately (for `agent status`).
 */
export function checkSupport(
  policy: CompiledPolicy,
  source: SupportSource,
  memcgs: readonly string[],
): SupportReport {
  const unsupported: SupportFinding[] = [];
  const approximate: SupportFinding[] = [];
  for (const r of requirements(policy, source.mode)) {
    const support = source.support(r.setting);
    const approx = support.supported && isApproximation(support);
    if (support.supported && !approx) continue;
    const finding: SupportFinding = {
      source: r.source,
      glob: r.glob.source,
      field: r.field,
      setting: r.setting,
      note: support.note ?? '',
      memcgs: memcgs.filter((m) => r.glob.matches(m)),
      message: describe(r, support, source.mode, approx),
    };
    (approx ? approximate : unsupported).push(finding);
  }
  const ok = unsupported.length === 0;
  return {
    ok,
    unsupported,
    approximate,
    ...(ok ? {} : { reason: unsupported.map((f) => f.message).join('; ') }),
  };
}
