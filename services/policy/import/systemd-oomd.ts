// Importer for systemd-oomd: oomd.conf plus the ManagedOOM*= settings of units.
//
// Follows, in systemd/systemd:
// - man/oomd.conf.xml, oomd.conf(5): [OOM] SwapUsedLimit= (default 90%: when
//   the share of memory used and the share of swap used both exceed it, act on
//   descendant cgroups using over 5% of swap, most swap first),
//   DefaultMemoryPressureLimit= (default 60%, the share of a 10s window in
//   which all tasks were delayed: PSI `full` avg10),
//   DefaultMemoryPressureDurationSec= (default 30s; 0 means the default),
//   PrekillHookTimeoutSec=. Drop-ins (oomd.conf.d/*.conf) are applied after
//   the main file, sorted by file name; the last assignment wins.
// - man/systemd.resource-control.xml: ManagedOOMSwap= and
//   ManagedOOMMemoryPressure= (auto|kill), ManagedOOMMemoryPressureLimit= (0%
//   means the oomd.conf default), ManagedOOMMemoryPressureDurationSec= (v257;
//   empty means the default, otherwise at least 1s), ManagedOOMPreference=
//   (none|avoid|omit; not applied to the cgroups below the unit's).
// - man/systemd-oomd.service.xml: only descendant cgroups of a monitored unit
//   are candidates, only leaves or memory.oom.group=1 ones; the chosen cgroup
//   gets SIGKILL; swap-based actions are ignored on hosts without swap.
// - src/oom/oomd-manager.h and oomd-manager.c: swap is polled every 150ms and
//   pressure every 1s; after a pressure kill there is a 15s post-action delay,
//   after a swap kill none; the swap check is MemAvailable below and SwapFree
//   below (100% − SwapUsedLimit) of their totals; src/oom/oomd.conf names the
//   v247 spelling SwapUsedLimitPercent=.
// - man/systemd.slice.xml and the Slice= entry of systemd.resource-control(5)
//   for where a unit's cgroup is (see unitCgroup below).
//
// Mapping: every unit with ManagedOOMSwap=kill or ManagedOOMMemoryPressure=kill
// becomes one kill rule, among: cgroup, whose scope is the cgroups strictly
// below the unit's (`/system.slice/*/**`): oomfleet kills among the cgroups
// that match a rule's scope (docs/policy.md), and systemd-oomd never kills the
// monitored unit itself. Slices and user managers (the inner nodes systemd
// creates) are avoided, so a leaf goes first, as in systemd-oomd. Swap: all of
// available and swap below (100 − SwapUsedLimit)%, cooldown 0s. Pressure:
// pressure full avg10 above the limit for the duration, cooldown 15s.
// ManagedOOMPreference=avoid becomes an avoid regex on the unit's cgroup path,
// omit a protection.
import { compileGlob, globCoveredBy } from '../glob.ts';
import type { KillAction, Protection, Rule } from '../schema.ts';
import { formatDuration, formatPercent } from '../units.ts';
import type { ImportContext, ImportInput, Translation } from './index.ts';
import { INNER_NODES } from './oomd.ts';

interface Entry {
  file: string;
  line: number;
  section: string;
  key: string;
  value: string;
}

interface Unit {
  name: string;
  user: boolean;
  settings: Map<string, Entry>;
  slice?: Entry;
}

const UNIT_RE =
  /^[^/]+\.(service|slice|scope|socket|mount|swap|automount|target|timer|path|device)$/;
/** Sections in which systemd reads resource-control settings. */
const CGROUP_SECTIONS = new Set(['Slice', 'Service', 'Scope', 'Socket', 'Mount', 'Swap']);
const OOM_KEYS = new Set([
  'ManagedOOMSwap',
  'ManagedOOMMemoryPressure',
  'ManagedOOMMemoryPressureLimit',
  'ManagedOOMMemoryPressureDurationSec',
  'ManagedOOMPreference',
]);
/** Resource-control settings near OOM handling that this importer deliberately leaves alone. */
const RESOURCE_KEYS = new Set([
  'MemoryMin',
  'MemoryLow',
  'MemoryHigh',
  'MemoryMax',
  'MemorySwapMax',
  'MemoryZSwapMax',
  'OOMPolicy',
  'OOMScoreAdjust',
]);
const USER_MANAGER = '/user.slice/user-*.slice/user@*.service';
const MAX_PRESSURE_FOR_MS = 3_600_000;

