import { describe, it, expect } from 'vitest';
import { describeCondition, describeRule, diffPolicies } from './diff.ts';
import { loadPolicy } from './load-text.ts';
import type { CanonicalPolicy } from './model.ts';

type Doc = Record<string, unknown> & {
  metadata: Record<string, unknown>;
  spec: {
    interval?: string;
    dryRun?: boolean;
    killBudget?: { max: number; per: string };
    protect: Record<string, unknown>[];
    cgroups: Record<string, unknown>[];
    rules: Record<string, unknown>[];
  };
};

function baseDoc(): Doc {
  return {
    apiVersion: 'oomfleet/v1',
    kind: 'OomPolicy',
    metadata: { name: 'batch-tier', description: 'Batch hosts' },
    spec: {
      interval: '1s',
      killBudget: { max: 10, per: '1m' },
      protect: [{ cgroup: '/system.slice/sshd.service', memoryMin: '64Mi' }, { process: '^sshd$' }],
      cgroups: [
        {
          match: '/batch/*',
          memoryHigh: '90%',
          memoryMax: '8Gi',
          oomGroup: true,
          userspaceOom: { enabled: true, fallbackAfter: '2s' },
        },
        { match: '/web/*', memoryMax: '4Gi' },
      ],
      rules: [
        {
          name: 'batch-pressure',
          scope: '/batch/*',
          when: {
            any: [
              { pressure: { kind: 'full', window: 'avg10', above: 30, for: '10s' } },
              { usage: { of: 'limit', above: '95%' } },
            ],
          },
          action: {
            kill: {
              victim: 'largest',
              among: 'cgroup',
              prefer: ['^spark-'],
              avoid: ['^postgres$'],
              grace: '5s',
            },
          },
          cooldown: '30s',
        },
        {
          name: 'web-notify',
          scope: '/web/*',
          when: { available: { below: '5%' } },
          action: { notify: { message: 'low memory', severity: 'warning' } },
        },
        { name: 'last-resort', scope: 'global', when: { oom: {} }, action: { kill: {} } },
      ],
    },
  };
}

function canonical(text: string): CanonicalPolicy {
  const r = loadPolicy(text);
  expect(r.issues.filter((i) => i.severity !== 'warning')).toEqual([]);
  expect(r.canonical).toBeDefined();
  return r.canonical as CanonicalPolicy;
}

const base = (): CanonicalPolicy => canonical(JSON.stringify(baseDoc()));

function variant(edit: (d: Doc) => void): CanonicalPolicy {
  const d = baseDoc();
  edit(d);
  return canonical(JSON.stringify(d));
}

function rule(d: Doc, name: string): Record<string, unknown> {
  const r = d.spec.rules.find((x) => x.name === name);
  if (!r) throw new Error(`no rule ${name}`);
  return r;
}

function cgroup(d: Doc, match: string): Record<string, unknown> {
  const c = d.spec.cgroups.find((x) => x.match === match);
  if (!c) throw new Error(`no cgroup ${match}`);
  return c;
}

const summaries = (a: CanonicalPolicy, b: CanonicalPolicy): string[] =>
  diffPolicies(a, b).map((c) => c.summary);

describe('diffPolicies: no change in meaning', () => {
  it('identical policies give no changes', () => {
    expect(diffPolicies(base(), base())).toEqual([]);
  });

  it('ignores formatting, key order, units, defaults and set order', () => {
    const text = `
# the same policy, written differently
spec:
  rules:
    - scope: /batch/*/
      name: batch-pressure
      dryRun: false
      when:
        any:
          - usage: { above: "95.0%" }
          - pressure: { above: "30%", for: 10000ms }
      action:
        kill: { among: cgroup, avoid: ["^postgres$"], prefer: ["^spark-", "^spark-"], grace: 5000ms, repeat: once }
      cooldown: 30s
    - name: web-notify
      scope: /web/*
      when: { available: { below: 5% } }
      action: { notify: { message: low memory } }
      cooldown: 15s
    - { name: last-resort, scope: global, when: { oom: { on: any } }, action: { kill: { victim: largest } } }
  cgroups:
    - match: /batch/*
      memoryMax: 8589934592
      memoryHigh: 90%
      userspaceOom: { enabled: true }
      oomGroup: true
    - { match: /web/*, memoryMax: 4096Mi }
  protect:
    - process: ^sshd$
    - cgroup: /system.slice/sshd.service
      memoryMin: 65536Ki
  killBudget: { per: 60s, max: 10 }
  interval: 1000ms
  dryRun: false
metadata: { description: Batch hosts, name: batch-tier }
kind: OomPolicy
apiVersion: oomfleet/v1
`;
    const a = base();
    const b = canonical(text);
    expect(diffPolicies(a, b)).toEqual([]);
    expect(loadPolicy(text).digest).toBe(loadPolicy(JSON.stringify(baseDoc())).digest);
  });
});

