// Importer for oomd (github.com/facebookincubator/oomd) JSON configs.
//
// Follows, in facebookincubator/oomd:
// - docs/configuration.md: a config is a list of rulesets; a detector group
//   fires when every detector in it returns CONTINUE, a ruleset fires when any
//   group does, and then runs its action chain until an action returns STOP
//   (a kill plugin that killed returns STOP).
// - docs/core_plugins.md: each plugin's arguments, defaults and meaning
//   (pressure_above: 10s pressure above threshold for duration;
//   pressure_rising_beyond: 1m pressure above it for duration and 10s above it;
//   memory_above: a bare number is MB; swap_free: free:total swap below
//   threshold_pct; kill plugins: post_action_delay=15, dry=false,
//   recursive=false, SIGKILL to every process of the chosen cgroup).
// - docs/drop_in_configs.md and docs/ruleset_cgroup.md: ruleset-level keys.
// - src/oomd/config/JsonConfigParser.cpp: comments are allowed; argument
//   values are strings, numbers or booleans.
// - src/oomd/plugins/PressureAbove.cpp and util/Fs.h (the `full` PSI line),
//   SwapFree.cpp (never fires on a host without swap), Main.cpp (--interval 5).
//
// Mapping. oomfleet kills among the cgroups that match a rule's scope and on
// which its condition holds (docs/policy.md, "Choosing a victim"), so every
// kill target of an action becomes one rule whose scope is that target:
// `system.slice/*` → scope /system.slice/*, among: cgroup. A recursive target
// (`workload.slice/`, recursive=true) becomes /workload.slice/** with slices
// and user managers avoided, which approximates oomd's walk down to a leaf.
// The detector groups become the rule's condition (any of the groups, all of
// a group's detectors): for each target, the host-wide groups and those whose
// cgroups contain the target. oomd judges pressure and usage on the
// detectors' own cgroups, oomfleet on each candidate, and a note says so.
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { compileGlob, globCoveredBy, GlobError } from '../glob.ts';
import type { Condition, KillAction, Rule } from '../schema.ts';
import { formatDuration, formatSize } from '../units.ts';
import type { ImportContext, ImportInput, Translation } from './index.ts';

type Args = Record<string, string>;

interface Plugin {
  name: string;
  args: Args;
}

interface Group {
  name: string;
  detectors: Plugin[];
}

interface Ruleset {
  name: string;
  /** "FILE: ruleset "NAME"", for messages. */
  at: string;
  groups: Group[];
  actions: Plugin[];
  postActionDelay?: number;
}

interface Target {
  glob: string;
  recursive: boolean;
}

interface Kill {
  plugin: string;
  targets: Target[];
  dry: boolean;
  delaySec: number;
}

type Detector =
  | { kind: 'cond'; cond: Condition; watches?: string[] }
  | { kind: 'skip' }
  | { kind: 'never'; why: string }
  | { kind: 'drop'; reason: string };

/** The inner cgroups systemd creates (slices, user managers); leaves are below them. */
export const INNER_NODES = ['\\.slice$', '/user@[0-9]+\\.service$'];

const DEFAULT_POST_ACTION_DELAY_SEC = 15;

const VICTIM_NOTES: Record<string, string> = {
  kill_by_memory_size_or_growth:
    'kill_by_memory_size_or_growth kills the cgroup with the largest memory.current − memory.low, or the fastest grower when none holds size_threshold% of the total; oomfleet kills the largest (victim: largest)',
  kill_by_swap_usage:
    'kill_by_swap_usage kills the cgroup using the most swap; oomfleet has no swap ranking and kills the largest',
  kill_by_pressure:
    'kill_by_pressure kills the cgroup generating the most memory pressure; oomfleet kills the largest of the cgroups whose own pressure fires the rule',
  kill_by_pg_scan:
    'kill_by_pg_scan kills the cgroup with the highest page-scan rate; oomfleet has no page-scan ranking and kills the largest',
};