interface Defaults {
  swapUsedLimit: number;
  pressureLimit: number;
  pressureDurationMs: number;
}

export function importSystemdOomd(inputs: readonly ImportInput[], ctx: ImportContext): Translation {
  const confs: { input: ImportInput; dropIn: boolean }[] = [];
  const unitFiles: { input: ImportInput; unit: string; user: boolean; dropIn: boolean }[] = [];
  for (const input of inputs) {
    const c = classify(input, ctx);
    if (c.kind === 'conf') confs.push({ input, dropIn: c.dropIn });
    else if (c.kind === 'unit') unitFiles.push({ input, ...c });
    else
      ctx.untranslated(
        input.name,
        'OOM ruleset (.oomrule)',
        'systemd v261 rulesets and OOMRules= are not imported yet; translate the rule by hand into spec.rules',
      );
  }

  const defaults: Defaults = { swapUsedLimit: 90, pressureLimit: 60, pressureDurationMs: 30_000 };
  // Main files first, then drop-ins by file name: the last assignment wins.
  const byDropInThenName = <T extends { input: ImportInput; dropIn: boolean }>(
    a: T,
    b: T,
  ): number =>
    Number(a.dropIn) - Number(b.dropIn) ||
    (a.dropIn ? basename(a.input.name).localeCompare(basename(b.input.name)) : 0);
  for (const { input } of [...confs].sort(byDropInThenName)) readOomdConf(input, defaults, ctx);

  // Units in the order they first appear; each unit's files main first, then drop-ins by name.
  const filesOf = new Map<string, typeof unitFiles>();
  for (const f of unitFiles) {
    const key = `${f.user ? 'user:' : ''}${f.unit}`;
    filesOf.set(key, [...(filesOf.get(key) ?? []), f]);
  }
  const units: Unit[] = [];
  for (const files of filesOf.values()) {
    const [first] = files;
    if (!first) continue;
    const unit: Unit = { name: first.unit, user: first.user, settings: new Map<string, Entry>() };
    for (const f of [...files].sort(byDropInThenName)) readUnit(f.input, unit, ctx);
    units.push(unit);
  }

  const rules: Rule[] = [];
  const prefs: { unit: Unit; glob: string; value: 'avoid' | 'omit'; entry: Entry }[] = [];
  for (const unit of units) {
    const glob = unitCgroup(unit.name, unit.user, unit.slice?.value);
    const managed = rulesForUnit(unit, glob, defaults, ctx);
    if (managed.length > 0 || unit.settings.size > 0)
      ctx.note(`unit ${unit.name}${unit.user ? ' (user manager)' : ''} is cgroup ${glob}`);
    rules.push(...managed);
    const pref = unit.settings.get('ManagedOOMPreference');
    if (pref) {
      const v = pref.value.trim();
      if (v === 'avoid' || v === 'omit') prefs.push({ unit, glob, value: v, entry: pref });
      else if (v !== 'none' && v !== '')
        ctx.fail(
          `${at(pref)}: ManagedOOMPreference=${v}`,
          'ManagedOOMPreference= takes none, avoid or omit',
        );
    }
  }
  const protect = applyPreferences(prefs, rules, ctx);

  if (rules.length === 0)
    ctx.note(
      'no unit sets ManagedOOMSwap=kill or ManagedOOMMemoryPressure=kill: systemd-oomd monitors nothing, and this policy has no rules',
    );
  else
    ctx.note(
      'systemd-oomd polls swap every 150ms and pressure every 1s; oomfleet evaluates every spec.interval (1s by default) and faster as memory runs short',
    );
  return {
    spec: { ...(protect.length > 0 ? { protect } : {}), rules },
    description: `Imported from systemd-oomd: ${inputs.map((i) => i.name).join(', ')}`,
  };
}