describe('diffPolicies: rules', () => {
  it('reports a changed kill victim', () => {
    const b = variant((d) => {
      (rule(d, 'batch-pressure').action as { kill: Record<string, unknown> }).kill.victim =
        'fastest-growing';
    });
    expect(diffPolicies(base(), b)).toEqual([
      {
        path: 'spec.rules[name="batch-pressure"].action.kill.victim',
        kind: 'changed',
        before: 'largest',
        after: 'fastest-growing',
        summary: 'rule "batch-pressure": kill victim changed from largest to fastest-growing',
      },
    ]);
  });

  it('reports an added rule with a one-line description', () => {
    const b = variant((d) => {
      d.spec.rules.push({
        name: 'swap-guard',
        scope: 'global',
        when: { swap: { below: '10%' } },
        action: { kill: {} },
      });
    });
    const changes = diffPolicies(base(), b);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({
      path: 'spec.rules[name="swap-guard"]',
      kind: 'added',
      summary: 'rule "swap-guard" added: kill largest process when swap free below 10% (global)',
    });
    expect(changes[0]?.after).toEqual(b.spec.rules[3]);
    expect(changes[0]).not.toHaveProperty('before');
  });

  it('reports a removed rule', () => {
    const b = variant((d) => {
      d.spec.rules = d.spec.rules.filter((r) => r.name !== 'web-notify');
    });
    expect(diffPolicies(base(), b)).toEqual([
      {
        path: 'spec.rules[name="web-notify"]',
        kind: 'removed',
        before: base().spec.rules[1],
        summary:
          'rule "web-notify" removed (was: notify (warning): "low memory" when available memory below 5% (in /web/*))',
      },
    ]);
  });

  it('reports a reordering as a move with old and new positions', () => {
    const b = variant((d) => {
      const last = d.spec.rules.pop();
      if (last) d.spec.rules.unshift(last);
    });
    expect(diffPolicies(base(), b)).toEqual([
      {
        path: 'spec.rules[name="last-resort"]',
        kind: 'moved',
        before: 2,
        after: 0,
        summary: 'rule "last-resort" moved from position 3 to 1 (now evaluated first)',
      },
    ]);
  });

  it('reports a swap of two rules as one move', () => {
    const b = variant((d) => {
      const [x, y, z] = d.spec.rules;
      if (x && y && z) d.spec.rules = [y, x, z];
    });
    expect(diffPolicies(base(), b)).toEqual([
      {
        path: 'spec.rules[name="web-notify"]',
        kind: 'moved',
        before: 1,
        after: 0,
        summary: 'rule "web-notify" moved from position 2 to 1 (now evaluated first)',
      },
    ]);
  });

  it('does not report rules shifted by an insertion as moved', () => {
    const b = variant((d) => {
      d.spec.rules.unshift({
        name: 'early',
        scope: '/batch/*',
        when: { growth: { above: '50Mi' } },
        action: { throttle: { memoryHigh: '80%' } },
      });
    });
    expect(diffPolicies(base(), b)).toEqual([
      expect.objectContaining({
        kind: 'added',
        summary:
          'rule "early" added: throttle memory.high to 80% of current usage for 30s when memory growing faster than 50Mi/s over 10s (in /batch/*)',
      }),
    ]);
  });

  it('reports a move together with the moved rule’s own changes', () => {
    const b = variant((d) => {
      const last = d.spec.rules.pop();
      if (last) {
        last.cooldown = '1m';
        d.spec.rules.splice(1, 0, last);
      }
    });
    expect(summaries(base(), b)).toEqual([
      'rule "last-resort" moved from position 3 to 2 (now evaluated after "batch-pressure")',
      'rule "last-resort": cooldown raised from 15s to 1m',
    ]);
  });

  it('reports scope, cooldown and dryRun', () => {
    const b = variant((d) => {
      const r = rule(d, 'web-notify');
      r.scope = '/web/**';
      r.cooldown = '5s';
      r.dryRun = true;
    });
    expect(diffPolicies(base(), b)).toEqual([
      {
        path: 'spec.rules[name="web-notify"].scope',
        kind: 'changed',
        before: '/web/*',
        after: '/web/**',
        summary: 'rule "web-notify": scope changed from /web/* to /web/**',
      },
      {
        path: 'spec.rules[name="web-notify"].cooldown',
        kind: 'changed',
        before: '15s',
        after: '5s',
        summary: 'rule "web-notify": cooldown lowered from 15s to 5s',
      },
      {
        path: 'spec.rules[name="web-notify"].dryRun',
        kind: 'changed',
        before: false,
        after: true,
        summary: 'rule "web-notify": now dry-run (decisions are reported, nothing is done)',
      },
    ]);
  });

  it('reports a threshold inside any as raised, with its path', () => {
    const b = variant((d) => {
      const when = rule(d, 'batch-pressure').when as { any: Record<string, { above: unknown }>[] };
      const p = when.any[0]?.pressure;
      if (p) p.above = '40%';
    });
    const changes = diffPolicies(base(), b);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({
      kind: 'changed',
      before: '30%',
      after: '40%',
      summary: 'rule "batch-pressure": pressure threshold raised from 30% to 40%',
    });
    expect(changes[0]?.path).toMatch(
      /^spec\.rules\[name="batch-pressure"\]\.when\.any\[\d\]\.pressure\.above$/,
    );
  });

  it('reports conditions added to and removed from any/all', () => {
    const b = variant((d) => {
      const r = rule(d, 'batch-pressure');
      r.when = {
        any: [
          { pressure: { kind: 'full', window: 'avg10', above: 30, for: '10s' } },
          { oom: { on: 'stuck' } },
        ],
      };
    });
    expect(summaries(base(), b)).toEqual([
      'rule "batch-pressure": no longer fires on memory usage above 95% of its limit',
      'rule "batch-pressure": now also fires on OOM (stuck at its limit)',
    ]);
    const c = variant((d) => {
      const r = rule(d, 'web-notify');
      r.when = { all: [{ available: { below: '5%' } }, { swap: { below: '10%' } }] };
    });
    const d = variant((doc) => {
      const r = rule(doc, 'web-notify');
      r.when = { all: [{ available: { below: '5%' } }] };
    });
    expect(summaries(c, d)).toEqual(['rule "web-notify": no longer requires swap free below 10%']);
  });

  it('reports a different trigger as a changed condition', () => {
    const b = variant((d) => {
      rule(d, 'web-notify').when = { swap: { below: '20%' } };
    });
    expect(diffPolicies(base(), b)).toEqual([
      {
        path: 'spec.rules[name="web-notify"].when',
        kind: 'changed',
        before: { available: { below: '5%' } },
        after: { swap: { below: '20%', noSwap: 'ignore' } },
        summary:
          'rule "web-notify": condition changed: was available memory below 5%, now swap free below 20%',
      },
    ]);
  });

  it('reports a noSwap change, and describes noSwap: fire', () => {
    const ignore = variant((d) => {
      rule(d, 'web-notify').when = { swap: { below: '10%' } };
    });
    const explicitIgnore = variant((d) => {
      rule(d, 'web-notify').when = { swap: { below: '10%', noSwap: 'ignore' } };
    });
    const fire = variant((d) => {
      rule(d, 'web-notify').when = { swap: { below: '10%', noSwap: 'fire' } };
    });
    // The default is ignore: spelling it out changes nothing.
    expect(diffPolicies(ignore, explicitIgnore)).toEqual([]);
    expect(diffPolicies(ignore, fire)).toEqual([
      {
        path: 'spec.rules[name="web-notify"].when.swap.noSwap',
        kind: 'changed',
        before: 'ignore',
        after: 'fire',
        summary: 'rule "web-notify": swap trigger now holds on hosts without swap (noSwap: fire)',
      },
    ]);
    expect(summaries(fire, ignore)).toEqual([
      'rule "web-notify": swap trigger no longer holds on hosts without swap (noSwap: ignore)',
    ]);
    // A threshold change and a noSwap change in one trigger are two changes.
    const both = variant((d) => {
      rule(d, 'web-notify').when = { swap: { below: '5%', noSwap: 'fire' } };
    });
    expect(summaries(ignore, both)).toEqual([
      'rule "web-notify": swap-free threshold lowered from 10% to 5%',
      'rule "web-notify": swap trigger now holds on hosts without swap (noSwap: fire)',
    ]);
    // Inside all: the noSwap change is reported at its condition's path.
    const inAll = (noSwap: 'ignore' | 'fire'): CanonicalPolicy =>
      variant((d) => {
        rule(d, 'web-notify').when = {
          all: [{ available: { below: '5%' } }, { swap: { below: '10%', noSwap } }],
        };
      });
    const changes = diffPolicies(inAll('ignore'), inAll('fire'));
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ kind: 'changed', before: 'ignore', after: 'fire' });
    expect(changes[0]?.path).toMatch(
      /^spec\.rules\[name="web-notify"\]\.when\.all\[\d\]\.swap\.noSwap$/,
    );
    const r = fire.spec.rules.find((x) => x.name === 'web-notify');
    expect(r && describeRule(r)).toBe(
      'notify (warning): "low memory" when swap free below 10% (no swap counts as 0 free) (in /web/*)',
    );
  });

  it('reports each trigger field in words', () => {
    const a = variant((d) => {
      rule(d, 'web-notify').when = {
        all: [
          { usage: { of: 'limit', above: '90%' } },
          { growth: { above: '50Mi', window: '10s' } },
          { oom: { on: 'any' } },
        ],
      };
    });
    const b = variant((d) => {
      rule(d, 'web-notify').when = {
        all: [
          { usage: { of: 'ram', above: '8Gi' } },
          { growth: { above: '25Mi', window: '30s' } },
          { oom: { on: 'event' } },
        ],
      };
    });
    expect(summaries(a, b).sort()).toEqual(
      [
        'rule "web-notify": usage now measured against RAM instead of the cgroup limit',
        'rule "web-notify": usage threshold changed from 90% to 8Gi',
        'rule "web-notify": growth threshold lowered from 50Mi/s to 25Mi/s',
        'rule "web-notify": growth window raised from 10s to 30s',
        'rule "web-notify": OOM trigger changed from any to event',
      ].sort(),
    );
  });

  it('reports kill settings: among, prefer/avoid, grace, repeat', () => {
    const b = variant((d) => {
      rule(d, 'batch-pressure').action = {
        kill: {
          victim: 'largest',
          among: 'process',
          prefer: ['^spark-', '^tmp-'],
          avoid: [],
          grace: '2s',
          repeat: 'until-clear',
        },
      };
    });
    expect(summaries(base(), b)).toEqual([
      'rule "batch-pressure": kill now chooses among processes instead of cgroups',
      'rule "batch-pressure": kill now prefers ^tmp-',
      'rule "batch-pressure": kill no longer avoids ^postgres$',
      'rule "batch-pressure": kill grace period lowered from 5s to 2s',
      'rule "batch-pressure": kill now repeats until the condition clears (was once)',
    ]);
  });

  it('reports a different action kind, and notify fields', () => {
    const b = variant((d) => {
      rule(d, 'web-notify').action = { kill: { victim: 'newest' } };
    });
    expect(summaries(base(), b)).toEqual([
      'rule "web-notify": action changed from notify (warning): "low memory" to kill newest process',
    ]);
    const c = variant((d) => {
      rule(d, 'web-notify').action = { notify: { message: 'very low', severity: 'critical' } };
    });
    expect(summaries(base(), c)).toEqual([
      'rule "web-notify": notify severity raised from warning to critical',
      'rule "web-notify": notify message changed from "low memory" to "very low"',
    ]);
  });

  it('reports throttle settings', () => {
    const a = variant((d) => {
      rule(d, 'web-notify').action = { throttle: { memoryHigh: '80%', duration: '30s' } };
    });
    const b = variant((d) => {
      rule(d, 'web-notify').action = { throttle: { memoryHigh: '70%', duration: '2m' } };
    });
    expect(summaries(a, b)).toEqual([
      'rule "web-notify": throttle memory.high lowered from 80% to 70%',
      'rule "web-notify": throttle duration raised from 30s to 2m',
    ]);
  });
});