export function importOomd(inputs: readonly ImportInput[], ctx: ImportContext): Translation {
  const rules: Rule[] = [];
  for (const input of inputs) {
    for (const rs of parseConfig(input, ctx)) rules.push(...translateRuleset(rs, ctx));
  }
  if (rules.length > 0)
    ctx.note(
      'oomd runs its rulesets every 5s by default (--interval, not part of the config); oomfleet evaluates every spec.interval (1s by default), so durations are judged more finely',
    );
  return {
    spec: { rules },
    description: `Imported from oomd: ${inputs.map((i) => i.name).join(', ')}`,
  };
}

// ---- parsing ----

type Json = unknown;
const isObj = (v: Json): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function parseConfig(input: ImportInput, ctx: ImportContext): Ruleset[] {
  const root = parseJsonWithComments(input, ctx);
  const file = input.name;
  if (!isObj(root))
    ctx.fail(
      `${file}: an oomd config is a JSON object, not ${Array.isArray(root) ? 'an array' : typeof root}`,
      'oomd configs look like {"rulesets": [{"name": …, "detectors": […], "actions": […]}]}',
    );
  const rulesets = root.rulesets;
  if (!Array.isArray(rulesets))
    ctx.fail(
      `${file}: has no "rulesets" list`,
      'is this an oomd config? oomd reads {"rulesets": [...]} (see docs/configuration.md)',
    );
  if (Array.isArray(root.prekill_hooks))
    root.prekill_hooks.forEach((h, i) => {
      ctx.untranslated(
        `${file}: prekill_hooks[${i}]`,
        isObj(h) && typeof h.name === 'string' ? h.name : JSON.stringify(h),
        'oomfleet runs no hooks before a kill; the agent reports every kill to the control plane instead',
      );
    });
  for (const key of Object.keys(root))
    if (!['rulesets', 'prekill_hooks', 'version'].includes(key))
      ctx.note(`${file}: top-level key "${key}" is not an oomd setting and was ignored`);
  return rulesets.map((rs, i) => parseRuleset(file, rs, i, ctx));
}

function parseRuleset(file: string, rs: Json, index: number, ctx: ImportContext): Ruleset {
  if (!isObj(rs))
    ctx.fail(
      `${file}: rulesets[${index}] is not an object`,
      'each ruleset is {"name": …, "detectors": […], "actions": […]}',
    );
  const name = typeof rs.name === 'string' && rs.name.trim() ? rs.name : `ruleset ${index + 1}`;
  const at = `${file}: ruleset "${name}"`;
  const list = (key: string): Json[] => {
    const v = rs[key];
    if (v === undefined) return [];
    if (!Array.isArray(v))
      ctx.fail(
        `${at}: "${key}" is not a list`,
        `write "${key}": [ … ] as in docs/configuration.md`,
      );
    return v;
  };
  const groups = list('detectors').map((g, gi): Group => {
    if (!Array.isArray(g))
      ctx.fail(
        `${at}: detectors[${gi}] is not a detector group`,
        'a detector group is a list: ["group name", {"name": "pressure_above", "args": {…}}, …]',
      );
    const named = typeof g[0] === 'string';
    const gname = named ? (g[0] as string) : `group ${gi + 1}`;
    const detectors = (named ? g.slice(1) : g).map((p, pi) =>
      parsePlugin(p, `${at}, detector group "${gname}", detector ${pi + 1}`, ctx),
    );
    return { name: gname, detectors };
  });
  const actions = list('actions').map((p, ai) => parsePlugin(p, `${at}, action ${ai + 1}`, ctx));

  const dropIn = rs['drop-in'];
  if (isObj(dropIn) && Object.values(dropIn).some((v) => v === true))
    ctx.untranslated(
      at,
      `"drop-in": ${JSON.stringify(dropIn)}`,
      'oomfleet has no runtime drop-in configs; change the policy and roll out a new version instead',
    );
  if (rs.cgroup !== undefined || rs.xattr_filter !== undefined)
    ctx.untranslated(
      at,
      `ruleset cgroup ${JSON.stringify(rs.cgroup ?? '')}${rs.xattr_filter !== undefined ? ` with xattr_filter ${JSON.stringify(rs.xattr_filter)}` : ''}`,
      'oomfleet has no per-cgroup copies of a rule; the plugins are translated with their own cgroup arguments',
    );
  if (rs.prekill_hook_timeout !== undefined)
    ctx.untranslated(
      at,
      `"prekill_hook_timeout": ${JSON.stringify(rs.prekill_hook_timeout)}`,
      'oomfleet runs no prekill hooks',
    );
  if (rs['silence-logs'] !== undefined)
    ctx.note(`${at}: "silence-logs" only changes oomd's logging and was ignored`);
  const delay = rs.post_action_delay;
  let postActionDelay: number | undefined;
  if (delay !== undefined)
    postActionDelay = wholeSeconds(
      typeof delay === 'string' || typeof delay === 'number'
        ? String(delay)
        : JSON.stringify(delay),
      `${at}: post_action_delay`,
      ctx,
    );
  return {
    name,
    at,
    groups,
    actions,
    ...(postActionDelay !== undefined ? { postActionDelay } : {}),
  };
}

