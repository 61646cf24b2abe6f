// Regexes in policies run against every process's comm and command line on
// every tick, so a pattern that can backtrack catastrophically would stall the
// agent exactly when memory is short. Patterns are checked with recheck's
// ReDoS analysis before a policy is accepted; the agent also caps the input
// (comm is at most 15 bytes, command lines are cut at MAX_CMDLINE).
import { createRequire } from 'node:module';
import type { checkSync as CheckSync } from 'recheck';

// recheck costs ~30 MB when loaded and more once it has analysed a pattern;
// load it on the first analysis only, so processes that never validate a new
// regex (the agent's supervisor, `oomfleet agent status`) never pay for it.
let checker: typeof CheckSync | undefined;
function loadChecker(): typeof CheckSync {
  checker ??= (createRequire(import.meta.url)('recheck') as { checkSync: typeof CheckSync })
    .checkSync;
  return checker;
}
const checkSync = (...args: Parameters<typeof CheckSync>): ReturnType<typeof CheckSync> =>
  loadChecker()(...args);

export const MAX_REGEX_LENGTH = 512;
/** Command lines longer than this are cut before matching. */
export const MAX_CMDLINE = 4096;

export class RegexError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'RegexError';
  }
}

const cache = new Map<string, Verdict>();

/**
 * Patterns this process has shown safe. A long-lived process (the agent's
 * worker) has the analysis done in a short-lived child, so that recheck's
 * memory never stays resident, and hands the verdicts over with
 * rememberSafeRegexes; see services/agent/policy-check.
 */
export function safeRegexes(): string[] {
  return [...cache].filter(([, v]) => v.ok).map(([source]) => source);
}

/** Takes verdicts of "safe" reached by the same analysis in another process. */
export function rememberSafeRegexes(sources: readonly string[]): void {
  for (const source of sources) {
    if (cache.size > 10_000) cache.clear();
    cache.set(source, { ok: true });
  }
}

/**
 * Wall-clock time one document may spend in ReDoS analysis, all patterns
 * together, and one pattern alone. These are a guard against hostile
 * documents, not part of the verdict: an ordinary pattern is decided by the
 * step limits below in a fraction of this (about 0.7 s for the first
 * lookahead pattern a process sees, while recheck's code is still cold, and
 * 0.2 s after), so a loaded machine still reaches the same verdict.
 */
export const REGEX_BUDGET_MS = 10_000;
export const REGEX_TIMEOUT_MS = 5_000;

/**
 * recheck bounds each phase of its fuzzer by steps and, by default, also by
 * milliseconds (seeding 100, incubation 250, attack 1000). A phase cut short by
 * the clock searches less, so the verdict would depend on how busy the machine
 * is; the clocks are turned off and the step limits alone bound the phases.
 * The attack limit is lowered from 1.5e9 characters: an attack string that
 * makes the VM read 1e8 characters is already catastrophic for a 4 KiB
 * command line, and the lower limit keeps a vulnerable verdict under 0.1 s.
 */
const RECHECK_OPTIONS = {
  randomSeed: 0,
  seedingTimeout: null,
  incubationTimeout: null,
  attackTimeout: null,
  attackLimit: 100_000_000,
} as const;

/** The analysis time left for one document, so N slow patterns cannot add up. */
export interface RegexBudget {
  leftMs: number;
  perPatternMs: number;
}

export const newRegexBudget = (
  totalMs = REGEX_BUDGET_MS,
  perPatternMs = REGEX_TIMEOUT_MS,
): RegexBudget => ({ leftMs: totalMs, perPatternMs });

/** Compiles a policy regex, refusing invalid and catastrophically backtracking ones. */
export function compileRegex(source: string, budget: RegexBudget = newRegexBudget()): RegExp {
  if (source.length > MAX_REGEX_LENGTH)
    throw new RegexError(
      `regex is ${source.length} characters long`,
      `keep patterns under ${MAX_REGEX_LENGTH} characters`,
    );
  let re: RegExp;
  try {
    re = new RegExp(source, 'u');
  } catch (err) {
    throw new RegexError(
      `regex ${JSON.stringify(source)} does not compile: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`,
      'fix the syntax; patterns are ECMAScript regular expressions (u flag)',
    );
  }
  let verdict = cache.get(source);
  if (!verdict) {
    if (budget.leftMs <= 0)
      throw new RegexError(
        `regex ${JSON.stringify(source)} was not analysed: the document's ${formatMs(REGEX_BUDGET_MS)} budget for regex analysis is spent`,
        'use fewer or simpler patterns, e.g. one alternation ^(a|b|c)$ instead of many entries',
      );
    verdict = analyse(source, budget);
    // A timeout depends on the machine; only definite verdicts are remembered.
    if (verdict.ok || !verdict.timedOut) {
      if (cache.size > 10_000) cache.clear();
      cache.set(source, verdict);
    }
  }
  if (!verdict.ok) throw new RegexError(verdict.message, verdict.hint);
  return re;
}

const formatMs = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

type Verdict = { ok: true } | { ok: false; message: string; hint: string; timedOut?: boolean };

function analyse(source: string, budget: RegexBudget): Verdict {
  const timeout = Math.max(1, Math.floor(Math.min(budget.perPatternMs, budget.leftMs)));
  loadChecker(); // loading recheck (~0.3 s) is not analysis: it is not charged to the budget
  const start = performance.now();
  const result = checkSync(source, 'u', { ...RECHECK_OPTIONS, timeout });
  budget.leftMs -= performance.now() - start;
  if (result.status === 'safe') return { ok: true };
  if (result.status === 'vulnerable') {
    const c = result.complexity;
    if (c.type === 'polynomial' && c.degree <= 2) return { ok: true };
    const what = c.type === 'exponential' ? 'exponential' : `polynomial (degree ${c.degree})`;
    return {
      ok: false,
      message: `regex ${JSON.stringify(source)} can backtrack catastrophically: ${what} time, e.g. on ${JSON.stringify(result.attack.pattern)}`,
      hint: 'remove nested or adjacent repetition of the same characters, e.g. write (a+)+ as a+ and .*a.*b.* as a.*b',
    };
  }
  const timedOut = result.status === 'unknown' && result.error.kind === 'timeout';
  return {
    ok: false,
    timedOut,
    // The limits, not the time left when it ran out: the same document gets the same message.
    message: `regex ${JSON.stringify(source)} could not be shown safe${timedOut ? ` within ${formatMs(REGEX_TIMEOUT_MS)} (${formatMs(REGEX_BUDGET_MS)} for all of a document's patterns)` : ` (${result.status === 'unknown' ? result.error.kind : 'error'})`}`,
    hint: 'simplify the pattern: fewer nested or bounded repetitions',
  };
}
