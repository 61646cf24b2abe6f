// Importer for earlyoom (github.com/rfjakob/earlyoom) command lines.
//
// Follows, in rfjakob/earlyoom:
// - MANPAGE.md: every option and its default. earlyoom sends SIGTERM when
//   available memory AND free swap are both at or below their PERCENT, and
//   SIGKILL when both are at or below their KILL_PERCENT (default PERCENT/2);
//   defaults -m 10 -s 10 (SIGKILL at 5 and 5); -M/-S are sizes in KiB, and
//   with both -m and -M (or -s and -S) the lower value wins; -s 100 ignores
//   swap; the victim is the highest oom_score (--sort-by-rss: largest RSS);
//   --prefer/--avoid/--ignore match /proc/PID/comm with a POSIX extended
//   regex; -w (default 10s) is how long earlyoom waits for a victim to die.
// - README.md: /etc/default/earlyoom sets EARLYOOM_ARGS="…".
// - main.c: the getopt option string and long options, -v/-h exit, extra
//   arguments are refused, the term/kill merging of -m/-M and -s/-S;
//   msg.c parse_term_kill_tuple: "TERM[,KILL]", KILL defaults to TERM/2, a
//   TERM below KILL is raised to KILL, both zero is refused, -m is at most 99
//   and -s at most 100.
//
// Mapping: two global rules, evaluated in order. The SIGKILL rule comes
// first: all of available and swap below the KILL limits, kill with grace 0s.
// Then the SIGTERM rule: all of them below the TERM limits, kill with a grace
// of -w (SIGTERM, then SIGKILL if the victim is still alive). Both kill one
// process at a time until memory recovers (repeat: until-clear, cooldown 0s),
// as earlyoom does. Victim: lowest-priority (oom_score_adj, then oom_score,
// the kernel's ranking earlyoom reads), or largest with --sort-by-rss.
import { compileRegex, RegexError } from '../regex.ts';
import type { Condition, KillAction, Protection, Rule } from '../schema.ts';
import { formatDuration, formatPercent, formatSize } from '../units.ts';
import type { ImportContext, ImportInput, Translation } from './index.ts';

/** A threshold: a percentage (of MemTotal / SwapTotal) and/or a size in KiB; both → the lower wins. */
interface Threshold {
  percent?: number;
  kib?: number;
}

interface Levels {
  term: Threshold;
  kill: Threshold;
}

interface Options {
  mem: Levels;
  swap: Levels;
  waitSec: number;
  sortByRss: boolean;
  dryRun: boolean;
  prefer?: string;
  avoid?: string;
  ignore?: string;
}

const SHORT_WITH_ARG = new Set(['m', 's', 'M', 'S', 'N', 'P', 'r', 'w']);
const SHORT_FLAGS = new Set(['k', 'i', 'n', 'g', 'd', 'v', 'p', 'h']);
const LONG_WITH_ARG = ['prefer', 'avoid', 'ignore'];
const LONG_FLAGS = ['dryrun', 'ignore-root-user', 'syslog', 'sort-by-rss', 'help'];