describe('diffPolicies: cgroups', () => {
  it('reports memoryMax raised with human units', () => {
    const b = variant((d) => {
      cgroup(d, '/batch/*').memoryMax = 17179869184;
    });
    expect(diffPolicies(base(), b)).toEqual([
      {
        path: 'spec.cgroups[match="/batch/*"].memoryMax',
        kind: 'changed',
        before: 8589934592,
        after: 17179869184,
        summary: 'cgroups /batch/*: memoryMax raised from 8Gi to 16Gi',
      },
    ]);
  });

  it('says lowered, changed (bytes vs percent) and raised to max', () => {
    const lower = variant((d) => {
      cgroup(d, '/batch/*').memoryHigh = '80%';
    });
    expect(summaries(base(), lower)).toEqual([
      'cgroups /batch/*: memoryHigh lowered from 90% to 80%',
    ]);
    const other = variant((d) => {
      cgroup(d, '/web/*').memoryMax = '50%';
    });
    expect(summaries(base(), other)).toEqual(['cgroups /web/*: memoryMax changed from 4Gi to 50%']);
    const unlimited = variant((d) => {
      cgroup(d, '/web/*').memoryMax = 'max';
    });
    expect(summaries(base(), unlimited)).toEqual([
      'cgroups /web/*: memoryMax raised from 4Gi to max',
    ]);
  });

  it('reports settings set and no longer set', () => {
    const b = variant((d) => {
      const c = cgroup(d, '/batch/*');
      c.swapMax = 0;
      delete c.oomGroup;
      delete c.userspaceOom;
      cgroup(d, '/web/*').userspaceOom = { enabled: true, fallbackAfter: '500ms' };
    });
    expect(diffPolicies(base(), b)).toEqual([
      {
        path: 'spec.cgroups[match="/batch/*"].swapMax',
        kind: 'added',
        after: 0,
        summary: 'cgroups /batch/*: swapMax set to 0 bytes',
      },
      {
        path: 'spec.cgroups[match="/batch/*"].oomGroup',
        kind: 'removed',
        before: true,
        summary: 'cgroups /batch/*: oomGroup no longer set (was on)',
      },
      {
        path: 'spec.cgroups[match="/batch/*"].userspaceOom',
        kind: 'removed',
        before: { enabled: true, fallbackAfter: '2s' },
        summary: 'cgroups /batch/*: user-space OOM handling no longer configured (was enabled)',
      },
      {
        path: 'spec.cgroups[match="/web/*"].userspaceOom',
        kind: 'added',
        after: { enabled: true, fallbackAfter: '500ms' },
        summary: 'cgroups /web/*: user-space OOM handling enabled (kernel fallback after 500ms)',
      },
    ]);
  });

  it('reports oomGroup and user-space OOM changes', () => {
    const b = variant((d) => {
      const c = cgroup(d, '/batch/*');
      c.oomGroup = false;
      c.userspaceOom = { enabled: false, fallbackAfter: '5s' };
    });
    expect(summaries(base(), b)).toEqual([
      'cgroups /batch/*: oomGroup turned off',
      'cgroups /batch/*: user-space OOM handling disabled',
      'cgroups /batch/*: kernel OOM fallback delay raised from 2s to 5s',
    ]);
  });

  it('reports entries added, removed and moved', () => {
    const b = variant((d) => {
      d.spec.cgroups = [
        { match: '/web/*', memoryMax: '4Gi' },
        { match: '/db/**', memoryLow: '2Gi', memoryMin: '1Gi' },
      ];
    });
    expect(diffPolicies(base(), b)).toEqual([
      {
        path: 'spec.cgroups[match="/batch/*"]',
        kind: 'removed',
        before: base().spec.cgroups[0],
        summary:
          'cgroups /batch/* removed (was: memoryHigh 90%, memoryMax 8Gi, oomGroup on, user-space OOM handling enabled (kernel fallback after 2s))',
      },
      {
        path: 'spec.cgroups[match="/db/**"]',
        kind: 'added',
        after: { match: '/db/**', memoryMin: 1073741824, memoryLow: 2147483648 },
        summary: 'cgroups /db/** added: memoryMin 1Gi, memoryLow 2Gi',
      },
    ]);
    const swapped = variant((d) => {
      d.spec.cgroups.reverse();
    });
    expect(diffPolicies(base(), swapped)).toEqual([
      {
        path: 'spec.cgroups[match="/web/*"]',
        kind: 'moved',
        before: 1,
        after: 0,
        summary: 'cgroups /web/*: moved from position 2 to 1',
      },
    ]);
  });
});