// ---- files ----

function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

type Kind =
  | { kind: 'conf'; dropIn: boolean }
  | { kind: 'unit'; unit: string; user: boolean; dropIn: boolean }
  | { kind: 'oomrule' };

function classify(input: ImportInput, ctx: ImportContext): Kind {
  const parts = input.name.split('/');
  const base = parts[parts.length - 1] ?? '';
  const dir = parts[parts.length - 2] ?? '';
  // Units of a user manager live in .../systemd/user/ (or ~/.config/systemd/user/).
  const user = /(^|\/)systemd\/user(\.control)?\//.test(input.name);
  // A unit's drop-in directory first: drop-ins are often named oomd.conf too.
  if (dir.endsWith('.d') && UNIT_RE.test(dir.slice(0, -2)))
    return { kind: 'unit', unit: dir.slice(0, -2), user, dropIn: true };
  if (base === 'oomd.conf') return { kind: 'conf', dropIn: false };
  if (dir === 'oomd.conf.d') return { kind: 'conf', dropIn: true };
  if (base.endsWith('.oomrule')) return { kind: 'oomrule' };
  if (UNIT_RE.test(base)) return { kind: 'unit', unit: base, user, dropIn: false };
  if (/^\s*\[OOM\]\s*$/m.test(input.text)) return { kind: 'conf', dropIn: false };
  return ctx.fail(
    `cannot tell what ${input.name} is`,
    'name the file oomd.conf (or put it in oomd.conf.d/), after its unit (user@.service, -.slice), or as a drop-in (user@.service.d/override.conf)',
  );
}

/** systemd.syntax(7): [Section] headers, Key=value lines, # and ; comments, trailing \ continues a line. */
function parseIni(input: ImportInput, ctx: ImportContext): Entry[] {
  const lines = input.text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const out: Entry[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let text = (lines[i] ?? '').trim();
    if (text === '' || text.startsWith('#') || text.startsWith(';')) continue;
    while (text.endsWith('\\') && i + 1 < lines.length) {
      i++;
      const next = (lines[i] ?? '').trim();
      if (next.startsWith('#') || next.startsWith(';')) continue;
      text = `${text.slice(0, -1)} ${next}`;
    }
    const sec = /^\[([^\]]+)\]$/.exec(text);
    if (sec?.[1] !== undefined) {
      section = sec[1];
      continue;
    }
    const eq = text.indexOf('=');
    if (eq <= 0)
      ctx.fail(
        `${input.name}:${lineNo}: cannot read ${JSON.stringify(text)}`,
        'systemd configuration lines are Key=value under a [Section] header',
      );
    const entry = {
      file: input.name,
      line: lineNo,
      section,
      key: text.slice(0, eq).trim(),
      value: text.slice(eq + 1).trim(),
    };
    if (!section) {
      ctx.untranslated(
        `${input.name}:${lineNo}`,
        text,
        'outside any [Section]; systemd ignores it',
      );
      continue;
    }
    out.push(entry);
  }
  return out;
}

const at = (e: Entry): string => `${e.file}:${e.line}`;

function readOomdConf(input: ImportInput, d: Defaults, ctx: ImportContext): void {
  for (const e of parseIni(input, ctx)) {
    const item = `${e.key}=${e.value}`;
    if (e.section !== 'OOM') {
      ctx.untranslated(
        at(e),
        item,
        `oomd.conf has only an [OOM] section; systemd-oomd ignores [${e.section}]`,
      );
      continue;
    }
    switch (e.key) {
      case 'SwapUsedLimitPercent':
      case 'SwapUsedLimit':
        if (e.key === 'SwapUsedLimitPercent')
          ctx.note(`${at(e)}: SwapUsedLimitPercent= is the systemd 247 name of SwapUsedLimit=`);
        d.swapUsedLimit = e.value === '' ? 90 : percent(e, ctx);
        break;
      case 'DefaultMemoryPressureLimit':
        d.pressureLimit = e.value === '' ? 60 : percent(e, ctx);
        break;
      case 'DefaultMemoryPressureDurationSec': {
        const ms = e.value === '' ? 0 : timespan(e, ctx);
        if (ms > 0 && ms < 1000)
          ctx.fail(
            `${at(e)}: ${item} is shorter than 1s`,
            'use 0 (the default, 30s) or at least 1s',
          );
        d.pressureDurationMs = ms === 0 ? 30_000 : ms;
        break;
      }
      case 'PrekillHookTimeoutSec':
        if (e.value !== '' && timespan(e, ctx) > 0)
          ctx.untranslated(
            at(e),
            item,
            'oomfleet runs no hooks before a kill; the agent reports every kill to the control plane instead',
          );
        break;
      default:
        ctx.untranslated(at(e), item, 'not an oomd.conf setting; systemd-oomd ignores it');
    }
  }
}

