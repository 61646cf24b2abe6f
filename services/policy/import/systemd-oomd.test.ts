import { describe, it, expect } from 'vitest';
import { loadPolicyValue } from '../load.ts';
import type { Rule } from '../schema.ts';
import { importPolicy, ImportError, type ImportInput, type ImportResult } from './index.ts';
import { unitCgroup } from './systemd-oomd.ts';

function run(inputs: ImportInput[]): ImportResult {
  const r = importPolicy('systemd-oomd', inputs);
  const check = loadPolicyValue(r.document);
  expect(check.issues.filter((i) => i.severity !== 'warning')).toEqual([]);
  expect(check.ok).toBe(true);
  return r;
}

const rules = (r: ImportResult): Rule[] => r.document.spec.rules ?? [];

// /etc/systemd/oomd.conf as systemd installs it: every entry commented out,
// showing the compiled-in defaults (src/oom/oomd.conf).
const STOCK_OOMD_CONF = {
  name: '/etc/systemd/oomd.conf',
  text: `#  This file is part of systemd.
# Entries in this file show the compile time defaults.
# See oomd.conf(5) for details

[OOM]
#SwapUsedLimit=90%
#DefaultMemoryPressureLimit=60%
#DefaultMemoryPressureDurationSec=30s
`,
};

// The drop-ins Fedora and Ubuntu ship in their systemd-oomd defaults.
const ROOT_SLICE_DEFAULTS = {
  name: '/usr/lib/systemd/system/-.slice.d/10-oomd-root-slice-defaults.conf',
  text: `[Slice]
# Monitor all units, slices, etc. for OOM conditions based on current swap usage
# (default limit is 90% swap use).
ManagedOOMSwap=kill
`,
};
const USER_SERVICE_DEFAULTS = {
  name: '/usr/lib/systemd/system/user@.service.d/10-oomd-user-service-defaults.conf',
  text: `[Service]
# Allow oomd to act on user units under memory pressure.
ManagedOOMMemoryPressure=kill
ManagedOOMMemoryPressureLimit=50%
`,
};
const FEDORA_OOMD_DEFAULTS = {
  name: '/usr/lib/systemd/oomd.conf.d/10-oomd-defaults.conf',
  text: '[OOM]\nDefaultMemoryPressureDurationSec=20s\n',
};

const AVOID_INNER = ['\\.slice$', '/user@[0-9]+\\.service$'];

describe('systemd-oomd: defaults', () => {
  it('upstream out of the box monitors nothing: no rules', () => {
    const r = run([STOCK_OOMD_CONF]);
    expect(rules(r)).toEqual([]);
    expect(r.untranslated).toEqual([]);
    expect(r.notes).toContain(
      'no unit sets ManagedOOMSwap=kill or ManagedOOMMemoryPressure=kill: systemd-oomd monitors nothing, and this policy has no rules',
    );
  });

  it('with the distribution drop-ins: swap on the root slice, pressure on user managers', () => {
    const r = run([STOCK_OOMD_CONF, ROOT_SLICE_DEFAULTS, USER_SERVICE_DEFAULTS]);
    expect(rules(r)).toEqual([
      {
        name: 'swap-root-slice',
        scope: '/*/**',
        when: { all: [{ available: { below: '10%' } }, { swap: { below: '10%' } }] },
        action: { kill: { victim: 'largest', among: 'cgroup', avoid: AVOID_INNER } },
        cooldown: '0s',
      },
      {
        name: 'memory-pressure-user-service',
        scope: '/user.slice/user-*.slice/user@*.service/*/**',
        when: { pressure: { kind: 'full', window: 'avg10', above: 50, for: '30s' } },
        action: { kill: { victim: 'largest', among: 'cgroup', avoid: AVOID_INNER } },
        cooldown: '15s',
      },
    ]);
    expect(r.untranslated).toEqual([]);
    const notes = r.notes.join('\n');
    expect(notes).toMatch(/unit -\.slice is cgroup \/\n/);
    expect(notes).toMatch(
      /unit user@\.service is cgroup \/user\.slice\/user-\*\.slice\/user@\*\.service/,
    );
    expect(notes).toMatch(/most swap .* kills the largest descendant/);
    // systemd-oomd ignores ManagedOOMSwap= on hosts without swap, as the
    // default noSwap: ignore does: the swap trigger carries no noSwap, and
    // there is nothing to note.
    expect(notes).not.toMatch(/without swap/);
    const canonical = loadPolicyValue(r.document).canonical;
    expect(canonical?.spec.rules[0]?.when).toEqual({
      all: [{ available: { below: '10%' } }, { swap: { below: '10%', noSwap: 'ignore' } }],
    });
    expect(notes).toMatch(/requires reclaim activity in the last 30s/);
    expect(notes).toMatch(/only leaf cgroups/);
  });

  it("uses the default pressure limit (60%) when the unit sets none, and Fedora's 20s", () => {
    const r = run([
      FEDORA_OOMD_DEFAULTS,
      { name: 'system.slice.d/oomd.conf', text: '[Slice]\nManagedOOMMemoryPressure=kill\n' },
    ]);
    expect(rules(r)).toMatchObject([
      {
        scope: '/system.slice/*/**',
        when: { pressure: { kind: 'full', window: 'avg10', above: 60, for: '20s' } },
      },
    ]);
  });
});

