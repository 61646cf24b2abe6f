// loadPolicy end to end: every kind of problem the validator reports, each as
// a pair — the bad document reports it at the right path and line:column, the
// corrected one does not — plus the document-level limits (size, nesting,
// aliases), JSON input, all-at-once reporting and warnings.
import { describe, it, expect } from 'vitest';
import { loadPolicyValue, type LoadResult } from './load.ts';
import { loadPolicy } from './load-text.ts';
import type { PolicyIssue } from './issues.ts';
import { MAX_ALIASES, MAX_DEPTH, MAX_DOCUMENT_BYTES } from './parse.ts';

/** Lines 1–5 of every test document; the spec's own lines start at line 6. */
const HEAD = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata:
  name: test
spec:
`;
const doc = (spec: string): string => HEAD + spec;

const errors = (r: LoadResult): PolicyIssue[] => r.issues.filter((i) => i.severity !== 'warning');
const warnings = (r: LoadResult): PolicyIssue[] => r.issues.filter((i) => i.severity === 'warning');

function where(r: LoadResult): string {
  return r.issues
    .map((i) => `${i.severity ?? 'error'} ${i.path} ${i.line}:${i.column} ${i.message}`)
    .join('\n');
}

/** The one error at `path` and `line:column`, whose message matches. */
function expectError(
  r: LoadResult,
  path: string,
  pos: `${number}:${number}`,
  message: RegExp,
): PolicyIssue {
  const [line, column] = pos.split(':').map(Number);
  const hit = errors(r).find((i) => i.path === path && message.test(i.message));
  expect(hit, `no error at ${path} matching ${String(message)}; got:\n${where(r)}`).toBeDefined();
  if (!hit) throw new Error('unreachable');
  expect({ path: hit.path, line: hit.line, column: hit.column }).toEqual({ path, line, column });
  expect(hit.message.length).toBeGreaterThan(0);
  expect(hit.hint.length).toBeGreaterThan(0);
  expect(r.ok).toBe(false);
  return hit;
}

function expectNoIssueAt(r: LoadResult, path: string): void {
  const at = r.issues.filter((i) => i.path === path || i.path.startsWith(`${path}.`));
  expect(at, `unexpected issue at ${path}:\n${where(r)}`).toEqual([]);
}

function expectValid(r: LoadResult): void {
  expect(errors(r), where(r)).toEqual([]);
  expect(r.ok).toBe(true);
  expect(r.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(r.canonical).toBeDefined();
  expect(r.policy).toBeDefined();
}

interface Pair {
  name: string;
  bad: string;
  good: string;
  path: string;
  pos: `${number}:${number}`;
  message: RegExp;
  hint?: RegExp;
}

/** Each pair: the bad document has the error at path and line:column; the good one validates. */
const pairs: Pair[] = [
  {
    name: 'unknown field, with "did you mean"',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      acton: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { notify: {} }
`),
    path: 'spec.rules[0].acton',
    pos: '10:7',
    message: /^unknown field "acton"$/,
    hint: /did you mean "action"\?/,
  },
  {
    name: 'unknown top-level field',
    bad: `apiVersion: oomfleet/v1
kind: OomPolicy
metdata:
  name: test
spec: {}
`,
    good: `apiVersion: oomfleet/v1
kind: OomPolicy
metadata:
  name: test
spec: {}
`,
    path: 'metdata',
    pos: '3:1',
    message: /unknown field "metdata"/,
    hint: /did you mean "metadata"\?/,
  },
  {
    name: 'unknown field in a trigger, with "did you mean"',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when:
        pressure: { above: 30, window: avg10, fro: 10s }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when:
        pressure: { above: 30, window: avg10, for: 10s }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when.pressure.fro',
    pos: '10:47',
    message: /unknown field "fro"/,
    hint: /did you mean "for"\?/,
  },
  {
    name: 'missing required field (reported at the mapping that lacks it)',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when',
    pos: '7:7',
    message: /^missing required field "when"$/,
    hint: /add "when"/,
  },
  {
    name: 'missing required trigger field',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when:
        usage: { of: limit }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when:
        usage: { of: limit, above: 90% }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when.usage.above',
    pos: '10:16',
    message: /missing required field "above"/,
  },
  {
    name: 'wrong type: a string where a boolean belongs',
    bad: doc(`  dryRun: "yes"
`),
    good: doc(`  dryRun: true
`),
    path: 'spec.dryRun',
    pos: '6:11',
    message: /the string "yes" is not a boolean/,
    hint: /true or false/,
  },
  {
    name: 'wrong type: a mapping where a list belongs',
    bad: doc(`  rules: {}
`),
    good: doc(`  rules: []
`),
    path: 'spec.rules',
    pos: '6:10',
    message: /a mapping is not an array/,
    hint: /^write an array$/,
  },
  {
    name: 'wrong type: a list where a mapping belongs',
    bad: doc(`  cgroups:
    - match: /batch/*
      userspaceOom: [true]
      memoryMax: 1Gi
`),
    good: doc(`  cgroups:
    - match: /batch/*
      userspaceOom: { enabled: true }
      memoryMax: 1Gi
`),
    path: 'spec.cgroups[0].userspaceOom',
    pos: '8:21',
    message: /a list is not an object/,
    hint: /^write an object$/,
  },
  {
    name: 'value not one of the choices, with "did you mean"',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { pressure: { above: 30, kind: ful } }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { pressure: { above: 30, kind: full } }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when.pressure.kind',
    pos: '9:44',
    message: /the string "ful" is not one of some, full/,
    hint: /did you mean full\?/,
  },
  {
    name: 'unknown victim strategy',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        kill: { victim: biggest }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        kill: { victim: largest }
`),
    path: 'spec.rules[0].action.kill.victim',
    pos: '11:25',
    message: /"biggest" is not one of largest, fastest-growing, lowest-priority, newest, oldest/,
  },
  {
    name: 'wrong apiVersion',
    bad: `apiVersion: oomfleet/v2
kind: OomPolicy
metadata: { name: test }
spec: {}
`,
    good: `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: test }