function readUnit(input: ImportInput, unit: Unit, ctx: ImportContext): void {
  for (const e of parseIni(input, ctx)) {
    const item = `${e.key}=${e.value}`;
    if (OOM_KEYS.has(e.key)) {
      if (CGROUP_SECTIONS.has(e.section)) unit.settings.set(e.key, e);
      else
        ctx.untranslated(
          at(e),
          item,
          `systemd reads ${e.key}= in [Slice], [Service], [Scope], [Socket], [Mount] or [Swap], and ignores it in [${e.section}]`,
        );
    } else if (e.key === 'Slice' && CGROUP_SECTIONS.has(e.section)) {
      if (e.value !== '' && !e.value.endsWith('.slice'))
        ctx.fail(
          `${at(e)}: Slice=${e.value} is not a slice unit`,
          'write the slice unit name, e.g. Slice=workload.slice',
        );
      if (e.value === '') delete unit.slice;
      else unit.slice = e;
    } else if (e.key === 'OOMRules') {
      ctx.untranslated(
        at(e),
        item,
        'systemd v261 OOM rulesets are not imported yet; translate the rule by hand into spec.rules',
      );
    } else if (RESOURCE_KEYS.has(e.key)) {
      ctx.untranslated(
        at(e),
        item,
        'a resource-control setting, not a systemd-oomd one; not imported (write it under spec.cgroups if oomfleet should manage it)',
      );
    }
  }
}

// ---- values ----

/** systemd's parse_permyriad: "60%", "60.5%", "605‰", "6050‱" → percent. */
function percent(e: Entry, ctx: ImportContext): number {
  const m = /^(\d+(?:\.\d+)?)(%|‰|‱)$/.exec(e.value);
  if (!m?.[1])
    return ctx.fail(
      `${at(e)}: ${e.key}=${e.value} is not a percentage`,
      `write it with a % sign, e.g. ${e.key}=60%`,
    );
  const v = Number(m[1]) / (m[2] === '%' ? 1 : m[2] === '‰' ? 10 : 100);
  if (v > 100) ctx.fail(`${at(e)}: ${e.key}=${e.value} is above 100%`, 'use 0% to 100%');
  return v;
}

const TIME_UNITS: Record<string, number> = {
  us: 0.001,
  usec: 0.001,
  µs: 0.001,
  μs: 0.001,
  ms: 1,
  msec: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

/** systemd.time(7) time spans: "30s", "1min 30s", "2m30s", a bare number is seconds. */
function timespan(e: Entry, ctx: ImportContext): number {
  let rest = e.value.trim();
  let total = 0;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Zµμ]*)\s*/.exec(rest);
    const factor = m ? TIME_UNITS[m[2] || 's'] : undefined;
    if (!m?.[1] || factor === undefined)
      return ctx.fail(
        `${at(e)}: ${e.key}=${e.value} is not a time span`,
        `write e.g. ${e.key}=30s or ${e.key}=1min 30s`,
      );
    total += Number(m[1]) * factor;
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

function managed(unit: Unit, key: string, ctx: ImportContext): boolean {
  const e = unit.settings.get(key);
  if (!e || e.value === '' || e.value === 'auto') return false;
  if (e.value === 'kill') return true;
  return ctx.fail(`${at(e)}: ${key}=${e.value}`, `${key}= takes auto or kill`);
}

