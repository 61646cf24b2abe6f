// The canonical document (what the digest covers) and the compiled policy (what
// the evaluator runs). The canonical document is itself a valid policy
// document: every default filled in, sizes in bytes, durations and
// percentages in their normal string forms, order-free lists sorted.
import type { CgroupGlob } from './glob.ts';
import type { Limit, Quantity } from './units.ts';
import type { VictimStrategy } from './schema.ts';

export const DEFAULTS = {
  interval: '1s',
  killBudget: { max: 10, per: '1m' },
  pressure: { kind: 'full', window: 'avg10', for: '0s' },
  oomOn: 'any',
  growthWindow: '10s',
  kill: { victim: 'largest', among: 'process', grace: '0s', repeat: 'once' },
  throttleDuration: '30s',
  notify: { message: '', severity: 'warning' },
  cooldown: '15s',
  fallbackAfter: '2s',
} as const;

export type CanonicalSize = number;
export type CanonicalQuantity = number | string; // bytes, or "NN%"
export type CanonicalLimit = number | string; // bytes, "NN%" or "max"

export type CanonicalCondition =
  | { any: CanonicalCondition[] }
  | { all: CanonicalCondition[] }
  | {
      pressure: {
        kind: 'some' | 'full';
        window: 'avg10' | 'avg60' | 'avg300';
        above: string;
        for: string;
      };
    }
  | { usage: { of: 'limit' | 'ram'; above: CanonicalQuantity } }
  | { available: { below: CanonicalQuantity } }
  | { oom: { on: 'any' | 'stuck' | 'event' } }
  | { growth: { above: CanonicalSize; window: string } }
  | { swap: { below: CanonicalQuantity; noSwap: 'ignore' | 'fire' } };

export interface CanonicalKill {
  victim: VictimStrategy;
  among: 'process' | 'cgroup';
  prefer: string[];
  avoid: string[];
  grace: string;
  repeat: 'once' | 'until-clear';
}

export type CanonicalAction =
  | { kill: CanonicalKill }
  | { throttle: { memoryHigh: CanonicalQuantity; duration: string } }
  | { notify: { message: string; severity: 'info' | 'warning' | 'critical' } };

export interface CanonicalRule {
  name: string;
  scope: string;
  when: CanonicalCondition;
  action: CanonicalAction;
  cooldown: string;
  dryRun: boolean;
}

export interface CanonicalCgroupSettings {
  match: string;
  memoryMin?: CanonicalQuantity;
  memoryLow?: CanonicalQuantity;
  memoryHigh?: CanonicalLimit;
  memoryMax?: CanonicalLimit;
  swapMax?: CanonicalLimit;
  oomGroup?: boolean;
  userspaceOom?: { enabled: boolean; fallbackAfter: string };
}

export type CanonicalProtection =
  | { cgroup: string; memoryMin?: CanonicalQuantity; memoryLow?: CanonicalQuantity }
  | { process: string }
  | { cmdline: string };

export interface CanonicalPolicy {
  apiVersion: 'oomfleet/v1';
  kind: 'OomPolicy';
  metadata: { name: string; description: string };
  spec: {
    interval: string;
    dryRun: boolean;
    killBudget: { max: number; per: string };
    protect: CanonicalProtection[];
    cgroups: CanonicalCgroupSettings[];
    rules: CanonicalRule[];
  };
}

// ---- compiled, for the evaluator and the agent ----

export type Scope = { kind: 'global' } | { kind: 'cgroup'; glob: CgroupGlob };

export type CompiledCondition =
  | { kind: 'any'; children: CompiledCondition[] }
  | { kind: 'all'; children: CompiledCondition[] }
  | {
      kind: 'pressure';
      pressureKind: 'some' | 'full';
      window: 'avg10' | 'avg60' | 'avg300';
      above: number;
      forMs: number;
    }
  | { kind: 'usage'; of: 'limit' | 'ram'; above: Quantity }
  | { kind: 'available'; below: Quantity }
  | { kind: 'oom'; on: 'any' | 'stuck' | 'event' }
  | { kind: 'growth'; bytesPerSec: number; windowMs: number }
  | { kind: 'swap'; below: Quantity; noSwap: 'ignore' | 'fire' };

export type CompiledAction =
  | {
      kind: 'kill';
      victim: VictimStrategy;
      among: 'process' | 'cgroup';
      prefer: RegExp[];
      avoid: RegExp[];
      graceMs: number;
      repeat: 'once' | 'until-clear';
    }
  | { kind: 'throttle'; memoryHigh: Quantity; durationMs: number }
  | { kind: 'notify'; message: string; severity: 'info' | 'warning' | 'critical' };

export interface CompiledRule {
  name: string;
  scope: Scope;
  when: CompiledCondition;
  action: CompiledAction;
  cooldownMs: number;
  dryRun: boolean;
}

export interface CompiledCgroupSettings {
  match: CgroupGlob;
  memoryMin?: Quantity;
  memoryLow?: Quantity;
  memoryHigh?: Limit;
  memoryMax?: Limit;
  swapMax?: Limit;
  oomGroup?: boolean;
  userspaceOom?: { enabled: boolean; fallbackAfterMs: number };
}

export type CompiledProtection =
  | { kind: 'cgroup'; glob: CgroupGlob; memoryMin?: Quantity; memoryLow?: Quantity }
  | { kind: 'process'; re: RegExp }
  | { kind: 'cmdline'; re: RegExp };

export interface CompiledPolicy {
  name: string;
  digest: string;
  canonical: CanonicalPolicy;
  intervalMs: number;
  dryRun: boolean;
  killBudget: { max: number; perMs: number };
  protect: CompiledProtection[];
  cgroups: CompiledCgroupSettings[];
  rules: CompiledRule[];
}