export function importEarlyoom(inputs: readonly ImportInput[], ctx: ImportContext): Translation {
  const [input, extra] = inputs;
  if (!input || extra)
    ctx.fail(
      `earlyoom takes one command line, got ${inputs.length} inputs`,
      'pass either the command line (e.g. "earlyoom -m 10 -s 10") or /etc/default/earlyoom, not both',
    );
  const argv = commandLine(input, ctx);
  const source = input.name;
  const o = parseArgs(argv, source, ctx);

  const victim = o.sortByRss ? 'largest' : 'lowest-priority';
  if (!o.sortByRss)
    ctx.note(
      "earlyoom kills the process with the highest oom_score (size plus oom_score_adj); oomfleet's lowest-priority ranks by oom_score_adj first, then oom_score, so a higher oom_score_adj always goes first",
    );
  const prefer = regexOption(o.prefer, '--prefer', source, ctx);
  const avoid = regexOption(o.avoid, '--avoid', source, ctx);
  const kill = (graceSec: number): KillAction => {
    const k: KillAction = { victim, among: 'process' };
    if (prefer) k.prefer = [prefer];
    if (avoid) k.avoid = [avoid];
    k.grace = formatDuration(Math.round(graceSec * 1000));
    k.repeat = 'until-clear';
    return k;
  };
  if (o.prefer !== undefined || o.avoid !== undefined)
    ctx.note(
      'earlyoom --prefer/--avoid add or subtract 300 from oom_score; oomfleet prefer/avoid are strict tiers, and match the command line as well as comm',
    );

  const rules: Rule[] = [];
  const killWhen = condition(o.mem.kill, o.swap.kill);
  const termWhen = condition(o.mem.term, o.swap.term);
  const same = JSON.stringify(killWhen) === JSON.stringify(termWhen);
  if (killWhen)
    rules.push({
      name: 'earlyoom sigkill',
      scope: 'global',
      when: killWhen,
      action: { kill: kill(0) },
      cooldown: '0s',
    });
  else
    ctx.note(
      'the SIGKILL limits are 0: earlyoom sends SIGKILL only when nothing at all is available; oomfleet cannot express 0 and writes no SIGKILL rule',
    );
  if (termWhen && !same)
    rules.push({
      name: 'earlyoom sigterm',
      scope: 'global',
      when: termWhen,
      action: { kill: kill(o.waitSec) },
      cooldown: '0s',
    });
  if (same)
    ctx.note(
      'the SIGTERM and SIGKILL limits are equal, so earlyoom always sends SIGKILL: one rule',
    );
  if (killWhen && termWhen && !same)
    ctx.note(
      'earlyoom escalates its one victim from SIGTERM to SIGKILL when memory reaches the KILL limits; in oomfleet a victim still inside its SIGTERM grace is not chosen again, so the SIGKILL rule picks another process (when both limits are crossed in the same tick only the SIGKILL rule kills: one kill per target per tick)',
    );

  const protect: Protection[] = [];
  const ignore = regexOption(o.ignore, '--ignore', source, ctx);
  if (ignore) protect.push({ process: ignore });

  ctx.note(
    'earlyoom compares with "at or below" the limits; oomfleet triggers hold strictly below them',
  );
  ctx.note(
    'earlyoom -m is a share of "user mem total" (MemAvailable + AnonPages, since v1.8); oomfleet available.below is a share of MemTotal',
  );
  ctx.note(
    'earlyoom polls 10 times a second when memory is short (less often otherwise); oomfleet evaluates every spec.interval and faster as memory runs short',
  );
  ctx.note(
    'earlyoom has no kill rate limit; the default spec.killBudget of oomfleet (10 kills a minute) applies',
  );
  return {
    spec: { ...(o.dryRun ? { dryRun: true } : {}), ...(protect.length ? { protect } : {}), rules },
    description: `Imported from earlyoom: ${['earlyoom', ...argv.map(shellQuote)].join(' ')}`,
  };
}

// ---- the command line ----