// ---- unit → cgroup ----

/** foo-bar.slice → /foo.slice/foo-bar.slice; -.slice → the root; "user-.slice" (a prefix drop-in) → every user-*.slice. */
function sliceCgroup(slice: string, root: string): string {
  const base = slice.slice(0, -'.slice'.length);
  if (base === '-') return root || '/';
  const prefix = base.endsWith('-');
  const parts = (prefix ? base.slice(0, -1) : base).split('-');
  const path = parts.map((_, i) => `${parts.slice(0, i + 1).join('-')}.slice`);
  if (prefix) path.push(`${base}*.slice`);
  return `${root}/${path.join('/')}`;
}

/**
 * Where systemd puts a unit's cgroup. Slices nest by their dashes; other
 * units go into their Slice=, else: user@UID.service into user-UID.slice
 * (logind), session-N.scope into a user-*.slice, init.scope at the top,
 * instances of a template foo@.service into system-foo.slice, everything
 * else into system.slice. A template without instance (foo@.service) or a
 * prefix drop-in (foo-.service) stands for all its units (foo@*.service,
 * foo-*.service). Units of a user manager go below user@*.service.
 */
export function unitCgroup(unit: string, user: boolean, slice?: string): string {
  const dot = unit.lastIndexOf('.');
  const stem = unit.slice(0, dot);
  const type = unit.slice(dot + 1);
  const root = user ? USER_MANAGER : '';
  if (type === 'slice') return sliceCgroup(unit, root);
  const name = stem.endsWith('@') || stem.endsWith('-') ? `${stem}*.${type}` : unit;
  if (slice) return slice === '-.slice' ? `${root}/${name}` : `${sliceCgroup(slice, root)}/${name}`;
  if (user) return `${root}/**/${name}`;
  const um = /^user@(\d*)\.service$/.exec(unit);
  if (um) {
    const uid = um[1] || '*';
    return `/user.slice/user-${uid}.slice/user@${uid}.service`;
  }
  if (/^session-.+\.scope$/.test(unit)) return `/user.slice/user-*.slice/${unit}`;
  if (unit === 'init.scope') return '/init.scope';
  const tmpl = /^([^@]+)@/.exec(stem);
  if (tmpl?.[1]) return `/system.slice/system-${tmpl[1].replace(/-/g, '\\x2d')}.slice/${name}`;
  return `/system.slice/${name}`;
}

// ---- rules ----