function parsePlugin(p: Json, where: string, ctx: ImportContext): Plugin {
  if (!isObj(p) || typeof p.name !== 'string')
    ctx.fail(`${where} has no "name"`, 'each plugin is {"name": "pressure_above", "args": {…}}');
  const args: Args = {};
  const raw = p.args;
  if (raw !== undefined && !isObj(raw))
    ctx.fail(
      `${where} (${p.name}): "args" is not an object`,
      'write "args": {"cgroup": "system.slice", …}',
    );
  for (const [k, v] of Object.entries(raw ?? {})) {
    // jsoncpp's asString(): oomd accepts strings, numbers and booleans alike.
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
      args[k] = String(v);
    else
      ctx.fail(
        `${where} (${p.name}): argument "${k}" is ${Array.isArray(v) ? 'a list' : typeof v}`,
        'oomd plugin arguments are strings, numbers or booleans; lists of cgroups are comma-separated strings',
      );
  }
  return { name: p.name, args };
}

/** JSON as jsoncpp reads it for oomd: line and block comments, trailing commas. */
function parseJsonWithComments(input: ImportInput, ctx: ImportContext): Json {
  const errors: ParseError[] = [];
  const value: unknown = parseJsonc(input.text, errors, {
    allowTrailingComma: true,
    disallowComments: false,
  });
  const first = errors[0];
  if (!first) return value;
  const before = input.text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  return ctx.fail(
    `${input.name} is not valid JSON at line ${line} column ${column}: ${printParseErrorCode(first.error)}`,
    'oomd configs are JSON (comments allowed); check for a missing comma, quote or bracket there',
  );
}

// ---- argument values ----

function num(v: string, what: string, ctx: ImportContext, hint: string): number {
  if (!/^\s*\d+(\.\d+)?\s*$/.test(v))
    ctx.fail(`${what}: ${JSON.stringify(v)} is not a number`, hint);
  return Number(v);
}

function wholeSeconds(v: string, what: string, ctx: ImportContext): number {
  if (!/^\s*\d+\s*$/.test(v))
    ctx.fail(
      `${what}: ${JSON.stringify(v)} is not a whole number of seconds`,
      'oomd durations are whole seconds, e.g. "30"',
    );
  return Number(v);
}

function bool(args: Args, key: string, what: string, ctx: ImportContext): boolean {
  const v = args[key];
  if (v === undefined) return false;
  if (v === 'true' || v === 'True' || v === '1') return true;
  if (v === 'false' || v === 'False' || v === '0') return false;
  return ctx.fail(
    `${what}: ${key}=${JSON.stringify(v)} is not a boolean`,
    `write "${key}": true or "${key}": false`,
  );
}