/** The argv earlyoom would get: a command line, or EARLYOOM_ARGS from /etc/default/earlyoom. */
function commandLine(input: ImportInput, ctx: ImportContext): string[] {
  const lines = input.text.split(/\r?\n/).filter((l) => !/^\s*#/.test(l));
  const assignments = lines.filter((l) => /^\s*(export\s+)?EARLYOOM_ARGS=/.test(l));
  const last = assignments[assignments.length - 1];
  if (last !== undefined) {
    // The shell (or systemd's EnvironmentFile=) unquotes the value; earlyoom.service then splits it.
    const value = shellWords(
      last.replace(/^\s*(export\s+)?EARLYOOM_ARGS=/, ''),
      input.name,
      ctx,
    ).join(' ');
    return shellWords(value, input.name, ctx);
  }
  const words = shellWords(lines.join('\n').replace(/^\s*ExecStart=-?/, ''), input.name, ctx);
  const [first] = words;
  if (first !== undefined && /(^|\/)earlyoom$/.test(first)) return words.slice(1);
  return words;
}

/** POSIX shell word splitting with '…', "…" and backslash quoting (no expansions). */
function shellWords(s: string, source: string, ctx: ImportContext): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end === -1)
        ctx.fail(
          `${source}: unterminated ' quote`,
          "close the single quote, e.g. --avoid '^(sshd|Xorg)$'",
        );
      cur += s.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < s.length && s.charAt(j) !== '"'; j++) {
        if (s.charAt(j) === '\\' && '"\\$`\n'.includes(s.charAt(j + 1))) j++;
        cur += s.charAt(j);
      }
      if (j >= s.length) ctx.fail(`${source}: unterminated " quote`, 'close the double quote');
      i = j;
      inWord = true;
    } else if (c === '\\') {
      if (s.charAt(i + 1) !== '\n') {
        cur += s.charAt(i + 1);
        inWord = true;
      }
      i++;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

function shellQuote(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`;
}

/** getopt_long as earlyoom calls it: clustered short flags, -m10 or -m 10, --opt=val or --opt val, unique prefixes. */
function parseArgs(argv: string[], source: string, ctx: ImportContext): Options {
  const o: Options = {
    mem: { term: { percent: 10 }, kill: { percent: 5 } },
    swap: { term: { percent: 10 }, kill: { percent: 5 } },
    waitSec: 10,
    sortByRss: false,
    dryRun: false,
  };
  let memPct: Levels | undefined;
  let memKib: Levels | undefined;
  let swapPct: Levels | undefined;
  let swapKib: Levels | undefined;
  const seen = new Map<string, number>();

  const apply = (opt: string, val: string | undefined): void => {
    const flag = opt.length === 1 ? `-${opt}` : `--${opt}`;
    seen.set(flag, (seen.get(flag) ?? 0) + 1);
    const v = val ?? '';
    const report = (reason: string): void => {
      ctx.untranslated(source, val === undefined ? flag : `${flag} ${v}`, reason);
    };
    switch (opt) {
      case 'm':
        memPct = tuple(v, 99, flag, ctx);
        break;
      case 's':
        swapPct = tuple(v, 100, flag, ctx);
        break;
      case 'M':
        memKib = tuple(v, Infinity, flag, ctx);
        break;
      case 'S':
        swapKib = tuple(v, Infinity, flag, ctx);
        break;
      case 'w':
        o.waitSec = number(
          v,
          flag,
          ctx,
          'give the seconds to wait for a victim to exit, e.g. -w 10',
        );
        if (o.waitSec > 300) {
          ctx.note(`${flag} ${v}: oomfleet's longest kill grace is 5m`);
          o.waitSec = 300;
        }
        break;
      case 'r':
        number(
          v,
          flag,
          ctx,
          'give the report interval in seconds, e.g. -r 3600, or 0 to turn reports off',
        );
        ctx.note(`${flag} ${v} only changes earlyoom's memory reports and was ignored`);
        break;
      case 'd':
      case 'syslog':
        ctx.note(`${flag} only changes earlyoom's logging and was ignored`);
        break;
      case 'k':
        ctx.note('-k is ignored by earlyoom itself since v1.2');
        break;
      case 'i':
        ctx.note('-i is ignored by earlyoom itself since v1.7');
        break;
      case 'p':
        ctx.note(
          "-p raises earlyoom's own priority; the oomfleet agent is never a victim, and its priority is set by its service unit",
        );
        break;
      case 'n':
        report(
          'oomfleet sends no D-Bus desktop notifications; every kill is reported to the control plane and by `oomfleet agent events`',
        );
        break;
      case 'N':
      case 'P':
        report(
          `oomfleet runs no scripts ${opt === 'N' ? 'after' : 'before'} a kill; every kill is reported to the control plane instead`,
        );
        break;
      case 'g':
        report(
          'oomfleet kills one process (among: process) or one whole cgroup (among: cgroup), not a process group',
        );
        break;
      case 'ignore-root-user':
        report(
          'oomfleet cannot match processes by user; protect them by name (protect: process) or by cgroup instead',
        );
        break;
      case 'dryrun':
        o.dryRun = true;
        break;
      case 'sort-by-rss':
        o.sortByRss = true;
        break;
      case 'prefer':
      case 'avoid':
      case 'ignore':
        if (o[opt] !== undefined)
          ctx.note(`${flag} was given more than once; earlyoom uses the last one`);
        o[opt] = v;
        break;
      case 'v':
      case 'h':
      case 'help':
        ctx.fail(
          `${flag} makes earlyoom print ${opt === 'v' ? 'its version' : 'its help'} and exit; it sets no policy`,
          `remove ${flag}`,
        );
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      const rest = argv[i + 1];
      if (rest !== undefined) extraArgument(rest, source, ctx);
      break;
    }
    if (arg.startsWith('--')) {
      const [nameRaw, inline] = splitOnce(arg.slice(2), '=');
      const name = longOption(nameRaw, ctx);
      if (LONG_WITH_ARG.includes(name)) {
        const val = inline ?? argv[++i];
        if (val === undefined)
          ctx.fail(
            `--${name} needs an argument`,
            `write --${name} REGEX, e.g. --${name} '^(foo|bar)$'`,
          );
        apply(name, val);
      } else {
        if (inline !== undefined)
          ctx.fail(`--${name} takes no argument, got --${name}=${inline}`, `write just --${name}`);
        apply(name, undefined);
      }
    } else if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const c = arg.charAt(j);
        if (SHORT_WITH_ARG.has(c)) {
          const val = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
          if (val === undefined) ctx.fail(`-${c} needs an argument`, usageHint(c));
          apply(c, val);
          break;
        }
        if (!SHORT_FLAGS.has(c))
          ctx.fail(
            `unknown earlyoom option -${c}${arg.length > 2 ? ` (in ${arg})` : ''}`,
            'see earlyoom --help or its man page for the options',
          );
        apply(c, undefined);
      }
    } else extraArgument(arg, source, ctx);
  }
  for (const [flag, n] of seen)
    if (n > 1 && ['-m', '-s', '-M', '-S', '-w'].includes(flag))
      ctx.note(`${flag} was given ${n} times; earlyoom uses the last one`);

  o.mem = merge(memPct, memKib, o.mem);
  o.swap = merge(swapPct, swapKib, o.swap);
  return o;
}