spec: {}
`,
    path: 'apiVersion',
    pos: '1:13',
    message: /"oomfleet\/v2" is not "oomfleet\/v1"/,
    hint: /write "oomfleet\/v1"/,
  },
  {
    name: 'wrong kind',
    bad: `apiVersion: oomfleet/v1
kind: OOMPolicy
metadata: { name: test }
spec: {}
`,
    good: `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: test }
spec: {}
`,
    path: 'kind',
    pos: '2:7',
    message: /is not "OomPolicy"/,
  },
  {
    name: 'invalid policy name',
    bad: `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: Batch_Tier }
spec: {}
`,
    good: `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: batch-tier }
spec: {}
`,
    path: 'metadata.name',
    pos: '3:19',
    message: /"Batch_Tier" is not a valid name/,
    hint: /lower-case letters, digits and "-"/,
  },
  {
    name: 'invalid rule name',
    bad: doc(`  rules:
    - name: -starts-with-dash
      scope: /batch/*
      when: { oom: {} }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: starts-with-letter
      scope: /batch/*
      when: { oom: {} }
      action: { notify: {} }
`),
    path: 'spec.rules[0].name',
    pos: '7:13',
    message: /is not a valid name/,
  },
  {
    name: 'condition with two triggers',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {}, swap: { below: 5% } }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { any: [{ oom: {} }, { swap: { below: 5% } }] }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when',
    pos: '9:13',
    message: /has 2 of the exclusive fields \(oom, swap\)/,
    hint: /Choices: any, all, pressure, usage, available, oom, growth, swap/,
  },
  {
    name: 'empty action',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: {}
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { notify: {} }
`),
    path: 'spec.rules[0].action',
    pos: '10:15',
    message: /^is empty$/,
    hint: /kill, throttle, notify/,
  },
  {
    name: 'empty any list',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { any: [] }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { any: [{ oom: {} }] }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when.any',
    pos: '9:20',
    message: /is an empty list/,
  },
  {
    name: 'decimal size unit, with the binary suggestion',
    bad: doc(`  cgroups:
    - match: /batch/*
      memoryMax: 1G
`),
    good: doc(`  cgroups:
    - match: /batch/*
      memoryMax: 1Gi
`),
    path: 'spec.cgroups[0].memoryMax',
    pos: '8:18',
    message: /unknown size unit "G" in "1G"/,
    hint: /^did you mean 1Gi\?/,
  },
  {
    name: 'size that is not a whole number of bytes',
    bad: doc(`  cgroups:
    - match: /batch/*
      memoryMax: 0.3Ki
`),
    good: doc(`  cgroups:
    - match: /batch/*
      memoryMax: 1.5Gi
`),
    path: 'spec.cgroups[0].memoryMax',
    pos: '8:18',
    message: /not a whole number of bytes/,
  },
  {
    name: 'negative size',
    bad: doc(`  cgroups:
    - match: /batch/*
      memoryMax: -1Gi
`),
    good: doc(`  cgroups:
    - match: /batch/*
      memoryMax: 1Gi
`),
    path: 'spec.cgroups[0].memoryMax',
    pos: '8:18',
    message: /negative/,
  },
  {
    name: 'size that overflows',
    bad: doc(`  cgroups:
    - match: /batch/*
      memoryMax: 9007199254740993
`),
    good: doc(`  cgroups:
    - match: /batch/*
      memoryMax: 9007199254740991
`),
    path: 'spec.cgroups[0].memoryMax',
    pos: '8:18',
    message: /too large/,
  },
  {
    name: 'malformed duration',
    bad: doc(`  interval: 1x
`),
    good: doc(`  interval: 1s
`),
    path: 'spec.interval',
    pos: '6:13',
    message: /"1x" is not a duration/,
    hint: /500ms, 10s, 1m30s or 2h/,
  },
  {
    name: 'negative duration',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { notify: {} }
      cooldown: -5s
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { notify: {} }
      cooldown: 5s
`),
    path: 'spec.rules[0].cooldown',
    pos: '11:17',
    message: /negative/,
  },
  {
    name: 'duration below the field minimum',
    bad: doc(`  interval: 1ms
`),
    good: doc(`  interval: 10ms
`),
    path: 'spec.interval',
    pos: '6:13',
    message: /1ms is shorter than 10ms/,
  },
  {
    name: 'duration above the field maximum',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        kill: { grace: 10m }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        kill: { grace: 5m }
`),
    path: 'spec.rules[0].action.kill.grace',
    pos: '11:24',
    message: /10m is longer than 5m/,
  },
  {
    name: 'duration longer than 30 days',
    bad: doc(`  killBudget: { max: 3, per: 721h }
`),
    good: doc(`  killBudget: { max: 3, per: 720h }
`),
    path: 'spec.killBudget.per',
    pos: '6:30',
    message: /too long/,
  },
  {
    name: 'growth window below 1s',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { growth: { above: 64Mi, window: 500ms } }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { growth: { above: 64Mi, window: 5s } }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when.growth.window',
    pos: '9:46',
    message: /shorter than 1s/,
  },
  {
    name: 'percentage above 100',
    bad: doc(`  cgroups:
    - match: /batch/*
      memoryHigh: 150%
`),
    good: doc(`  cgroups:
    - match: /batch/*
      memoryHigh: 90%
`),
    path: 'spec.cgroups[0].memoryHigh',
    pos: '8:19',
    message: /percentage 150% is out of range/,
    hint: /0% to 100%/,
  },
  {
    name: 'pressure above a bare number over 100',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { pressure: { above: 150 } }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { pressure: { above: 15 } }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when.pressure.above',
    pos: '9:34',
    message: /out of range/,
  },
  {
    name: 'pressure that can never be above 100%',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { pressure: { above: 100 } }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { pressure: { above: 99 } }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when.pressure.above',
    pos: '9:34',
    message: /pressure can never be above 100%/,
  },
  {
    name: 'usage that can never be above 100%',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { usage: { above: 100% } }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { usage: { above: 95% } }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when.usage.above',
    pos: '9:31',
    message: /usage can never be above 100%/,
  },
  {
    name: 'available below 0',
    bad: doc(`  rules:
    - name: r
      scope: global
      when: { available: { below: 0% } }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: global
      when: { available: { below: 5% } }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when.available.below',
    pos: '9:35',
    message: /nothing is ever below 0/,
  },
  {
    name: 'swap below a negative percentage',
    bad: doc(`  rules:
    - name: r
      scope: global
      when: { swap: { below: -5% } }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: global
      when: { swap: { below: 5% } }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when.swap.below',
    pos: '9:30',
    message: /negative/,
  },
  {
    name: 'throttle to 0% of usage',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        throttle: { memoryHigh: 0% }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        throttle: { memoryHigh: 80% }
`),
    path: 'spec.rules[0].action.throttle.memoryHigh',
    pos: '11:33',
    message: /0% would stall every process/,
  },
  {
    name: 'memoryHigh above memoryMax',
    bad: doc(`  cgroups:
    - match: /batch/*
      memoryHigh: 9Gi
      memoryMax: 8Gi
`),
    good: doc(`  cgroups:
    - match: /batch/*
      memoryHigh: 7Gi
      memoryMax: 8Gi
`),
    path: 'spec.cgroups[0].memoryHigh',
    pos: '8:19',
    message: /memoryHigh \(9663676416 bytes\) is above memoryMax \(8589934592 bytes\)/,
    hint: /memoryMin ≤ memoryLow ≤ memoryHigh ≤ memoryMax/,
  },
  {
    name: 'memoryLow (a share of memoryMax) above memoryHigh',
    bad: doc(`  cgroups:
    - match: /batch/*
      memoryLow: 50%
      memoryHigh: 2Gi
      memoryMax: 8Gi
`),
    good: doc(`  cgroups:
    - match: /batch/*
      memoryLow: 20%
      memoryHigh: 2Gi
      memoryMax: 8Gi
`),
    path: 'spec.cgroups[0].memoryLow',
    pos: '8:18',
    message: /memoryLow \(4294967296 bytes\) is above memoryHigh/,
  },
  {
    name: 'memoryMin above memoryLow',
    bad: doc(`  cgroups:
    - match: /web/*
      memoryMin: 2Gi
      memoryLow: 1Gi
`),
    good: doc(`  cgroups:
    - match: /web/*
      memoryMin: 1Gi
      memoryLow: 2Gi
`),
    path: 'spec.cgroups[0].memoryMin',
    pos: '8:18',
    message: /memoryMin .* is above memoryLow/,
  },
  {
    name: 'glob that climbs out of the cgroup root',
    bad: doc(`  cgroups:
    - match: /batch/../system.slice
      memoryMax: 1Gi
`),
    good: doc(`  cgroups:
    - match: /system.slice
      memoryMax: 1Gi
`),
    path: 'spec.cgroups[0].match',
    pos: '7:14',
    message: /climbs out with ".."/,
  },
  {
    name: 'relative glob',
    bad: doc(`  rules:
    - name: r
      scope: batch/*
      when: { oom: {} }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { notify: {} }
`),
    path: 'spec.rules[0].scope',
    pos: '8:14',
    message: /is not absolute/,
  },
  {
    name: '"global" as a cgroups match',
    bad: doc(`  cgroups:
    - match: global
      memoryMax: 1Gi
`),
    good: doc(`  cgroups:
    - match: /
      memoryMax: 1Gi
`),
    path: 'spec.cgroups[0].match',
    pos: '7:14',
    message: /"global" is not a cgroup/,
  },
  {
    name: 'regex that does not compile',
    bad: doc(`  protect:
    - process: "^(sshd|journald"
`),
    good: doc(`  protect:
    - process: "^(sshd|journald)$"
`),
    path: 'spec.protect[0].process',
    pos: '7:16',
    message: /does not compile/,
  },
  {
    name: 'regex that backtracks catastrophically',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        kill: { prefer: ["^spark-", "(a+)+$"] }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        kill: { prefer: ["^spark-", "a+$"] }
`),
    path: 'spec.rules[0].action.kill.prefer[1]',
    pos: '11:37',
    message: /can backtrack catastrophically: exponential/,
  },
  {
    name: 'protect entry naming two things',
    bad: doc(`  protect:
    - cgroup: /system.slice/sshd.service
      process: sshd
`),
    good: doc(`  protect:
    - cgroup: /system.slice/sshd.service
    - process: ^sshd$
`),
    path: 'spec.protect[0]',
    pos: '7:7',
    message: /names cgroup and process in one entry/,
  },
  {
    name: 'memoryMin on a process protection',
    bad: doc(`  protect:
    - process: ^sshd$
      memoryMin: 64Mi
`),
    good: doc(`  protect:
    - cgroup: /system.slice/sshd.service
      memoryMin: 64Mi
`),
    path: 'spec.protect[0]',
    pos: '7:7',
    message: /apply to cgroups, not processes/,
  },
  {
    name: 'kill rule whose scope lies inside a protected cgroup glob',
    bad: doc(`  protect:
    - cgroup: /batch
  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { kill: {} }
`),
    good: doc(`  protect:
    - cgroup: /batch/critical
  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { kill: {} }
`),
    path: 'spec.rules[0].scope',
    pos: '10:14',
    message:
      /every candidate of this kill rule is protected: scope \/batch\/\* lies inside protected cgroup \/batch/,
  },
  {
    name: 'kill rule under a protected `**` glob',
    bad: doc(`  protect:
    - cgroup: /system.slice/**
  rules:
    - name: r
      scope: /system.slice/*.service
      when: { oom: {} }
      action: { kill: {} }
`),
    good: doc(`  protect:
    - cgroup: /system.slice/**
  rules:
    - name: r
      scope: /system.slice/*.service
      when: { oom: {} }
      action: { notify: {} }
`),
    path: 'spec.rules[0].scope',
    pos: '10:14',
    message: /every candidate of this kill rule is protected/,
  },
  {
    name: 'protect regex .* with a kill rule',
    bad: doc(`  protect:
    - process: ".*"
  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { kill: {} }
`),
    good: doc(`  protect:
    - process: "^sshd$"
  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { kill: {} }
`),
    path: 'spec.protect[0].process',
    pos: '7:16',
    message: /matches every process, so no kill rule can ever kill/,
  },
  {
    name: 'protect cmdline regex matching everything with a kill rule',
    bad: doc(`  protect:
    - cmdline: "^"
  rules:
    - name: r
      scope: global
      when: { available: { below: 5% } }
      action: { kill: {} }
`),
    good: doc(`  protect:
    - cmdline: "^/usr/sbin/sshd"
  rules:
    - name: r
      scope: global
      when: { available: { below: 5% } }
      action: { kill: {} }
`),
    path: 'spec.protect[0].cmdline',
    pos: '7:16',
    message: /matches every process/,
  },
  {
    name: 'duplicate rule names',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { notify: {} }
    - name: r
      scope: /web/*
      when: { oom: {} }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { notify: {} }
    - name: s
      scope: /web/*
      when: { oom: {} }
      action: { notify: {} }
`),
    path: 'spec.rules[1].name',
    pos: '11:13',
    message: /rule name "r" is already used by spec\.rules\[0\]/,
  },
  {
    name: 'global scope with usage of: limit',
    bad: doc(`  rules:
    - name: r
      scope: global
      when: { usage: { of: limit, above: 90% } }
      action: { notify: {} }
`),
    good: doc(`  rules:
    - name: r
      scope: global
      when: { usage: { of: ram, above: 90% } }
      action: { notify: {} }
`),
    path: 'spec.rules[0].when.usage.of',
    pos: '9:28',
    message: /a global rule has no cgroup limit/,
    hint: /of: ram/,
  },
  {
    name: 'global scope with among: cgroup',
    bad: doc(`  rules:
    - name: r
      scope: global
      when: { available: { below: 5% } }
      action:
        kill: { among: cgroup }
`),
    good: doc(`  rules:
    - name: r
      scope: global
      when: { available: { below: 5% } }
      action:
        kill: { among: process }
`),
    path: 'spec.rules[0].action.kill.among',
    pos: '11:24',
    message: /has no cgroups to choose among/,
  },
  {
    name: 'global scope with throttle',
    bad: doc(`  rules:
    - name: r
      scope: global
      when: { available: { below: 5% } }
      action:
        throttle: { memoryHigh: 80% }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { available: { below: 5% } }
      action:
        throttle: { memoryHigh: 80% }
`),
    path: 'spec.rules[0].action.throttle',
    pos: '11:19',
    message: /no memcg whose memory\.high could be lowered/,
  },
  {
    name: 'killBudget.max above its maximum',
    bad: doc(`  killBudget: { max: 100000, per: 1m }
`),
    good: doc(`  killBudget: { max: 10000, per: 1m }
`),
    path: 'spec.killBudget.max',
    pos: '6:22',
    message: /is not an integer/,
  },
  {
    name: 'too many prefer regexes',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        kill:
          prefer: [${Array.from({ length: 65 }, (_, i) => `"^p${i}$"`).join(', ')}]
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        kill:
          prefer: [${Array.from({ length: 64 }, (_, i) => `"^p${i}$"`).join(', ')}]
`),
    path: 'spec.rules[0].action.kill.prefer',
    pos: '12:19',
    message: /has too many entries/,
  },
  {
    name: 'notify message too long',
    bad: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        notify: { message: "${'x'.repeat(1025)}" }
`),
    good: doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        notify: { message: "${'x'.repeat(1024)}" }
`),
    path: 'spec.rules[0].action.notify.message',
    pos: '11:28',
    message: /is too long/,
  },
];

describe('each error, as a bad/good pair', () => {
  it.each(pairs)('$name', ({ bad, good, path, pos, message, hint }) => {
    const r = loadPolicy(bad);
    const issue = expectError(r, path, pos, message);
    if (hint) expect(issue.hint).toMatch(hint);
    expect(r.digest).toBeUndefined();
    expect(r.canonical).toBeUndefined();
    const fixed = loadPolicy(good);
    expectNoIssueAt(fixed, path);
    expectValid(fixed);
  });
});

describe('nesting of conditions', () => {
  const nested = (depth: number): string => {
    let c = '{ oom: {} }';
    for (let i = 0; i < depth; i++) c = `{ any: [${c}] }`;
    return doc(`  rules:
    - name: r
      scope: /batch/*
      when: ${c}
      action: { notify: {} }
`);
  };

  it('refuses a 9th level of conditions, at the first level too deep', () => {
    // 8 `any` around a trigger: the trigger is the 9th condition.
    const r = loadPolicy(nested(8));
    const path = `spec.rules[0].when${'.any[0]'.repeat(8)}`;
    // Each level adds "{ any: [" (8 characters); the 9th mapping starts at column 13 + 8·8.
    expectError(r, path, `9:${13 + 8 * 8}`, /conditions nest deeper than 8 levels/);
  });

  it('accepts 8 levels: 7 `any` around a trigger', () => {
    expectValid(loadPolicy(nested(7)));
  });
});

describe('memoryHigh as a percentage of memoryMax', () => {
  it('accepts memoryHigh 90% with memoryMax 8Gi', () => {
    const r = loadPolicy(
      doc(`  cgroups:
    - match: /batch/*
      memoryHigh: 90%
      memoryMax: 8Gi
`),
    );
    expectValid(r);
    expect(r.issues).toEqual([]);
    expect(r.canonical?.spec.cgroups[0]).toEqual({
      match: '/batch/*',
      memoryHigh: '90%',
      memoryMax: 8 * 1024 ** 3,
    });
  });

  it('accepts memoryHigh: max (the kernel default) with a byte memoryMax', () => {
    const r = loadPolicy(
      doc(`  cgroups:
    - match: /batch/*
      memoryHigh: max
      memoryMax: 8Gi
`),
    );
    expectValid(r);
  });

  it('accepts any memoryHigh under memoryMax: max', () => {
    expectValid(
      loadPolicy(
        doc(`  cgroups:
    - match: /batch/*
      memoryHigh: 64Gi
      memoryMax: max
`),
      ),
    );
  });

  it('does not compare a percentage with bytes when memoryMax is a percentage', () => {
    // 95% of host RAM vs 8Gi cannot be compared without the host: no error.
    expectValid(
      loadPolicy(
        doc(`  cgroups:
    - match: /batch/*
      memoryHigh: 8Gi
      memoryMax: 95%
`),
      ),
    );
  });
});

describe('every error at once', () => {
  const text = doc(`  interval: 1x
  killBudget: { max: 3, per: 1m }
  protect:
    - process: "(a+)+$"
  cgroups:
    - match: /batch/../x
      memoryMax: 1G
    - match: /web/*
      memoryHigh: 9Gi
      memoryMax: 8Gi
  rules:
    - name: r
      scope: global
      when: { usage: { of: limit, above: 90% } }
      action: { throttle: { memoryHigh: 50% } }
    - name: r
      scope: /batch/*
      when: { pressure: { above: 30, kind: ful } }
      acton: { notify: {} }
`);

  it('reports all of them in one pass, each with path and line:column', () => {
    const r = loadPolicy(text);
    expect(r.ok).toBe(false);
    const expected: [string, `${number}:${number}`, RegExp][] = [
      ['spec.interval', '6:13', /not a duration/],
      ['spec.protect[0].process', '9:16', /backtrack catastrophically/],
      ['spec.cgroups[0].match', '11:14', /climbs out/],
      ['spec.cgroups[0].memoryMax', '12:18', /unknown size unit "G"/],
      ['spec.cgroups[1].memoryHigh', '14:19', /is above memoryMax/],
      ['spec.rules[0].when.usage.of', '19:28', /no cgroup limit/],
      ['spec.rules[0].action.throttle', '20:27', /memory\.high could be lowered/],
      ['spec.rules[1].name', '21:13', /already used/],
      ['spec.rules[1].when.pressure.kind', '23:44', /not one of some, full/],
      ['spec.rules[1].acton', '24:7', /unknown field "acton"/],
      ['spec.rules[1].action', '21:7', /missing required field "action"/],
    ];
    for (const [path, pos, message] of expected) expectError(r, path, pos, message);
    expect(errors(r).length).toBe(expected.length);
  });

  it('lists errors before warnings, each group in document order', () => {
    const r = loadPolicy(
      doc(`  cgroups:
    - match: /b
      memoryMax: 10
    - match: /a/../b
      memoryMax: 1Gi
  rules:
    - name: r
      scope: /a
      when: { usage: { above: 95 } }
      action: { notify: {} }
    - name: r
      scope: /a
      when: { oom: {} }
      action: { notify: {} }
`),
    );
    const sev = r.issues.map((i) => i.severity);
    expect(sev.indexOf('warning')).toBeGreaterThan(sev.lastIndexOf('error'));
    const lines = (s: 'error' | 'warning'): number[] =>
      r.issues.filter((i) => i.severity === s).map((i) => i.line ?? 0);
    expect(lines('error')).toEqual([...lines('error')].sort((a, b) => a - b));
    expect(lines('warning')).toEqual([...lines('warning')].sort((a, b) => a - b));
    expect(lines('error').length).toBe(2);
    expect(lines('warning').length).toBe(2);
  });

  it('reports a missing field once, not again as a wrong type', () => {
    const r = loadPolicy(`apiVersion: oomfleet/v1
kind: OomPolicy
spec: {}
`);
    expect(r.issues.map((i) => [i.path, i.message])).toEqual([
      ['metadata', 'missing required field "metadata"'],
    ]);
  });
});

describe('JSON input', () => {
  const json = `{
  "apiVersion": "oomfleet/v1",
  "kind": "OomPolicy",
  "metadata": { "name": "json-test" },
  "spec": {
    "interval": "1x",
    "rules": [
      {
        "name": "r",
        "scope": "/batch/*",
        "when": { "usage": { "above": "5G" } },
        "action": { "kill": { "victim": "biggest" } },
        "cooldwn": "10s"
      }
    ]
  }
}`;

  it('gets line:column for every issue, like YAML', () => {
    const r = loadPolicy(json);
    expectError(r, 'spec.interval', '6:17', /"1x" is not a duration/);
    expectError(r, 'spec.rules[0].when.usage.above', '11:39', /unknown size unit "G"/);
    expectError(r, 'spec.rules[0].action.kill.victim', '12:41', /"biggest" is not one of/);
    const unknown = expectError(r, 'spec.rules[0].cooldwn', '13:9', /unknown field "cooldwn"/);
    expect(unknown.hint).toMatch(/did you mean "cooldown"\?/);
    expect(errors(r).length).toBe(4);
  });

  it('validates the corrected JSON to the same digest as the equivalent YAML', () => {
    const fixed = json
      .replace('"1x"', '"1s"')
      .replace('"5G"', '"5Gi"')
      .replace('"biggest"', '"largest"')
      .replace('"cooldwn"', '"cooldown"');
    const r = loadPolicy(fixed);
    expectValid(r);
    const yaml = loadPolicy(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: json-test }
spec:
  rules:
    - name: r
      scope: /batch/*
      when: { usage: { above: 5Gi } }
      action: { kill: {} }
      cooldown: 10s
`);
    expect(yaml.digest).toBe(r.digest);
  });

  it('reports JSON syntax errors with a position', () => {
    const r = loadPolicy(
      '{\n  "apiVersion": "oomfleet/v1",\n  "kind": "OomPolicy"\n  "spec": {}\n}',
    );
    expect(r.ok).toBe(false);
    const e = errors(r)[0];
    expect(e?.path).toBe('');
    expect(e?.message).toMatch(/^JSON syntax:/);
    expect(e?.line).toBeGreaterThanOrEqual(3);
    expect(e?.column).toBeGreaterThanOrEqual(1);
  });
});

describe('document-level problems', () => {
  it('refuses duplicate YAML keys, pointing at the second one', () => {
    const r = loadPolicy(
      doc(`  interval: 1s
  dryRun: false
  interval: 2s
`),
    );
    expectError(r, '', '8:3', /YAML syntax: Map keys must be unique/);
    expect(r.issues[0]?.hint).toMatch(/each key may appear once/);
    expectValid(loadPolicy(doc(`  interval: 2s\n  dryRun: false\n`)));
  });

  it('refuses duplicate keys in JSON too', () => {
    const r = loadPolicy('{"apiVersion": "oomfleet/v1", "apiVersion": "oomfleet/v1"}');
    expectError(r, '', '1:31', /keys must be unique/);
  });

  it('reports YAML syntax errors with line:column', () => {
    const r = loadPolicy(doc(`  rules: [\n`));
    expect(r.ok).toBe(false);
    expect(r.issues[0]?.message).toMatch(/^YAML syntax:/);
    expect(r.issues[0]?.line).toBe(7);
    const tabs = loadPolicy(doc(`\tinterval: 1s\n`));
    expectError(tabs, '', '6:1', /Tabs are not allowed/);
    expect(tabs.issues[0]?.hint).toMatch(/spaces, not tabs/);
  });

  it('refuses a document larger than 1 MiB before parsing it', () => {
    const big = `${doc('')}# ${'x'.repeat(MAX_DOCUMENT_BYTES)}\n`;
    const start = performance.now();
    const r = loadPolicy(big);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(r.ok).toBe(false);
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]?.path).toBe('');
    expect(r.issues[0]?.message).toMatch(/more than the 1048576 allowed/);
    // Counted in UTF-8 bytes, not characters.
    const multibyte = `${doc('')}# ${'é'.repeat(MAX_DOCUMENT_BYTES / 2)}\n`;
    expect(multibyte.length).toBeLessThan(MAX_DOCUMENT_BYTES);
    expect(loadPolicy(multibyte).issues[0]?.message).toMatch(/more than the 1048576 allowed/);
  });

  it('accepts a document just under the limit', () => {
    const text = doc('  interval: 1s\n');
    const padded = `${text}# ${'x'.repeat(MAX_DOCUMENT_BYTES - text.length - 3)}\n`;
    expect(Buffer.byteLength(padded)).toBe(MAX_DOCUMENT_BYTES);
    expectValid(loadPolicy(padded));
  });

  it(`refuses nesting deeper than ${MAX_DEPTH} levels`, () => {
    const deep = (n: number): string =>
      doc(`  interval: 1s\n  x: ${'['.repeat(n)}${']'.repeat(n)}\n`);
    const r = loadPolicy(deep(MAX_DEPTH + 1));
    expect(r.ok).toBe(false);
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({
      path: '',
      message: `document nests deeper than ${MAX_DEPTH} levels`,
    });
    // Shallower nesting is parsed, and the stray field is then reported by name.
    const shallow = loadPolicy(deep(5));
    expect(shallow.issues.map((i) => i.message)).toEqual(['unknown field "x"']);
  });

  it('refuses an alias bomb (billion laughs) quickly', () => {
    const levels = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    let text = doc('').replace('spec:\n', '');
    text += `x0: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n`;
    for (let i = 1; i < levels.length; i++) {
      const prev = levels[i - 1] ?? 'a';
      text += `x${i}: &${levels[i]} [${Array.from({ length: 9 }, () => `*${prev}`).join(',')}]\n`;
    }
    text += 'spec: {}\n';
    const start = performance.now();
    const r = loadPolicy(text);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(r.ok).toBe(false);
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]?.path).toBe('');
    expect(r.issues[0]?.message).toMatch(/resource exhaustion|alias/i);
    expect(r.issues[0]?.hint).toMatch(new RegExp(`at most ${MAX_ALIASES} YAML aliases`));
  });

  it('accepts a few aliases, which are ordinary YAML', () => {
    const r = loadPolicy(
      doc(`  rules:
    - name: a
      scope: &batch /batch/*
      when: &oom { oom: {} }
      action: { notify: {} }
    - name: b
      scope: *batch
      when: *oom
      action: { notify: { severity: critical } }
`),
    );
    expectValid(r);
    expect(r.canonical?.spec.rules[1]?.scope).toBe('/batch/*');
  });

  it.each([
    ['a list', '- a\n- b\n'],
    ['a scalar', 'hello\n'],
    ['a number', '42\n'],
    ['empty', ''],
    ['only a comment', '# nothing here\n'],
    ['null', 'null\n'],
    ['a JSON list', '[1, 2]'],
    ['a JSON string', '"policy"'],
  ])('refuses %s: the document is not a mapping', (_name, text) => {
    const r = loadPolicy(text);
    expect(r.ok).toBe(false);
    expect(r.issues).toEqual([
      {
        path: '',
        line: 1,
        column: 1,
        message: 'the document is not a mapping',
        hint: expect.stringMatching(/apiVersion: oomfleet\/v1/) as unknown,
        severity: 'error',
      },
    ]);
  });

  it('refuses required fields set to undefined by a JavaScript caller', () => {
    const base = { apiVersion: 'oomfleet/v1', kind: 'OomPolicy', metadata: { name: 't' } };
    const rule = { name: 'r', scope: '/a', when: undefined, action: { notify: {} } };
    for (const [v, path] of [
      [{ ...base, spec: undefined }, 'spec'],
      [{ ...base, metadata: { name: undefined }, spec: {} }, 'metadata.name'],
      [{ ...base, spec: { rules: [rule] } }, 'spec.rules[0].when'],
    ] as const) {
      const r = loadPolicyValue(v);
      expect(r.ok).toBe(false);
      expect(r.issues.map((i) => i.path)).toContain(path);
    }
  });

  it('refuses a non-mapping value in loadPolicyValue', () => {
    for (const v of [null, undefined, 42, 'x', [], [{}], true]) {
      const r = loadPolicyValue(v);
      expect(r.ok).toBe(false);
      expect(errors(r).length).toBeGreaterThan(0);
    }
  });
});

describe('warnings', () => {
  it('warns that `above: 95` is read as bytes, and stays ok', () => {
    const r = loadPolicy(
      doc(`  rules:
    - name: r
      scope: /batch/*
      when: { usage: { above: 95 } }
      action: { notify: {} }
`),
    );
    expectValid(r);
    expect(warnings(r)).toEqual([
      {
        path: 'spec.rules[0].when.usage.above',
        line: 9,
        column: 31,
        message: '95 is read as 95 bytes',
        hint: 'did you mean "95%"? Percentages need the % sign',
        severity: 'warning',
      },
    ]);
    expect(r.canonical?.spec.rules[0]?.when).toEqual({ usage: { of: 'limit', above: 95 } });
  });

  it('suggests a unit for small byte counts above 100', () => {
    const r = loadPolicy(
      doc(`  cgroups:
    - match: /batch/*
      memoryMax: 2048
`),
    );
    expectValid(r);
    expect(warnings(r)[0]?.hint).toMatch(/write a unit, e\.g\. 64Mi/);
  });

  it('warns about user-space OOM without memoryMax, growth above 0 and empty entries', () => {
    const r = loadPolicy(
      doc(`  cgroups:
    - match: /batch/*
      userspaceOom: { enabled: true }
    - match: /web/*
  rules:
    - name: r
      scope: /batch/*
      when: { growth: { above: 0 } }
      action: { notify: {} }
`),
    );
    expectValid(r);
    expect(warnings(r).map((w) => [w.path, `${w.line}:${w.column}`])).toEqual([
      ['spec.cgroups[0].userspaceOom', '8:21'],
      ['spec.cgroups[1]', '9:7'],
      ['spec.rules[0].when.growth.above', '13:32'],
    ]);
  });

  it('adds no warning when the thresholds carry units', () => {
    const r = loadPolicy(
      doc(`  cgroups:
    - match: /batch/*
      memoryMax: 8Gi
      userspaceOom: { enabled: true }
  rules:
    - name: r
      scope: /batch/*
      when: { usage: { above: 95% } }
      action: { notify: {} }
`),
    );
    expectValid(r);
    expect(r.issues).toEqual([]);
  });
});

describe('tricky and hostile documents', () => {
  // comm is never empty, so "." protects every process just as ".*" does;
  // matchesEverything() requires the pattern to match "" and misses it.
  it('refuses protect process "." with a kill rule', () => {
    const r = loadPolicy(
      doc(`  protect:
    - process: "."
  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { kill: {} }
`),
    );
    expectError(r, 'spec.protect[0].process', '7:16', /matches every process/);
  });

  // Every process lies in a cgroup below the root, so protecting "/" (or
  // "/**") protects every candidate of a global kill rule too Fix: treat `global` like the scope "/**".
  it('refuses a global kill rule when cgroup "/" is protected', () => {
    const r = loadPolicy(
      doc(`  protect:
    - cgroup: /
  rules:
    - name: r
      scope: global
      when: { available: { below: 5% } }
      action: { kill: {} }
`),
    );
    expectError(
      r,
      'spec.rules[0].scope',
      '10:14',
      /every candidate of this kill rule is protected/,
    );
  });

  // loadPolicyValue has no nesting cap (only the text path has), so a deep
  // value overflows the stack and is reported as an internal error.
  it('loadPolicyValue reports deep nesting as such, not as an internal error', () => {
    let c: unknown = { oom: {} };
    for (let i = 0; i < 5000; i++) c = { any: [c] };
    const r = loadPolicyValue({
      apiVersion: 'oomfleet/v1',
      kind: 'OomPolicy',
      metadata: { name: 'deep' },
      spec: { rules: [{ name: 'r', scope: '/a', when: c, action: { notify: {} } }] },
    });
    expect(r.ok).toBe(false);
    expect(r.issues[0]?.message).not.toMatch(/internal error/);
  });

  // Meaning checks run over every entry even beyond the schema's maxItems, so
  // a 650 KB document with 60 000 prefer regexes takes ~17 s (each regex goes
  // through the ReDoS analyser). Fix: in normalize, slice lists to their
  // maxItems (protect/cgroups/rules 256, prefer/avoid 64, any/all 32).
  it('a document with thousands of regexes past maxItems validates quickly', () => {
    const prefer = Array.from({ length: 8000 }, (_, i) => `"^q${i}x$"`).join(',');
    const text = doc(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { kill: { prefer: [${prefer}] } }
`);
    const start = performance.now();
    const r = loadPolicy(text);
    expect(r.ok).toBe(false);
    // Far under the ~17 s it took before, with room for a loaded CI machine.
    expect(performance.now() - start).toBeLessThan(5000);
  });

  // Without a shared budget N slow patterns would take N timeouts (256
  // protect entries: minutes).
  it('slow-to-analyse regexes share one budget: later ones are refused unanalysed', () => {
    const slow = [6, 7, 8, 9].map((i) => `(?:a{1,21${i}}b{1,200}){1,200}$`);
    const text = doc(`  protect:
${slow.map((p) => `    - process: "${p}"`).join('\n')}
`);
    const r = loadPolicy(text);
    expect(r.ok).toBe(false);
    const messages = r.issues.map((i) => i.message).join('\n');
    // Each pattern may use at most REGEX_TIMEOUT_MS and all of them together
    // REGEX_BUDGET_MS, so four slow patterns cannot each take a full timeout
    // (this test takes REGEX_BUDGET_MS).
    expect(messages).toMatch(/could not be shown safe within \d+ s/);
    expect(messages).toMatch(
      /not analysed: the document's \d+ s budget for regex analysis is spent/,
    );
  });
});
