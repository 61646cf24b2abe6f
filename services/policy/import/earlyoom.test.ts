import { describe, it, expect } from 'vitest';
import { loadPolicyValue } from '../load.ts';
import type { Condition, Rule } from '../schema.ts';
import { posixToEcma } from './earlyoom.ts';
import { importPolicy, ImportError, type ImportResult } from './index.ts';
import { GiB, makeSnapshot, outcomeOf, run as evaluate } from '../../../test/helpers/evaluator.ts';

function run(text: string, name = 'command line'): ImportResult {
  const r = importPolicy('earlyoom', [{ name, text }]);
  const check = loadPolicyValue(r.document);
  expect(check.issues.filter((i) => i.severity !== 'warning')).toEqual([]);
  expect(check.ok).toBe(true);
  return r;
}

const rules = (r: ImportResult): Rule[] => r.document.spec.rules ?? [];
const when = (r: ImportResult): Condition[] => rules(r).map((x) => x.when);
// earlyoom counts a host without swap as 0% free, so its swap limits always
// hold there: the importer writes noSwap: fire.
const both = (mem: string | number, swap: string | number): Condition => ({
  all: [{ available: { below: mem } }, { swap: { below: swap, noSwap: 'fire' } }],
});

describe('earlyoom: the default behaviour', () => {
  for (const cmdline of ['earlyoom', '/usr/bin/earlyoom', '']) {
    it(`"${cmdline}": SIGKILL at 5% and 5%, SIGTERM at 10% and 10%`, () => {
      const r = run(cmdline);
      expect(rules(r)).toEqual([
        {
          name: 'earlyoom-sigkill',
          scope: 'global',
          when: both('5%', '5%'),
          action: {
            kill: {
              victim: 'lowest-priority',
              among: 'process',
              grace: '0s',
              repeat: 'until-clear',
            },
          },
          cooldown: '0s',
        },
        {
          name: 'earlyoom-sigterm',
          scope: 'global',
          when: both('10%', '10%'),
          action: {
            kill: {
              victim: 'lowest-priority',
              among: 'process',
              grace: '10s',
              repeat: 'until-clear',
            },
          },
          cooldown: '0s',
        },
      ]);
      expect(r.document.spec.dryRun).toBeUndefined();
      expect(r.document.spec.protect).toBeUndefined();
      expect(r.untranslated).toEqual([]);
    });
  }

  it('writes noSwap: fire on every swap trigger, as earlyoom counts no swap as 0% free', () => {
    const swaps = (c: Condition): unknown[] => [
      ...(c.swap ? [c.swap] : []),
      ...[...(c.all ?? []), ...(c.any ?? [])].flatMap(swaps),
    ];
    for (const cmdline of ['earlyoom', 'earlyoom -m 20,18 -s 15,3', 'earlyoom -S 1048576,262144']) {
      const found = when(run(cmdline)).flatMap(swaps);
      expect(found.length).toBeGreaterThan(0);
      for (const s of found) expect(s).toMatchObject({ noSwap: 'fire' });
    }
    const canonical = loadPolicyValue(run('earlyoom').document).canonical;
    expect(canonical?.spec.rules.map((x) => x.when)).toEqual([
      { all: [{ available: { below: '5%' } }, { swap: { below: '5%', noSwap: 'fire' } }] },
      { all: [{ available: { below: '10%' } }, { swap: { below: '10%', noSwap: 'fire' } }] },
    ]);
  });

  it('on a host without swap, the rules fire once available memory is low, as in earlyoom', () => {
    const policy = loadPolicyValue(run('earlyoom').document).policy;
    if (!policy) throw new Error('the imported policy does not compile');
    const snapshot = (memAvailable: number) =>
      makeSnapshot({ host: { memTotal: 16 * GiB, memAvailable, swapTotal: 0, swapFree: 0 } });
    const fired = (memAvailable: number) =>
      ['earlyoom-sigkill', 'earlyoom-sigterm'].filter(
        (name) => outcomeOf(evaluate(policy, snapshot(memAvailable)), name).fired.length > 0,
      );
    expect(fired(GiB / 2)).toEqual(['earlyoom-sigkill', 'earlyoom-sigterm']);
    expect(fired(GiB)).toEqual(['earlyoom-sigterm']);
    expect(fired(4 * GiB)).toEqual([]);
  });

  it('explains where oomfleet differs', () => {
    const notes = run('earlyoom').notes.join('\n');
    expect(notes).toMatch(/highest oom_score .* lowest-priority ranks by oom_score_adj first/);
    expect(notes).toMatch(/"at or below" the limits; oomfleet triggers hold strictly below them/);
    expect(notes).toMatch(/user mem total/);
    expect(notes).toMatch(/the SIGKILL rule picks another process/);
    expect(notes).toMatch(/no kill rate limit/);
  });
});