function rulesForUnit(unit: Unit, glob: string, d: Defaults, ctx: ImportContext): Rule[] {
  const rules: Rule[] = [];
  const label = unit.name === '-.slice' ? 'root slice' : unit.name;
  const scope = `${glob === '/' ? '' : glob}/*/**`;
  const kill = (): KillAction => ({ victim: 'largest', among: 'cgroup', avoid: [...INNER_NODES] });
  const leafNote = (): void => {
    ctx.note(
      'systemd-oomd kills only leaf cgroups (or ones with memory.oom.group=1) below the monitored unit; the rules consider every cgroup below it and avoid slices and user managers, the inner nodes systemd creates, so a leaf goes first',
    );
  };

  if (managed(unit, 'ManagedOOMSwap', ctx)) {
    const free = formatPercent(100 - d.swapUsedLimit);
    if (d.swapUsedLimit >= 100)
      ctx.note(
        `${unit.name}: SwapUsedLimit=100% never triggers, so ManagedOOMSwap=kill becomes no rule`,
      );
    else {
      rules.push({
        name: `swap ${label}`,
        scope,
        when: { all: [{ available: { below: free } }, { swap: { below: free } }] },
        action: { kill: kill() },
        cooldown: '0s',
      });
      ctx.note(
        'systemd-oomd kills the descendant using the most swap (among those using over 5% of it); oomfleet has no swap ranking and kills the largest descendant',
      );
      leafNote();
    }
  }

  if (managed(unit, 'ManagedOOMMemoryPressure', ctx)) {
    const le = unit.settings.get('ManagedOOMMemoryPressureLimit');
    const own = le && le.value !== '' ? percent(le, ctx) : 0;
    const limit = own > 0 ? own : d.pressureLimit;
    const de = unit.settings.get('ManagedOOMMemoryPressureDurationSec');
    let ms = d.pressureDurationMs;
    if (de && de.value !== '') {
      ms = timespan(de, ctx);
      if (ms < 1000)
        ctx.fail(
          `${at(de)}: ManagedOOMMemoryPressureDurationSec=${de.value} is shorter than 1s`,
          'leave it empty for the default, or use at least 1s',
        );
    }
    if (ms > MAX_PRESSURE_FOR_MS) {
      ctx.note(
        `${unit.name}: a pressure duration of ${formatDuration(ms)} is cut to oomfleet's longest, 1h`,
      );
      ms = MAX_PRESSURE_FOR_MS;
    }
    if (limit >= 100)
      ctx.note(
        `${unit.name}: a memory pressure limit of 100% can never be exceeded, so ManagedOOMMemoryPressure=kill becomes no rule`,
      );
    else {
      rules.push({
        name: `memory pressure ${label}`,
        scope,
        when: {
          pressure: { kind: 'full', window: 'avg10', above: limit, for: formatDuration(ms) },
        },
        action: { kill: kill() },
        cooldown: '15s',
      });
      ctx.note(
        "systemd-oomd judges the pressure of the monitored unit's own cgroup and then kills its descendant with the most reclaim activity; oomfleet judges each descendant's own memory.pressure and kills the largest of those above the limit",
      );
      ctx.note(
        'systemd-oomd also requires reclaim activity in the last 30s before a pressure kill; oomfleet has no such trigger',
      );
      ctx.note(
        "systemd-oomd's 15s post-action delay after a pressure kill holds for all monitored units together; oomfleet's cooldown (15s) is per rule",
      );
      leafNote();
    }
  }
  if (unit.user && rules.length > 0)
    ctx.note(
      `${unit.name} belongs to a user manager; its rules cover the units of every user (${USER_MANAGER})`,
    );
  return rules;
}

function applyPreferences(
  prefs: { unit: Unit; glob: string; value: 'avoid' | 'omit'; entry: Entry }[],
  rules: Rule[],
  ctx: ImportContext,
): Protection[] {
  const protect: Protection[] = [];
  for (const p of prefs) {
    const g = compileGlob(p.glob);
    const covering = rules.filter((r) => globCoveredBy(g, compileGlob(r.scope)));
    const item = `ManagedOOMPreference=${p.value}`;
    if (p.unit.user)
      ctx.note(
        `${at(p.entry)}: systemd-oomd honours ${item} of a user's unit only when it judges that user's own manager (not for swap, nor for -.slice); oomfleet applies it everywhere`,
      );
    if (covering.length === 0) {
      ctx.note(
        `${at(p.entry)}: ${item} on ${p.unit.name} has no effect here: no rule may kill ${p.glob}`,
      );
      continue;
    }
    // A protection may not contain a rule's scope: that rule could then kill nothing.
    const protectable =
      p.value === 'omit' && !rules.some((r) => globCoveredBy(compileGlob(r.scope), g));
    if (protectable) {
      protect.push({ cgroup: p.glob });
      ctx.note(
        `${at(p.entry)}: ${item} on ${p.unit.name} becomes a protection of ${p.glob}, which also covers the cgroups below it (systemd omits the unit's cgroup only)`,
      );
    } else {
      const re = ctx.pathRegex(p.glob);
      for (const r of covering) {
        const k = r.action.kill;
        if (k && !(k.avoid ?? []).includes(re)) k.avoid = [...(k.avoid ?? []), re];
      }
      if (p.value === 'omit')
        ctx.note(
          `${at(p.entry)}: ${item} on ${p.unit.name} becomes avoid: a protection of ${p.glob} would also shield the cgroups below it, which systemd-oomd may still kill`,
        );
    }
  }
  return protect;
}