/** oomd's comma-separated cgroup list → absolute oomfleet globs, or the first pattern that has no equivalent. */
function cgroupList(
  v: string,
  what: string,
  ctx: ImportContext,
): Target[] | { unsupported: string } {
  const out: Target[] = [];
  for (const raw of v.split(',')) {
    const s = raw.trim();
    if (s === '')
      ctx.fail(
        `${what}: empty cgroup in ${JSON.stringify(v)}`,
        'separate cgroups with a single comma, no spaces',
      );
    if (/[?[\]]/.test(s)) return { unsupported: s };
    const body = s.replace(/^\/+/, '').replace(/\/+$/, '');
    const glob = body === '' ? '/' : `/${body}`;
    try {
      compileGlob(glob);
    } catch (e) {
      if (e instanceof GlobError)
        ctx.fail(`${what}: cgroup ${JSON.stringify(s)}: ${e.message}`, e.hint);
      throw e;
    }
    // "system.slice/" is system.slice itself; only recursive=true walks below it.
    out.push({ glob, recursive: false });
  }
  return out;
}

/** memory_above / kill_by_swap_usage sizes: "1.5M 32K 512"; a bare number is MB; or "N%". */
function oomdSize(v: string): { bytes: number } | { percent: number } | undefined {
  const s = v.trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(s);
  if (pct?.[1] !== undefined) return { percent: Number(pct[1]) };
  if (/^\d+(\.\d+)?$/.test(s)) return { bytes: Math.round(Number(s) * 1024 ** 2) };
  let total = 0;
  for (const part of s.split(/\s+/)) {
    const m = /^(\d+(?:\.\d+)?)([KMGTkmgt])?$/.exec(part);
    if (!m?.[1]) return undefined;
    const unit = m[2] ? 'KMGT'.indexOf(m[2].toUpperCase()) + 1 : 0;
    total += Number(m[1]) * 1024 ** unit;
  }
  return { bytes: Math.round(total) };
}

// ---- detectors ----