describe('earlyoom: thresholds', () => {
  it('-m PERCENT sets KILL_PERCENT to half, -m TERM,KILL both', () => {
    expect(when(run('earlyoom -m 20'))).toEqual([both('10%', '5%'), both('20%', '10%')]);
    expect(when(run('earlyoom -m 20,18 -s 15,3'))).toEqual([both('18%', '3%'), both('20%', '15%')]);
    expect(when(run('earlyoom -m 15 -s 5'))).toEqual([both('7.5%', '2.5%'), both('15%', '5%')]);
  });

  it('-s 100 ignores swap for SIGTERM (earlyoom compares "at or below")', () => {
    expect(when(run('earlyoom -s 100'))).toEqual([
      both('5%', '50%'),
      { available: { below: '10%' } },
    ]);
    expect(when(run('earlyoom -s 100,100'))).toEqual([
      { available: { below: '5%' } },
      { available: { below: '10%' } },
    ]);
  });

  it('-M and -S are sizes in KiB; with -m or -s too, the lower wins (both must hold)', () => {
    expect(when(run('earlyoom -M 2097152 -S 1048576,262144'))).toEqual([
      both('1Gi', '256Mi'),
      both('2Gi', '1Gi'),
    ]);
    expect(when(run('earlyoom -m 10 -M 1048576'))).toEqual([
      {
        all: [
          { available: { below: '5%' } },
          { available: { below: '512Mi' } },
          { swap: { below: '5%', noSwap: 'fire' } },
        ],
      },
      {
        all: [
          { available: { below: '10%' } },
          { available: { below: '1Gi' } },
          { swap: { below: '10%', noSwap: 'fire' } },
        ],
      },
    ]);
  });

  it('a KILL limit of 0 means nothing left at all: below 1Ki, as /proc/meminfo counts KiB', () => {
    expect(when(run('earlyoom -m 10,0 -s 10,0'))).toEqual([both('1Ki', '1Ki'), both('10%', '10%')]);
  });

  it('equal TERM and KILL limits: earlyoom always sends SIGKILL, one rule', () => {
    const r = run('earlyoom -m 20,20 -s 10,10');
    expect(rules(r).map((x) => [x.name, x.action.kill?.grace])).toEqual([
      ['earlyoom-sigkill', '0s'],
    ]);
    expect(r.notes).toContain(
      'the SIGTERM and SIGKILL limits are equal, so earlyoom always sends SIGKILL: one rule',
    );
  });

  it('raises a TERM limit below KILL to KILL, as earlyoom does', () => {
    const r = run('earlyoom -m 10,20');
    expect(when(r)).toEqual([both('20%', '5%'), both('20%', '10%')]);
    expect(r.notes.join('\n')).toMatch(
      /-m 10,20: the SIGTERM value is below the SIGKILL value; earlyoom raises it to 20/,
    );
  });
});

