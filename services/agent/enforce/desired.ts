// What a policy wants on each memcg of this host: cgroups[] and protect[]
// resolved against the host's RAM and swap, in the kernel's units. Pure: the
// enforcer compares this with what the kernel holds and writes the difference.
//
// Rules (docs/policy.md, "Percentages" and "cgroups"):
// - each field takes its value from the FIRST cgroups[] entry whose `match`
//   matches the memcg and that sets the field;
// - protect[] cgroup entries fill memoryMin / memoryLow only where no cgroups[]
//   entry set them (again the first matching entry wins, in canonical order);
// - percentages: memoryMax of MemTotal, swapMax of SwapTotal, memoryHigh / Low /
//   Min of the SAME entry's resolved memoryMax when that entry sets one in bytes
//   or %, otherwise (no memoryMax, or memoryMax: max) of MemTotal; protect[]
//   percentages of MemTotal;
// - a resolved percentage is floored to whole 4096-byte pages, because the
//   kernel keeps limits in pages and would floor it anyway: the value we
//   compute is then exactly the value the kernel reports back. Sizes written
//   in bytes are passed through as written (the enforcer accepts the kernel's
//   page-floored read-back);
// - `max` stays 'max';
// - userspaceOom: on v1, `enabled` becomes oomKillDisable (true hands the
//   memcg's OOM to the agent; an explicit `enabled: false` asks for the kernel
//   killer, oom_kill_disable=0). On v2 nothing is written: user-space OOM
//   handling acts on memory.high and pressure before the limit.
import type {
  CompiledCgroupSettings,
  CompiledPolicy,
  Limit,
  Quantity,
} from '../../policy/index.ts';
import type { CgroupMode, SettingName, SettingValue } from '../cgroup/types.ts';

export const PAGE_SIZE = 4096;

export type Settings = Partial<Record<SettingName, SettingValue>>;
/** memcg path → the settings the policy wants there. Memcgs that get none are absent. */
export type DesiredState = Map<string, Settings>;

export interface HostMemory {
  memTotal: number;
  swapTotal: number;
}

/** Bytes rounded down to whole pages. */
export function pageFloor(bytes: number): number {
  return bytes - (bytes % PAGE_SIZE);
}

/**
 * `percent`% of `base`, floored to pages. Exact: percentages have at most six
 * decimals (their canonical form), so percent × 10⁶ is an integer and the
 * product is computed in BigInt; a float product of an 8 PiB base could be
 * off by more than a page.
 */
export function percentOf(percent: number, base: number): number {
  const micro = BigInt(Math.round(percent * 1e6));
  const bytes = (BigInt(Math.max(0, Math.floor(base))) * micro) / 100_000_000n;
  return pageFloor(Number(bytes));
}

function resolveQuantity(q: Quantity, base: number): number {
  return 'percent' in q ? percentOf(q.percent, base) : q.bytes;
}

function resolveLimit(l: Limit, base: number): number | 'max' {
  return l === 'max' ? 'max' : resolveQuantity(l, base);
}

/** The policy fields of a cgroups[] entry, as settings on this hierarchy, resolved for this host. */
export function entrySettings(
  entry: CompiledCgroupSettings,
  host: HostMemory,
  mode: CgroupMode,
): Settings {
  const out: Settings = {};
  const max =
    entry.memoryMax === undefined ? undefined : resolveLimit(entry.memoryMax, host.memTotal);
  // "of the same entry's memoryMax when the entry sets one": `max` is no
  // limit, so a share of it falls back to host RAM like an absent memoryMax.
  const relBase = typeof max === 'number' ? max : host.memTotal;
  if (max !== undefined) out.memoryMax = max;
  if (entry.memoryHigh !== undefined) out.memoryHigh = resolveLimit(entry.memoryHigh, relBase);
  if (entry.memoryLow !== undefined) out.memoryLow = resolveQuantity(entry.memoryLow, relBase);
  if (entry.memoryMin !== undefined) out.memoryMin = resolveQuantity(entry.memoryMin, relBase);
  if (entry.swapMax !== undefined) out.swapMax = resolveLimit(entry.swapMax, host.swapTotal);
  if (entry.oomGroup !== undefined) out.oomGroup = entry.oomGroup;
  if (entry.userspaceOom !== undefined && mode === 'v1')
    out.oomKillDisable = entry.userspaceOom.enabled;
  return out;
}

/** For each memcg path, the settings the policy wants there (see the header for the rules). */
export function desiredSettings(
  policy: CompiledPolicy,
  memcgs: readonly string[],
  host: HostMemory,
  mode: CgroupMode,
): DesiredState {
  // Resolve each entry once, not once per memcg: hosts can have thousands.
  const entries = policy.cgroups.map((e) => ({
    glob: e.match,
    settings: entrySettings(e, host, mode),
  }));
  const protections = policy.protect.flatMap((p) => {
    if (p.kind !== 'cgroup') return [];
    const settings: Settings = {};
    if (p.memoryMin !== undefined) settings.memoryMin = resolveQuantity(p.memoryMin, host.memTotal);
    if (p.memoryLow !== undefined) settings.memoryLow = resolveQuantity(p.memoryLow, host.memTotal);
    return Object.keys(settings).length > 0 ? [{ glob: p.glob, settings }] : [];
  });
  const out: DesiredState = new Map();
  for (const path of memcgs) {
    const merged: Settings = {};
    for (const { glob, settings } of [...entries, ...protections]) {
      if (!glob.matches(path)) continue;
      for (const [name, value] of Object.entries(settings) as [SettingName, SettingValue][]) {
        if (!(name in merged)) merged[name] = value;
      }
    }
    if (Object.keys(merged).length > 0) out.set(path, merged);
  }
  return out;
}
