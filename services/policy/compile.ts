// Canonical document → runnable policy: globs and regexes compiled, durations
// in milliseconds, quantities parsed. Only called on documents that validated.
import { compileGlob } from './glob.ts';
import { compileRegex } from './regex.ts';
import type {
  CanonicalAction,
  CanonicalCondition,
  CanonicalPolicy,
  CompiledAction,
  CompiledCondition,
  CompiledPolicy,
  CompiledProtection,
} from './model.ts';
import { parseDuration, parseLimit, parsePercent, parseSize, parseSizeOrPercent } from './units.ts';

function compileCondition(c: CanonicalCondition): CompiledCondition {
  if ('any' in c) return { kind: 'any', children: c.any.map(compileCondition) };
  if ('all' in c) return { kind: 'all', children: c.all.map(compileCondition) };
  if ('pressure' in c)
    return {
      kind: 'pressure',
      pressureKind: c.pressure.kind,
      window: c.pressure.window,
      above: parsePercent(c.pressure.above),
      forMs: parseDuration(c.pressure.for),
    };
  if ('usage' in c)
    return { kind: 'usage', of: c.usage.of, above: parseSizeOrPercent(c.usage.above) };
  if ('available' in c) return { kind: 'available', below: parseSizeOrPercent(c.available.below) };
  if ('oom' in c) return { kind: 'oom', on: c.oom.on };
  if ('growth' in c)
    return {
      kind: 'growth',
      bytesPerSec: parseSize(c.growth.above),
      windowMs: parseDuration(c.growth.window),
    };
  return { kind: 'swap', below: parseSizeOrPercent(c.swap.below), noSwap: c.swap.noSwap };
}

function compileAction(a: CanonicalAction): CompiledAction {
  if ('kill' in a)
    return {
      kind: 'kill',
      victim: a.kill.victim,
      among: a.kill.among,
      prefer: a.kill.prefer.map((s) => compileRegex(s)),
      avoid: a.kill.avoid.map((s) => compileRegex(s)),
      graceMs: parseDuration(a.kill.grace),
      repeat: a.kill.repeat,
    };
  if ('throttle' in a)
    return {
      kind: 'throttle',
      memoryHigh: parseSizeOrPercent(a.throttle.memoryHigh),
      durationMs: parseDuration(a.throttle.duration),
    };
  return { kind: 'notify', message: a.notify.message, severity: a.notify.severity };
}

export function compilePolicy(c: CanonicalPolicy, digest: string): CompiledPolicy {
  const opt = <T>(v: unknown, f: (x: unknown) => T): T | undefined =>
    v === undefined ? undefined : f(v);
  return {
    name: c.metadata.name,
    digest,
    canonical: c,
    intervalMs: parseDuration(c.spec.interval),
    dryRun: c.spec.dryRun,
    killBudget: { max: c.spec.killBudget.max, perMs: parseDuration(c.spec.killBudget.per) },
    protect: c.spec.protect.map((p): CompiledProtection => {
      if ('cgroup' in p)
        return {
          kind: 'cgroup',
          glob: compileGlob(p.cgroup),
          memoryMin: opt(p.memoryMin, parseSizeOrPercent),
          memoryLow: opt(p.memoryLow, parseSizeOrPercent),
        };
      if ('process' in p) return { kind: 'process', re: compileRegex(p.process) };
      return { kind: 'cmdline', re: compileRegex(p.cmdline) };
    }),
    cgroups: c.spec.cgroups.map((s) => ({
      match: compileGlob(s.match),
      memoryMin: opt(s.memoryMin, parseSizeOrPercent),
      memoryLow: opt(s.memoryLow, parseSizeOrPercent),
      memoryHigh: opt(s.memoryHigh, parseLimit),
      memoryMax: opt(s.memoryMax, parseLimit),
      swapMax: opt(s.swapMax, parseLimit),
      oomGroup: s.oomGroup,
      userspaceOom: s.userspaceOom && {
        enabled: s.userspaceOom.enabled,
        fallbackAfterMs: parseDuration(s.userspaceOom.fallbackAfter),
      },
    })),
    rules: c.spec.rules.map((r) => ({
      name: r.name,
      scope:
        r.scope === 'global' ? { kind: 'global' } : { kind: 'cgroup', glob: compileGlob(r.scope) },
      when: compileCondition(r.when),
      action: compileAction(r.action),
      cooldownMs: parseDuration(r.cooldown),
      dryRun: r.dryRun,
    })),
  };
}