describe('earlyoom: /etc/default/earlyoom', () => {
  // The example of earlyoom's README ("Configuration file"), in the shape of earlyoom.default.
  const file = `# Default settings for earlyoom. This file is sourced by /bin/sh from
# /etc/init.d/earlyoom or by systemd from earlyoom.service.

# Options to pass to earlyoom
EARLYOOM_ARGS="-r 0"

# Examples:
# EARLYOOM_ARGS="-m 15 -s 5"
EARLYOOM_ARGS="-m 5 -r 60 --avoid '(^|/)(init|Xorg|ssh)$' --prefer '(^|/)(java|chromium)$'"
`;

  it('uses the last EARLYOOM_ARGS assignment, with its quoting', () => {
    const r = run(file, '/etc/default/earlyoom');
    expect(when(r)).toEqual([both('2.5%', '5%'), both('5%', '10%')]);
    for (const x of rules(r)) {
      expect(x.action.kill?.prefer).toEqual(['(^|/)(java|chromium)$']);
      expect(x.action.kill?.avoid).toEqual(['(^|/)(init|Xorg|ssh)$']);
    }
    expect(r.document.metadata.description).toBe(
      "Imported from earlyoom: earlyoom -m 5 -r 60 --avoid '(^|/)(init|Xorg|ssh)$' --prefer '(^|/)(java|chromium)$'",
    );
    expect(r.notes.join('\n')).toMatch(/-r 60 only changes earlyoom's memory reports/);
    expect(r.notes.join('\n')).toMatch(
      /add or subtract 300 from oom_score; oomfleet prefer\/avoid are strict tiers/,
    );
  });

  it('reads the stock file (-r 0) as the defaults', () => {
    expect(when(run('# comment\nEARLYOOM_ARGS="-r 0"\n', '/etc/default/earlyoom'))).toEqual([
      both('5%', '5%'),
      both('10%', '10%'),
    ]);
  });
});

describe('earlyoom: options', () => {
  it('--dryrun, --sort-by-rss, --ignore and -w', () => {
    const r = run("earlyoom --dryrun --sort-by-rss --ignore '^(sshd|Xorg)$' -w 30");
    expect(r.document.spec.dryRun).toBe(true);
    expect(r.document.spec.protect).toEqual([{ process: '^(sshd|Xorg)$' }]);
    expect(rules(r).map((x) => [x.action.kill?.victim, x.action.kill?.grace])).toEqual([
      ['largest', '0s'],
      ['largest', '30s'],
    ]);
  });

  it('reports what has no oomfleet equivalent', () => {
    const r = run(
      'earlyoom -g -n -N /usr/local/bin/notify.sh -P /usr/local/bin/pre.sh --ignore-root-user',
    );
    expect(r.untranslated.map((u) => [u.source, u.item])).toEqual([
      ['command line', '-g'],
      ['command line', '-n'],
      ['command line', '-N /usr/local/bin/notify.sh'],
      ['command line', '-P /usr/local/bin/pre.sh'],
      ['command line', '--ignore-root-user'],
    ]);
    expect(r.untranslated[0]?.reason).toMatch(/not a process group/);
    expect(r.untranslated[4]?.reason).toMatch(/cannot match processes by user/);
    expect(rules(r)).toHaveLength(2);
  });

  it('notes flags that change nothing the policy decides', () => {
    const notes = run('earlyoom -i -k -d -p --syslog -r 3600').notes.join('\n');
    expect(notes).toMatch(/-i is ignored by earlyoom itself since v1\.7/);
    expect(notes).toMatch(/-k is ignored by earlyoom itself since v1\.2/);
    expect(notes).toMatch(/-d only changes earlyoom's logging/);
    expect(notes).toMatch(/--syslog only changes earlyoom's logging/);
    expect(notes).toMatch(/-p raises earlyoom's own priority/);
  });

  it('parses options as getopt_long does', () => {
    const r = run("ExecStart=/usr/bin/earlyoom -m15 -dn --pref='^chrom' --avoid=^sshd$ -s 5,1");
    expect(when(r)).toEqual([both('7.5%', '1%'), both('15%', '5%')]);
    expect(rules(r)[0]?.action.kill).toMatchObject({ prefer: ['^chrom'], avoid: ['^sshd$'] });
    expect(r.untranslated.map((u) => u.item)).toEqual(['-n']);
  });

  it('translates POSIX bracket classes, and leaves out regexes that could stall the agent', () => {
    expect(posixToEcma('^[[:alpha:]][[:digit:]_-]*$')).toBe('^[a-zA-Z][0-9_-]*$');
    expect(posixToEcma('[]a\\]')).toBe('[\\]a\\\\]');
    const r = run("earlyoom --ignore '^[[:lower:]]+d$' --avoid '(a+)+$'");
    expect(r.document.spec.protect).toEqual([{ process: '^[a-z]+d$' }]);
    expect(rules(r)[0]?.action.kill?.avoid).toBeUndefined();
    expect(r.untranslated).toEqual([
      {
        source: 'command line',
        item: '--avoid (a+)+$',
        reason: expect.stringMatching(/backtrack catastrophically/) as unknown,
      },
    ]);
  });
});

describe('earlyoom: input it cannot read', () => {
  const fails = (text: string, message: RegExp, hint?: RegExp): void => {
    let err: unknown;
    try {
      importPolicy('earlyoom', [{ name: 'command line', text }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImportError);
    expect((err as ImportError).message).toMatch(message);
    if (hint) expect((err as ImportError).hint).toMatch(hint);
  };

  it('refuses values earlyoom refuses', () => {
    fails('earlyoom -m 100', /^-m 100: value 100 exceeds limit 99$/, /-m 10,5/);
    fails('earlyoom -s 101', /-s 101: value 101 exceeds limit 100/);
    fails('earlyoom -m ten', /-m ten: not a number/);
    fails('earlyoom -m -5', /below zero/);
    fails('earlyoom -m 0,0', /both SIGTERM and SIGKILL values are zero/);
    fails('earlyoom -M 10,5,2', /trailing garbage/);
    fails('earlyoom -r -1', /-r -1: not a number/);
  });

  it('refuses unknown options, missing arguments and extra words', () => {
    fails('earlyoom -x', /unknown earlyoom option -x/, /earlyoom --help/);
    fails('earlyoom --prefered foo', /unknown earlyoom option --prefered/);
    fails('earlyoom --i', /--i is ambiguous \(--ignore, --ignore-root-user\)/);
    fails('earlyoom -m', /-m needs an argument/, /-m PERCENT\[,KILL_PERCENT\]/);
    fails('earlyoom --avoid', /--avoid needs an argument/);
    fails('earlyoom --dryrun=yes', /--dryrun takes no argument/);
    fails('earlyoom -m 10 chrome', /does not understand the argument "chrome"/, /quote regexes/);
    fails("earlyoom --avoid '^(a|b", /unterminated ' quote/);
  });

  it('refuses a command line that sets no policy', () => {
    fails('earlyoom -h', /-h makes earlyoom print its help and exit/);
    fails('earlyoom -v', /-v makes earlyoom print its version and exit/);
  });

  it('takes exactly one command line', () => {
    expect(() =>
      importPolicy('earlyoom', [
        { name: 'a', text: 'earlyoom' },
        { name: 'b', text: 'earlyoom' },
      ]),
    ).toThrow(/earlyoom takes one command line, got 2 inputs/);
  });
});
