/// <reference types="vite/client" />
import { describe, it, expect } from 'vitest';
import { loadPolicyValue } from '../load.ts';
import type { Rule } from '../schema.ts';
import { importPolicy, ImportError, type ImportResult } from './index.ts';
// Fixtures are read at build time by Vite: services/policy does no file I/O.
import desktop from '../../../test/fixtures/import/oomd-desktop.json?raw';
import production from '../../../test/fixtures/import/oomd-production.json?raw';
import docsExample from '../../../test/fixtures/import/oomd-configuration-example.json?raw';

function run(text: string, name = 'oomd.json'): ImportResult {
  const r = importPolicy('oomd', [{ name, text }]);
  const check = loadPolicyValue(r.document);
  expect(check.issues.filter((i) => i.severity !== 'warning')).toEqual([]);
  expect(check.ok).toBe(true);
  return r;
}

function rules(r: ImportResult): Rule[] {
  return r.document.spec.rules ?? [];
}

function rule(r: ImportResult, name: string): Rule {
  const found = rules(r).find((x) => x.name === name);
  if (!found)
    throw new Error(
      `no rule ${name} in ${rules(r)
        .map((x) => x.name)
        .join(', ')}`,
    );
  return found;
}

function items(r: ImportResult): string[] {
  return r.untranslated.map((u) => u.item);
}

/** One ruleset with the given detectors and actions, as JSON text. */
function ruleset(
  detectors: unknown[],
  actions: unknown[],
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    rulesets: [{ name: 'test', detectors: [['group', ...detectors]], actions, ...extra }],
  });
}

const pressure60 = {
  name: 'pressure_above',
  args: { cgroup: 'system.slice', resource: 'memory', threshold: '60', duration: '30' },
};
const killSystem = { name: 'kill_by_memory_size_or_growth', args: { cgroup: 'system.slice/*' } };

describe('oomd: the stock desktop config (the default behaviour)', () => {
  const r = run(desktop, '/etc/oomd/oomd.json');

  it('writes one rule per kill target of each ruleset', () => {
    expect(rules(r).map((x) => [x.name, x.scope])).toEqual([
      ['user-session-protection-session-scope', '/user.slice/user-*.slice/session-*.scope'],
      ['user-session-protection-user-service', '/user.slice/user-*.slice/user@*.service/*'],
      ['user-session-protection-system-slice', '/system.slice/*'],
      ['protection-against-low-swap-session-scope', '/user.slice/user-*.slice/session-*.scope'],
      ['protection-against-low-swap-user-service', '/user.slice/user-*.slice/user@*.service/*'],
      ['protection-against-low-swap-system-slice', '/system.slice/*'],
    ]);
  });

  it('translates pressure_above to full avg10 pressure held for the duration', () => {
    expect(rule(r, 'user-session-protection-system-slice').when).toEqual({
      pressure: { kind: 'full', window: 'avg10', above: 60, for: '30s' },
    });
  });

  it('translates swap_free to a swap trigger, without noSwap', () => {
    expect(rule(r, 'protection-against-low-swap-system-slice').when).toEqual({
      swap: { below: '15%' },
    });
    // oomd's swap_free never fires on a host without swap: the default,
    // noSwap: ignore, says the same, so the importer leaves it out.
    const when = rule(r, 'protection-against-low-swap-system-slice').when;
    expect(when).not.toHaveProperty('swap.noSwap');
    const canonical = loadPolicyValue(r.document).canonical;
    const c = canonical?.spec.rules.find(
      (x) => x.name === 'protection-against-low-swap-system-slice',
    );
    expect(c?.when).toEqual({ swap: { below: '15%', noSwap: 'ignore' } });
  });

  it('kills the largest whole cgroup with SIGKILL, then waits post_action_delay (15s)', () => {
    for (const x of rules(r)) {
      expect(x.action).toEqual({ kill: { victim: 'largest', among: 'cgroup' } });
      expect(x.cooldown).toBe('15s');
      expect(x.dryRun).toBeUndefined();
    }
  });

  it('reports the overview dump and the reclaim check as untranslated', () => {
    expect(r.untranslated).toHaveLength(2);
    expect(items(r)[0]).toMatch(/^dump_cgroup_overview /);
    expect(r.untranslated[0]?.reason).toMatch(/always returns CONTINUE/);
    expect(items(r)[1]).toMatch(/^memory_reclaim /);
    expect(r.untranslated[1]?.source).toBe(
      '/etc/oomd/oomd.json: ruleset "user session protection", detector group "pressure above 60 for 30s", detector 3',
    );
  });

  it('notes the approximations', () => {
    const notes = r.notes.join('\n');
    // noSwap: ignore (the default) matches oomd on hosts without swap: nothing to note.
    expect(notes).not.toMatch(/without swap/);
    expect(notes).toMatch(/kill_by_swap_usage kills the cgroup using the most swap/);
    expect(notes).toMatch(
      /pressure_above watches \/user\.slice,\/system\.slice; oomfleet judges it on each cgroup/,
    );
    expect(notes).toMatch(/every 5s by default/);
    expect(notes).toMatch(/at most one cgroup per kill action/);
  });

  it('emits a plain tree: rules do not share objects', () => {
    const [a, b] = rules(r);
    expect(a?.when).toEqual(b?.when);
    expect(a?.when).not.toBe(b?.when);
  });
});