describe('systemd-oomd: oomd.conf', () => {
  it('applies drop-ins after the main file, sorted by name, the last assignment winning', () => {
    const r = run([
      { name: '/etc/systemd/oomd.conf.d/20-late.conf', text: '[OOM]\nSwapUsedLimit=80%\n' },
      {
        name: '/etc/systemd/oomd.conf.d/10-early.conf',
        text: '[OOM]\nSwapUsedLimit=70%\nDefaultMemoryPressureLimit=75%\n',
      },
      {
        name: '/etc/systemd/oomd.conf',
        text: '[OOM]\nSwapUsedLimit=95%\nDefaultMemoryPressureDurationSec=1min 30s\n',
      },
      { name: '-.slice', text: '[Slice]\nManagedOOMSwap=kill\nManagedOOMMemoryPressure=kill\n' },
    ]);
    expect(rules(r).map((x) => x.when)).toEqual([
      { all: [{ available: { below: '20%' } }, { swap: { below: '20%' } }] },
      { pressure: { kind: 'full', window: 'avg10', above: 75, for: '1m30s' } },
    ]);
  });

  it('reads permille, the v247 name SwapUsedLimitPercent=, and 0s as the default duration', () => {
    const r = run([
      {
        name: 'oomd.conf',
        text: '[OOM]\nSwapUsedLimitPercent=955‰\nDefaultMemoryPressureDurationSec=0\n',
      },
      { name: '-.slice', text: '[Slice]\nManagedOOMSwap=kill\nManagedOOMMemoryPressure=kill\n' },
    ]);
    expect(rules(r)[0]?.when).toEqual({
      all: [{ available: { below: '4.5%' } }, { swap: { below: '4.5%' } }],
    });
    expect(rules(r)[1]?.when).toMatchObject({ pressure: { for: '30s' } });
    expect(r.notes.join('\n')).toMatch(/SwapUsedLimitPercent= is the systemd 247 name/);
  });

  it('reports prekill hooks and unknown settings as untranslated', () => {
    const r = run([{ name: 'oomd.conf', text: '[OOM]\nPrekillHookTimeoutSec=5s\nSwapUsed=90%\n' }]);
    expect(r.untranslated).toEqual([
      {
        source: 'oomd.conf:2',
        item: 'PrekillHookTimeoutSec=5s',
        reason: expect.stringMatching(/no hooks before a kill/) as unknown,
      },
      {
        source: 'oomd.conf:3',
        item: 'SwapUsed=90%',
        reason: 'not an oomd.conf setting; systemd-oomd ignores it',
      },
    ]);
  });
});

