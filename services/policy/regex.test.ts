// Policy regexes: they must compile (ECMAScript, u flag), stay under the
// length cap, and be unable to backtrack catastrophically, since the agent runs
// them against every process on every tick.
import { describe, it, expect } from 'vitest';
import { MAX_REGEX_LENGTH, RegexError, compileRegex, newRegexBudget } from './regex.ts';

function regexError(source: string): RegexError {
  try {
    compileRegex(source);
  } catch (e) {
    if (e instanceof RegexError) return e;
    throw e;
  }
  throw new Error(`expected ${source} to be refused`);
}

describe('compileRegex: safe patterns compile', () => {
  it.each([
    '^sshd$',
    '^(sshd|systemd-journald)$',
    '^spark-',
    '^postgres$',
    '--type=renderer',
    '-contentproc',
    '^/usr/lib/firefox/firefox$',
    '^java$',
    'kworker/[0-9]+:[0-9]+',
    '^(chrome|chromium|firefox)$',
    '\\bnginx: master process\\b',
    '^python3? .*celery',
    '^[a-z0-9_-]{1,15}$',
    '^/opt/google/chrome/chrome(?!.*--type=)',
    '\\p{L}+',
    '',
  ])('accepts %j', (source) => {
    const re = compileRegex(source);
    expect(re).toBeInstanceOf(RegExp);
    expect(re.flags).toContain('u');
    expect(re.source).toBe(new RegExp(source, 'u').source);
  });

  it('returns a regex that matches as ECMAScript would, unanchored', () => {
    const re = compileRegex('spark-');
    expect(re.test('/usr/bin/spark-submit --master yarn')).toBe(true);
    expect(re.test('sparkle')).toBe(false);
    expect(compileRegex('^sshd$').test('sshd: user@pts/0')).toBe(false);
  });

  it('accepts quadratic patterns: on 15-byte comms and 4 KiB command lines they stay cheap', () => {
    expect(() => compileRegex('a.*b')).not.toThrow();
    expect(() => compileRegex('\\s+$')).not.toThrow();
  });
});

describe('compileRegex: catastrophic backtracking is refused', () => {
  it.each([
    ['(a+)+$', /exponential/],
    ['(x+x+)+y', /exponential/],
    ['(a|a)*b', /exponential/],
    ['(a*)*b', /exponential/],
    ['(\\w+\\s?)*$', /exponential/],
    ['^(([a-z])+.)+[A-Z]([a-z])+$', /exponential/],
    ['.*.*.*=.*', /polynomial \(degree [3-9]\)/],
    ['\\d+\\d+\\d+\\d+x', /polynomial \(degree [3-9]\)/],
  ])('refuses %j', (source, kind) => {
    const e = regexError(source);
    expect(e.message).toMatch(/can backtrack catastrophically/);
    expect(e.message).toMatch(kind);
    // The message shows an attack string so the operator can see the problem.
    expect(e.message).toMatch(/e\.g\. on /);
    expect(e.hint).toMatch(/nested or adjacent repetition/);
  });

  it('gives the same verdict every time (fixed seed, cached)', () => {
    const first = regexError('(a|a)*b').message;
    expect(regexError('(a|a)*b').message).toBe(first);
  });
});

describe('compileRegex: invalid and oversized patterns', () => {
  it.each(['([', '(', 'a{2,1}', '*a', '(?<n>a)(?<n>b)', '\\k<nope>', '\\p{NotAProperty}', '\\q'])(
    'refuses %j, which does not compile',
    (source) => {
      const e = regexError(source);
      expect(e.message).toMatch(/does not compile/);
      expect(e.message).not.toMatch(/^Invalid regular expression/);
      expect(e.hint).toMatch(/u flag/);
    },
  );

  it(`refuses patterns longer than ${MAX_REGEX_LENGTH} characters`, () => {
    const e = regexError('a'.repeat(MAX_REGEX_LENGTH + 1));
    expect(e.message).toBe(`regex is ${MAX_REGEX_LENGTH + 1} characters long`);
    expect(e.hint).toMatch(String(MAX_REGEX_LENGTH));
    expect(() => compileRegex('a'.repeat(MAX_REGEX_LENGTH))).not.toThrow();
  });

  it('refuses an oversized pattern before compiling or analysing it', () => {
    const start = performance.now();
    expect(() => compileRegex(`(a+)+${'b'.repeat(100_000)}`)).toThrow(/characters long/);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

describe('compileRegex: analysis time is bounded per document', () => {
  // Patterns recheck cannot decide quickly (bounded repetitions too large
  // for its automaton, so it fuzzes until the clock stops it).
  const slow = [6, 7, 8].map((i) => `(?:a{1,21${i}}b{1,200}){1,200}$`);
  const [firstSlow = ''] = slow;

  it('a pattern not shown safe in time is refused, and later ones share what is left', () => {
    const budget = newRegexBudget(500, 300);
    const messages = slow.map((p) => {
      try {
        compileRegex(p, budget);
        return 'accepted';
      } catch (e) {
        return (e as Error).message;
      }
    });
    expect(messages[0]).toMatch(/could not be shown safe within/);
    // recheck looks at the clock now and then, so the first may overrun its
    // 300 ms by enough (on a loaded machine) to leave the second nothing.
    expect(messages[1]).toMatch(/could not be shown safe within|was not analysed/);
    expect(messages[2]).toMatch(/was not analysed: the document's .* budget .* is spent/);
    expect(budget.leftMs).toBeLessThanOrEqual(0);
  });

  it('a timed-out pattern is not remembered as refused: with time it is analysed again', () => {
    expect(() => compileRegex(firstSlow, newRegexBudget(200, 200))).toThrow(/within/);
    const budget = newRegexBudget(200, 200);
    expect(() => compileRegex(firstSlow, budget)).toThrow(/within/);
    expect(budget.leftMs).toBeLessThan(50);
  });
});