describe('oomd: a production-style config (recursive targets, several groups)', () => {
  const r = run(production, 'fb-oomd.json');

  it('turns recursive targets into subtree scopes that avoid inner nodes', () => {
    const x = rule(r, 'user-session-protection-workload-slice');
    expect(x.scope).toBe('/workload.slice/**');
    expect(x.action.kill?.avoid).toEqual(['\\.slice$', '/user@[0-9]+\\.service$']);
  });

  it('guards each target with the detector group that watches it', () => {
    const user = rule(r, 'user-session-protection-user-slice');
    const system = rule(r, 'user-session-protection-system-slice');
    expect(user.when).toEqual({
      pressure: { kind: 'full', window: 'avg10', above: 40, for: '5m' },
    });
    expect(system.when).toEqual({
      pressure: { kind: 'full', window: 'avg10', above: 60, for: '5m' },
    });
    expect(rule(r, 'protection-against-low-swap-www-slice').when).toEqual({
      swap: { below: '5%' },
    });
  });

  it('writes nothing for rulesets that act on nothing, and reports what it leaves out', () => {
    expect(rules(r)).toHaveLength(8);
    expect(items(r)).toEqual(
      expect.arrayContaining([
        '"drop-in": {"actions":true,"disable-on-drop-in":true}',
        'dump_cgroup_overview {"cgroup":"system.slice"}',
        'memory_reclaim {"cgroup":"user.slice,workload.slice,www.slice","duration":"30"}',
        'memory_reclaim {"cgroup":"system.slice","duration":"30"}',
        'memory_above {"cgroup":"smc_proxy.service","threshold_anon":"15G","duration":"10"}',
        'systemd_restart {"service":"smc_proxy.service","post_action_delay":"20","dry":"false"}',
      ]),
    );
    const anon = r.untranslated.find((u) => u.item.startsWith('memory_above'));
    expect(anon?.reason).toMatch(/anonymous memory.*detector group was left out/);
    expect(r.notes.join('\n')).toMatch(
      /ruleset "system overview": its actions only continue or stop/,
    );
    expect(r.notes.join('\n')).toMatch(/more than 5Mi of swap/);
  });
});

describe('oomd: the example of docs/configuration.md', () => {
  const r = run(docsExample);

  it('reads comments and trailing commas as jsoncpp does', () => {
    expect(rules(r)).toHaveLength(4);
  });

  it('translates pressure_rising_beyond to avg60 for the duration and avg10 above it', () => {
    expect(rule(r, 'memory-pressure-protection').when).toEqual({
      any: [
        {
          all: [
            { pressure: { kind: 'full', window: 'avg60', above: 5, for: '15s' } },
            { pressure: { kind: 'full', window: 'avg10', above: 5 } },
            { pressure: { kind: 'full', window: 'avg60', above: 40, for: '15s' } },
            { pressure: { kind: 'full', window: 'avg10', above: 40 } },
          ],
        },
        {
          all: [
            { pressure: { kind: 'full', window: 'avg60', above: 80, for: '30s' } },
            { pressure: { kind: 'full', window: 'avg10', above: 80 } },
          ],
        },
      ],
    });
    expect(r.notes.join('\n')).toMatch(/fast_fall_ratio, default 0\.85/);
  });

  it('kills across all three swap targets', () => {
    expect(
      rules(r)
        .slice(1)
        .map((x) => x.scope),
    ).toEqual([
      '/system.slice/*',
      '/workload.slice/workload-wdb.slice/*',
      '/workload.slice/workload-tw.slice/*',
    ]);
  });
});