describe('systemd-oomd: units', () => {
  it('takes a unit limit and duration over the defaults; 0% means the default', () => {
    const r = run([
      {
        name: '/etc/systemd/system/user@.service.d/override.conf',
        text: '[Service]\nManagedOOMMemoryPressure=kill\nManagedOOMMemoryPressureLimit=40%\nManagedOOMMemoryPressureDurationSec=2min\n',
      },
      {
        name: '/etc/systemd/system/batch.slice',
        text: '[Slice]\nManagedOOMMemoryPressure=kill\nManagedOOMMemoryPressureLimit=0%\n',
      },
    ]);
    expect(rules(r).map((x) => [x.name, x.scope, x.when])).toEqual([
      [
        'memory-pressure-user-service',
        '/user.slice/user-*.slice/user@*.service/*/**',
        { pressure: { kind: 'full', window: 'avg10', above: 40, for: '2m' } },
      ],
      [
        'memory-pressure-batch-slice',
        '/batch.slice/*/**',
        { pressure: { kind: 'full', window: 'avg10', above: 60, for: '30s' } },
      ],
    ]);
  });

  it('lets a later drop-in of the same unit override, and auto switch monitoring off', () => {
    const r = run([
      { name: 'system.slice.d/50-off.conf', text: '[Slice]\nManagedOOMSwap=auto\n' },
      { name: 'system.slice.d/10-on.conf', text: '[Slice]\nManagedOOMSwap=kill\n' },
    ]);
    expect(rules(r)).toEqual([]);
  });

  it('maps unit names to cgroups', () => {
    const cases: [string, boolean, string | undefined, string][] = [
      ['-.slice', false, undefined, '/'],
      ['system.slice', false, undefined, '/system.slice'],
      ['foo-bar-baz.slice', false, undefined, '/foo.slice/foo-bar.slice/foo-bar-baz.slice'],
      ['user-.slice', false, undefined, '/user.slice/user-*.slice'],
      ['user@1000.service', false, undefined, '/user.slice/user-1000.slice/user@1000.service'],
      ['user@.service', false, undefined, '/user.slice/user-*.slice/user@*.service'],
      ['session-3.scope', false, undefined, '/user.slice/user-*.slice/session-3.scope'],
      ['init.scope', false, undefined, '/init.scope'],
      ['sshd.service', false, undefined, '/system.slice/sshd.service'],
      [
        'getty@tty1.service',
        false,
        undefined,
        '/system.slice/system-getty.slice/getty@tty1.service',
      ],
      [
        'systemd-fsck@.service',
        false,
        undefined,
        '/system.slice/system-systemd\\x2dfsck.slice/systemd-fsck@*.service',
      ],
      ['postgres.service', false, 'db-main.slice', '/db.slice/db-main.slice/postgres.service'],
      ['app.slice', true, undefined, '/user.slice/user-*.slice/user@*.service/app.slice'],
      [
        'pipewire.service',
        true,
        undefined,
        '/user.slice/user-*.slice/user@*.service/**/pipewire.service',
      ],
      [
        'pipewire.service',
        true,
        'session.slice',
        '/user.slice/user-*.slice/user@*.service/session.slice/pipewire.service',
      ],
    ];
    for (const [unit, user, slice, cgroup] of cases)
      expect([unit, unitCgroup(unit, user, slice)]).toEqual([unit, cgroup]);
  });

  it("follows a unit's Slice= and recognises user-manager units by their directory", () => {
    const r = run([
      {
        name: '/etc/systemd/system/worker.service',
        text: '[Service]\nSlice=batch.slice\nManagedOOMMemoryPressure=kill\n',
      },
      {
        name: '/home/u/.config/systemd/user/app.slice.d/oomd.conf',
        text: '[Slice]\nManagedOOMMemoryPressure=kill\n',
      },
    ]);
    expect(rules(r).map((x) => x.scope)).toEqual([
      '/batch.slice/worker.service/*/**',
      '/user.slice/user-*.slice/user@*.service/app.slice/*/**',
    ]);
    expect(r.notes.join('\n')).toMatch(
      /app\.slice belongs to a user manager; its rules cover the units of every user/,
    );
  });
});

describe('systemd-oomd: ManagedOOMPreference=', () => {
  const rootSwap = { name: '-.slice', text: '[Slice]\nManagedOOMSwap=kill\n' };

  it('avoid becomes an avoid regex on the unit cgroup in the rules that may kill it', () => {
    const r = run([
      rootSwap,
      { name: 'postgresql.service.d/oom.conf', text: '[Service]\nManagedOOMPreference=avoid\n' },
    ]);
    expect(rules(r)[0]?.action.kill?.avoid).toEqual([
      ...AVOID_INNER,
      '^/system\\.slice/postgresql\\.service$',
    ]);
    expect(r.document.spec.protect).toBeUndefined();
  });

  it('omit becomes a protection', () => {
    const r = run([
      rootSwap,
      { name: 'sshd.service.d/oom.conf', text: '[Service]\nManagedOOMPreference=omit\n' },
    ]);
    expect(r.document.spec.protect).toEqual([{ cgroup: '/system.slice/sshd.service' }]);
    expect(r.notes.join('\n')).toMatch(
      /omit on sshd\.service becomes a protection of \/system\.slice\/sshd\.service/,
    );
  });

  it('omit on a monitored unit becomes avoid, since a protection would leave its rule nothing', () => {
    const r = run([
      {
        name: 'user@.service.d/oom.conf',
        text: '[Service]\nManagedOOMMemoryPressure=kill\nManagedOOMPreference=omit\n',
      },
      rootSwap,
    ]);
    expect(r.document.spec.protect).toBeUndefined();
    const swap = rules(r).find((x) => x.name === 'swap-root-slice');
    expect(swap?.action.kill?.avoid).toContain(
      '^/user\\.slice/user-[^/]*\\.slice/user@[^/]*\\.service$',
    );
  });

  it('notes a preference no rule can act on', () => {
    const r = run([{ name: 'sshd.service', text: '[Service]\nManagedOOMPreference=avoid\n' }]);
    expect(r.notes.join('\n')).toMatch(
      /ManagedOOMPreference=avoid on sshd\.service has no effect here/,
    );
  });
});