function extraArgument(arg: string, source: string, ctx: ImportContext): never {
  return ctx.fail(
    `${source}: earlyoom does not understand the argument ${JSON.stringify(arg)}`,
    'every earlyoom setting is an option, e.g. -m 10 or --avoid REGEX; quote regexes that contain spaces',
  );
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i === -1 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

function longOption(name: string, ctx: ImportContext): string {
  const all = [...LONG_WITH_ARG, ...LONG_FLAGS];
  if (all.includes(name)) return name;
  const matches = all.filter((n) => n.startsWith(name));
  const [only] = matches;
  if (only !== undefined && matches.length === 1 && name !== '') return only;
  return ctx.fail(
    matches.length > 1
      ? `--${name} is ambiguous (${matches.map((m) => `--${m}`).join(', ')})`
      : `unknown earlyoom option --${name}`,
    `earlyoom's long options are ${all.map((n) => `--${n}`).join(', ')}`,
  );
}

function usageHint(c: string): string {
  if (c === 'm' || c === 's') return `write -${c} PERCENT[,KILL_PERCENT], e.g. -${c} 10,5`;
  if (c === 'M' || c === 'S') return `write -${c} SIZE_KiB[,KILL_SIZE_KiB], e.g. -${c} 1048576`;
  return `write -${c} VALUE`;
}

function number(v: string, flag: string, ctx: ImportContext, hint: string): number {
  if (!/^\s*\+?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v))
    ctx.fail(`${flag} ${v}: not a number`, hint);
  return Number(v);
}

/** msg.c parse_term_kill_tuple. */
function tuple(v: string, upper: number, flag: string, ctx: ImportContext): Levels {
  const hint = usageHint(flag.slice(1));
  const parts = v.split(',');
  if (parts.length > 2)
    ctx.fail(`${flag} ${v}: trailing garbage ",${parts.slice(2).join(',')}"`, hint);
  const part = (p: string): number => {
    if (/^\s*-/.test(p)) ctx.fail(`${flag} ${v}: value ${p} below zero`, hint);
    const n = number(p, flag, ctx, hint);
    if (n > upper) ctx.fail(`${flag} ${v}: value ${n} exceeds limit ${upper}`, hint);
    return n;
  };
  let term = part(parts[0] ?? '');
  const kill = parts[1] === undefined ? term / 2 : part(parts[1]);
  if (term < kill) {
    ctx.note(
      `${flag} ${v}: the SIGTERM value is below the SIGKILL value; earlyoom raises it to ${kill}`,
    );
    term = kill;
  }
  if (term === 0 && kill === 0)
    ctx.fail(`${flag} ${v}: both SIGTERM and SIGKILL values are zero`, hint);
  const isKib = flag === '-M' || flag === '-S';
  return isKib
    ? { term: { kib: term }, kill: { kib: kill } }
    : { term: { percent: term }, kill: { percent: kill } };
}