describe('oomd: plugins and arguments', () => {
  it('reads memory_above sizes: suffixed components, a bare number as MB, or a share of RAM', () => {
    const cases: [string, unknown][] = [
      ['1.5M 32K 512', { usage: { above: 1_606_144 } }],
      ['512', { usage: { above: '512Mi' } }],
      ['2G', { usage: { above: '2Gi' } }],
      ['80%', { usage: { of: 'ram', above: '80%' } }],
    ];
    for (const [threshold, when] of cases) {
      const r = run(
        ruleset(
          [{ name: 'memory_above', args: { cgroup: 'system.slice', threshold, duration: '10' } }],
          [killSystem],
        ),
      );
      expect(rules(r)[0]?.when).toEqual(when);
      expect(r.notes.join('\n')).toMatch(/requires the usage to last 10s/);
    }
  });

  it('maps dry and post_action_delay to dryRun and cooldown', () => {
    const r = run(
      ruleset(
        [pressure60],
        [
          {
            name: 'kill_by_pg_scan',
            args: { cgroup: 'system.slice/*', dry: true, post_action_delay: 30 },
          },
        ],
      ),
    );
    expect(rules(r)[0]).toMatchObject({ dryRun: true, cooldown: '30s' });
    expect(r.notes.join('\n')).toMatch(/highest page-scan rate/);
  });

  it('takes the ruleset-level post_action_delay when the action sets none', () => {
    const r = run(ruleset([pressure60], [killSystem], { post_action_delay: '60' }));
    expect(rules(r)[0]?.cooldown).toBe('1m');
  });

  it('drops a detector group it cannot translate, and the ruleset with it', () => {
    const r = run(
      ruleset([{ name: 'exists', args: { cgroup: 'workload.slice' } }, pressure60], [killSystem]),
    );
    expect(rules(r)).toEqual([]);
    expect(r.untranslated.map((u) => [u.item, u.reason])).toEqual([
      [
        'exists {"cgroup":"workload.slice"}',
        'oomfleet has no trigger on whether a cgroup exists; the detector group was left out',
      ],
      [
        'ruleset "test"',
        'none of its detector groups could be translated, so neither could its actions',
      ],
    ]);
  });

  it('leaves out io pressure, io cost, senpai and prekill hooks', () => {
    const text = JSON.stringify({
      rulesets: [
        {
          name: 'io',
          detectors: [
            [
              'io',
              {
                name: 'pressure_above',
                args: { cgroup: 'a.slice', resource: 'io', threshold: '50', duration: '5' },
              },
            ],
          ],
          actions: [killSystem],
        },
        {
          name: 'mixed',
          detectors: [['g', pressure60]],
          actions: [
            { name: 'senpai', args: { cgroup: 'workload.slice' } },
            { name: 'kill_by_io_cost', args: { cgroup: 'system.slice/*' } },
            { name: 'kill_by_pressure', args: { cgroup: 'system.slice/*', resource: 'memory' } },
          ],
        },
      ],
      prekill_hooks: [{ name: 'dump_kill_info', args: {} }],
    });
    const r = run(text);
    expect(rules(r).map((x) => x.name)).toEqual(['mixed']);
    expect(r.untranslated.map((u) => u.reason)).toEqual([
      expect.stringMatching(/^oomfleet runs no hooks before a kill/),
      expect.stringMatching(/^oomfleet watches memory pressure only, not io/),
      expect.stringMatching(/^none of its detector groups could be translated/),
      expect.stringMatching(/^proactive reclaim/),
      expect.stringMatching(/^oomfleet ranks victims by memory, not io cost/),
    ]);
  });

  it('ignores continue, and leaves out a group that holds stop (it never fires)', () => {
    const r = run(
      JSON.stringify({
        rulesets: [
          {
            name: 'test',
            detectors: [
              ['never', { name: 'stop' }, pressure60],
              ['real', { name: 'continue' }, { name: 'swap_free', args: { threshold_pct: 10 } }],
            ],
            actions: [{ name: 'continue' }, killSystem],
          },
        ],
      }),
    );
    expect(rules(r)[0]?.when).toEqual({ swap: { below: '10%' } });
    expect(r.notes.join('\n')).toMatch(
      /"never": it contains the stop plugin, so the group never fires/,
    );
  });

  it('reports an always-firing group only when the ruleset would act', () => {
    const r = run(ruleset([{ name: 'continue' }], [killSystem]));
    expect(rules(r)).toEqual([]);
    expect(r.untranslated[0]?.reason).toMatch(/always returns CONTINUE.*needs a trigger/);
  });

  it('keeps several kill actions as separate rules and says why that differs', () => {
    const r = run(
      ruleset(
        [pressure60],
        [killSystem, { name: 'kill_by_swap_usage', args: { cgroup: 'workload.slice/*' } }],
      ),
    );
    expect(rules(r).map((x) => [x.name, x.scope])).toEqual([
      ['test-kill-by-memory-size-or-growth', '/system.slice/*'],
      ['test-kill-by-swap-usage', '/workload.slice/*'],
    ]);
    expect(r.notes.join('\n')).toMatch(
      /later kill action only when the earlier ones killed nothing/,
    );
  });
});