describe('diffPolicies: protect, budget, settings, metadata', () => {
  it('reports protections removed and added by identity', () => {
    const b = variant((d) => {
      d.spec.protect = [
        { cgroup: '/system.slice/sshd.service', memoryMin: '64Mi' },
        { cmdline: 'backup-agent' },
      ];
    });
    expect(diffPolicies(base(), b)).toEqual(
      [
        {
          path: 'spec.protect[process="^sshd$"]',
          kind: 'removed',
          before: { process: '^sshd$' },
          summary: 'protect: process ^sshd$ no longer protected',
        },
        {
          path: 'spec.protect[cmdline="backup-agent"]',
          kind: 'added',
          after: { cmdline: 'backup-agent' },
          summary: 'protect: cmdline backup-agent now protected',
        },
      ].sort((x, y) => (x.path < y.path ? -1 : 1)),
    );
  });

  it('reports protected cgroup reservations', () => {
    const b = variant((d) => {
      d.spec.protect[0] = {
        cgroup: '/system.slice/sshd.service',
        memoryMin: '128Mi',
        memoryLow: '5%',
      };
    });
    expect(summaries(base(), b)).toEqual([
      'protect: cgroup /system.slice/sshd.service: memoryMin raised from 64Mi to 128Mi',
      'protect: cgroup /system.slice/sshd.service: memoryLow set to 5%',
    ]);
  });

  it('reports the kill budget', () => {
    const fewer = variant((d) => {
      d.spec.killBudget = { max: 3, per: '1m' };
    });
    expect(diffPolicies(base(), fewer)).toEqual([
      {
        path: 'spec.killBudget.max',
        kind: 'changed',
        before: 10,
        after: 3,
        summary: 'spec.killBudget: max lowered from 10 to 3 kills per 1m',
      },
    ]);
    const longer = variant((d) => {
      d.spec.killBudget = { max: 10, per: '5m' };
    });
    expect(summaries(base(), longer)).toEqual([
      'spec.killBudget: period raised from 1m to 5m (at most 10 kills per period)',
    ]);
    const both = variant((d) => {
      d.spec.killBudget = { max: 20, per: '90s' };
    });
    expect(summaries(base(), both)).toEqual([
      'spec.killBudget: changed from 10 kills per 1m to 20 kills per 1m30s',
    ]);
  });

  it('reports interval, dryRun and metadata', () => {
    const b = variant((d) => {
      d.metadata.name = 'batch-tier-2';
      d.metadata.description = '';
      d.spec.interval = '500ms';
      d.spec.dryRun = true;
    });
    expect(diffPolicies(base(), b)).toEqual([
      {
        path: 'metadata.name',
        kind: 'changed',
        before: 'batch-tier',
        after: 'batch-tier-2',
        summary: 'metadata.name: renamed from batch-tier to batch-tier-2',
      },
      {
        path: 'metadata.description',
        kind: 'changed',
        before: 'Batch hosts',
        after: '',
        summary: 'metadata.description: cleared (was "Batch hosts")',
      },
      {
        path: 'spec.interval',
        kind: 'changed',
        before: '1s',
        after: '500ms',
        summary: 'spec.interval: evaluation interval lowered from 1s to 500ms',
      },
      {
        path: 'spec.dryRun',
        kind: 'changed',
        before: false,
        after: true,
        summary:
          'spec.dryRun: the whole policy is now dry-run (decisions are reported, nothing is done)',
      },
    ]);
  });

  it('lists changes in document order, deterministically', () => {
    const b = variant((d) => {
      rule(d, 'last-resort').cooldown = '1m';
      cgroup(d, '/web/*').memoryMax = '2Gi';
      d.spec.protect.pop();
      d.spec.killBudget = { max: 5, per: '1m' };
      d.spec.interval = '2s';
      d.metadata.description = 'Batch and web hosts';
    });
    const paths = diffPolicies(base(), b).map((c) => c.path);
    expect(paths).toEqual([
      'metadata.description',
      'spec.interval',
      'spec.killBudget.max',
      'spec.protect[process="^sshd$"]',
      'spec.cgroups[match="/web/*"].memoryMax',
      'spec.rules[name="last-resort"].cooldown',
    ]);
    expect(diffPolicies(base(), b)).toEqual(diffPolicies(base(), b));
  });

  it('reversing the diff swaps added and removed', () => {
    const b = variant((d) => {
      d.spec.rules.pop();
      d.spec.protect.push({ process: '^systemd-journald$' });
    });
    const forward = diffPolicies(base(), b).map((c) => c.kind);
    const backward = diffPolicies(b, base()).map((c) => c.kind);
    expect(forward.sort()).toEqual(['added', 'removed']);
    expect(backward.sort()).toEqual(['added', 'removed']);
    expect(diffPolicies(b, base()).find((c) => c.kind === 'added')?.path).toBe(
      'spec.rules[name="last-resort"]',
    );
  });

  it('pairs cgroup entries that share a glob by occurrence', () => {
    const a = variant((d) => {
      d.spec.cgroups.push({ match: '/batch/*', swapMax: 0 });
    });
    const b = variant((d) => {
      d.spec.cgroups.push({ match: '/batch/*', swapMax: '1Gi' });
    });
    expect(diffPolicies(a, b)).toEqual([
      {
        path: 'spec.cgroups[match="/batch/*"#2].swapMax',
        kind: 'changed',
        before: 0,
        after: 1073741824,
        summary: 'cgroups /batch/* (entry #2): swapMax raised from 0 bytes to 1Gi',
      },
    ]);
  });
});