describe('systemd-oomd: what it leaves out', () => {
  it('reports resource-control settings, OOMRules= and misplaced keys', () => {
    const r = run([
      {
        name: 'db.service',
        text: '[Unit]\nDescription=db\nManagedOOMSwap=kill\n[Service]\nExecStart=/usr/bin/db\nMemoryMax=4G\nOOMPolicy=kill\nOOMRules=30-desktop\n',
      },
      {
        name: '30-desktop.oomrule',
        text: '[Rule]\nMemoryPressureAbove=75%\nAction=kill-by-pgscan\n',
      },
    ]);
    expect(rules(r)).toEqual([]);
    expect(r.untranslated.map((u) => [u.source, u.item])).toEqual([
      ['30-desktop.oomrule', 'OOM ruleset (.oomrule)'],
      ['db.service:3', 'ManagedOOMSwap=kill'],
      ['db.service:6', 'MemoryMax=4G'],
      ['db.service:7', 'OOMPolicy=kill'],
      ['db.service:8', 'OOMRules=30-desktop'],
    ]);
    expect(r.untranslated[1]?.reason).toMatch(/ignores it in \[Unit\]/);
    expect(r.untranslated[2]?.reason).toMatch(/not a systemd-oomd one/);
  });
});

describe('systemd-oomd: input it cannot read', () => {
  const fails = (inputs: ImportInput[], message: RegExp, hint?: RegExp): void => {
    let err: unknown;
    try {
      importPolicy('systemd-oomd', inputs);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImportError);
    expect((err as ImportError).message).toMatch(message);
    if (hint) expect((err as ImportError).hint).toMatch(hint);
  };

  it('refuses values systemd would reject, naming file and line', () => {
    fails(
      [{ name: 'x.slice', text: '[Slice]\nManagedOOMSwap=yes\n' }],
      /^x\.slice:2: ManagedOOMSwap=yes$/,
      /auto or kill/,
    );
    fails(
      [{ name: 'oomd.conf', text: '[OOM]\nSwapUsedLimit=80\n' }],
      /oomd\.conf:2: SwapUsedLimit=80 is not a percentage/,
      /SwapUsedLimit=60%/,
    );
    fails([{ name: 'oomd.conf', text: '[OOM]\nDefaultMemoryPressureLimit=120%\n' }], /above 100%/);
    fails(
      [{ name: 'oomd.conf', text: '[OOM]\nDefaultMemoryPressureDurationSec=soon\n' }],
      /is not a time span/,
    );
    fails(
      [
        {
          name: 'a.slice',
          text: '[Slice]\nManagedOOMMemoryPressure=kill\nManagedOOMMemoryPressureDurationSec=500ms\n',
        },
      ],
      /shorter than 1s/,
    );
    fails(
      [{ name: 'a.slice', text: '[Slice]\nManagedOOMPreference=never\n' }],
      /ManagedOOMPreference=never/,
      /none, avoid or omit/,
    );
    fails(
      [{ name: 'a.slice', text: '[Slice]\nthis is not a setting\n' }],
      /a\.slice:2: cannot read "this is not a setting"/,
    );
  });

  it('refuses files it cannot place', () => {
    fails(
      [{ name: 'settings.txt', text: 'ManagedOOMSwap=kill\n' }],
      /cannot tell what settings\.txt is/,
      /name the file oomd\.conf/,
    );
  });
});