describe('oomd: input it cannot read', () => {
  const fails = (text: string, message: RegExp, hint?: RegExp): void => {
    let err: unknown;
    try {
      importPolicy('oomd', [{ name: 'oomd.json', text }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImportError);
    expect((err as ImportError).message).toMatch(message);
    if (hint) expect((err as ImportError).hint).toMatch(hint);
  };

  it('refuses bad JSON with line and column', () => {
    fails(
      '{\n  "rulesets": [\n    {"name": "x" "detectors": []}\n  ]\n}',
      /oomd\.json is not valid JSON at line 3 column \d+/,
      /missing comma/,
    );
  });

  it('refuses documents that are not oomd configs', () => {
    fails('[1, 2]', /an oomd config is a JSON object, not an array/);
    fails('{"foo": 1}', /has no "rulesets" list/, /is this an oomd config/);
  });

  it('names the plugin and argument at fault', () => {
    fails(
      ruleset([{ args: {} }], [killSystem]),
      /ruleset "test", detector group "group", detector 1 has no "name"/,
    );
    fails(
      ruleset(
        [
          {
            name: 'pressure_above',
            args: { cgroup: 'a.slice', resource: 'memory', threshold: 'sixty', duration: '30' },
          },
        ],
        [killSystem],
      ),
      /detector 1 \(pressure_above\): threshold: "sixty" is not a number/,
    );
    fails(
      ruleset(
        [{ name: 'pressure_above', args: { cgroup: 'a.slice', threshold: '60', duration: '30' } }],
        [killSystem],
      ),
      /resource=""/,
      /"memory" or "io"/,
    );
    fails(
      ruleset(
        [{ name: 'pressure_above', args: { resource: 'memory', threshold: '60', duration: '30' } }],
        [killSystem],
      ),
      /has no cgroup/,
    );
    fails(
      ruleset([pressure60], [{ name: 'kill_by_swap_usage', args: { cgroup: ['a'] } }]),
      /argument "cgroup" is a list/,
      /comma-separated/,
    );
    fails(
      ruleset([pressure60], [{ name: 'kill_by_swap_usage', args: { cgroup: 'a/../b' } }]),
      /climbs out/,
    );
    fails(
      ruleset([{ ...pressure60, args: { ...pressure60.args, duration: '30s' } }], [killSystem]),
      /"30s" is not a whole number of seconds/,
    );
  });
});