/** -m with -M (or -s with -S): the lower of the two wins, i.e. both must hold. */
function merge(pct: Levels | undefined, kib: Levels | undefined, dflt: Levels): Levels {
  if (!pct && !kib) return dflt;
  return {
    term: { ...pct?.term, ...kib?.term },
    kill: { ...pct?.kill, ...kib?.kill },
  };
}

// ---- conditions ----

/**
 * The triggers of one level, or undefined when it can never hold. A limit of
 * 0 means "nothing at all left": /proc/meminfo counts in KiB, so that is
 * "below 1Ki". A swap limit of 100% always holds and is left out.
 */
function condition(mem: Threshold, swap: Threshold): Condition | undefined {
  const parts: Condition[] = [];
  const add = (
    t: Threshold,
    make: (below: number | string) => Condition,
    skipFull: boolean,
  ): void => {
    if (t.percent !== undefined && !(skipFull && t.percent >= 100))
      parts.push(make(t.percent === 0 ? '1Ki' : formatPercent(t.percent)));
    if (t.kib !== undefined) parts.push(make(t.kib === 0 ? '1Ki' : sizeOfKib(t.kib)));
  };
  add(mem, (below) => ({ available: { below } }), false);
  add(swap, (below) => ({ swap: { below, noSwap: 'fire' } }), true);
  const [only] = parts;
  if (!only) return undefined;
  return parts.length === 1 ? only : { all: parts };
}

/** KiB → 512Mi when a binary unit fits exactly, else plain bytes. */
function sizeOfKib(kib: number): number | string {
  const bytes = Math.round(kib * 1024);
  const s = formatSize(bytes);
  return /^\d+$/.test(s) ? bytes : s;
}

// ---- regexes ----

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'a-zA-Z',
  digit: '0-9',
  alnum: 'a-zA-Z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: ' \\t\\n\\r\\f\\v',
  blank: ' \\t',
  xdigit: '0-9A-Fa-f',
  punct: '!-\\/:-@\\[-`{-~',
};

/**
 * earlyoom compiles its regexes as POSIX extended regexes; oomfleet's are
 * ECMAScript. They agree except inside brackets, where POSIX has [:class:]
 * names and a backslash is an ordinary character.
 */
export function posixToEcma(re: string): string {
  let out = '';
  for (let i = 0; i < re.length; i++) {
    const c = re.charAt(i);
    if (c === '\\') {
      out += re.slice(i, i + 2);
      i++;
      continue;
    }
    if (c !== '[') {
      out += c;
      continue;
    }
    let j = i + 1;
    let body = '';
    if (re.charAt(j) === '^') {
      body += '^';
      j++;
    }
    if (re.charAt(j) === ']') {
      body += '\\]';
      j++;
    }
    for (; j < re.length && re.charAt(j) !== ']'; j++) {
      const cls = /^\[:([a-z]+):\]/.exec(re.slice(j));
      if (cls?.[1] !== undefined) {
        const js = POSIX_CLASSES[cls[1]];
        if (js === undefined)
          throw new RegexError(
            `unknown POSIX class [:${cls[1]}:]`,
            'use a bracket expression such as [a-z]',
          );
        body += js;
        j += cls[0].length - 1;
      } else if ('\\[]/'.includes(re.charAt(j))) body += `\\${re.charAt(j)}`;
      else body += re.charAt(j);
    }
    if (j >= re.length)
      throw new RegexError(
        `unterminated bracket expression in ${JSON.stringify(re)}`,
        'close the [ with ]',
      );
    out += `[${body}]`;
    i = j;
  }
  return out;
}

function regexOption(
  v: string | undefined,
  flag: string,
  source: string,
  ctx: ImportContext,
): string | undefined {
  if (v === undefined) return undefined;
  try {
    const js = posixToEcma(v);
    compileRegex(js);
    if (js !== v) ctx.note(`${flag} ${v} is written ${js} as an ECMAScript regex`);
    return js;
  } catch (e) {
    if (!(e instanceof RegexError)) throw e;
    ctx.untranslated(source, `${flag} ${v}`, `${e.message} (${e.hint})`);
    return undefined;
  }
}
