// Regexes in policies run against every process's comm and command line on
// every tick, so a pattern that can backtrack catastrophically would stall the
// agent exactly when memory is short. Patterns are checked with recheck's
// ReDoS analysis before a policy is accepted; the agent also caps the input
// (comm is at most 15 bytes, command lines are cut at MAX_CMDLINE).
import { checkSync } from 'recheck';

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

const cache = new Map<string, { ok: true } | { ok: false; message: string; hint: string }>();

/** Compiles a policy regex, refusing invalid and catastrophically backtracking ones. */
export function compileRegex(source: string): RegExp {
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
    verdict = analyse(source);
    if (cache.size > 10_000) cache.clear();
    cache.set(source, verdict);
  }
  if (!verdict.ok) throw new RegexError(verdict.message, verdict.hint);
  return re;
}

function analyse(source: string): { ok: true } | { ok: false; message: string; hint: string } {
  // A fixed seed and the automaton checker keep the verdict the same on every run.
  const result = checkSync(source, 'u', { timeout: 2000, randomSeed: 0 });
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
  return {
    ok: false,
    message: `regex ${JSON.stringify(source)} could not be shown safe (${result.status === 'unknown' ? result.error.kind : 'error'})`,
    hint: 'simplify the pattern',
  };
}