function translateDetector(p: Plugin, where: string, ctx: ImportContext): Detector {
  const a = p.args;
  const what = `${where} (${p.name})`;
  const item = pluginText(p);
  if (a.ruleset_cgroup !== undefined)
    return {
      kind: 'drop',
      reason: 'ruleset_cgroup is relative to a ruleset cgroup, which oomfleet does not have',
    };
  switch (p.name) {
    case 'continue':
      return { kind: 'skip' };
    case 'stop':
      return { kind: 'never', why: 'it contains the stop plugin' };
    case 'dump_cgroup_overview':
      ctx.untranslated(
        where,
        item,
        'only logs a cgroup overview; it always returns CONTINUE, so leaving it out does not change when the group fires',
      );
      return { kind: 'skip' };
    case 'memory_reclaim':
      ctx.untranslated(
        where,
        item,
        'oomfleet has no reclaim-activity trigger; the group now fires without this check (oomd also required reclaim in the last duration seconds)',
      );
      return { kind: 'skip' };
    case 'pressure_above':
    case 'pressure_rising_beyond': {
      const resource = a.resource;
      if (resource === 'io')
        return { kind: 'drop', reason: 'oomfleet watches memory pressure only, not io' };
      if (resource !== 'memory')
        ctx.fail(
          `${what}: resource=${JSON.stringify(resource ?? '')}`,
          'resource is "memory" or "io"',
        );
      const cg = requiredCgroups(a, what, ctx);
      if ('unsupported' in cg) return unsupportedGlob(cg.unsupported);
      const threshold = num(
        a.threshold ?? '',
        `${what}: threshold`,
        ctx,
        'threshold is a percentage, e.g. "60"',
      );
      const sec = wholeSeconds(a.duration ?? '', `${what}: duration`, ctx);
      if (threshold >= 100)
        return { kind: 'never', why: `${p.name} threshold ${threshold} can never be exceeded` };
      const forD = sec > 0 ? { for: formatDuration(sec * 1000) } : {};
      const watches = cg.map((t) => t.glob);
      if (p.name === 'pressure_above')
        return {
          kind: 'cond',
          watches,
          cond: { pressure: { kind: 'full', window: 'avg10', above: threshold, ...forD } },
        };
      ctx.note(
        `pressure_rising_beyond also stops firing while the 10s pressure falls fast (fast_fall_ratio${a.fast_fall_ratio !== undefined ? `=${a.fast_fall_ratio}` : ', default 0.85'}); oomfleet cannot express that`,
      );
      return {
        kind: 'cond',
        watches,
        cond: {
          all: [
            { pressure: { kind: 'full', window: 'avg60', above: threshold, ...forD } },
            { pressure: { kind: 'full', window: 'avg10', above: threshold } },
          ],
        },
      };
    }
    case 'memory_above': {
      if (a.threshold_anon !== undefined)
        return {
          kind: 'drop',
          reason: 'oomfleet compares total memory usage, not anonymous memory alone',
        };
      if (a.threshold === undefined)
        ctx.fail(
          `${what}: needs threshold or threshold_anon`,
          'e.g. "threshold": "80%" or "threshold": "10G"',
        );
      const cg = requiredCgroups(a, what, ctx);
      if ('unsupported' in cg) return unsupportedGlob(cg.unsupported);
      const size = oomdSize(a.threshold);
      if (!size)
        ctx.fail(
          `${what}: threshold ${JSON.stringify(a.threshold)} is not a size`,
          'write e.g. "1.5G", "512M 32K" or "80%" (a bare number is MB)',
        );
      const sec = a.duration === undefined ? 0 : wholeSeconds(a.duration, `${what}: duration`, ctx);
      if (sec > 0)
        ctx.note(
          `${where}: memory_above also requires the usage to last ${sec}s; oomfleet's usage trigger has no duration`,
        );
      if ('percent' in size) {
        if (size.percent > 100)
          ctx.fail(`${what}: threshold ${a.threshold} is above 100%`, 'use 0% to 100%');
        if (size.percent === 100)
          return { kind: 'never', why: 'memory_above threshold 100% can never be exceeded' };
        return {
          kind: 'cond',
          watches: cg.map((t) => t.glob),
          cond: { usage: { of: 'ram', above: `${size.percent}%` } },
        };
      }
      return {
        kind: 'cond',
        watches: cg.map((t) => t.glob),
        cond: { usage: { above: humanSize(size.bytes) } },
      };
    }
    case 'swap_free': {
      const pct = num(
        a.threshold_pct ?? '',
        `${what}: threshold_pct`,
        ctx,
        'threshold_pct is a percentage of total swap, e.g. "15"',
      );
      const bps = a.swapout_bps_threshold;
      if (bps !== undefined && Number(bps) > 0)
        return {
          kind: 'drop',
          reason: 'oomfleet has no swap-out rate trigger (swapout_bps_threshold)',
        };
      if (pct === 0) return { kind: 'never', why: 'swap_free threshold_pct 0 never fires' };
      if (pct > 100) ctx.fail(`${what}: threshold_pct ${pct} is above 100`, 'use 0 to 100');
      return { kind: 'cond', cond: { swap: { below: `${pct}%` } } };
    }
    case 'exists':
      return { kind: 'drop', reason: 'oomfleet has no trigger on whether a cgroup exists' };
    case 'nr_dying_descendants':
      return { kind: 'drop', reason: 'oomfleet has no trigger on dying descendant cgroups' };
    case 'xattr_glob':
      return { kind: 'drop', reason: 'oomfleet does not read cgroup extended attributes' };
    case 'swap_above_memory_max':
      return {
        kind: 'drop',
        reason: "oomfleet has no trigger comparing a cgroup's swap with its memory.max",
      };
    case 'kernel_panic':
      return { kind: 'drop', reason: 'oomfleet never panics the kernel' };
    case 'adjust_cgroup':
      return {
        kind: 'drop',
        reason: 'oomfleet does not adjust the memory usage its victim ranking sees',
      };
    default:
      return { kind: 'drop', reason: `"${p.name}" is not an oomd detector oomfleet knows` };
  }
}