describe('describeRule and describeCondition', () => {
  it('describes the sample rules', () => {
    const p = base();
    expect(p.spec.rules.map(describeRule)).toEqual([
      'kill largest cgroup, preferring ^spark-, avoiding ^postgres$, 5s grace when memory pressure (full, avg10) above 30% for 10s or memory usage above 95% of its limit (in /batch/*)',
      'notify (warning): "low memory" when available memory below 5% (in /web/*)',
      'kill largest process when OOM (stuck at its limit or an OOM event) (global)',
    ]);
  });

  it('marks dry-run rules', () => {
    const b = variant((d) => {
      rule(d, 'last-resort').dryRun = true;
    });
    const r = b.spec.rules[2];
    expect(r?.name).toBe('last-resort');
    if (r)
      expect(describeRule(r)).toBe(
        'kill largest process when OOM (stuck at its limit or an OOM event) (global) [dry run]',
      );
  });

  it('describes every trigger and nests combinators with parentheses', () => {
    expect(
      describeCondition({
        all: [
          { any: [{ oom: { on: 'event' } }, { swap: { below: 1073741824, noSwap: 'ignore' } }] },
          { pressure: { kind: 'some', window: 'avg60', above: '20%', for: '0s' } },
        ],
      }),
    ).toBe('(OOM event or swap free below 1Gi) and memory pressure (some, avg60) above 20%');
    expect(describeCondition({ swap: { below: '5%', noSwap: 'fire' } })).toBe(
      'swap free below 5% (no swap counts as 0 free)',
    );
    expect(describeCondition({ usage: { of: 'ram', above: '80%' } })).toBe(
      'memory usage above 80% of RAM',
    );
    expect(describeCondition({ usage: { of: 'limit', above: 512 } })).toBe(
      'memory usage above 512 bytes',
    );
    expect(describeCondition({ growth: { above: 52428800, window: '10s' } })).toBe(
      'memory growing faster than 50Mi/s over 10s',
    );
    expect(describeCondition({ oom: { on: 'stuck' } })).toBe('OOM (stuck at its limit)');
    expect(describeCondition({ any: [] })).toBe('never');
    expect(describeCondition({ all: [{ available: { below: '3%' } }] })).toBe(
      'available memory below 3%',
    );
  });
});