function requiredCgroups(
  a: Args,
  what: string,
  ctx: ImportContext,
): Target[] | { unsupported: string } {
  if (a.cgroup === undefined)
    ctx.fail(
      `${what}: has no cgroup`,
      'add "cgroup": "system.slice" (comma-separated, wildcards allowed; "/" is the whole host)',
    );
  return cgroupList(a.cgroup, `${what}: cgroup`, ctx);
}

function unsupportedGlob(pattern: string): Detector {
  return {
    kind: 'drop',
    reason: `cgroup pattern ${JSON.stringify(pattern)} uses ? or [...], which oomfleet globs do not have`,
  };
}

function pluginText(p: Plugin): string {
  return Object.keys(p.args).length ? `${p.name} ${JSON.stringify(p.args)}` : p.name;
}

// ---- actions ----

const KILL_PLUGINS = new Set([
  'kill_by_memory_size_or_growth',
  'kill_by_swap_usage',
  'kill_by_pressure',
  'kill_by_pg_scan',
]);
const KILL_ARGS_IGNORED = new Set([
  'debug',
  'kernelkill',
  'reap_memory',
  'log_kmemalloc_prekill',
  'cgroup_fs',
]);

function translateKill(
  p: Plugin,
  rs: Ruleset,
  where: string,
  ctx: ImportContext,
): Kill | undefined {
  const a = p.args;
  const what = `${where} (${p.name})`;
  const item = pluginText(p);
  if (p.name === 'kill_by_pressure' && a.resource !== 'memory') {
    if (a.resource === 'io') {
      ctx.untranslated(where, item, 'oomfleet ranks victims by memory, not io pressure');
      return undefined;
    }
    ctx.fail(
      `${what}: resource=${JSON.stringify(a.resource ?? '')}`,
      'resource is "memory" or "io"',
    );
  }
  if (a.cgroup === undefined) {
    if (a.ruleset_cgroup !== undefined) {
      ctx.untranslated(
        where,
        item,
        'ruleset_cgroup is relative to a ruleset cgroup, which oomfleet does not have',
      );
      return undefined;
    }
    ctx.fail(
      `${what}: has no cgroup`,
      'add "cgroup": "system.slice/*" (the cgroups that may be killed)',
    );
  }
  const targets = cgroupList(a.cgroup, `${what}: cgroup`, ctx);
  if ('unsupported' in targets) {
    ctx.untranslated(
      where,
      item,
      `cgroup pattern ${JSON.stringify(targets.unsupported)} uses ? or [...], which oomfleet globs do not have`,
    );
    return undefined;
  }
  const recursive = bool(a, 'recursive', what, ctx);
  const delaySec =
    a.post_action_delay !== undefined
      ? wholeSeconds(a.post_action_delay, `${what}: post_action_delay`, ctx)
      : (rs.postActionDelay ?? DEFAULT_POST_ACTION_DELAY_SEC);
  const dry = bool(a, 'dry', what, ctx);
  if (bool(a, 'always_continue', what, ctx))
    ctx.note(
      `${where}: always_continue=true lets oomd run the rest of the chain after a kill and skips the post-action delay; oomfleet keeps the cooldown`,
    );
  if (p.name === 'kill_by_swap_usage' && a.threshold !== undefined) {
    const size = oomdSize(a.threshold);
    const shown = !size
      ? a.threshold
      : 'percent' in size
        ? `${size.percent}% of swap`
        : formatSize(size.bytes);
    ctx.note(
      `${where}: kill_by_swap_usage only kills cgroups using more than ${shown} of swap; oomfleet cannot restrict candidates by swap use`,
    );
  }
  if (bool(a, 'biased_swap_kill', what, ctx))
    ctx.note(
      `${where}: biased_swap_kill ranks by swap use beyond protection; oomfleet kills the largest`,
    );
  const known = new Set([
    'cgroup',
    'recursive',
    'post_action_delay',
    'dry',
    'always_continue',
    'threshold',
    'biased_swap_kill',
    'resource',
    'size_threshold',
    'min_growth_ratio',
    'growing_size_percentile',
  ]);
  for (const k of Object.keys(a))
    if (!known.has(k) && !KILL_ARGS_IGNORED.has(k))
      ctx.note(`${where}: argument "${k}" of ${p.name} is not known and was ignored`);
  const note = VICTIM_NOTES[p.name];
  if (note) ctx.note(note);
  return { plugin: p.name, targets: targets.map((t) => ({ ...t, recursive })), dry, delaySec };
}

function translateActions(rs: Ruleset, ctx: ImportContext): Kill[] {
  const kills: Kill[] = [];
  for (const [i, p] of rs.actions.entries()) {
    const where = `${rs.at}, action ${i + 1}`;
    if (p.name === 'continue') continue;
    if (p.name === 'stop') {
      if (i < rs.actions.length - 1)
        ctx.note(
          `${where}: "stop" ends the action chain; the actions after it never run and were ignored`,
        );
      break;
    }
    if (KILL_PLUGINS.has(p.name)) {
      const k = translateKill(p, rs, where, ctx);
      if (k) kills.push(k);
      continue;
    }
    const reason =
      p.name === 'dump_cgroup_overview'
        ? 'only logs a cgroup overview'
        : p.name === 'systemd_restart'
          ? 'restarts a systemd service; oomfleet rules kill, throttle or notify'
          : p.name === 'kill_by_io_cost'
            ? 'oomfleet ranks victims by memory, not io cost'
            : /^senpai/.test(p.name)
              ? 'proactive reclaim by steering memory.high has no oomfleet equivalent (throttle lowers memory.high only while a rule fires)'
              : `"${p.name}" is not an oomd action oomfleet knows`;
    ctx.untranslated(where, pluginText(p), reason);
  }
  if (kills.length > 1)
    ctx.note(
      `${rs.at}: oomd runs a later kill action only when the earlier ones killed nothing; oomfleet writes each as its own rule, and each may kill when it fires`,
    );
  return kills;
}

// ---- rulesets → rules ----

interface GroupCond {
  cond: Condition;
  /** The cgroups its detectors judge; empty when they are all host-wide (swap_free). */
  watches: string[];
}

function translateRuleset(rs: Ruleset, ctx: ImportContext): Rule[] {
  const kills = translateActions(rs, ctx);
  const groups: GroupCond[] = [];
  const watched: { plugin: string; globs: string[] }[] = [];
  let dropped = 0;
  for (const g of rs.groups) {
    const where = `${rs.at}, detector group "${g.name}"`;
    const results = g.detectors.map((d, i) => ({
      d,
      r: translateDetector(d, `${where}, detector ${i + 1}`, ctx),
    }));
    const never = results.find((x) => x.r.kind === 'never');
    if (never && never.r.kind === 'never') {
      ctx.note(`${where}: ${never.r.why}, so the group never fires and was left out`);
      continue;
    }
    const drops = results.filter((x) => x.r.kind === 'drop');
    if (drops.length > 0) {
      for (const { d, r } of drops)
        if (r.kind === 'drop')
          ctx.untranslated(where, pluginText(d), `${r.reason}; the detector group was left out`);
      dropped++;
      continue;
    }
    const parts: Condition[] = [];
    const watches = new Set<string>();
    for (const { d, r } of results)
      if (r.kind === 'cond') {
        // A group is already an `all`: a detector's own `all` joins it rather than nesting.
        if (r.cond.all) parts.push(...r.cond.all);
        else parts.push(r.cond);
        if (r.watches) {
          watched.push({ plugin: d.name, globs: r.watches });
          for (const w of r.watches) watches.add(w);
        }
      }
    const [only] = parts;
    if (!only) {
      // Only worth reporting when there is an action the group would have run.
      if (kills.length > 0)
        ctx.untranslated(
          where,
          `detector group "${g.name}"`,
          'every detector in it always returns CONTINUE, so oomd runs the actions on every tick; an oomfleet rule needs a trigger',
        );
      dropped++;
      continue;
    }
    groups.push({ cond: parts.length === 1 ? only : { all: parts }, watches: [...watches] });
  }

  if (kills.length === 0) {
    if (rs.actions.every((a) => a.name === 'continue' || a.name === 'stop'))
      ctx.note(
        `${rs.at}: its actions only continue or stop, so it changes nothing and became no rule`,
      );
    return [];
  }
  if (groups.length === 0) {
    if (dropped > 0)
      ctx.untranslated(
        rs.at,
        `ruleset "${rs.name}"`,
        'none of its detector groups could be translated, so neither could its actions',
      );
    return [];
  }

  const rules: Rule[] = [];
  for (const k of kills) {
    if (k.targets.length > 1)
      ctx.note(
        'oomd kills at most one cgroup per kill action across all of its targets; oomfleet writes one rule per target, and each may kill when it fires',
      );
    for (const t of k.targets) {
      if (t.glob === '/' && !t.recursive) {
        ctx.untranslated(`${rs.at}, ${k.plugin}`, 'cgroup "/"', 'the root cgroup is never killed');
        continue;
      }
      const kill: KillAction = { victim: 'largest', among: 'cgroup' };
      if (t.recursive) {
        kill.avoid = [...INNER_NODES];
        ctx.note(
          'recursive=true walks down from each target to a leaf, comparing siblings at each level; oomfleet considers every cgroup below the target and avoids slices and user managers (inner nodes), so a leaf is chosen',
        );
      }
      const conds = groupsFor(t, groups).map((g) => g.cond);
      const [first] = conds;
      if (!first) continue;
      const scope = t.recursive ? (t.glob === '/' ? '/**' : `${t.glob}/**`) : t.glob;
      const suffix = [
        kills.length > 1 ? k.plugin : '',
        k.targets.length > 1 ? targetLabel(t.glob) : '',
      ]
        .filter(Boolean)
        .join(' ');
      rules.push({
        name: suffix ? `${rs.name} ${suffix}` : rs.name,
        scope,
        when: conds.length === 1 ? first : { any: conds },
        action: { kill },
        cooldown: formatDuration(k.delaySec * 1000),
        ...(k.dry ? { dryRun: true } : {}),
      });
    }
  }
  for (const w of watched)
    ctx.note(
      `${rs.at}: ${w.plugin} watches ${w.globs.join(',')}; oomfleet judges it on each cgroup the rule may kill instead, so a cgroup is killed only when it is itself past the threshold`,
    );
  return rules;
}

/**
 * The detector groups that guard one kill target: host-wide groups, and the
 * groups watching the target or an ancestor of it. A target no watching group
 * covers keeps every group, as in oomd any group may kill anywhere.
 */
function groupsFor(t: Target, groups: readonly GroupCond[]): GroupCond[] {
  const target = compileGlob(t.glob);
  const covers = (g: GroupCond): boolean =>
    g.watches.some((w) => globCoveredBy(target, compileGlob(w)));
  const local = groups.filter((g) => g.watches.length === 0 || covers(g));
  return local.some((g) => g.watches.length > 0) ? local : [...groups];
}

/** A short name for a kill target: its last segment that is not just a wildcard. */
function targetLabel(glob: string): string {
  const segs = glob.split('/').filter((s) => s !== '' && s !== '*' && s !== '**');
  return segs[segs.length - 1] ?? 'root';
}

/** A size as a person writes it: 2Gi when a binary unit fits exactly, else plain bytes. */
function humanSize(bytes: number): number | string {
  const s = formatSize(bytes);
  return /^\d+$/.test(s) ? bytes : s;
}
